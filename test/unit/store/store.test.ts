import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonInventoryStore, openSharedStore } from '../../../lib/store';
import { NetbootError } from '../../../lib/core/errors';

let dir: string;
let file: string;
let journal: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'netboot-store-'));
  file = path.join(dir, 'inventory.json');
  journal = path.join(dir, 'inventory.journal.jsonl');
});
/** What is on disk: the file written whole, then the journal's lines after it. */
const onDisk = () => `${readFileSync(file, 'utf8')}\n${readFileSync(journal, 'utf8')}`;
const journalLines = () => readFileSync(journal, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { seq: number; c: string; id?: string; v: unknown });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<NetbootError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(NetbootError);
  expect((err as NetbootError).code).toBe(code);
  expect((err as NetbootError).message).toMatch(message);
  return err as NetbootError;
}

// What every backend promises (records, rules, lists, events, boots, export) is in contract.test.ts,
// run against the JSON file and PostgreSQL; here is what only the file does.
describe('JsonInventoryStore', () => {
  it('creates the file with a schema version and round-trips devices', async () => {
    const store = await JsonInventoryStore.open(file);
    const dev = await store.devices.create({ mac: 'AA-BB-CC-DD-EE-FF', hostname: 'node1', labels: { rack: '2' } });
    expect(dev.mac).toBe('aa:bb:cc:dd:ee:ff');
    expect(dev.status).toBe('enrolled');
    const disk = JSON.parse(readFileSync(file, 'utf8'));
    expect(disk.schemaVersion).toBe(3);
    // the change is one journal line, not a rewrite of the file
    expect(disk.devices).toEqual([]);
    expect(journalLines()).toEqual([{ seq: 1, c: 'devices', id: 'aa:bb:cc:dd:ee:ff', v: expect.objectContaining({ hostname: 'node1' }) }]);
    await store.close();
    const again = await JsonInventoryStore.open(file);
    expect((await again.devices.get('aabb.ccdd.eeff'))?.labels).toEqual({ rack: '2' });
    await again.close();
  });

  it('tells change listeners what changed once it is on disk, but not for check-ins', async () => {
    const store = await JsonInventoryStore.open(file);
    const seen: Array<[string, boolean]> = [];
    const stop = store.onChange((c) => seen.push([c, onDisk().includes('"d1"') || onDisk().includes('aa:bb:cc:00:00:01')]));
    store.onChange(() => {
      throw new Error('a broken listener');
    });
    await store.images.create({ id: 'd1', name: 'disk' });
    await store.devices.create({ mac: 'aa:bb:cc:00:00:01', imageId: 'd1' });
    await store.devices.touch('aa:bb:cc:00:00:01', { ip: '10.0.0.9' });
    await store.devices.update('aa:bb:cc:00:00:01', { imageId: null });
    await expect(store.images.update('nope', { name: 'x' })).rejects.toThrow(/no image/);
    await store.importAll(await store.exportAll(), 'merge');
    stop();
    await store.images.remove('d1');
    expect(seen).toEqual([['images', true], ['devices', true], ['devices', true], ['all', true]]);
    await store.close();
  });

  it('coalesces writes: a burst of mutations all resolve and all land', async () => {
    const store = await JsonInventoryStore.open(file);
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.devices.create({ mac: (0x020000000000 + i).toString(16).padStart(12, '0') })));
    expect(new Set(journalLines().map((l) => l.id)).size).toBe(200);
    await store.close();
    const again = await JsonInventoryStore.open(file);
    expect((await again.devices.list({ limit: 1000 })).total).toBe(200);
    await again.close();
  });

  it('keeps a bounded event log', async () => {
    const store = await JsonInventoryStore.open(file);
    await store.updateSettings({ eventLogLimit: 10 });
    for (let i = 0; i < 15; i++) await store.appendEvent({ type: 'dhcp.discover', mac: 'AA:BB:CC:DD:EE:FF' });
    const events = await store.listEvents({ mac: 'aa:bb:cc:dd:ee:ff' });
    expect(events).toHaveLength(10);
    expect(events[0].seq).toBe(6);
    expect(events[9].seq).toBe(15);
    await store.close();
  });

  it('moves a corrupt file aside with a clear error and never overwrites it silently', async () => {
    writeFileSync(file, '{"schemaVersion":1,"devices":[{"mac":');
    const line = `${JSON.stringify({ seq: 1, c: 'devices', id: '02:00:00:00:00:07', v: { mac: '02:00:00:00:00:07', macs: [], labels: {}, status: 'enrolled' } })}\n`;
    writeFileSync(journal, line);
    const errors: string[] = [];
    const store = await JsonInventoryStore.open(file, { log: { warn: () => undefined, error: (m) => errors.push(m) } });
    expect(store.report.quarantined).toMatch(/inventory\.json\.corrupt-/);
    expect(readFileSync(store.report.quarantined!, 'utf8')).toBe('{"schemaVersion":1,"devices":[{"mac":');
    // its journal went aside with it and was not replayed onto the empty inventory
    expect(readFileSync(store.report.quarantined!.replace('.json.corrupt-', '.journal.jsonl.corrupt-'), 'utf8')).toBe(line);
    expect(errors[0]).toMatch(/not valid JSON.*moved to.*its journal beside it/);
    expect((await store.devices.list()).total).toBe(0);
    await store.close();
  });

  it('migrates a version-less file forward and refuses a newer one', async () => {
    writeFileSync(file, JSON.stringify({ devices: [{ mac: 'aa:bb:cc:dd:ee:ff', macs: [], labels: {}, status: 'ready', firstSeen: 'x', createdAt: 'x', updatedAt: 'x' }] }));
    const store = await JsonInventoryStore.open(file);
    expect(store.report.migratedFrom).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8')).schemaVersion).toBe(3);
    expect((await store.devices.get('aa:bb:cc:dd:ee:ff'))?.status).toBe('ready');
    await store.close();
    writeFileSync(file, JSON.stringify({ schemaVersion: 99, devices: [] }));
    await rejects(JsonInventoryStore.open(file), 'store_corrupt', /newer than this program/);
  });

  it('opens a schema-3 file written before config documents and builds existed, and adds to them', async () => {
    writeFileSync(file, JSON.stringify({ schemaVersion: 3, devices: [], images: [], profiles: [], groups: [], sessions: [], boots: [], settings: { stallSeconds: 5 } }));
    const store = await JsonInventoryStore.open(file);
    expect((await store.builds.list()).total).toBe(0);
    expect((await store.configs.list()).total).toBe(0);
    await store.configs.create({ id: 'c', name: 'c', format: 'text', template: 'x' });
    await store.builds.create({ id: 'b', mac: 'aa:bb:cc:dd:ee:ff', recipe: 'initramfs', status: 'pending' });
    await store.close();
    const again = await JsonInventoryStore.open(file);
    expect((await again.configs.list()).total).toBe(1);
    expect((await again.builds.get('b'))?.status).toBe('pending');
    expect((await again.getSettings()).stallSeconds).toBe(5);
    await again.close();
    writeFileSync(file, JSON.stringify({ schemaVersion: 3, devices: [], images: [], profiles: [], groups: [], sessions: [], boots: [], builds: {}, settings: {} }));
    await rejects(JsonInventoryStore.open(file), 'store_corrupt', /"builds" must be an array/);
  });

  it('migrates a version 1 file to 2 (kept boots)', async () => {
    writeFileSync(file, JSON.stringify({ schemaVersion: 1, devices: [], images: [], profiles: [], groups: [], sessions: [], events: [], eventSeq: 0, settings: {} }));
    const store = await JsonInventoryStore.open(file);
    expect(store.report.migratedFrom).toBe(1);
    expect(JSON.parse(readFileSync(file, 'utf8')).boots).toEqual([]);
    await store.close();
  });

  it('keeps events in their own append-only file, across restarts and a torn last line', async () => {
    const store = await JsonInventoryStore.open(file);
    for (let i = 0; i < 5; i++) await store.appendEvent({ type: 'boot.log', mac: 'aa:bb:cc:dd:ee:ff', message: `line ${i}` });
    expect(JSON.parse(readFileSync(file, 'utf8')).events).toBeUndefined();
    const logFile = path.join(dir, 'inventory.events.jsonl');
    expect(readFileSync(logFile, 'utf8').trim().split('\n')).toHaveLength(5);
    await store.close();
    // a crash mid-append leaves half a line
    writeFileSync(logFile, `${readFileSync(logFile, 'utf8')}{"seq":6,"type":"boot.lo`);
    const again = await JsonInventoryStore.open(file);
    const after = await again.appendEvent({ type: 'boot.log', mac: 'aa:bb:cc:dd:ee:ff', message: 'after the crash' });
    expect(after.seq).toBe(6);
    expect((await again.listEvents({ mac: 'aa:bb:cc:dd:ee:ff' })).map((e) => e.message)).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4', 'after the crash']);
    await again.close();
    // every line of the file parses again
    for (const line of readFileSync(logFile, 'utf8').trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('compacts the event log when it holds twice the limit', async () => {
    const store = await JsonInventoryStore.open(file);
    await store.updateSettings({ eventLogLimit: 10 });
    for (let i = 0; i < 25; i++) await store.appendEvent({ type: 'x', message: String(i) });
    const lines = readFileSync(path.join(dir, 'inventory.events.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBeLessThanOrEqual(20);
    expect(JSON.parse(lines.at(-1)!).seq).toBe(25);
    await store.close();
  });

  it('moves the events of a schema 2 file into the log', async () => {
    writeFileSync(file, JSON.stringify({ schemaVersion: 2, devices: [], images: [], profiles: [], groups: [], sessions: [], boots: [], settings: {}, eventSeq: 2,
      events: [{ seq: 1, ts: 't', type: 'boot.log', mac: 'aa:bb:cc:dd:ee:ff', message: 'old 1' }, { seq: 2, ts: 't', type: 'boot.log', mac: 'aa:bb:cc:dd:ee:ff', message: 'old 2' }] }));
    const store = await JsonInventoryStore.open(file);
    expect(store.report.migratedFrom).toBe(2);
    expect((await store.listEvents({ mac: 'aa:bb:cc:dd:ee:ff' })).map((e) => e.message)).toEqual(['old 1', 'old 2']);
    const disk = JSON.parse(readFileSync(file, 'utf8'));
    expect(disk.events).toBeUndefined();
    expect(disk.schemaVersion).toBe(3);
    await store.close();
  });

  it('writes the journal into the file whole once it outgrows it, and replays only what came after', async () => {
    const store = await JsonInventoryStore.open(file, { journalBytes: 4096 });
    await store.devices.create({ mac: '02:00:00:00:00:01', hostname: 'first' });
    for (let i = 0; i < 40; i++) await store.devices.update('02:00:00:00:00:01', { labels: { n: String(i) } });
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { journalSeq: number; devices: Array<{ labels: Record<string, string> }> };
    expect(doc.journalSeq).toBeGreaterThan(0);
    expect(doc.devices).toHaveLength(1);
    // the journal holds only lines after the file's journalSeq
    expect(journalLines().every((l) => l.seq > doc.journalSeq)).toBe(true);
    expect(readFileSync(journal, 'utf8').length).toBeLessThan(4096 + 1024);
    await store.close();
    const again = await JsonInventoryStore.open(file);
    expect((await again.devices.get('02:00:00:00:00:01'))?.labels).toEqual({ n: '39' });
    await again.close();
  });

  it('skips journal lines the file already holds (a crash between writing it whole and emptying the journal)', async () => {
    const at = '2026-01-01T00:00:00.000Z';
    const dev = (hostname: string) => ({ mac: '02:00:00:00:00:02', macs: [], hostname, labels: {}, status: 'enrolled', firstSeen: at, createdAt: at, updatedAt: at });
    writeFileSync(file, JSON.stringify({ schemaVersion: 3, devices: [dev('newest')], images: [], profiles: [], groups: [], sessions: [], configs: [], builds: [], boots: [], settings: {}, journalSeq: 2 }));
    writeFileSync(journal, [
      { seq: 1, c: 'devices', id: '02:00:00:00:00:02', v: dev('old') },
      { seq: 2, c: 'devices', id: '02:00:00:00:00:02', v: dev('older') },
      { seq: 3, c: 'images', id: 'disk1', v: { id: 'disk1', name: 'disk one', createdAt: at, updatedAt: at } },
    ].map((l) => `${JSON.stringify(l)}\n`).join(''));
    const store = await JsonInventoryStore.open(file);
    expect((await store.devices.get('02:00:00:00:00:02'))?.hostname).toBe('newest');
    expect((await store.images.get('disk1'))?.name).toBe('disk one');
    // numbering goes on after the journal's last line
    await store.images.remove('disk1');
    expect(journalLines().at(-1)).toEqual({ seq: 4, c: 'images', id: 'disk1', v: null });
    await store.close();
    const again = await JsonInventoryStore.open(file);
    expect(await again.images.get('disk1')).toBeUndefined();
    await again.close();
  });

  it('cuts off a journal line torn by a crash and keeps the lines before it', async () => {
    const store = await JsonInventoryStore.open(file);
    await store.devices.create({ mac: '02:00:00:00:00:03', hostname: 'kept' });
    await store.updateSettings({ eventLogLimit: 50 });
    await store.close();
    writeFileSync(journal, `${readFileSync(journal, 'utf8')}{"seq":3,"c":"devices","id":"02:00:00:00:00:04","v":{"mac":"02:`);
    const warnings: string[] = [];
    const again = await JsonInventoryStore.open(file, { log: { warn: (m) => warnings.push(m), error: (m) => warnings.push(m) } });
    expect((await again.devices.get('02:00:00:00:00:03'))?.hostname).toBe('kept');
    expect(await again.devices.get('02:00:00:00:00:04')).toBeUndefined();
    expect((await again.getSettings()).eventLogLimit).toBe(50);
    expect(warnings.join('\n')).toMatch(/unfinished last line/);
    // the next change starts on a line of its own
    await again.devices.create({ mac: '02:00:00:00:00:05' });
    expect(journalLines().map((l) => l.seq)).toEqual([1, 2, 3]);
    await again.close();
  });

  it('removes a temp file left by a crash mid-write', async () => {
    writeFileSync(path.join(dir, '.inventory.json.tmp'), '{"half');
    const store = await JsonInventoryStore.open(file);
    expect(store.report.removedLeftover).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['inventory.events.jsonl', 'inventory.journal.jsonl', 'inventory.json']);
    await store.close();
  });

  it('shares one instance per file and closes it with the last user', async () => {
    const a = await openSharedStore(file);
    const b = await openSharedStore(file);
    expect(a.store).toBe(b.store);
    await a.release();
    await a.store.devices.create({ mac: 'aa:bb:cc:dd:ee:ff' });
    await b.release();
    await expect(b.store.devices.list()).rejects.toThrow(/closed/);
    const c = await openSharedStore(file);
    expect(c.store).not.toBe(a.store);
    expect((await c.store.devices.list()).total).toBe(1);
    await c.release();
  });
});
