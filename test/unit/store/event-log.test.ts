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
    const kept = log.list({ limit: 1000 });
    expect(kept.map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 4901 + i));
    // one machine's, among the kept (its MAC's last byte is seq % 256)
    expect(log.list({ mac: '52:54:00:00:00:30', limit: 1000 }).map((e) => e.seq)).toEqual([4912]);
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
    expect(log.list({ limit: 10 }).map((e) => e.seq)).toEqual([1, 2]);
    expect((await log.append({ ts: '', type: 'enroll' })).seq).toBe(3);
    await log.close();
    expect(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3]);
  });

  it('reads lines longer than a read chunk whole', async () => {
    const file = path.join(dir, 'events.jsonl');
    const big = 'x'.repeat(3 << 20);
    writeFileSync(file, `${line(1)}\n${line(2, { data: { text: big } })}\n${line(3)}\n`);
    const log = await EventLog.open(file, 100, 64 << 20);
    const kept = log.list({ limit: 10 });
    expect(kept.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect((kept[1].data as { text: string }).text).toHaveLength(3 << 20);
    await log.close();
  });
});
