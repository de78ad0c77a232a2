import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeSync, closeSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IscsiService, TgtAdmin, type IscsiServiceOptions, type SessionEvent } from '../../lib/iscsi';
import { JsonInventoryStore } from '../../lib/store';
import { freeTcpPort } from '../helpers/start-server';
import { inventoryFilesText } from '../helpers/inventory-on-disk';

/**
 * The iSCSI service against a real tgtd (package tgt) and a real initiator (libiscsi's iscsi-inq /
 * iscsi-readcapacity16 / iscsi-perf, package libiscsi-bin), on loopback. Needs root (tgtd's control
 * socket lives in /var/run/tgtd); skips locally without it, fails in CI (CI=true).
 */
const CI = process.env.CI === 'true';
const which = (c: string) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0;
const missing = ['tgtd', 'tgtadm', 'iscsi-inq', 'iscsi-readcapacity16', 'iscsi-perf'].filter((c) => !which(c));
if (process.getuid?.() !== 0) missing.push('root');
if (missing.length && CI) throw new Error(`iscsi: CI=true but missing ${missing.join(', ')}`);

const P = 'iqn.2024-01.local.netboot';
const MAC = 'aa:bb:cc:dd:ee:01';
const ME = `${P}:device-aa-bb-cc-dd-ee-01`;
const CHAP = { incoming: { user: 'nbuser', password: 'S3cret-Pass.2024' }, outgoing: { user: 'tgtout', password: 'Other-Secret.99' } };
const MiB = 1024 * 1024;

/** A control port (socket /var/run/tgtd/socket.<n>) of our own, away from a system tgtd's 0 and the e2e suite's 81. */
const controlPort = 300 + (process.pid % 600);

