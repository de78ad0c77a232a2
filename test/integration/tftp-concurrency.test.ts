/** 500 concurrent transfers of mixed sizes (1 KiB – 2 MiB) from files on disk, mixed options. */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStaticResolver } from '../../lib/tftp/static-resolver';
import { tftpGet, type TftpGetOptions } from '../../support/tftp-client';
import { seededRandom } from '../helpers/tftp-relay';
import { startTftpServer, type TestTftpServer } from '../helpers/tftp-server';

describe('TFTP under load', () => {
  let dir: string;
  let t: TestTftpServer;
  const files: Array<{ name: string; size: number; sha: string }> = [];

  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'netboot-tftp-load-'));
    const r = seededRandom(7);
    for (let i = 0; i < 24; i++) {
      // log-uniform 1 KiB .. 2 MiB, plus the extremes
      const size = i === 0 ? 1024 : i === 1 ? 2 << 20 : Math.round(1024 * Math.pow(2048, r()));
      const data = randomBytes(size);
      const name = `f${i}.bin`;
      await fsp.writeFile(path.join(dir, name), data);
      files.push({ name, size, sha: createHash('sha256').update(data).digest('hex') });
    }
    t = await startTftpServer({ resolver: createStaticResolver(dir, { cacheSmallFiles: 64 * 1024 }), maxTransfers: 600, maxTransfersPerClient: 600, retries: 8 });
  });
  afterAll(async () => {
    await t?.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('500 concurrent transfers all complete with the right bytes', async () => {
    const r = seededRandom(99);
    const shapes: Array<Partial<TftpGetOptions>> = [
      { blksize: 1468, windowsize: 16, tsize: true },
      { blksize: 1468, tsize: true },
      { blksize: 1024, tsize: true },
      { blksize: 1468, windowsize: 4 },
      {},
    ];
    const jobs = Array.from({ length: 500 }, (_, i) => {
      const f = files[Math.floor(r() * files.length)];
      // keep lock-step 512-byte transfers to the smaller files so the test stays fast
      const shape = f.size > 256 * 1024 && i % 5 === 4 ? shapes[0] : shapes[i % shapes.length];
      return { f, shape };
    });
    const t0 = performance.now();
    const results = await Promise.all(jobs.map(({ f, shape }) =>
      tftpGet({ host: '127.0.0.1', port: t.port, filename: f.name, collect: false, retryMs: 2000, maxRetries: 10, totalTimeoutMs: 100_000, ...shape })
        .then((res) => ({ ok: res.sha256 === f.sha && res.bytes === f.size, res }))));
    const ms = performance.now() - t0;
    const bytes = results.reduce((n, x) => n + x.res.bytes, 0);
    console.log(`500 transfers, ${(bytes / 1048576).toFixed(1)} MiB in ${ms.toFixed(0)} ms (${(bytes / 1048576 / (ms / 1000)).toFixed(1)} MiB/s), server retransmits ${t.server.stats.retransmits}`);
    expect(results.filter((x) => !x.ok)).toEqual([]);
    for (let i = 0; i < 100 && t.server.stats.active > 0; i++) await new Promise((res) => setTimeout(res, 20));
    expect(t.server.stats).toMatchObject({ active: 0, aborted: 0, done: 500 });
  }, 120_000);
});
