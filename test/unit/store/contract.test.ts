/**
 * What every inventory backend promises, run against each: the JSON file (the default) and
 * PostgreSQL (a throwaway cluster from Debian's `postgresql`, each test in a new database). The JSON
 * file's own matters (its file on disk, corruption, migrations, the shared instance per file) are in
 * store.test.ts. CI installs PostgreSQL, so there a missing one is a failure, not a skip.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NetbootError } from '../../../lib/core/errors';
import { JsonInventoryStore, type InventoryStore, type StoreChange } from '../../../lib/store';
import { PgInventoryStore } from '../../../lib/store/pg-store';
import { havePostgres, startPostgres, type TestPostgres } from '../../helpers/postgres';

if (!havePostgres && process.env.CI) throw new Error('store contract test: CI needs PostgreSQL (Debian package postgresql)');

type Store = InventoryStore & { close(): Promise<void>; onChange(l: (c: StoreChange) => void): () => void };
interface Backend { name: string; skip: boolean; open(opts?: { site?: string }): Promise<Store>; second?(opts?: { site?: string }): Promise<Store> }

let pg: TestPostgres | undefined;
let dir = '';
let n = 0;
let current = '';
const opened: Store[] = [];

const backends: Backend[] = [
  {
    name: 'JSON file',
    skip: false,
    open: async (opts) => {
      current = path.join(dir, `inventory-${++n}.json`);
      return JsonInventoryStore.open(current, opts);
    },
  },
  {
    name: 'PostgreSQL',
    skip: !havePostgres,
    open: async (opts) => {
      current = await pg!.createDatabase(`netboot_${++n}`);
      return PgInventoryStore.open(current, opts);
    },
    // a second boot server on the same database
    second: async (opts) => PgInventoryStore.open(current, opts),
  },
];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'netboot-contract-'));
  if (havePostgres) pg = await startPostgres();
}, 60_000);
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close().catch(() => undefined);
});
afterAll(() => {
  pg?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(NetbootError);
  expect((err as NetbootError).code).toBe(code);
  expect((err as NetbootError).message).toMatch(message);
}

describe.each(backends)('the inventory on $name', (backend) => {
  const open = async (opts?: { site?: string }) => {
    const s = await backend.open(opts);
    opened.push(s);
    return s;
  };

  it.skipIf(backend.skip)('round-trips devices, with MACs in one form', async () => {
    const store = await open();
    const dev = await store.devices.create({ mac: 'AA-BB-CC-DD-EE-FF', hostname: 'node1', labels: { rack: '2' } });
    expect(dev).toMatchObject({ mac: 'aa:bb:cc:dd:ee:ff', status: 'enrolled', labels: { rack: '2' }, macs: [] });
    expect((await store.devices.get('aabb.ccdd.eeff'))?.labels).toEqual({ rack: '2' });
    const up = await store.devices.update('aa:bb:cc:dd:ee:ff', { hostname: 'node2', labels: { rack: '3' } });
    expect(up).toMatchObject({ hostname: 'node2', labels: { rack: '3' } });
    expect(await store.devices.get('not a mac')).toBeUndefined();
    await store.devices.remove('aa:bb:cc:dd:ee:ff');
    expect(await store.devices.get('aa:bb:cc:dd:ee:ff')).toBeUndefined();
  });

  it.skipIf(backend.skip)('refuses duplicates, unknown ids and invalid fields with the field named', async () => {
    const store = await open();
    await store.devices.create({ mac: 'aa:bb:cc:dd:ee:01', macs: ['aa:bb:cc:dd:ee:02'] });
    await rejects(store.devices.create({ mac: 'AA:BB:CC:DD:EE:01' }), 'conflict', /already exists/);
    await rejects(store.devices.create({ mac: 'aa:bb:cc:dd:ee:02' }), 'conflict', /already exists/);
    await rejects(store.devices.create({ mac: 'nope' }), 'validation', /field "mac"/);
    await rejects(store.devices.create({ mac: 'aa:bb:cc:dd:ee:03', hostname: 'bad name;' }), 'validation', /field "hostname"/);
    await rejects(store.devices.create({ mac: 'aa:bb:cc:dd:ee:03', profileId: 'missing' }), 'validation', /field "profileId": no profile/);
    await rejects(store.devices.create({ mac: 'aa:bb:cc:dd:ee:03', extra: 1 } as never), 'validation', /field "extra"/);
    await rejects(store.devices.update('aa:bb:cc:dd:ee:09', { hostname: 'x' }), 'not_found', /no device/);
    await rejects(store.profiles.update('nope', { name: 'x' }), 'not_found', /no profile "nope"/);
    await store.groups.create({ id: 'all', name: 'All', selector: {}, isDefault: true });
    await rejects(store.groups.create({ id: 'all2', name: 'All 2', selector: {}, isDefault: true }), 'conflict', /default group already exists \(all\)/);
    // nothing of the refused ones is there
    expect((await store.devices.list()).total).toBe(1);
  });

  it.skipIf(backend.skip)('finds devices by any MAC, UUID, serial (with the 10000000 prefix) and service tag', async () => {
    const store = await open();
    await store.devices.create({ mac: 'dc:a6:32:01:36:c2', serial: '9FFEFDEF' });
    await store.devices.create({ mac: '52:54:00:12:34:56', macs: ['52:54:00:12:34:57'], uuid: '8C3F2A10-0000-4000-8000-000000000001', serviceTag: 'ABC123' });
    expect((await store.devices.find({ mac: '52-54-00-12-34-57' }))?.mac).toBe('52:54:00:12:34:56');
    expect((await store.devices.get('52:54:00:12:34:57'))?.mac).toBe('52:54:00:12:34:56');
    expect((await store.devices.find({ uuid: '8c3f2a10-0000-4000-8000-000000000001' }))?.mac).toBe('52:54:00:12:34:56');
    expect((await store.devices.find({ serial: '100000009ffefdef' }))?.mac).toBe('dc:a6:32:01:36:c2');
    expect((await store.devices.find({ serviceTag: 'abc123' }))?.mac).toBe('52:54:00:12:34:56');
    expect(await store.devices.find({ mac: '00:00:00:00:00:01' })).toBeUndefined();
    const touched = await store.devices.touch('dc:a6:32:01:36:c2', { ip: '10.0.0.9', arch: 'rpi4', reported: { hostname: 'pi' } });
    expect(touched).toMatchObject({ lastIp: '10.0.0.9', arch: 'rpi4', reported: { hostname: 'pi' } });
    expect(touched.lastSeen).toBeTruthy();
  });

  it.skipIf(backend.skip)('keeps records in use from being deleted, and paginates and filters lists', async () => {
    const store = await open();
    const prof = await store.profiles.create({ name: 'Talos worker', type: 'talos', kernel: 'vmlinuz' });
    expect(prof.id).toBe('talos-worker');
    expect((await store.profiles.create({ name: 'Talos worker', type: 'talos', kernel: 'vmlinuz' })).id).toBe('talos-worker-2');
    for (let i = 0; i < 25; i++) await store.devices.create({ mac: `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`, status: i % 2 ? 'ready' : 'enrolled', profileId: i === 3 ? prof.id : undefined, labels: { rack: String(i % 3) } });
    await rejects(store.profiles.remove(prof.id), 'conflict', /in use by device 02:00:00:00:00:03/);
    await store.configs.create({ id: 'seed', name: 'seed', format: 'cloud-config', template: '#cloud-config\n' });
    await store.groups.create({ id: 'g', name: 'G', selector: { rack: '1' }, configs: ['seed'] });
    await rejects(store.configs.remove('seed'), 'conflict', /in use by group g/);
    const pageTwo = await store.devices.list({ offset: 10, limit: 10 });
    expect(pageTwo.items).toHaveLength(10);
    expect(pageTwo.total).toBe(25);
    expect(pageTwo.items[0].mac).toBe('02:00:00:00:00:0a');
    expect((await store.devices.list({ filter: { status: 'ready' } })).total).toBe(12);
    expect((await store.devices.list({ filter: { 'label.rack': '1', status: 'ready' } })).total).toBe(4);
    expect((await store.devices.list({ filter: { q: '00:00:1' } })).total).toBe(9);
    expect((await store.devices.list({ offset: 30 })).total).toBe(25);
    expect((await store.profiles.list({ filter: { q: 'worker-2' } })).items.map((p) => p.id)).toEqual(['talos-worker-2']);
  });

  it.skipIf(backend.skip)('tells change listeners what changed once it is stored, but not for check-ins', async () => {
    const store = await open();
    const seen: string[] = [];
    const stop = store.onChange((c) => seen.push(c));
    await store.images.create({ id: 'd1', name: 'disk' });
    await store.devices.create({ mac: 'aa:bb:cc:00:00:01', imageId: 'd1' });
    await store.devices.touch('aa:bb:cc:00:00:01', { ip: '10.0.0.9' });
    await store.devices.update('aa:bb:cc:00:00:01', { imageId: null });
    await expect(store.images.update('nope', { name: 'x' })).rejects.toThrow(/no image/);
    await store.importAll(await store.exportAll(), 'merge');
    await expect.poll(() => seen.length).toBe(4);
    stop();
    expect(seen).toEqual(['images', 'devices', 'devices', 'all']);
  });

  it.skipIf(backend.skip)('loses no update when writers race', async () => {
    const store = await open();
    await store.devices.create({ mac: 'aa:bb:cc:00:00:02' });
    const other = backend.second ? await backend.second() : store;
    if (other !== store) opened.push(other);
    // two writers, each patching its own labels of one device 20 times, interleaved
    await Promise.all([store, other].map((s, w) => (async () => {
      for (let i = 0; i < 20; i++) {
        const d = (await s.devices.get('aa:bb:cc:00:00:02'))!;
        await s.devices.update(d.mac, { notes: `writer ${w} pass ${i}` });
        await s.devices.touch(d.mac, { ip: `10.0.${w}.${i}` });
      }
    })()));
    await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? store : other).devices.create({ mac: (0x020000001000 + i).toString(16).padStart(12, '0') })));
    expect((await store.devices.list({ limit: 1000 })).total).toBe(61);
    expect((await other.devices.list({ limit: 1000 })).total).toBe(61);
  });

  it.skipIf(backend.skip)('keeps a bounded event log, listed by machine and after a sequence number', async () => {
    const store = await open();
    await store.updateSettings({ eventLogLimit: 10 });
    for (let i = 0; i < 15; i++) await store.appendEvent({ type: 'dhcp.discover', mac: 'AA:BB:CC:DD:EE:FF', message: `n${i}` });
    await store.appendEvent({ type: 'boot.log', mac: 'aa:bb:cc:dd:ee:00', data: { text: 'twelve bytes' } });
    const events = await store.listEvents({ mac: 'aa:bb:cc:dd:ee:ff' });
    expect(events.length).toBeLessThanOrEqual(10);
    expect(events.at(-1)).toMatchObject({ seq: 15, message: 'n14', mac: 'aa:bb:cc:dd:ee:ff', type: 'dhcp.discover' });
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));
    expect((await store.listEvents({ afterSeq: 13 })).map((e) => e.seq)).toEqual([14, 15, 16]);
    expect((await store.listEvents({ limit: 2 })).map((e) => e.seq)).toEqual([15, 16]);
    // the per-machine cap of uploaded logs counts each stored record's bytes
    const one = store.eventBytes('aa:bb:cc:dd:ee:00', 'boot.log');
    expect(one).toBeGreaterThanOrEqual(12);
    await store.appendEvent({ type: 'boot.log', mac: 'aa:bb:cc:dd:ee:00', data: { text: 'twelve bytes' } });
    expect(store.eventBytes('aa:bb:cc:dd:ee:00', 'boot.log')).toBeGreaterThanOrEqual(one + 12);
    expect(store.eventBytes('aa:bb:cc:dd:ee:00', 'dhcp.discover')).toBe(0);
  });

  it.skipIf(backend.skip)('keeps the last N boots per device', async () => {
    const store = await open();
    await store.updateSettings({ bootsKeptPerDevice: 3 });
    for (let i = 0; i < 5; i++) await store.recordBoot({ mac: 'AA:BB:CC:DD:EE:FF', id: `b${i}`, startedAt: i, endedAt: i + 1, outcome: 'done' });
    await store.recordBoot({ mac: 'aa:bb:cc:dd:ee:00', id: 'other', startedAt: 0, endedAt: 1, outcome: 'failed' });
    expect((await store.listBoots('aa-bb-cc-dd-ee-ff')).map((b) => b.id)).toEqual(['b2', 'b3', 'b4']);
    expect(await store.listBoots('aa:bb:cc:dd:ee:00')).toHaveLength(1);
    expect((await store.bootsSince(3)).map((b) => b.id)).toEqual(['b3', 'b4']);
  });

  it.skipIf(backend.skip)('exports and imports the whole inventory, validating everything before changing anything', async () => {
    const store = await open();
    await store.profiles.create({ id: 'rescue', name: 'Rescue', type: 'rescue', kernel: 'k', initrd: ['i'] });
    await store.groups.create({ name: 'Rack 2', selector: { rack: '2' }, profileId: 'rescue' });
    await store.devices.create({ mac: 'aa:bb:cc:dd:ee:ff', profileId: 'rescue' });
    await store.updateSettings({ menuTimeoutMs: 5000 });
    const doc = await store.exportAll();
    const other = await open();
    await expect(other.importAll({ ...doc, devices: [{ ...doc.devices[0], mac: 'bad' }] })).rejects.toThrow(/invalid MAC/);
    expect((await other.devices.list()).total).toBe(0);
    expect(await other.importAll(doc)).toEqual({ devices: 1, images: 0, profiles: 1, groups: 1 });
    expect((await other.devices.get('aa:bb:cc:dd:ee:ff'))?.profileId).toBe('rescue');
    expect((await other.getSettings()).menuTimeoutMs).toBe(5000);
    const again = await other.exportAll();
    expect({ ...again, exportedAt: '' }).toEqual({ ...doc, exportedAt: '' });
    await expect(other.importAll({ format: 'something-else' })).rejects.toThrow(/field "format"/);
  });

  it.skipIf(backend.skip)('hands out copies: editing what a read returned does not edit the store', async () => {
    const store = await open();
    await store.devices.create({ mac: '52:54:00:00:00:01', hostname: 'a' });
    const got = (await store.devices.get('52:54:00:00:00:01'))!;
    got.hostname = 'changed';
    got.labels.x = 'y';
    const found = (await store.devices.find({ mac: '52:54:00:00:00:01' }))!;
    found.status = 'failed';
    expect(await store.devices.get('52:54:00:00:00:01')).toMatchObject({ hostname: 'a', labels: {}, status: 'enrolled' });
  });

  it.skipIf(backend.skip)('hands out builds: the oldest pending first, each once, then lapsed leases, counting attempts', async () => {
    const store = await open();
    const heard: string[] = [];
    store.onChange((c) => heard.push(c));
    await store.builds.create({ id: 'b1', mac: 'aa:bb:cc:00:00:01', recipe: 'fake', status: 'pending' });
    await store.builds.create({ id: 'b2', mac: 'aa:bb:cc:00:00:02', recipe: 'fake', status: 'pending' });
    await store.builds.create({ id: 'done', mac: 'aa:bb:cc:00:00:03', recipe: 'fake', status: 'success' });
    const first = await store.claimBuild('server-a', 60_000);
    expect(first).toMatchObject({ id: 'b1', status: 'building', claimedBy: 'server-a', attempts: 1 });
    expect(Date.parse(first!.leaseUntil!) - Date.now()).toBeGreaterThan(50_000);
    expect(first!.startedAt).toBeTruthy();
    expect(await store.builds.get('b1')).toMatchObject({ status: 'building', claimedBy: 'server-a', leaseUntil: first!.leaseUntil });
    expect((await store.claimBuild('server-b', 60_000))?.id).toBe('b2');
    // both held under live leases, the finished one never handed out
    expect(await store.claimBuild('server-b', 60_000)).toBeUndefined();
    await expect.poll(() => heard.filter((c) => c === 'builds').length).toBe(5); // 3 creates, 2 claims
    // a lease that lapses (its server stopped renewing) lets another server take the build over
    await store.builds.create({ id: 'b3', mac: 'aa:bb:cc:00:00:04', recipe: 'fake', status: 'pending' });
    const short = await store.claimBuild('server-c', 1);
    expect(short?.id).toBe('b3');
    await new Promise((r) => setTimeout(r, 20));
    const taken = await store.claimBuild('server-b', 60_000);
    expect(taken).toMatchObject({ id: 'b3', status: 'building', claimedBy: 'server-b', attempts: 2, startedAt: short!.startedAt });
    expect(await store.claimBuild('server-c', 60_000)).toBeUndefined();
  });

  it.skipIf(backend.skip)('renews a lease only for the server that holds the build', async () => {
    const store = await open();
    await store.builds.create({ id: 'b1', mac: 'aa:bb:cc:00:00:01', recipe: 'fake', status: 'pending' });
    const b = (await store.claimBuild('server-a', 1))!;
    expect(await store.renewBuild('b1', 'server-a', 60_000)).toBe(true);
    const renewed = (await store.builds.get('b1'))!;
    expect(renewed.leaseUntil! > b.leaseUntil!).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    // renewed in time: nobody else takes it
    expect(await store.claimBuild('server-b', 60_000)).toBeUndefined();
    expect(await store.renewBuild('b1', 'server-b', 60_000)).toBe(false);
    expect(await store.renewBuild('nope', 'server-a', 60_000)).toBe(false);
    // lapsed and taken over: the first server's renewal fails, so it stops and writes nothing
    await store.renewBuild('b1', 'server-a', 1);
    await new Promise((r) => setTimeout(r, 20));
    expect((await store.claimBuild('server-b', 60_000))?.claimedBy).toBe('server-b');
    expect(await store.renewBuild('b1', 'server-a', 60_000)).toBe(false);
    expect(await store.renewBuild('b1', 'server-b', 60_000)).toBe(true);
    // a build that ended (here: cancelled) has no lease to renew
    await store.builds.update('b1', { status: 'cancelled' });
    expect(await store.renewBuild('b1', 'server-b', 60_000)).toBe(false);
  });

  // several servers on one database: each build goes to exactly one of them
  if (backend.second) it.skipIf(backend.skip)('two servers claiming at once take every build exactly once', async () => {
    const a = await open();
    const b = await backend.second!();
    opened.push(b);
    for (let i = 0; i < 20; i++) await a.builds.create({ id: `b${String(i).padStart(2, '0')}`, mac: `aa:bb:cc:00:01:${i.toString(16).padStart(2, '0')}`, recipe: 'fake', status: 'pending' });
    const got: Record<string, string[]> = { a: [], b: [] };
    // each server runs several claimers at once, as a pool of connections would
    await Promise.all([['a', a], ['b', b]].flatMap(([name, s]) => Array.from({ length: 3 }, async () => {
      for (;;) {
        const x = await (s as Store).claimBuild(`server-${name as string}`, 60_000);
        if (!x) return;
        got[name as string].push(x.id);
      }
    })));
    const all = [...got.a, ...got.b].sort();
    expect(all).toEqual(Array.from({ length: 20 }, (_, i) => `b${String(i).padStart(2, '0')}`));
    expect(got.a.length).toBeGreaterThan(0);
    expect(got.b.length).toBeGreaterThan(0);
    for (const id of all) expect((await a.builds.get(id))).toMatchObject({ status: 'building', attempts: 1, claimedBy: got.a.includes(id) ? 'server-a' : 'server-b' });
  });

  // only a backend that several servers can share has another server to hear it
  if (backend.second) it.skipIf(backend.skip)('a change made through one server reaches the other\'s listeners', async () => {
    const a = await open();
    const b = await backend.second!();
    opened.push(b);
    const heard: string[] = [];
    b.onChange((c, id) => heard.push(`${c} ${id ?? ''}`));
    await a.devices.create({ mac: 'aa:bb:cc:00:00:09' });
    await a.profiles.create({ id: 'p', name: 'P', type: 'custom', kernel: 'k' });
    await expect.poll(() => heard, { timeout: 5000 }).toEqual(['devices aa:bb:cc:00:00:09', 'profiles p']);
    expect((await b.devices.get('aa:bb:cc:00:00:09'))?.mac).toBe('aa:bb:cc:00:00:09');
  });

  // a shared database: the change feed's own connection lost (a restart, a proxy dropping it)
  if (backend.second) it.skipIf(backend.skip)('finds a lost change feed again and tells every listener to reread (all)', async () => {
    const a = await open();
    const b = await backend.second!();
    opened.push(b);
    const heard: string[] = [];
    const health: string[] = [];
    a.onChange((c, id) => heard.push(`${c} ${id ?? '-'}`));
    (a as PgInventoryStore).onHealth((h) => health.push(h.state));
    // end a's LISTEN connection from the server side (the test cluster's user is a superuser)
    const { Client } = await import('pg');
    const admin = new Client({ connectionString: current });
    await admin.connect();
    try {
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN netboot_changes%' AND pid <> pg_backend_pid()");
    } finally {
      await admin.end();
    }
    await expect.poll(() => heard, { timeout: 10_000 }).toContain('all -');
    expect(health).toEqual(['read-only', 'ok']);
    // and it hears changes again, another server's too (b lost its change feed as well: wait for it)
    await expect.poll(() => (b as PgInventoryStore).health().state, { timeout: 10_000 }).toBe('ok');
    await b.devices.create({ mac: '52:54:00:aa:00:0f' });
    await expect.poll(() => heard, { timeout: 5000 }).toContain('devices 52:54:00:aa:00:0f');
  });

  it.skipIf(backend.skip)('names the one record that changed, and settings as settings', async () => {
    const store = await open();
    const heard: string[] = [];
    store.onChange((c, id) => heard.push(`${c} ${id ?? '-'}`));
    await store.devices.create({ mac: '52:54:00:aa:00:01', macs: ['52:54:00:aa:00:02'] });
    // found by its other MAC, announced by its primary one
    await store.devices.update('52:54:00:aa:00:02', { hostname: 'h1' });
    await store.groups.create({ name: 'Rack 1', selector: { rack: '1' } });
    await store.groups.update('rack-1', { description: 'top' });
    await store.groups.remove('rack-1');
    await store.devices.remove('52:54:00:aa:00:01');
    await store.updateSettings({ menuTimeoutMs: 1000 });
    await expect.poll(() => heard, { timeout: 5000 }).toEqual([
      'devices 52:54:00:aa:00:01', 'devices 52:54:00:aa:00:01', 'groups rack-1', 'groups rack-1', 'groups rack-1', 'devices 52:54:00:aa:00:01', 'settings -',
    ]);
  });

  it.skipIf(backend.skip)('writes its server\'s site on the events it keeps, and lists one site\'s', async () => {
    const store = await open({ site: 'rack-a' });
    await store.appendEvent({ type: 'enroll', mac: '52:54:00:aa:00:03', message: 'here' });
    // an event that says where it comes from keeps it (another server's, copied)
    await store.appendEvent({ type: 'enroll', mac: '52:54:00:aa:00:03', message: 'there', site: 'rack-b' });
    expect((await store.listEvents({ mac: '52:54:00:aa:00:03' })).map((e) => [e.message, e.site])).toEqual([['here', 'rack-a'], ['there', 'rack-b']]);
    expect((await store.listEvents({ site: 'rack-b' })).map((e) => e.message)).toEqual(['there']);
    expect(await store.listEvents({ site: 'nowhere' })).toEqual([]);
  });

  it.skipIf(backend.skip)('pins a device to a site, lists a site\'s devices, and unpins with null', async () => {
    const store = await open();
    await store.devices.create({ mac: '52:54:00:aa:00:04', site: 'rack-b' });
    await store.devices.create({ mac: '52:54:00:aa:00:05' });
    expect((await store.devices.list({ filter: { site: 'rack-b' } })).items.map((d) => d.mac)).toEqual(['52:54:00:aa:00:04']);
    await rejects(store.devices.update('52:54:00:aa:00:05', { site: 'no spaces' } as never), 'validation', /site/);
    // a sighting by a server records that server's site (the dashboard's "seen at")
    expect((await store.devices.touch('52:54:00:aa:00:05', { site: 'rack-a' })).lastSite).toBe('rack-a');
    expect((await store.devices.get('52:54:00:aa:00:05'))!.lastSite).toBe('rack-a');
    const un = await store.devices.update('52:54:00:aa:00:04', { site: null });
    expect('site' in un).toBe(false);
    expect((await store.devices.get('52:54:00:aa:00:04'))!.site).toBeUndefined();
  });
});
