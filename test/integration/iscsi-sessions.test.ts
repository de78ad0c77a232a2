import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IscsiService, TgtAdmin, type IscsiServiceOptions } from '../../lib/iscsi';
import { JsonInventoryStore } from '../../lib/store';
import { freeTcpPort } from '../helpers/start-server';

/**
 * Diskless sessions (lib/iscsi/sessions.ts) on a real tgtd (package tgt), with QEMU's own iSCSI
 * initiator (qemu-io, package qemu-utils, built with libiscsi) writing and reading the disks as the
 * machine would, on loopback. Needs root (tgtd's control socket); fails in CI when anything is missing.
 */
const CI = process.env.CI === 'true';
const which = (c: string) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0;
const missing = ['tgtd', 'tgtadm', 'qemu-io'].filter((c) => !which(c));
if (process.getuid?.() !== 0) missing.push('root');
if (missing.length && CI) throw new Error(`iscsi sessions: CI=true but missing ${missing.join(', ')}`);

const P = 'iqn.2024-01.local.netboot';
const MAC = 'aa:bb:cc:dd:ee:21';
const ME = `${P}:device-aa-bb-cc-dd-ee-21`;
const MiB = 1024 * 1024;

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A lab: a store, our tgtd on its own control port, and the iSCSI service. */
async function lab(name: string, offset: number, extra: Partial<IscsiServiceOptions> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), `netboot-${name}-`));
  const port = await freeTcpPort();
  const controlPort = 300 + ((process.pid + offset) % 600);
  const store = await JsonInventoryStore.open(path.join(dir, 'inventory.json'));
  const logs: string[] = [];
  const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };
  const svc = new IscsiService({
    store, disksDir: path.join(dir, 'disks'), stateDir: dir, iqnPrefix: P, advertise: '127.0.0.1', listen: '127.0.0.1', port,
    controlPort, daemon: 'own', chap: {}, resyncMs: 60_000, sessionPollMs: 60_000, log, ...extra,
  });
  const status = await svc.start();
  expect(status, status.error).toMatchObject({ state: 'ready', daemon: 'own' });
  const admin = new TgtAdmin(controlPort);
  /** qemu-io logged in as the machine: runs the commands, returns what it printed. */
  const io = (iqn: string, ...cmds: string[]) => {
    const r = spawnSync('qemu-io', [...cmds.flatMap((c) => ['-c', c]), '--image-opts', target(iqn)], { encoding: 'utf8', timeout: 30_000 });
    return { ok: r.status === 0 && !/error|failed/i.test(`${r.stdout}${r.stderr}`), out: `${r.stdout}${r.stderr}` };
  };
  const target = (iqn: string) => `driver=iscsi,transport=tcp,portal=127.0.0.1:${port},target=${iqn},lun=1,initiator-name=${ME}`;
  /** qemu-io staying logged in (its `sleep`), for the cases that need a machine on its disk. */
  const stay = (iqn: string, ...cmds: string[]): ChildProcess => spawn('qemu-io', [...cmds.flatMap((c) => ['-c', c]), '-c', 'sleep 60000', '--image-opts', target(iqn)], { stdio: 'ignore' });
  const loggedIn = async (iqn: string) => ((await admin.targets()).find((t) => t.iqn === iqn)?.nexus.length ?? 0) > 0;
  const close = async () => {
    await svc.close();
    await admin.shutdown();
    rmSync(`/var/run/tgtd/socket.${controlPort}`, { force: true });
    rmSync(`/var/run/tgtd/socket.${controlPort}.lock`, { force: true });
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, store, svc, admin, io, stay, loggedIn, close, logs };
}

async function end(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null) return;
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
}

