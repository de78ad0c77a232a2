import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BuildService, machineProfileId } from '../../lib/builds/service';
import { parseRecipe, type Recipe } from '../../lib/builds/recipes';
import { JsonInventoryStore, type Build } from '../../lib/store';

/**
 * The build queue and recipe runner with real processes (sh, sleep, the shipped recipe scripts) and
 * a real inventory file: lifecycle, artifacts, retention, cancel, timeout, restart safety, and the
 * initramfs recipe building a real image from Debian's busybox and a kernel.
 */
const CI = process.env.CI === 'true';
const kernel = (() => {
  const boot = existsSync('/boot') ? readdirSync('/boot').filter((f) => /^vmlinuz-/.test(f)).sort() : [];
  return boot.length ? path.join('/boot', boot[boot.length - 1]) : undefined;
})();
const haveBusybox = existsSync('/bin/busybox');
const haveMmdebstrap = spawnSync('sh', ['-c', 'command -v mmdebstrap']).status === 0;
if (CI && !haveMmdebstrap) throw new Error('builds: CI=true but mmdebstrap is missing');
if (CI && (!kernel || !haveBusybox)) throw new Error('builds: CI=true but no kernel in /boot or no busybox-static');

const A = '52:54:00:14:00:01';
const B = '52:54:00:14:00:02';
/** A recipe of the test's own: writes a kernel and an initrd naming the build, after `{delay}` seconds. */
const fake = (extra: Partial<Recipe> = {}): Recipe => parseRecipe('fake', {
  steps: [['sh', '-c', 'sleep "$NETBOOT_PARAM_DELAY"; [ "$NETBOOT_PARAM_FAIL" = 1 ] && { echo broken >&2; exit 3; }; printf "kernel %s" "$NETBOOT_BUILD_ID" >"$NETBOOT_OUTPUT_DIR/k"; printf "%s" "$NETBOOT_HOSTNAME" >"$NETBOOT_OUTPUT_DIR/i"; echo built']],
  outputs: { kernel: 'k', initrd: 'i' }, ...extra,
});

