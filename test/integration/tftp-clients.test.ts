/**
 * Interop with real TFTP clients (curl, tftp-hpa, atftp) against TftpServer on 127.0.0.1.
 * A missing tool skips its test locally; with CI=true it fails instead.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStaticResolver } from '../../lib/tftp/static-resolver';
import type { TftpDoneEvent } from '../../lib/tftp/server';
import { startTftpServer, type TestTftpServer } from '../helpers/tftp-server';

const run = promisify(execFile);
const CI = process.env.CI === 'true';
const TOOLS = { curl: '/usr/bin/curl', tftp: '/usr/bin/tftp', atftp: '/usr/bin/atftp' } as const;

function needTool(name: keyof typeof TOOLS): { skip: boolean; check(): void } {
  const present = existsSync(TOOLS[name]);
  return {
    skip: !present && !CI,
    check() {
      if (!present) throw new Error(`${TOOLS[name]} is required in CI (install ${name === 'tftp' ? 'tftp-hpa' : name})`);
    },
  };
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await fsp.open(file, 'r');
  try {
    for await (const chunk of fh.createReadStream()) h.update(chunk as Buffer);
  } finally {
    await fh.close().catch(() => undefined);
  }
  return h.digest('hex');
}

async function writeRandom(file: string, size: number): Promise<string> {
  const h = createHash('sha256');
  const fh = await fsp.open(file, 'w');
  try {
    for (let off = 0; off < size; off += 1 << 20) {
      const chunk = randomBytes(Math.min(1 << 20, size - off));
      h.update(chunk);
      await fh.write(chunk);
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

describe('TFTP interop with real clients', () => {
  let dir: string;
  let out: string;
  let t: TestTftpServer;
  const sums: Record<string, string> = {};
  const done: TftpDoneEvent[] = [];

  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'netboot-tftp-root-'));
    out = await fsp.mkdtemp(path.join(os.tmpdir(), 'netboot-tftp-out-'));
    sums['small.bin'] = await writeRandom(path.join(dir, 'small.bin'), 1 << 20);
    sums['big.bin'] = await writeRandom(path.join(dir, 'big.bin'), 40 << 20);
    await fsp.mkdir(path.join(dir, 'sub'));
    sums['sub/exact.bin'] = await writeRandom(path.join(dir, 'sub', 'exact.bin'), 512 * 100);
    t = await startTftpServer({ resolver: createStaticResolver(dir) });
    t.server.on('done', (e) => done.push(e));
  });

  afterAll(async () => {
    await t?.close();
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.rm(out, { recursive: true, force: true });
  });

  async function lastDone(file: string): Promise<TftpDoneEvent | undefined> {
    // the server sees the final ACK right after the client exits
    for (let i = 0; i < 50 && !done.some((d) => d.path === file); i++) await new Promise((r) => setTimeout(r, 20));
    const list = done.filter((d) => d.path === file);
    done.length = 0;
    return list[list.length - 1];
  }

  const curl = needTool('curl');
  it.skipIf(curl.skip)('curl, default options, 1 MiB', async () => {
    curl.check();
    const dest = path.join(out, 'curl-small');
    await run(TOOLS.curl, ['-sS', '--fail', '-o', dest, `tftp://127.0.0.1:${t.port}/small.bin`], { timeout: 30_000 });
    expect(await sha256File(dest)).toBe(sums['small.bin']);
    const d = await lastDone('small.bin');
    expect(d?.bytes).toBe(1 << 20);
  });

  it.skipIf(curl.skip)('curl --tftp-blksize 1468, 40 MiB', async () => {
    curl.check();
    const dest = path.join(out, 'curl-big');
    await run(TOOLS.curl, ['-sS', '--fail', '--tftp-blksize', '1468', '-o', dest, `tftp://127.0.0.1:${t.port}/big.bin`], { timeout: 60_000 });
    expect(await sha256File(dest)).toBe(sums['big.bin']);
    expect((await lastDone('big.bin'))?.blksize).toBe(1468);
  }, 60_000);

  it.skipIf(curl.skip)('curl: a file that is an exact multiple of 512 ends with an empty block', async () => {
    curl.check();
    const dest = path.join(out, 'curl-exact');
    await run(TOOLS.curl, ['-sS', '--fail', '-o', dest, `tftp://127.0.0.1:${t.port}/sub/exact.bin`], { timeout: 30_000 });
    expect(await sha256File(dest)).toBe(sums['sub/exact.bin']);
  });

  it.skipIf(curl.skip)('curl: missing file → error, server keeps serving', async () => {
    curl.check();
    await expect(run(TOOLS.curl, ['-sS', '--fail', '-o', path.join(out, 'nope'), `tftp://127.0.0.1:${t.port}/nope.bin`], { timeout: 30_000 })).rejects.toThrow();
  });

  const hpa = needTool('tftp');
  it.skipIf(hpa.skip)('tftp-hpa (no options, 512-byte blocks), 40 MiB rolls block numbers over', async () => {
    hpa.check();
    const dest = path.join(out, 'hpa-big');
    await run(TOOLS.tftp, ['-m', 'binary', '127.0.0.1', String(t.port), '-c', 'get', 'big.bin', dest], { timeout: 90_000 });
    expect(await sha256File(dest)).toBe(sums['big.bin']);
    const d = await lastDone('big.bin');
    expect(d?.blksize).toBe(512);
    expect(d?.windowsize).toBe(1);
    expect((40 << 20) / 512).toBeGreaterThan(65535);
  }, 90_000);

  it.skipIf(hpa.skip)('tftp-hpa, 1 MiB', async () => {
    hpa.check();
    const dest = path.join(out, 'hpa-small');
    await run(TOOLS.tftp, ['-m', 'binary', '127.0.0.1', String(t.port), '-c', 'get', 'small.bin', dest], { timeout: 30_000 });
    expect(await sha256File(dest)).toBe(sums['small.bin']);
  });

  const atftp = needTool('atftp');
  it.skipIf(atftp.skip)('atftp blksize 1468 + windowsize 16 + tsize, 40 MiB', async () => {
    atftp.check();
    const dest = path.join(out, 'atftp-big');
    await run(TOOLS.atftp, ['--option', 'blksize 1468', '--option', 'tsize 0', '--option', 'windowsize 16', '-g', '-r', 'big.bin', '-l', dest, '127.0.0.1', String(t.port)], { timeout: 60_000 });
    expect(await sha256File(dest)).toBe(sums['big.bin']);
    const d = await lastDone('big.bin');
    expect(d?.windowsize).toBe(16);
    expect(d?.blksize).toBe(1468);
  }, 60_000);

  it.skipIf(atftp.skip)('atftp blksize 1024, 1 MiB', async () => {
    atftp.check();
    const dest = path.join(out, 'atftp-small');
    await run(TOOLS.atftp, ['--option', 'blksize 1024', '-g', '-r', 'small.bin', '-l', dest, '127.0.0.1', String(t.port)], { timeout: 30_000 });
    expect(await sha256File(dest)).toBe(sums['small.bin']);
  });
});