describe.skipIf(missing.length > 0)('diskless sessions on a real tgtd', () => {
  let L: Awaited<ReturnType<typeof lab>>;

  beforeAll(async () => {
    L = await lab('sessions', 0);
    // the golden image: 16 MiB, its first 64 KiB are 0x11
    await L.svc.create({ id: 'golden', name: 'golden', sizeBytes: 16 * MiB });
    const fd = openSync(path.join(L.dir, 'disks', 'golden.img'), 'r+');
    writeSync(fd, Buffer.alloc(64 * 1024, 0x11), 0, 64 * 1024, 0);
    closeSync(fd);
    await L.store.devices.create({ mac: MAC, hostname: 'lab-21' });
  }, 30_000);

  afterAll(async () => {
    await L?.close();
  }, 30_000);

  it('a clean session runs on a copy: writes land in the copy, tgtd counts them, a stop discards them', async () => {
    const s = await L.svc.sessions.start({ mac: MAC, image: 'golden', mode: 'clean' });
    expect(s).toMatchObject({ mac: MAC, state: 'active', detail: { mode: 'clean', image: 'golden', served: `session-${s.id}`, copy: `sessions/${s.id}.img`, previousImageId: null } });
    expect(s.target).toMatchObject({ state: 'ready', acl: [ME], linked: [MAC] });
    expect((await L.store.devices.get(MAC))?.imageId).toBe(`session-${s.id}`);
    expect(existsSync(path.join(L.dir, 'disks', 'sessions', `${s.id}.img`))).toBe(true);
    // the machine sees the golden bytes, then writes its own
    const iqn = s.target!.iqn;
    expect(L.io(iqn, 'read -P 0x11 0 64k').ok).toBe(true);
    const machine = L.stay(iqn, 'write -P 0xab 0 64k');
    try {
      await until('the machine logged in', () => L.loggedIn(iqn));
      await until('the write counted', async () => {
        const tgt = (await L.admin.targets()).find((t) => t.iqn === iqn)!;
        return (await L.admin.lunStats(tgt.tid)).some((r) => r.lun === 1 && r.writeBytes >= 64 * 1024);
      });
      await L.svc.sessions.poll();
      const tgt = (await L.admin.targets()).find((t) => t.iqn === iqn)!;
      const rows = (await L.admin.lunStats(tgt.tid)).filter((r) => r.lun === 1);
      const now = await L.svc.sessions.get(s.id);
      expect(now.detail.writeBytes).toBe(rows.reduce((n, r) => n + r.writeBytes, 0));
      expect(now.detail.readBytes).toBe(rows.reduce((n, r) => n + r.readBytes, 0));
      expect(now.detail.writeBytes).toBeGreaterThanOrEqual(64 * 1024);
      // never from under a logged-in machine
      await expect(L.svc.sessions.stop(s.id)).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('logged in') });
      expect(await L.svc.sessions.stop(s.id, { afterLogout: true })).toMatchObject({ state: 'stopping' });
      expect((await L.store.devices.get(MAC))?.imageId).toBe(`session-${s.id}`);
    } finally {
      await end(machine);
    }
    await until('the machine logged out', async () => !(await L.loggedIn(iqn)));
    await L.svc.sessions.poll();
    const stopped = await L.svc.sessions.get(s.id);
    expect(stopped).toMatchObject({ state: 'stopped', detail: { stopReason: 'stopped' } });
    expect(stopped.detail.writeBytes).toBeGreaterThanOrEqual(64 * 1024);
    expect(existsSync(path.join(L.dir, 'disks', 'sessions', `${s.id}.img`))).toBe(false);
    expect(await L.store.images.get(`session-${s.id}`)).toBeUndefined();
    expect((await L.store.devices.get(MAC))?.imageId ?? null).toBeNull();
    expect((await L.admin.targets()).map((t) => t.iqn)).not.toContain(iqn);

    // the next clean session starts from the golden bytes again
    const again = await L.svc.sessions.start({ mac: MAC, image: 'golden', mode: 'clean' });
    expect(L.io(again.target!.iqn, 'read -P 0x11 0 64k').ok).toBe(true);
    expect(L.io(again.target!.iqn, 'read -P 0xab 0 64k').ok).toBe(false);
    await L.svc.sessions.stop(again.id);

    const events = await L.store.listEvents({ mac: MAC });
    expect(events.filter((e) => e.type === 'session.start').map((e) => e.data?.session)).toEqual([s.id, again.id]);
    expect(events.find((e) => e.type === 'session.stop' && e.data?.session === s.id)?.data).toMatchObject({ mode: 'clean', writeBytes: stopped.detail.writeBytes });
  }, 60_000);

  it('one live session per machine (409), and a persistent session keeps what the machine wrote', async () => {
    await L.svc.create({ id: 'own-21', name: 'own disk', sizeBytes: 8 * MiB, mac: MAC });
    const s = await L.svc.sessions.start({ mac: MAC, mode: 'persistent' });
    expect(s.detail).toMatchObject({ mode: 'persistent', image: 'own-21', served: 'own-21', previousImageId: 'own-21' });
    await expect(L.svc.sessions.start({ mac: MAC, image: 'golden', mode: 'clean' })).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining(s.id) });
    expect(L.io(s.target!.iqn, 'write -P 0xcd 4096 4096').ok).toBe(true);
    await L.svc.sessions.stop(s.id);
    expect((await L.store.devices.get(MAC))?.imageId).toBe('own-21'); // its own disk stays linked
    const next = await L.svc.sessions.start({ mac: MAC, mode: 'persistent' });
    expect(L.io(next.target!.iqn, 'read -P 0xcd 4096 4096').ok).toBe(true);
    await L.svc.sessions.stop(next.id);
    await expect(L.svc.sessions.start({ mac: 'aa:bb:cc:00:00:99', image: 'golden' })).rejects.toMatchObject({ code: 'not_found' });
    await expect(L.svc.sessions.start({ mac: MAC, image: 'nope' })).rejects.toMatchObject({ code: 'not_found' });
    await L.store.devices.update(MAC, { imageId: null });
  }, 60_000);

  it('commit makes a clean session\'s disk the next version of the image; later sessions start from it', async () => {
    const s = await L.svc.sessions.start({ mac: MAC, image: 'golden', mode: 'clean' });
    expect(L.io(s.target!.iqn, 'write -P 0xee 0 64k').ok).toBe(true);
    const c = await L.svc.sessions.commit(s.id);
    expect(c).toEqual({ image: 'golden', version: 2, path: 'versions/golden/v2.img' });
    expect(await L.store.images.get('golden')).toMatchObject({ version: 2, path: 'versions/golden/v2.img' });
    await L.svc.sessions.stop(s.id);
    const next = await L.svc.sessions.start({ mac: MAC, image: 'golden', mode: 'clean' });
    expect(next.detail.imageVersion).toBe(2);
    expect(L.io(next.target!.iqn, 'read -P 0xee 0 64k').ok).toBe(true);
    await L.svc.sessions.stop(next.id);
    await expect(L.svc.sessions.commit(next.id)).rejects.toMatchObject({ code: 'conflict' });
  }, 60_000);

  it('a start that fails half-way (no tgtd to serve the copy) undoes every step', async () => {
    const before = { images: (await L.store.images.list()).items.map((i) => i.id).sort(), device: await L.store.devices.get(MAC) };
    // the same inventory and disks, through a service whose tgtd is gone for good (external mode on a
    // control port where nothing answers): the copy works, serving it cannot
    const gone = new IscsiService({
      store: L.store, disksDir: path.join(L.dir, 'disks'), stateDir: path.join(L.dir, 'gone'), iqnPrefix: P, advertise: '127.0.0.1', listen: '127.0.0.1',
      port: 1, controlPort: 300 + ((process.pid + 50) % 600), daemon: 'external', chap: {}, resyncMs: 60_000, sessionPollMs: 60_000,
    });
    expect((await gone.start()).state).toBe('failed');
    try {
      await expect(gone.sessions.start({ mac: MAC, image: 'golden', mode: 'clean' })).rejects.toMatchObject({ message: expect.stringMatching(/tgtd/) });
    } finally {
      await gone.close();
    }
    const failed = (await L.svc.sessions.list({ mac: MAC })).find((x) => x.state === 'failed');
    expect(failed?.detail.error).toMatch(/tgtd/);
    expect((await L.store.images.list()).items.map((i) => i.id).sort()).toEqual(before.images);
    expect((await L.store.devices.get(MAC))?.imageId ?? null).toBe(before.device?.imageId ?? null);
    expect(readdirSync(path.join(L.dir, 'disks', 'sessions'))).toEqual([]);
    expect((await L.store.listEvents({ mac: MAC })).some((e) => e.type === 'session.failed')).toBe(true);
    // the real service goes on
    const ok = await L.svc.sessions.start({ mac: MAC, image: 'golden', mode: 'clean' });
    expect(ok.state).toBe('active');
    await L.svc.sessions.stop(ok.id);
  }, 60_000);

  it('stats count sessions by state, their durations and bytes', async () => {
    const st = await L.svc.sessions.stats();
    expect(st.byState.active).toBe(0);
    expect(st.byState.stopped).toBeGreaterThanOrEqual(5);
    expect(st.byState.failed).toBeGreaterThanOrEqual(1);
    expect(st.durationsSeconds.count).toBe(st.byState.stopped);
    expect(st.writeBytes).toBeGreaterThanOrEqual(64 * 1024);
  });
});