describe('image builds', () => {
  let dir: string;
  let store: JsonInventoryStore;
  let svc: BuildService | undefined;

  const open = async (opts: Partial<ConstructorParameters<typeof BuildService>[0]> = {}) => {
    dir ??= mkdtempSync(path.join(tmpdir(), 'netboot-builds-'));
    store ??= await JsonInventoryStore.open(path.join(dir, 'inventory.json'));
    svc = new BuildService({ store, assetsRoot: path.join(dir, 'assets'), dataDir: dir, baseUrl: 'http://10.0.0.5:1880', recipes: { fake: fake() }, ...opts });
    await svc.open();
    return svc;
  };
  const finished = (s: BuildService, id: string) => new Promise<Build>((resolve) => {
    const on = (b: Build) => {
      if (b.id !== id) return;
      s.off('done', on);
      resolve(b);
    };
    s.on('done', on);
  });

  afterEach(async () => {
    await svc?.close();
    svc = undefined;
    await store?.close();
    store = undefined as never;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined as never;
  });

  it('a success: artifacts copied with their checksum, the machine\'s profile switched, the device ready, events on its timeline', async () => {
    const s = await open();
    await store.devices.create({ mac: A, hostname: 'node-a', status: 'configured' });
    const b = await s.request({ mac: A, recipe: 'fake', params: { delay: '0' } });
    expect(b).toMatchObject({ status: 'pending', recipe: 'fake', mac: A });
    const done = await finished(s, b.id);
    expect(done).toMatchObject({ status: 'success', exitCode: 0 });
    const k = path.join(dir, 'assets', done.artifacts![0].path);
    expect(readFileSync(k, 'utf8')).toBe(`kernel ${b.id}`);
    expect(done.artifacts).toEqual([
      { kind: 'kernel', path: `machines/52-54-00-14-00-01/${b.id}/k`, size: readFileSync(k).length, sha256: createHash('sha256').update(readFileSync(k)).digest('hex') },
      { kind: 'initrd', path: `machines/52-54-00-14-00-01/${b.id}/i`, size: 6, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    ]);
    expect(await store.profiles.get(machineProfileId(A))).toMatchObject({ kernel: done.artifacts![0].path, initrd: [done.artifacts![1].path] });
    expect(await store.devices.get(A)).toMatchObject({ status: 'ready', profileId: machineProfileId(A) });
    expect(await s.log(b.id)).toMatch(/\$ sh -c [\s\S]*built\n[\s\S]*success/);
    const types = (await store.listEvents({ mac: A })).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['build.start', 'build.success']));
  });

  it('a broken recipe leaves the machine on its previous image, failed with the reason', async () => {
    const s = await open();
    await store.devices.create({ mac: A, hostname: 'node-a' });
    const first = await finished(s, (await s.request({ mac: A, recipe: 'fake', params: { delay: '0' } })).id);
    const second = await finished(s, (await s.request({ mac: A, recipe: 'fake', params: { delay: '0', fail: '1' } })).id);
    expect(second).toMatchObject({ status: 'failed', exitCode: 3, error: 'sh exited with 3' });
    expect((await store.profiles.get(machineProfileId(A)))?.kernel).toBe(first.artifacts![0].path);
    expect(existsSync(path.join(dir, 'assets', first.artifacts![0].path))).toBe(true);
    expect(await store.devices.get(A)).toMatchObject({ status: 'failed', notes: expect.stringContaining('sh exited with 3') });
    expect(await s.log(second.id)).toContain('broken');
  });

  it('hostnames and params reach a recipe as values, never as shell text', async () => {
    const pwned = path.join(tmpdir(), `netboot-pwned-${process.pid}`);
    const s = await open({ recipes: { echo: parseRecipe('echo', { steps: [['printf', '%s', '{marker}']], outputs: { kernel: 'k', initrd: 'k' } }) } });
    await store.devices.create({ mac: A });
    const b = await s.request({ mac: A, recipe: 'echo', params: { marker: `$(touch ${pwned})` } });
    await finished(s, b.id);
    expect(await s.log(b.id)).toContain(`$(touch ${pwned})`);
    expect(existsSync(pwned)).toBe(false);
  });

  it('runs one build at a time by default, cancels a running one, times out a slow one', async () => {
    const s = await open({ timeoutMs: 60_000, recipes: { fake: fake(), slow: fake({ timeoutMs: 800 }) } });
    await store.devices.create({ mac: A });
    await store.devices.create({ mac: B });
    const a = await s.request({ mac: A, recipe: 'fake', params: { delay: '30' } });
    const b = await s.request({ mac: B, recipe: 'fake', params: { delay: '0' } });
    await expect(s.request({ mac: A, recipe: 'fake' })).rejects.toMatchObject({ code: 'conflict' });
    await new Promise((r) => setTimeout(r, 300));
    expect((await s.get(a.id)).status).toBe('building');
    expect((await s.get(b.id)).status).toBe('pending');
    const t0 = Date.now();
    await s.cancel(a.id);
    expect(await finished(s, a.id)).toMatchObject({ status: 'cancelled' });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await finished(s, b.id)).toMatchObject({ status: 'success' });
    const slow = await s.request({ mac: A, recipe: 'slow', params: { delay: '20' } });
    expect(await finished(s, slow.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/timed out/) });
  });

  it('keeps the last builds of a machine and deletes older ones', async () => {
    const s = await open({ keep: 2 });
    await store.devices.create({ mac: A });
    const ids: Build[] = [];
    for (let i = 0; i < 3; i++) ids.push(await finished(s, (await s.request({ mac: A, recipe: 'fake', params: { delay: '0' } })).id));
    const folder = path.join(dir, 'assets', 'machines', '52-54-00-14-00-01');
    expect(readdirSync(folder).sort()).toEqual([ids[1].id, ids[2].id].sort());
  });

  it('marks a build that was running when Node-RED stopped as failed ("interrupted"), and runs pending ones', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-builds-'));
    store = await JsonInventoryStore.open(path.join(dir, 'inventory.json'));
    await store.devices.create({ mac: A });
    await store.devices.create({ mac: B });
    await store.builds.create({ id: 'b-old', mac: A, recipe: 'fake', status: 'building', startedAt: new Date().toISOString() });
    await store.builds.create({ id: 'b-wait', mac: B, recipe: 'fake', params: { delay: '0' }, status: 'pending' });
    const s = new BuildService({ store, assetsRoot: path.join(dir, 'assets'), dataDir: dir, baseUrl: 'http://x', recipes: { fake: fake() } });
    svc = s;
    const waiting = finished(s, 'b-wait');
    await s.open();
    expect(await s.get('b-old')).toMatchObject({ status: 'failed', error: expect.stringMatching(/^interrupted/) });
    expect(await waiting).toMatchObject({ status: 'success' });
  });

  it.skipIf(!kernel || !haveBusybox)('the initramfs recipe builds a real image from busybox and a kernel', async () => {
    const s = await open();
    await store.devices.create({ mac: A, hostname: 'rescue-a' });
    const b = await finished(s, (await s.request({ mac: A, recipe: 'initramfs', params: { kernel: kernel!, marker: 'hello "a" $(x)', poweroff: '5' } })).id);
    expect(b.status, await s.log(b.id)).toBe('success');
    const initrd = path.join(dir, 'assets', b.artifacts!.find((a) => a.kind === 'initrd')!.path);
    const list = spawnSync('sh', ['-c', 'gzip -dc "$1" | busybox cpio -t 2>/dev/null', 'sh', initrd], { encoding: 'utf8' }).stdout.split('\n');
    expect(list).toEqual(expect.arrayContaining(['init', 'bin/busybox', 'etc/netboot/marker', 'etc/netboot/hostname']));
    const marker = spawnSync('sh', ['-c', 'gzip -dc "$1" | busybox cpio -i --to-stdout etc/netboot/marker 2>/dev/null', 'sh', initrd], { encoding: 'utf8' }).stdout;
    expect(marker).toBe('hello "a" $(x)');
    expect(readFileSync(path.join(dir, 'assets', b.artifacts![0].path)).equals(readFileSync(kernel!))).toBe(true);
  }, 120_000);

  it.skipIf(!kernel || !haveMmdebstrap || process.getuid?.() !== 0)('the debian recipe builds a real minimal Debian from the archive with mmdebstrap, packed as an initramfs', async () => {
    const s = await open();
    await store.devices.create({ mac: B, hostname: 'deb-b' });
    const b = await finished(s, (await s.request({ mac: B, recipe: 'debian', params: { kernel: kernel!, marker: 'debian-b' } })).id);
    expect(b.status, await s.log(b.id)).toBe('success');
    expect(await s.log(b.id)).toMatch(/debian: 12\.\d+, \d+ bytes/);
    const initrd = path.join(dir, 'assets', b.artifacts!.find((a) => a.kind === 'initrd')!.path);
    const version = spawnSync('sh', ['-c', 'gzip -dc "$1" | cpio -i --quiet --to-stdout etc/debian_version', 'sh', initrd], { encoding: 'utf8' }).stdout;
    expect(version).toMatch(/^12\.\d+/);
    const init = spawnSync('sh', ['-c', 'gzip -dc "$1" | cpio -i --quiet --to-stdout init', 'sh', initrd], { encoding: 'utf8' }).stdout;
    expect(init).toContain('netboot-build: Debian');
  }, 600_000);
});

