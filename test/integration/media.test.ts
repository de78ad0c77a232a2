import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

/**
 * Installation media through `npm start`: small ISOs made here with xorriso (Debian's, the same tool
 * the server reads them with), each with the file layout of one distribution's installer image.
 */
const CI = process.env.CI === 'true';
const haveXorriso = spawnSync('sh', ['-c', 'command -v xorriso']).status === 0;
if (CI && !haveXorriso) throw new Error('media: CI=true but xorriso is missing');

const password = 'media test pw';

function makeIso(dir: string, name: string, vol: string, files: Record<string, string>): string {
  const tree = path.join(dir, `${name}-tree`);
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(tree, p)), { recursive: true });
    writeFileSync(path.join(tree, p), body);
  }
  const iso = path.join(dir, `${name}.iso`);
  const r = spawnSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-V', vol, '-o', iso, tree], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return iso;
}

describe.skipIf(!haveXorriso)('installation media (npm start)', () => {
  let dir: string;
  let srv: StartedServer;
  let token: string;
  const api = (p: string, method = 'GET', body?: unknown) => fetch(`${srv.baseUrl}/netboot/api${p}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-media-'));
    srv = await startNetboot(path.join(dir, 'data'), { NETBOOT_ADMIN_PASSWORD: password });
    await srv.waitForOutput(/inventory: .*inventory\.json/);
    token = await login(srv.baseUrl, password);
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('recognises each installer by its files and proposes a profile that boots it', async () => {
    const isos: Array<[string, string, Record<string, string>, Record<string, unknown>]> = [
      ['noble', 'Ubuntu-Server 24.04', { 'casper/vmlinuz': 'KERNEL-U', 'casper/initrd': 'INITRD-U', '.disk/info': 'Ubuntu-Server 24.04.1 LTS "Noble Numbat"\n' },
        { distro: 'ubuntu', label: 'Ubuntu-Server 24.04.1 LTS "Noble Numbat"', kernel: 'media/noble/casper/vmlinuz', initrd: ['media/noble/casper/initrd'], iso: 'media/noble/noble.iso', profile: { type: 'ubuntu', cmdline: { ip: 'dhcp', url: `${srv.baseUrl}/boot/assets/media/noble/noble.iso`, 'cloud-config-url': '/dev/null' } } }],
      ['bookworm', 'Debian 12', { 'install.amd/vmlinuz': 'K', 'install.amd/initrd.gz': 'I', '.disk/info': 'Debian GNU/Linux 12.8.0 "Bookworm" - Official amd64 NETINST\n' },
        { distro: 'debian', kernel: 'media/bookworm/install.amd/vmlinuz', profile: { type: 'debian' } }],
      ['rocky9', 'Rocky-9', { 'images/pxeboot/vmlinuz': 'K', 'images/pxeboot/initrd.img': 'I', '.treeinfo': '[general]\nfamily = Rocky Linux\nversion = 9.5\n' },
        { distro: 'rocky', label: 'Rocky Linux 9.5', profile: { cmdline: { 'inst.repo': `${srv.baseUrl}/boot/assets/media/rocky9/` } } }],
      ['f41', 'Fedora-S-41', { 'images/pxeboot/vmlinuz': 'K', 'images/pxeboot/initrd.img': 'I', '.treeinfo': '[general]\nfamily = Fedora\nversion = 41\n' }, { distro: 'fedora', label: 'Fedora 41' }],
      ['talos18', 'TALOS_V1_8', { 'boot/vmlinuz': 'K', 'boot/initramfs.xz': 'I' }, { distro: 'talos', profile: { type: 'talos', cmdline: { 'talos.platform': 'metal', console: 'tty0' } } }],
      ['flatcar', 'Flatcar', { 'flatcar/vmlinuz': 'K', 'flatcar/cpio.gz': 'I' }, { distro: 'flatcar' }],
    ];
    for (const [id, vol, files, want] of isos) {
      const iso = makeIso(dir, id, vol, files);
      const r = await api('/media', 'POST', { id, path: iso });
      expect(r.status, `${id}: ${await r.clone().text()}`).toBe(201);
      expect(await r.json(), id).toMatchObject(want);
    }
    expect(((await (await api('/media')).json()) as { items: Array<{ id: string }> }).items.map((m) => m.id).sort()).toEqual(['bookworm', 'f41', 'flatcar', 'noble', 'rocky9', 'talos18']);
  });

  it('creates the profile on request; a machine with it gets the unpacked kernel over HTTP', async () => {
    const iso = makeIso(dir, 'jammy', 'Ubuntu 22.04', { 'casper/vmlinuz': 'KERNEL-JAMMY', 'casper/initrd': 'INITRD-JAMMY' });
    const r = await api('/media', 'POST', { id: 'jammy', path: iso, createProfile: true });
    expect(r.status).toBe(201);
    expect((await r.json()).created).toMatchObject({ id: 'jammy', kernel: 'media/jammy/casper/vmlinuz' });
    expect((await api('/devices', 'POST', { mac: '52:54:00:18:09:01', profileId: 'jammy' })).status).toBe(201);
    const script = await (await fetch(`${srv.baseUrl}/boot/menu.ipxe?mac=52-54-00-18-09-01`)).text();
    expect(script).toContain(`kernel ${srv.baseUrl}/boot/assets/media/jammy/casper/vmlinuz ip=dhcp url=${srv.baseUrl}/boot/assets/media/jammy/jammy.iso`);
    expect(await (await fetch(`${srv.baseUrl}/boot/assets/media/jammy/casper/vmlinuz`)).text()).toBe('KERNEL-JAMMY');
    expect((await fetch(`${srv.baseUrl}/boot/assets/media/jammy/jammy.iso`)).status).toBe(200);
    // the same id again: refused before anything is unpacked
    expect((await api('/media', 'POST', { id: 'jammy', path: iso, createProfile: true })).status).toBe(409);
    expect((await api('/media/jammy', 'DELETE')).status).toBe(204);
    expect((await fetch(`${srv.baseUrl}/boot/assets/media/jammy/casper/vmlinuz`)).status).toBe(404);
  });

  it('refuses what it cannot use, with the reason, and leaves nothing behind', async () => {
    const unknown = makeIso(dir, 'data', 'DATA', { 'readme.txt': 'hello' });
    const r = await api('/media', 'POST', { id: 'data', path: unknown });
    expect(r.status).toBe(400);
    expect((await r.json()).error.message).toMatch(/not an installer ISO netboot recognises/);
    const notIso = path.join(dir, 'plain.txt');
    writeFileSync(notIso, 'not an iso');
    const bad = await api('/media', 'POST', { id: 'plain', path: notIso });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toMatch(/not a readable ISO image/);
    expect((await api('/media', 'POST', { id: 'rel', path: 'relative.iso' })).status).toBe(400);
    expect((await api('/media', 'POST', { id: '../x', path: unknown })).status).toBe(400);
    expect((await api('/media', 'POST', { id: 'gone', path: path.join(dir, 'nope.iso') })).status).toBe(404);
    const media = path.join(dir, 'data', 'assets', 'media');
    expect(readdirSync(media).filter((n) => n.startsWith('.') || ['data', 'plain', 'rel', 'gone'].includes(n))).toEqual([]);
    expect(existsSync(path.join(media, 'data'))).toBe(false);
  });
});