function initiator(tool: 'iscsi-inq' | 'iscsi-readcapacity16', url: string, name = ME) {
  const r = spawnSync(tool, ['-i', name, url], { encoding: 'utf8', timeout: 20_000 });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(missing.length > 0)('iSCSI targets on a real tgtd', () => {
  let dir: string;
  let store: JsonInventoryStore;
  let svc: IscsiService;
  let port: number;
  const logs: string[] = [];
  const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };
  let options: IscsiServiceOptions;
  const url = (image: string, cred = '') => `iscsi://${cred}127.0.0.1:${port}/${P}:${image}/1`;
  const admin = new TgtAdmin(controlPort);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-iscsi-'));
    port = await freeTcpPort();
    store = await JsonInventoryStore.open(path.join(dir, 'inventory.json'));
    options = {
      store, disksDir: path.join(dir, 'disks'), stateDir: dir, iqnPrefix: P, advertise: '127.0.0.1', listen: '127.0.0.1', port,
      controlPort, daemon: 'own', chap: {}, stopOnClose: false, resyncMs: 500, sessionPollMs: 200, log,
    };
    svc = new IscsiService(options);
    const status = await svc.start();
    expect(status, status.error).toMatchObject({ state: 'ready', daemon: 'own' });
  }, 30_000);

  afterAll(async () => {
    await svc?.close();
    // whatever a failed case left running: our tgtd only (by its control port)
    await admin.shutdown();
    rmSync(`/var/run/tgtd/socket.${controlPort}`, { force: true });
    rmSync(`/var/run/tgtd/socket.${controlPort}.lock`, { force: true });
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('creates a sparse disk, serves it to the linked machine only, and names it in the inventory', async () => {
    const t = await svc.create({ id: 'd1', name: 'disk one', sizeBytes: 8 * MiB, mac: MAC });
    expect(t).toMatchObject({ image: 'd1', iqn: `${P}:d1`, lun: 1, state: 'ready', linked: [MAC], acl: [ME], sizeBytes: 8 * MiB, uri: `iscsi:127.0.0.1::${port}:1:${P}:d1` });
    expect(t.allocatedBytes).toBeLessThan(MiB); // sparse
    expect(await store.images.get('d1')).toMatchObject({ kind: 'iscsi', path: 'd1.img', iqn: `${P}:d1`, sizeBytes: 8 * MiB });
    expect((await store.devices.get(MAC))?.imageId).toBe('d1');

    const cap = initiator('iscsi-readcapacity16', url('d1'));
    expect(cap.ok, cap.out).toBe(true);
    expect(cap.out).toMatch(/Total size:8388608/);
    const stranger = initiator('iscsi-inq', url('d1'), `${P}:device-12-22-33-44-55-66`);
    expect(stranger.ok, 'a machine not linked to the image is refused').toBe(false);
    expect(stranger.out).toMatch(/Target not found|Login Failed/i);
  });

  it('follows the inventory: linking a device through the store opens the ACL, unlinking closes it', async () => {
    const other = `${P}:device-12-22-33-44-55-66`;
    await store.devices.create({ mac: '12:22:33:44:55:66', imageId: 'd1' });
    await until('the second machine in the ACL', async () => (await admin.targets()).find((x) => x.iqn === `${P}:d1`)?.acl.includes(other) ?? false);
    expect(initiator('iscsi-inq', url('d1'), other).ok).toBe(true);
    await svc.unlink({ mac: '12:22:33:44:55:66' });
    expect((await admin.targets()).find((x) => x.iqn === `${P}:d1`)?.acl).toEqual([ME]);
    expect(initiator('iscsi-inq', url('d1'), other).ok).toBe(false);
  });

  it('copies a disk keeping its bytes and its holes, and refuses names that leave the disks folder', async () => {
    const file = path.join(dir, 'disks', 'd1.img');
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from('netboot-marker'), 0, 14, 4 * MiB);
    closeSync(fd);
    const progress: Array<{ image: string; from: string; bytes: number; size: number }> = [];
    const onProgress = (p: (typeof progress)[number]) => progress.push(p);
    svc.on('progress', onProgress);
    const t = await svc.create({ id: 'd2', name: 'copy', from: 'd1' });
    svc.off('progress', onProgress);
    expect(t.state).toBe('ready');
    // the dashboard's bar: bytes so far never past the size, and the whole size once it is done
    expect(progress.at(-1)).toEqual({ image: 'd2', from: 'd1', bytes: 8 * MiB, size: 8 * MiB });
    expect(progress.every((p) => p.bytes <= p.size && p.size === 8 * MiB)).toBe(true);
    const copy = readFileSync(path.join(dir, 'disks', 'd2.img'));
    expect(copy.length).toBe(8 * MiB);
    expect(copy.subarray(4 * MiB, 4 * MiB + 14).toString()).toBe('netboot-marker');
    expect(statSync(path.join(dir, 'disks', 'd2.img')).blocks * 512).toBeLessThan(MiB);
    for (const bad of ['../escape.img', '/etc/passwd', 'a/../../x.img', 'x\0.img', '.hidden']) {
      await expect(svc.create({ id: 'bad', sizeBytes: MiB, path: bad })).rejects.toMatchObject({ code: 'validation' });
    }
    // a disk file that is a symlink out of the folder is never served
    symlinkSync('/etc/hostname', path.join(dir, 'disks', 'link.img'));
    await store.images.create({ id: 'sneaky', name: 'sneaky', kind: 'iscsi', path: 'link.img' });
    await svc.sync();
    expect(svc.status.problems).toEqual([{ image: 'sneaky', reason: expect.stringContaining('outside') }]);
    expect((await admin.targets()).map((x) => x.iqn)).not.toContain(`${P}:sneaky`);
    await store.images.remove('sneaky');
  });

  it('refuses to rename or delete a disk while a machine is logged in, and does both once it has left', async () => {
    const sessions: SessionEvent[] = [];
    svc.on('session', (e: SessionEvent) => sessions.push(e));
    let perf: ChildProcess | undefined = spawn('iscsi-perf', ['-i', ME, url('d1')], { stdio: 'ignore' });
    try {
      await until('a session on d1', async () => ((await admin.targets()).find((x) => x.iqn === `${P}:d1`)?.nexus.length ?? 0) > 0);
      expect((await svc.list()).find((x) => x.image === 'd1')?.sessions).toEqual([{ initiator: ME, addresses: ['127.0.0.1'] }]);
      await expect(svc.rename({ id: 'd1', path: 'renamed.img' })).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining(ME) });
      await expect(svc.remove({ id: 'd2', deleteDisk: true })).resolves.toEqual({ removed: 'd2', diskDeleted: true });
      await expect(svc.remove({ id: 'd1' })).rejects.toMatchObject({ code: 'conflict' });
    } finally {
      perf.kill('SIGINT');
      await new Promise((r) => perf!.once('exit', r));
      perf = undefined;
    }
    await until('the session to end', async () => ((await admin.targets()).find((x) => x.iqn === `${P}:d1`)?.nexus.length ?? 1) === 0);
    // the login and the logout were reported, with the machine's MAC read from its initiator name
    await until('the logout event', () => sessions.length >= 2);
    expect(sessions).toEqual([
      { type: 'iscsi.login', target: `${P}:d1`, initiator: ME, ip: '127.0.0.1', mac: MAC },
      { type: 'iscsi.logout', target: `${P}:d1`, initiator: ME, ip: '127.0.0.1', mac: MAC },
    ]);
    const moved = await svc.rename({ id: 'd1', path: 'renamed.img' });
    expect(moved).toMatchObject({ path: 'renamed.img', state: 'ready' });
    expect((await admin.targets()).find((x) => x.iqn === `${P}:d1`)?.luns.find((l) => l.lun === 1)?.path).toBe(path.join(dir, 'disks', 'renamed.img'));
    expect(readdirSync(path.join(dir, 'disks')).sort()).toEqual(['link.img', 'renamed.img']);
    expect(initiator('iscsi-readcapacity16', url('d1')).ok).toBe(true);
  }, 30_000);

  it('restores every target when tgtd dies, and a new service adopts the running tgtd', async () => {
    const before = (await admin.targets()).map((t) => t.iqn);
    expect(before).toEqual([`${P}:d1`]);
    const pid = Number(readFileSync(path.join(dir, `tgtd.${controlPort}.pid`), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await until('tgtd restarted with its targets', async () => svc.status.state === 'ready' && (await admin.alive()) && (await admin.targets()).length === 1, 20_000);
    expect(logs.join('\n')).toMatch(/tgtd exited \(SIGKILL\)/);
    // the portal answers once the restarted tgtd has its LUN back (a loaded machine may need a moment)
    await until('the restored target answers an initiator', () => initiator('iscsi-readcapacity16', url('d1')).ok, 10_000);

    // a redeploy: the service goes, tgtd and the target stay for the running machines...
    await svc.close();
    expect(await admin.alive()).toBe(true);
    expect((await admin.targets()).map((t) => t.iqn)).toEqual([`${P}:d1`]);
    expect(initiator('iscsi-readcapacity16', url('d1')).ok).toBe(true);
    // ...and the next one knows that tgtd as its own and has nothing to redo
    logs.length = 0;
    svc = new IscsiService(options);
    expect(await svc.start()).toMatchObject({ state: 'ready', daemon: 'own', targets: 1 });
    expect(logs.filter((l) => /^iSCSI: (create|LUN|allow|delete)/.test(l))).toEqual([]);
  }, 60_000);

  it('asks for CHAP when configured: right secret in, wrong or none out; secrets never logged', async () => {
    await svc.close();
    svc = new IscsiService({ ...options, chap: CHAP });
    expect((await svc.start()).state).toBe('ready');
    const t = (await admin.targets()).find((x) => x.iqn === `${P}:d1`)!;
    expect(t.accounts).toEqual([{ user: 'nbuser', outgoing: false }, { user: 'tgtout', outgoing: true }]);
    expect(initiator('iscsi-readcapacity16', url('d1', 'nbuser%S3cret-Pass.2024@')).ok).toBe(true);
    expect(initiator('iscsi-readcapacity16', url('d1', 'nbuser%wrong-secret-xx@')).ok).toBe(false);
    expect(initiator('iscsi-readcapacity16', url('d1')).ok).toBe(false);
    // what a sanboot script gets for this image
    const image = (await store.images.get('d1'))!;
    expect(svc.bootInfo(image, MAC)).toEqual({
      port, initiatorIqn: ME,
      chap: { username: 'nbuser', password: 'S3cret-Pass.2024', reverseUsername: 'tgtout', reversePassword: 'Other-Secret.99' },
    });
    expect(svc.bootInfo({ ...image, targetHost: 'nas.lan' }, MAC)).toBeUndefined();
    expect(logs.join('\n')).toMatch(/create CHAP account nbuser/);
    expect(logs.join('\n')).not.toMatch(/S3cret|Other-Secret/);
    expect(inventoryFilesText(dir)).not.toMatch(/S3cret|Other-Secret/);
  }, 30_000);

  it('deletes the target of an image removed from the inventory', async () => {
    await store.devices.update(MAC, { imageId: null });
    await store.images.remove('d1');
    await until('the target gone', async () => (await admin.targets()).length === 0);
  });

  it('reports a full disk clearly and leaves neither a partial disk nor an image behind', async () => {
    const small = path.join(dir, 'small');
    mkdirSync(small);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small]).status === 0;
    expect(mounted, 'mount a 2 MiB tmpfs').toBe(true);
    try {
      const tiny = new IscsiService({ ...options, disksDir: small, stateDir: dir, daemon: 'external', stopOnClose: false });
      expect((await tiny.start()).state).toBe('ready');
      const size = 1280 * 1024; // two of these do not fit in 2 MiB
      await tiny.create({ id: 'src', sizeBytes: size });
      const fd = openSync(path.join(small, 'src.img'), 'r+');
      writeSync(fd, Buffer.alloc(size, 0xab), 0, size, 0);
      closeSync(fd);
      await expect(tiny.create({ id: 'dst', from: 'src' })).rejects.toMatchObject({ code: 'store_io', message: expect.stringContaining('no space left') });
      expect(readdirSync(small)).toEqual(['src.img']);
      expect(await store.images.get('dst')).toBeUndefined();
      await tiny.remove({ id: 'src', deleteDisk: true });
      await tiny.close();
    } finally {
      spawnSync('umount', [small]);
    }
  }, 30_000);
});
