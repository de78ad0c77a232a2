/**
 * Several servers sharing one build queue: two BuildServices, each on its own PgInventoryStore, on one
 * PostgreSQL database (a throwaway cluster from Debian's `postgresql`) and one boot-assets folder,
 * running a recipe of the test's own (a shell step that appends to a marker file). Every build runs
 * exactly once, both servers take some; a build whose server vanished is taken over when its lease
 * lapses; a runner that lost its build stops and writes nothing. And on the JSON file, which one
 * process holds, a restart still fails what the previous process left running.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BuildService } from '../../lib/builds/service';
import { parseRecipe } from '../../lib/builds/recipes';
import { JsonInventoryStore, type Build, type InventoryStore } from '../../lib/store';
import { PgInventoryStore } from '../../lib/store/pg-store';
import { havePostgres, startPostgres, type TestPostgres } from '../helpers/postgres';

if (!havePostgres && process.env.CI) throw new Error('shared builds test: CI needs PostgreSQL (Debian package postgresql)');

const mac = (i: number) => `52:54:00:15:01:${i.toString(16).padStart(2, '0')}`;
/** Appends `<server> <build id> start` to the marker, waits `{delay}` seconds, writes its outputs, appends `end`. */
const recipe = (server: string, marker: string) => parseRecipe('marked', {
  steps: [['sh', '-c', 'echo "$SERVER $NETBOOT_BUILD_ID start" >>"$MARKER"; sleep "$NETBOOT_PARAM_DELAY"; printf "kernel %s" "$NETBOOT_BUILD_ID" >"$NETBOOT_OUTPUT_DIR/k"; printf i >"$NETBOOT_OUTPUT_DIR/i"; echo "$SERVER $NETBOOT_BUILD_ID end" >>"$MARKER"']],
  env: { SERVER: server, MARKER: marker },
  outputs: { kernel: 'k', initrd: 'i' },
});
const lines = (file: string) => {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

describe.skipIf(!havePostgres)('two servers sharing one build queue on PostgreSQL', { timeout: 60_000 }, () => {
  let pg: TestPostgres;
  let n = 0;
  let dir: string;
  let marker: string;
  const open: Array<{ close(): Promise<void> }> = [];
  const warnings: string[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterAll(() => pg?.destroy());
  afterEach(async () => {
    // services before their stores
    for (const o of open.splice(0).reverse()) await o.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    warnings.length = 0;
  });

  /** Two servers, `a` and `b`, on one new database, with one assets folder and a data folder each. */
  const servers = async (leaseMs: number) => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-shared-builds-'));
    marker = path.join(dir, 'runs');
    const url = await pg.createDatabase(`netboot_builds_${++n}`);
    const out: Array<{ store: InventoryStore; svc: BuildService }> = [];
    for (const name of ['a', 'b']) {
      const store = await PgInventoryStore.open(url);
      open.push(store);
      const svc = new BuildService({
        store, assetsRoot: path.join(dir, 'assets'), dataDir: path.join(dir, `data-${name}`), baseUrl: `http://${name}`,
        owner: `server-${name}`, leaseMs, recipes: { marked: recipe(name, marker) },
        log: { info: () => undefined, warn: (m) => warnings.push(`${name}: ${m}`), error: (m) => warnings.push(`${name}: ${m}`) },
      });
      open.push(svc);
      out.push({ store, svc });
    }
    return out;
  };
  const allBuilds = async (store: InventoryStore) => (await store.builds.list({ limit: 1000 })).items;

  it('runs each of six queued builds exactly once, split over both servers', async () => {
    const [a, b] = await servers(3000);
    await a.svc.open();
    await b.svc.open();
    for (let i = 1; i <= 6; i++) await a.store.devices.create({ mac: mac(i) });
    // queued through either server
    for (let i = 1; i <= 6; i++) await (i % 2 ? a : b).svc.request({ mac: mac(i), recipe: 'marked', params: { delay: '0.4' } });
    await expect.poll(async () => (await allBuilds(a.store)).filter((x) => x.status === 'success').length, { timeout: 30_000, interval: 200 }).toBe(6);
    const starts = lines(marker).filter((l) => l.endsWith(' start'));
    const ids = starts.map((l) => l.split(' ')[1]);
    expect(ids).toHaveLength(6);
    expect(new Set(ids).size).toBe(6);
    const by = (s: string) => starts.filter((l) => l.startsWith(`${s} `)).length;
    expect(by('a')).toBeGreaterThan(0);
    expect(by('b')).toBeGreaterThan(0);
    for (const x of await allBuilds(a.store)) {
      expect(x).toMatchObject({ status: 'success', attempts: 1 });
      // the server named on the build is the one that ran it, and its artifacts are in the shared folder
      expect(starts).toContain(`${x.claimedBy!.replace('server-', '')} ${x.id} start`);
      expect(readFileSync(path.join(dir, 'assets', x.artifacts![0].path), 'utf8')).toBe(`kernel ${x.id}`);
    }
    expect(warnings).toEqual([]);
  });

  it('takes over a build whose server is gone once its lease lapses, and completes it', async () => {
    const [a, b] = await servers(600);
    await a.store.devices.create({ mac: mac(1) });
    // a server claimed it, then vanished: it never renews, and its lease runs out 1.5 s from now
    const leaseUntil = new Date(Date.now() + 1500).toISOString();
    await a.store.builds.create({
      id: 'b-orphan', mac: mac(1), recipe: 'marked', params: { delay: '0' }, status: 'building', claimedBy: 'server-gone', leaseUntil, attempts: 1, startedAt: new Date().toISOString(), log: 'builds/b-orphan.log',
    });
    await a.svc.open();
    await b.svc.open();
    // not before the lease lapses: the other server may still be at work on it
    await new Promise((r) => setTimeout(r, 800));
    expect(await a.store.builds.get('b-orphan')).toMatchObject({ status: 'building', claimedBy: 'server-gone' });
    expect(lines(marker)).toEqual([]);
    await expect.poll(async () => (await a.store.builds.get('b-orphan'))?.status, { timeout: 15_000, interval: 100 }).toBe('success');
    const done = (await a.store.builds.get('b-orphan'))!;
    expect(done).toMatchObject({ attempts: 2, claimedBy: expect.stringMatching(/^server-[ab]$/), exitCode: 0 });
    expect(Date.parse(done.endedAt!)).toBeGreaterThanOrEqual(Date.parse(leaseUntil));
    expect(lines(marker).filter((l) => l.endsWith(' start'))).toHaveLength(1);
    expect(await a.store.devices.get(mac(1))).toMatchObject({ status: 'ready' });
  });

  it('a server whose build was taken over stops it and writes no outcome', async () => {
    const [a] = await servers(600);
    await a.svc.open();
    await a.store.devices.create({ mac: mac(1) });
    const doneEvents: Build[] = [];
    a.svc.on('done', (x: Build) => doneEvents.push(x));
    const q = await a.svc.request({ mac: mac(1), recipe: 'marked', params: { delay: '23.7' } });
    await expect.poll(() => lines(marker), { timeout: 10_000 }).toEqual([`a ${q.id} start`]);
    // as if a's lease had lapsed and another server had claimed it
    await a.store.builds.update(q.id, { claimedBy: 'server-x' });
    await expect.poll(() => warnings.join('\n'), { timeout: 5000 }).toMatch(new RegExp(`build ${q.id} is no longer this server's`));
    await expect.poll(async () => readFileSync(path.join(dir, 'data-a', 'builds', `${q.id}.log`), 'utf8'), { timeout: 5000 }).toMatch(/no longer this server's build/);
    // the step was ended (no "end" line), nothing was installed, the build is the other server's as it was
    await new Promise((r) => setTimeout(r, 300));
    expect(lines(marker)).toEqual([`a ${q.id} start`]);
    expect(await a.store.builds.get(q.id)).toMatchObject({ status: 'building', claimedBy: 'server-x' });
    expect(doneEvents).toEqual([]);
    // its process group was ended too (the bracket keeps pgrep from finding its own command line)
    expect(spawnSync('pgrep', ['-f', '[s]leep 23.7'], { encoding: 'utf8' }).stdout).toBe('');
  });
});

describe('one server on the JSON file, restarted', () => {
  it('fails what the previous process on this host left running, and leaves another live server\'s build to its lease', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'netboot-builds-restart-'));
    const store = await JsonInventoryStore.open(path.join(dir, 'inventory.json'));
    try {
      const gone = spawnSync('true').pid!; // a process of this host that has ended
      const lease = new Date(Date.now() + 60_000).toISOString();
      for (const [i, claimedBy] of [[1, `${hostname()}:${gone}`], [2, `${hostname()}:${process.pid}`], [3, 'elsewhere:1']] as const) {
        await store.devices.create({ mac: mac(i) });
        await store.builds.create({ id: `b${i}`, mac: mac(i), recipe: 'marked', status: 'building', claimedBy, leaseUntil: lease, startedAt: new Date().toISOString() });
      }
      const svc = new BuildService({ store, assetsRoot: path.join(dir, 'assets'), dataDir: dir, baseUrl: 'http://x', owner: 'this-server', recipes: { marked: recipe('j', path.join(dir, 'runs')) } });
      await svc.open();
      await svc.close();
      expect(await store.builds.get('b1')).toMatchObject({ status: 'failed', error: expect.stringMatching(/^interrupted/) });
      // a live process on this host (here: the test itself) and another host keep theirs
      expect((await store.builds.get('b2'))?.status).toBe('building');
      expect((await store.builds.get('b3'))?.status).toBe('building');
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a build claimed while Node-RED stops is handed back (its lease ends), not started on a closing store', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'netboot-builds-stop-'));
    const store = await JsonInventoryStore.open(path.join(dir, 'inventory.json'));
    try {
      await store.devices.create({ mac: mac(1) });
      await store.builds.create({ id: 'q1', mac: mac(1), recipe: 'marked', status: 'pending', params: { delay: '0' } });
      // the claim answers only after close() has begun, as a slow database would
      let claimed!: () => void;
      const gate = new Promise<void>((r) => (claimed = r));
      const slow = Object.create(store) as JsonInventoryStore;
      slow.claimBuild = async (owner: string, leaseMs: number) => {
        await gate;
        return store.claimBuild(owner, leaseMs);
      };
      const runs = path.join(dir, 'runs');
      const svc = new BuildService({ store: slow, assetsRoot: path.join(dir, 'assets'), dataDir: dir, baseUrl: 'http://x', owner: 'this-server', recipes: { marked: recipe('j', runs) } });
      await svc.open();
      const closing = svc.close();
      claimed();
      await closing;
      expect(lines(runs)).toEqual([]);
      const b = await store.builds.get('q1');
      expect(b).toMatchObject({ status: 'building', claimedBy: 'this-server' });
      expect(Date.parse(b!.leaseUntil!)).toBeLessThanOrEqual(Date.now());
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
