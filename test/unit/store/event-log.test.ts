/**
 * The boot-event log's open: read newest first in chunks from the file's end, parsing only what is
 * kept. A log far over its count limit keeps its newest events in order and goes on numbering after
 * them; a line torn by a crash is skipped and the file rewritten clean; lines longer than a read
 * chunk are read whole.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventLog } from '../../../lib/store/event-log';

describe('EventLog open', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-eventlog-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const line = (seq: number, extra: Record<string, unknown> = {}) => JSON.stringify({ seq, ts: new Date(1_700_000_000_000 + seq).toISOString(), type: 'checkin', mac: `52:54:00:00:00:${(seq % 256).toString(16).padStart(2, '0')}`, ...extra });

  it('keeps the newest events of a log far over its limit, in order, and numbers on after them', async () => {
    const file = path.join(dir, 'events.jsonl');
    writeFileSync(file, `${Array.from({ length: 5000 }, (_, i) => line(i + 1)).join('\n')}\n`);
    const log = await EventLog.open(file, 100);
    const kept = await log.list({ limit: 1000 });
    expect(kept.map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 4901 + i));
    // one machine's, among the kept (its MAC's last byte is seq % 256)
    expect((await log.list({ mac: '52:54:00:00:00:30', limit: 1000 })).map((e) => e.seq)).toEqual([4912]);
    expect((await log.append({ ts: '', type: 'enroll' })).seq).toBe(5001);
    await log.close();
    // the file was rewritten with what is kept (it held more than twice the limit), then appended to
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(101);
    expect(JSON.parse(lines[0]).seq).toBe(4901);
  });

  it('skips a line torn by a crash and rewrites the file clean', async () => {
    const file = path.join(dir, 'events.jsonl');
    writeFileSync(file, `${line(1)}\n${line(2)}\n{"seq":3,"ts":"2023-`);
    const log = await EventLog.open(file, 100);
    expect(log.skipped).toBe(1);
    expect((await log.list({ limit: 10 })).map((e) => e.seq)).toEqual([1, 2]);
    expect((await log.append({ ts: '', type: 'enroll' })).seq).toBe(3);
    await log.close();
    expect(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3]);
  });

  it('reads lines longer than a read chunk whole', async () => {
    const file = path.join(dir, 'events.jsonl');
    const big = 'x'.repeat(3 << 20);
    writeFileSync(file, `${line(1)}\n${line(2, { data: { text: big } })}\n${line(3)}\n`);
    const log = await EventLog.open(file, 100, 64 << 20);
    const kept = await log.list({ limit: 10 });
    expect(kept.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect((kept[1].data as { text: string }).text).toHaveLength(3 << 20);
    await log.close();
  });

  describe('with a window smaller than the log', () => {
    const macOf = (i: number) => `52:54:00:00:01:0${i % 5}`;

    it('answers from the window and reads on in the file, by machine, after a sequence number, within the count limit', async () => {
      const file = path.join(dir, 'events.jsonl');
      const log = await EventLog.open(file, 80, { windowEvents: 10 });
      for (let i = 1; i <= 100; i++) await log.append({ ts: '', type: 'stage', mac: macOf(i) });
      // newest 30, of which 20 come from the file
      expect((await log.list({ limit: 30 })).map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => 71 + i));
      // one machine's: every fifth, within the 80 kept (seq 21..100)
      expect((await log.list({ mac: macOf(3), limit: 1000 })).map((e) => e.seq)).toEqual([23, 28, 33, 38, 43, 48, 53, 58, 63, 68, 73, 78, 83, 88, 93, 98]);
      expect((await log.list({ mac: macOf(3), afterSeq: 60, limit: 1000 })).map((e) => e.seq)).toEqual([63, 68, 73, 78, 83, 88, 93, 98]);
      expect((await log.list({ mac: macOf(3), limit: 3 })).map((e) => e.seq)).toEqual([88, 93, 98]);
      await log.close();
      // reopened: the same answers, and numbering goes on
      const again = await EventLog.open(file, 80, { windowEvents: 10 });
      expect((await again.list({ mac: macOf(3), limit: 1000 })).map((e) => e.seq)).toEqual([23, 28, 33, 38, 43, 48, 53, 58, 63, 68, 73, 78, 83, 88, 93, 98]);
      expect((await again.append({ ts: '', type: 'stage' })).seq).toBe(101);
      await again.close();
    });

    it('counts log upload bytes over the whole kept log, across a reopen and a compaction', async () => {
      const file = path.join(dir, 'events.jsonl');
      const text = 'y'.repeat(1000);
      const log = await EventLog.open(file, 1000, { windowEvents: 5 });
      for (let i = 0; i < 10; i++) await log.append({ ts: '', type: 'boot.log_upload', mac: macOf(0), data: { text } });
      for (let i = 0; i < 50; i++) await log.append({ ts: '', type: 'stage', mac: macOf(0) });
      const uploaded = log.bytesOf(macOf(0), 'boot.log_upload');
      expect(uploaded).toBeGreaterThan(10_000);
      await log.close();
      const again = await EventLog.open(file, 1000, { windowEvents: 5 });
      await again.counted(); // the count after open runs in the background
      expect(again.bytesOf(macOf(0), 'boot.log_upload')).toBe(uploaded);
      await again.close();
      // a count limit of 20 leaves none of the uploads: the compaction at open (60 lines, over twice 20) drops them and their bytes
      const small = await EventLog.open(file, 20, { windowEvents: 5 });
      await small.counted();
      await small.close();
      expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(20);
      const after = await EventLog.open(file, 20, { windowEvents: 5 });
      await after.counted();
      expect(after.bytesOf(macOf(0), 'boot.log_upload')).toBe(0);
      await after.close();
    });

    it('stays consistent while compactions move the file under reads and appends', async () => {
      const file = path.join(dir, 'events.jsonl');
      const log = await EventLog.open(file, 50, { windowEvents: 7 });
      const reads: Array<Promise<number[]>> = [];
      const writes: Array<Promise<unknown>> = [];
      for (let i = 1; i <= 400; i++) {
        writes.push(log.append({ ts: '', type: 'stage', mac: macOf(i) }));
        if (i % 25 === 0) {
          await Promise.all(writes.splice(0));
          reads.push(log.list({ limit: 50 }).then((l) => l.map((e) => e.seq)));
        }
      }
      await Promise.all(writes);
      const lists = await Promise.all(reads);
      // each read saw the newest 50 (or all there were), in order, with no gap or stranger
      lists.forEach((seqs, k) => {
        const top = (k + 1) * 25;
        expect(seqs).toEqual(Array.from({ length: Math.min(50, top) }, (_, i) => top - Math.min(50, top) + 1 + i));
      });
      await log.close();
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      expect(lines.length).toBeLessThanOrEqual(100);
      expect(JSON.parse(lines.at(-1)!).seq).toBe(400);
    });
  });
});
