import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssetServer, type AssetTransfer } from '../../../lib/http/assets';
import { PUMP_CHUNK } from '../../../lib/http/file-pump';

/**
 * The asset server on a real loopback socket: the plain answers it writes itself (small files
 * from memory, large ones pumped through reused buffers) and the ones left to `send` (Range,
 * conditional) give the same bytes and headers; the cache never lets a path out of the root.
 */
let dir: string;
let base: string;
let server: http.Server;
let clock = 1_000_000;
const assets = () => new AssetServer({ root: path.join(dir, 'root'), now: () => clock });
let srv: AssetServer;
const done: AssetTransfer[] = [];
// a file bigger than two pump buffers, with bytes that tell their offset apart
const BIG = 2 * PUMP_CHUNK + 12_345;
const big = Buffer.alloc(BIG);
for (let i = 0; i + 4 <= BIG; i += 4) big.writeUInt32BE(i, i);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'assets-unit-'));
  mkdirSync(path.join(dir, 'root', 'sub'), { recursive: true });
  writeFileSync(path.join(dir, 'root', 'small.ipxe'), '#!ipxe\necho small\n');
  writeFileSync(path.join(dir, 'root', 'sub', 'notes.txt'), 'hello\n');
  writeFileSync(path.join(dir, 'root', 'big.bin'), big);
  writeFileSync(path.join(dir, 'root', 'empty.bin'), '');
  writeFileSync(path.join(dir, 'secret.txt'), 'outside\n');
  symlinkSync(path.join(dir, 'secret.txt'), path.join(dir, 'root', 'escape.txt'));
  srv = assets();
  srv.on('http.done', (t: AssetTransfer) => done.push(t));
  server = http.createServer((req, res) => {
    const rel = decodeURIComponent((req.url ?? '/').split('?')[0].replace(/^\/boot\/assets\//, ''));
    void srv.handle(req, res, rel);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/boot/assets`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** Raw GET (fetch adds headers of its own to conditional requests). */
function raw(p: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/${p}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const lastDone = async (p: string): Promise<AssetTransfer> => {
  for (let i = 0; i < 100; i++) {
    const t = [...done].reverse().find((d) => d.path === p);
    if (t) return t;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no http.done for ${p}`);
};

describe('AssetServer', () => {
  it('answers a plain GET of a small file from memory with the headers send writes', async () => {
    const a = await raw('small.ipxe');
    const b = await raw('small.ipxe');
    expect(a.status).toBe(200);
    expect(b.body.toString()).toBe('#!ipxe\necho small\n');
    expect(a.headers).toMatchObject({ 'accept-ranges': 'bytes', 'cache-control': 'public, max-age=0', 'content-length': '18', 'content-type': 'application/octet-stream' });
    expect(a.headers.etag).toMatch(/^W\/"12-[0-9a-f]+"$/);
    expect(a.headers['last-modified']).toBeTruthy();
    expect((await raw('sub/notes.txt')).headers['content-type']).toBe('text/plain; charset=utf-8');
    // a conditional request goes to send, which agrees on the ETag
    expect((await raw('small.ipxe', { 'if-none-match': a.headers.etag! })).status).toBe(304);
    expect(await lastDone('/small.ipxe')).toMatchObject({ status: 304, bytes: 0 });
  });

  it('streams a large file whole, HEAD without a body, an empty file, and counts the bytes', async () => {
    done.length = 0;
    const r = await raw('big.bin');
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(BIG));
    expect(r.body.equals(big)).toBe(true);
    expect(await lastDone('/big.bin')).toMatchObject({ status: 200, bytes: BIG, size: BIG, aborted: false });
    const h = await raw('big.bin', {}, 'HEAD');
    expect(h.status).toBe(200);
    expect(h.headers['content-length']).toBe(String(BIG));
    expect(h.body.length).toBe(0);
    const e = await raw('empty.bin');
    expect([e.status, e.body.length, e.headers['content-length']]).toEqual([200, 0, '0']);
    // several at once share nothing but the buffer pool
    const all = await Promise.all(Array.from({ length: 6 }, () => raw('big.bin')));
    for (const x of all) expect(x.body.equals(big)).toBe(true);
  });

  it('answers Range requests through send, in the middle of the file and across its end', async () => {
    const r = await raw('big.bin', { range: `bytes=${PUMP_CHUNK - 8}-${PUMP_CHUNK + 7}` });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes ${PUMP_CHUNK - 8}-${PUMP_CHUNK + 7}/${BIG}`);
    expect(r.body.equals(big.subarray(PUMP_CHUNK - 8, PUMP_CHUNK + 8))).toBe(true);
    expect((await raw('big.bin', { range: `bytes=${BIG + 10}-` })).status).toBe(416);
    expect((await raw('small.ipxe', { range: 'bytes=0-5' })).body.toString()).toBe('#!ipxe');
  });

  it('refuses escapes, dot files, directories and symlinks out of the root, cached or not', async () => {
    for (let round = 0; round < 2; round++) {
      for (const p of ['../secret.txt', '%2e%2e/secret.txt', 'escape.txt', '.hidden', 'sub', 'sub/', 'missing', 'sub//notes.txt', 'a\\b']) {
        expect((await raw(encodeURI(p).replace(/%25/g, '%'))).status, p).toBe(404);
      }
    }
  });

  it('sees a changed file once its check has expired, never a mix of old and new bytes', async () => {
    const file = path.join(dir, 'root', 'changing.txt');
    writeFileSync(file, 'one\n');
    expect((await raw('changing.txt')).body.toString()).toBe('one\n');
    writeFileSync(file, 'two two\n');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    // within the check's lifetime the remembered answer holds (whole, with its own length)
    expect((await raw('changing.txt')).body.toString()).toBe('one\n');
    clock += 1001;
    const r = await raw('changing.txt');
    expect(r.body.toString()).toBe('two two\n');
    expect(r.headers['content-length']).toBe('8');
    rmSync(file);
    clock += 1001;
    expect((await raw('changing.txt')).status).toBe(404);
  });

  it('answers 404, not a cut-off 200, for a large file removed within its check; forget() drops small ones at once', async () => {
    const file = path.join(dir, 'root', 'gone.bin');
    writeFileSync(file, big);
    expect((await raw('gone.bin')).body.length).toBe(BIG);
    rmSync(file);
    expect((await raw('gone.bin')).status).toBe(404);
    writeFileSync(path.join(dir, 'root', 'small-gone.txt'), 'x\n');
    expect((await raw('small-gone.txt')).status).toBe(200);
    rmSync(path.join(dir, 'root', 'small-gone.txt'));
    srv.forget();
    expect((await raw('small-gone.txt')).status).toBe(404);
  });
});
