import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonInventoryStore } from '../../../lib/store';
import { EventLog } from '../../../lib/store/event-log';
import { enroll, parseEnrollBody } from '../../../lib/policy/enroll';
import { recordLogUpload } from '../../../lib/policy/boot-log';

/** Growth caps: unconfirmed devices, log bytes per machine and in total. */
let dir: string;
let store: JsonInventoryStore;
beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'netboot-growth-'));
  store = await JsonInventoryStore.open(path.join(dir, 'inventory.json'));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const mac = (i: number) => `52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

describe('unconfirmed devices', () => {
  it('keeps at most maxUnconfirmedDevices, evicting the oldest, never an admin\'s device', async () => {
    await store.updateSettings({ maxUnconfirmedDevices: 5 });
    await store.devices.create({ mac: '52:54:00:aa:00:01', labels: { rack: '1' } });
    await store.devices.create({ mac: '52:54:00:aa:00:02', status: 'configured' });
    const evicted: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await enroll(store, parseEnrollBody({ mac_address: mac(i) }));
      if (r.outcome === 'created') evicted.push(...r.evicted);
    }
    expect(evicted).toEqual([mac(0), mac(1), mac(2)]);
    const left = (await store.devices.list()).items.map((d) => d.mac).sort();
    expect(left).toEqual(['52:54:00:aa:00:01', '52:54:00:aa:00:02', mac(3), mac(4), mac(5), mac(6), mac(7)].sort());
    expect((await store.listEvents({ mac: mac(0) })).map((e) => e.type)).toContain('device.evicted');
  });
});

describe('log bytes', () => {
  it('refuses uploads past the per-machine cap with a 413 that says why', async () => {
    const kib = Buffer.alloc(100 * 1024, 0x41);
    for (let i = 0; i < 3; i++) await recordLogUpload(store, { mac: mac(1), name: `l${i}.log` }, kib, undefined, 1 << 20, 350 * 1024);
    await expect(recordLogUpload(store, { mac: mac(1), name: 'l4.log' }, kib, undefined, 1 << 20, 350 * 1024))
      .rejects.toMatchObject({ details: { status: 413 }, message: expect.stringMatching(/limit 358400 per machine/) });
    // another machine still may
    await recordLogUpload(store, { mac: mac(2), name: 'l.log' }, kib, undefined, 1 << 20, 350 * 1024);
  });

  it('caps the event log in bytes, oldest first, in memory and in the file', async () => {
    const file = path.join(dir, 'events.jsonl');
    const log = await EventLog.open(file, 100_000, 256 * 1024);
    const text = 'x'.repeat(10 * 1024);
    for (let i = 0; i < 200; i++) await log.append({ ts: '', type: 'boot.log_upload', mac: mac(1), data: { text } });
    const kept = await log.list({ limit: 100_000 });
    expect(kept.length).toBeLessThan(30);
    expect(kept.at(-1)!.seq).toBe(200);
    expect(log.evicted).toBe(200 - kept.length);
    expect(statSync(file).size).toBeLessThanOrEqual(2 * 256 * 1024 + 12 * 1024);
    await log.close();
    const again = await EventLog.open(file, 100_000, 256 * 1024);
    expect((await again.list({ limit: 100_000 })).at(-1)!.seq).toBe(200);
    await again.close();
  });
});