describe.skipIf(missing.length > 0)('diskless sessions: automatic stop and a full disk', () => {
  it('stops a session whose machine stays logged out past the idle time', async () => {
    const L = await lab('idle', 7, { sessionIdleStopMs: 1500, sessionPollMs: 1000 });
    try {
      await L.svc.create({ id: 'g', name: 'g', sizeBytes: 4 * MiB });
      await L.store.devices.create({ mac: MAC });
      const s = await L.svc.sessions.start({ mac: MAC, image: 'g', mode: 'clean' });
      const machine = L.stay(s.target!.iqn);
      try {
        await until('the machine logged in', () => L.loggedIn(s.target!.iqn));
        await new Promise((r) => setTimeout(r, 2500)); // longer than the idle time, but logged in
        expect((await L.svc.sessions.get(s.id)).state).toBe('active');
      } finally {
        await end(machine);
      }
      await until('the idle stop', async () => (await L.svc.sessions.get(s.id)).state === 'stopped', 20_000);
      expect((await L.svc.sessions.get(s.id)).detail.stopReason).toMatch(/^idle/);
      expect(existsSync(path.join(L.dir, 'disks', 'sessions', `${s.id}.img`))).toBe(false);
    } finally {
      await L.close();
    }
  }, 60_000);

  it('a clean start on a full disk fails with the reason and leaves nothing behind', async () => {
    const mnt = mkdtempSync(path.join(tmpdir(), 'netboot-full-'));
    mkdirSync(path.join(mnt, 'disks'));
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', path.join(mnt, 'disks')]);
    expect(m.status, String(m.stderr)).toBe(0);
    const L = await lab('full', 13, { disksDir: path.join(mnt, 'disks') });
    try {
      await L.svc.create({ id: 'big', name: 'big', sizeBytes: 16 * MiB });
      const fd = openSync(path.join(mnt, 'disks', 'big.img'), 'r+');
      writeSync(fd, Buffer.alloc(4 * MiB, 0x5a), 0, 4 * MiB, 0); // 4 MiB real data: a copy needs 4 more, 2 are left
      closeSync(fd);
      await L.store.devices.create({ mac: MAC });
      await expect(L.svc.sessions.start({ mac: MAC, image: 'big', mode: 'clean' })).rejects.toMatchObject({ message: expect.stringMatching(/no space left/i) });
      expect((await L.store.images.list()).items.map((i) => i.id)).toEqual(['big']);
      expect((await L.store.devices.get(MAC))?.imageId ?? null).toBeNull();
      expect(readdirSync(path.join(mnt, 'disks', 'sessions'))).toEqual([]);
      expect((await L.svc.sessions.list({ mac: MAC }))[0]).toMatchObject({ state: 'failed', detail: { error: expect.stringMatching(/no space left/i) } });
    } finally {
      await L.close();
      spawnSync('umount', [path.join(mnt, 'disks')]);
      rmSync(mnt, { recursive: true, force: true });
    }
  }, 60_000);
});
