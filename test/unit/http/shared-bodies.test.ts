import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssetServer, type AssetTransfer } from '../../../lib/http/assets';
import { SharedBodies, type FileVersion } from '../../../lib/http/shared-bodies';

/**
 * One in-memory copy of a large file while several clients download it at once: made only for the
 * second download at the same time, within the byte cap, for the version of the file that was
 * checked, and dropped once no download has used it for a while. Through the asset server on a real
 * socket, every download still gets the file's exact bytes.
 */
let dir: string;
const SIZE = 3 * (1 << 20) + 4321;
const data = Buffer.alloc(SIZE);
for (let i = 0; i + 4 <= SIZE; i += 4) data.writeUInt32BE(i, i);

function version(file: string): FileVersion {
  const st = statSync(file);
  return { real: file, size: st.size, mtimeMs: st.mtimeMs };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'shared-bodies-'));
  writeFileSync(path.join(dir, 'kernel'), data);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('SharedBodies', () => {
  it('makes the copy for the second download at once, shares it, and drops it after the last one', async () => {
    const shared = new SharedBodies({ maxBytes: 64 << 20, lingerMs: 30 });
    const v = version(path.join(dir, 'kernel'));
    expect(shared.acquire(v)).toBeUndefined(); // one download: from disk
    const second = shared.acquire(v);
    expect(second).toBeInstanceOf(Promise);
    const body = await second;
    expect(body?.equals(data)).toBe(true);
    expect(shared.heldBytes).toBe(SIZE);
    expect(shared.acquire(v)).toBe(body); // a third one gets the same buffer
    shared.release(v);
    shared.release(v);
    shared.release(v);
    expect(shared.heldBytes).toBe(SIZE); // kept for the linger time
    await new Promise((r) => setTimeout(r, 80));
    expect(shared.heldBytes).toBe(0);
    // gone: the next single download streams from disk again
    expect(shared.acquire(v)).toBeUndefined();
    shared.release(v);
  });

  it('keeps no copy beyond its byte cap, and none of a file that is not the version checked', async () => {
    const small = new SharedBodies({ maxBytes: SIZE - 1, lingerMs: 30 });
    const v = version(path.join(dir, 'kernel'));
    expect(small.acquire(v)).toBeUndefined();
    expect(small.acquire(v)).toBeUndefined();
    expect(small.heldBytes).toBe(0);
    small.release(v);
    small.release(v);

    const file = path.join(dir, 'changing');
    writeFileSync(file, data);
    const checked = version(file);
    // the file changes after its check: its mtime is no longer the one checked
    utimesSync(file, new Date(), new Date(checked.mtimeMs + 5000));
    const shared = new SharedBodies({ maxBytes: 64 << 20, lingerMs: 30 });
    expect(shared.acquire(checked)).toBeUndefined();
    expect(await shared.acquire(checked)).toBeUndefined();
    expect(shared.heldBytes).toBe(0);
    shared.release(checked);
    shared.release(checked);
  });
});

describe('AssetServer with shared copies', () => {
  let server: http.Server;
  let base: string;
  const done: AssetTransfer[] = [];
  beforeAll(async () => {
    const srv = new AssetServer({ root: dir });
    srv.on('http.done', (t: AssetTransfer) => done.push(t));
    server = http.createServer((req, res) => void srv.handle(req, res, (req.url ?? '/').slice(1)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('gives every one of 8 downloads at once the exact bytes, and counts them', async () => {
    const get = () => new Promise<Buffer>((resolve, reject) => {
      http.get(`${base}/kernel`, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      }).on('error', reject);
    });
    const bodies = await Promise.all(Array.from({ length: 8 }, get));
    for (const b of bodies) expect(b.equals(data)).toBe(true);
    for (let i = 0; i < 100 && done.length < 8; i++) await new Promise((r) => setTimeout(r, 10));
    expect(done.filter((t) => t.path === '/kernel' && t.bytes === SIZE && !t.aborted)).toHaveLength(8);
  });
});
