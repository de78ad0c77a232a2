/**
 * Windowed reads (RFC 7440) through the lossy relay under many drop patterns: 1 % loss and 1 %
 * duplication in both directions, eight seeds each for windowsize 16 and 64, default server timing.
 * Recovery must come from the receiver's gap ACKs (and the short probe), not from waiting out
 * retransmission timeouts: every transfer delivers the right bytes, no transfer needs more than a
 * few timeouts, all of them together need far fewer timeouts than there were drops, and the
 * retransmissions stay within one window per drop (no storm). No assertion depends on how long
 * anything took.
 *
 * Before the recovery rework (an ACK inside the window did not restart the window when the next
 * block had been sent twice, and a lost last block always waited for the full RTO) these seeds
 * needed 2–13 timeouts per windowsize-64 transfer, 81 over the 16 transfers for 298 drops; since,
 * 0–3 per transfer and about 20 in all.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TftpDoneEvent } from '../../lib/tftp/server';
import { tftpGet } from '../../support/tftp-client';
import { startRelay } from '../helpers/tftp-relay';
import { startTftpServer, type TestTftpServer } from '../helpers/tftp-server';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('TFTP windowed loss recovery over many drop patterns', () => {
  const file = randomBytes(2 << 20);
  let t: TestTftpServer;
  const done: TftpDoneEvent[] = [];
  const seen: Array<{ windowsize: number; seed: number; drops: number; timeouts: number; retransmits: number }> = [];

  beforeAll(async () => {
    t = await startTftpServer({ resolver: async (req) => (req.path === 'w.bin' ? { kind: 'buffer', data: file } : null) });
    t.server.on('done', (e) => done.push(e));
  });
  afterAll(async () => {
    await t?.close();
  });

  const seeds = [101, 202, 303, 404, 505, 606, 707, 808];
  const cases = [16, 64].flatMap((windowsize) => seeds.map((seed) => ({ windowsize, seed })));

  it.each(cases)('2 MiB blksize 1468 windowsize $windowsize, seed $seed', async ({ windowsize, seed }) => {
    const relay = await startRelay({ serverPort: t.port, dropRate: 0.01, dupRate: 0.01, seed });
    try {
      const r = await tftpGet({ host: '127.0.0.1', port: relay.port, filename: 'w.bin', blksize: 1468, windowsize, retryMs: 1000, dallyMs: 3000, totalTimeoutMs: 55_000 });
      expect(r.bytes).toBe(file.length);
      expect(r.sha256).toBe(sha(file));
      let ev: TftpDoneEvent | undefined;
      for (let i = 0; i < 300 && !ev; i++) {
        ev = done.find((d) => d.windowsize === windowsize);
        if (!ev) await new Promise((res) => setTimeout(res, 10));
      }
      const drops = relay.counters.dropped;
      // the final ACK and all its repeats can be lost: then the client has every byte (checked above)
      if (!ev) return;
      done.splice(done.indexOf(ev), 1);
      seen.push({ windowsize, seed, drops, timeouts: ev.timeouts, retransmits: ev.retransmits });
      console.log(`w${windowsize} seed ${seed}: drops=${drops} dups=${relay.counters.duplicated} retransmits=${ev.retransmits} timeouts=${ev.timeouts} client timeouts=${r.timeouts}`);
      expect(ev.timeouts).toBeLessThanOrEqual(5);
      expect(ev.retransmits).toBeLessThanOrEqual(windowsize * (drops + 1));
    } finally {
      await relay.close();
    }
  }, 60_000);

  it('all together, far fewer timeouts than drops', () => {
    expect(seen.length).toBeGreaterThanOrEqual(cases.length - 2);
    const drops = seen.reduce((n, s) => n + s.drops, 0);
    const timeouts = seen.reduce((n, s) => n + s.timeouts, 0);
    console.log(`${seen.length} transfers: ${drops} drops, ${timeouts} timeouts`);
    expect(timeouts).toBeLessThanOrEqual(drops / 8);
  });
});
