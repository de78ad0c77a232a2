import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateIpxeScript } from '../../lib/render';
import { login, repo, startNetboot, type StartedServer } from '../helpers/start-server';
import { tftpGet } from '../../support/tftp-client';

/** Every example flow, deployed through the admin API (POST /flows) and exercised over HTTP. */
let dir: string;
let srv: StartedServer;
let token: string;
const password = 'examples test pw';
const auth = () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
const api = (p: string, method = 'GET', body?: unknown) => fetch(`${srv.baseUrl}/netboot/api${p}`, { method, headers: auth(), body: body === undefined ? undefined : JSON.stringify(body) });
async function create(p: string, body: unknown) {
  const r = await api(p, 'POST', body);
  if (r.status !== 201) throw new Error(`${p}: ${r.status} ${await r.text()}`);
}
/** GET with a retry while the freshly deployed netboot-server opens its store (503). */
async function get(p: string, init: RequestInit = {}): Promise<Response> {
  for (let i = 0; ; i++) {
    const r = await fetch(`${srv.baseUrl}${p}`, init);
    if (r.status !== 503 || i > 50) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
}
const text = async (p: string) => (await get(p)).text();

async function deploy(file: string): Promise<void> {
  const flow = JSON.parse(readFileSync(path.join(repo, 'examples', file), 'utf8')) as Array<{ type: string; name?: string }>;
  expect(flow.some((n) => n.type === 'comment')).toBe(true);
  expect(flow.some((n) => n.type === 'netboot-server')).toBe(true);
  const res = await fetch(`${srv.baseUrl}/flows`, { method: 'POST', headers: { ...auth(), 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify(flow) });
  expect(res.status, await res.text()).toBe(204);
  // wait until the new server answers the admin API
  for (let i = 0; i < 100 && (await api('/status')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'netboot-examples-'));
  srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: password });
  await srv.waitForOutput(/inventory: .*inventory\.json/);
  token = await login(srv.baseUrl, password);
  await create('/images', { id: 'disk1', name: 'disk1', kind: 'iscsi', iqn: 'iqn.2024-01.local.netboot:disk1' });
  await create('/images', { id: 'win11', name: 'Windows 11 target', kind: 'iscsi', iqn: 'iqn.2024-01.local.netboot:win11' });
  await create('/profiles', { id: 'ubuntu', name: 'Ubuntu autoinstall', type: 'ubuntu', kernel: 'ubuntu/vmlinuz', initrd: ['ubuntu/initrd'], cmdline: { ip: 'dhcp', autoinstall: '' } });
  await create('/profiles', { id: 'talos-worker', name: 'Talos worker', type: 'talos', kernel: 'talos/vmlinuz', initrd: ['talos/initramfs.xz'], cmdline: { 'talos.platform': 'metal', 'talos.config': 'http://10.0.0.5/worker.yaml' } });
  await create('/profiles', { id: 'talos-cp', name: 'Talos control plane', type: 'talos', kernel: 'talos/vmlinuz', initrd: ['talos/initramfs.xz'], cmdline: { 'talos.platform': 'metal', 'talos.config': 'http://10.0.0.5/cp.yaml' } });
  await create('/profiles', { id: 'winpe', name: 'Windows Setup', type: 'winpe', kernel: 'wimboot', initrd: ['winpe/boot/bcd', 'winpe/boot/boot.sdi', 'winpe/sources/boot.wim'] });
  await create('/groups', { id: 'workers', name: 'workers', selector: { role: 'worker' }, profileId: 'talos-worker' });
  await create('/groups', { id: 'control-plane', name: 'control plane', selector: { role: 'control-plane' }, profileId: 'talos-cp' });
  await create('/devices', { mac: 'dc:a6:32:00:00:01', serial: '9ffefdef', paramsOverride: { 'pi.nfs.path': '/srv/nfs/pi1' } });
  await create('/devices', { mac: 'dc:a6:32:00:00:02', serial: '1234abcd', imageId: 'disk1' });
  await create('/devices', { mac: '52:54:00:00:01:01', imageId: 'disk1' });
  await create('/devices', { mac: '52:54:00:00:03:01', labels: { role: 'worker' }, paramsOverride: { 'talos.hostname': 'w1' } });
  await create('/devices', { mac: '52:54:00:00:03:02' });
  await create('/devices', { mac: '52:54:00:00:05:01', imageId: 'win11', profileId: 'winpe' });
}, 60_000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('example flows', () => {
  it('1: Raspberry Pi known (NFS, iSCSI) and unknown (registration)', async () => {
    await deploy('01-raspberry-pi.json');
    expect(await text('/pi/9ffefdef/cmdline.txt')).toContain('root=/dev/nfs nfsroot=127.0.0.1:/srv/nfs/pi1,vers=3');
    expect(await text('/pi/1234abcd/cmdline.txt')).toContain('iscsi_target_name=iqn.2024-01.local.netboot:disk1 iscsi_target_ip=127.0.0.1');
    expect(await text('/pi/0badc0de/config.txt')).toContain('initramfs registration/initrd.img followkernel');
    expect(await (await get('/api/v1/boot/check-in?mac=dc:a6:32:00:00:09&device_type=raspi')).json()).toMatchObject({ action: 'show_menu', device_type: 'raspi' });
    // and over TFTP, as the Pi asks: its own config, the shared firmware under its prefix
    mkdirSync(path.join(dir, 'assets'), { recursive: true });
    writeFileSync(path.join(dir, 'assets', 'start4.elf'), Buffer.alloc(40_000, 9));
    const tftp = (filename: string) => tftpGet({ host: '127.0.0.1', port: srv.udp.tftp, filename, blksize: 1024, tsize: true, totalTimeoutMs: 10_000 });
    expect((await tftp('9ffefdef/cmdline.txt')).data!.toString()).toContain('root=/dev/nfs nfsroot=127.0.0.1:/srv/nfs/pi1,vers=3');
    expect((await tftp('0badc0de/config.txt')).data!.toString()).toContain('initramfs registration/initrd.img followkernel');
    expect((await tftp('1234abcd/start4.elf')).data!.equals(Buffer.alloc(40_000, 9))).toBe(true);
  });

  it('2: x86 known (sanboot) and unknown (installer menu, register)', async () => {
    await deploy('02-x86-known-unknown.json');
    const own = await text('/boot/menu.ipxe?mac=52-54-00-00-01-01&arch=x86_64&platform=efi');
    expect(own).toContain('sanboot iscsi:127.0.0.1:::1:iqn.2024-01.local.netboot:disk1');
    const menu = await text('/boot/menu.ipxe?mac=52-54-00-00-01-99&arch=i386&platform=pcbios');
    expect(menu).toContain('Ubuntu autoinstall');
    expect(validateIpxeScript(menu)).toEqual([]);
    expect(await text('/boot/register.ipxe?mac=52-54-00-00-01-99')).toContain('netboot_server=');
    expect(await text('/boot/ubuntu.ipxe?mac=52-54-00-00-01-99')).toContain('ip=dhcp autoinstall');
  });

  it('3: profiles by role with per-MAC overrides', async () => {
    await deploy('03-profiles-by-role.json');
    const worker = await text('/boot/menu.ipxe?mac=52-54-00-00-03-01');
    expect(worker).toContain('talos.platform=metal talos.config=http://10.0.0.5/worker.yaml talos.hostname=w1');
    expect(validateIpxeScript(worker)).toEqual([]);
    expect(await text('/boot/menu.ipxe?mac=52-54-00-00-03-02')).toMatch(/# netboot: local script[\s\S]*\nexit\n/);
    expect(await text('/boot/menu.ipxe?mac=52-54-00-00-03-99')).toContain('Talos control plane');
    expect(await text('/boot/talos-cp.ipxe?mac=52-54-00-00-03-02')).toContain('talos.config=http://10.0.0.5/cp.yaml');
  });

  it('4: enrolment from unknown to ready', async () => {
    await deploy('04-enrolment.json');
    const mac = '52-54-00-00-04-01';
    expect(await text(`/boot/menu.ipxe?mac=${mac}`)).toContain('Starting hardware registration');
    const res = await get('/api/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mac_address: mac, service_tag: 'SVC4', hardware: { model: 'Test PC' } }) });
    expect(res.status).toBe(201);
    expect(await text(`/boot/menu.ipxe?mac=${mac}`)).toContain('# netboot: local script');
    await api(`/devices/${mac}`, 'PATCH', { imageId: 'disk1', status: 'configured' });
    expect(await text(`/boot/menu.ipxe?mac=${mac}`)).toContain('# netboot: local script');
    await api(`/devices/${mac}`, 'PATCH', { status: 'ready' });
    expect(await text(`/boot/menu.ipxe?mac=${mac}`)).toContain('sanboot iscsi:127.0.0.1:::1:iqn.2024-01.local.netboot:disk1');
  });

  it('5: Windows onto iSCSI with wimboot, stages and log upload', async () => {
    await deploy('05-windows-iscsi.json');
    const mac = '52-54-00-00-05-01';
    const script = await text(`/boot/menu.ipxe?mac=${mac}`);
    expect(script).toContain('set keep-san 1');
    expect(script).toContain('sanhook --drive 0x80 iscsi:127.0.0.1:::1:iqn.2024-01.local.netboot:win11');
    expect(script).toContain('initrd --name boot.wim');
    expect(script).toContain('/api/v1/boot/winpe/startnet.cmd?mac=${netX/mac:hexhyp}');
    expect(validateIpxeScript(script)).toEqual([]);
    expect(await text(`/api/v1/boot/winpe/startnet.cmd?mac=${mac}`)).toContain('set "NB_LOG=');
    expect(await text('/api/v1/boot/winpe/winpeshl.ini')).toContain('[LaunchApps]');
    expect((await get(`/api/v1/boot/log?mac=${mac}&stage=setup_started`, { method: 'POST', body: '' })).status).toBe(200);
    expect((await get(`/api/v1/boot/winpe/logs/upload?mac=${mac}&name=setuperr.log`, { method: 'PUT', body: 'no errors' })).status).toBe(200);
    const events = (await (await api(`/devices/${mac}/events`)).json()) as Array<{ type: string }>;
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['boot.log', 'boot.log_upload']));
    expect(await text('/boot/menu.ipxe?mac=52-54-00-00-05-99')).toContain('Windows Setup');
  });

  it('7: a Talos cluster: each group its own machine config, served only with the machine\'s token', async () => {
    await deploy('07-talos-cluster.json');
    const cfg = (id: string, type: string) => ({ id, name: id, format: 'talos', template: `version: v1alpha1\nmachine:\n  type: ${type}\n  network:\n    hostname: {{hostname}}\n` });
    await create('/configs', cfg('talos-cp', 'controlplane'));
    await create('/configs', cfg('talos-worker', 'worker'));
    await create('/profiles', { id: 'talos', name: 'Talos', type: 'talos', kernel: 'talos/vmlinuz-amd64', initrd: ['talos/initramfs-amd64.xz'], cmdline: { 'talos.platform': 'metal' } });
    await create('/groups', { id: 'ex7-cp', name: 'cp', selector: { 'ex7.role': 'control-plane' }, profileId: 'talos', configs: ['talos-cp'] });
    await create('/groups', { id: 'ex7-w', name: 'w', selector: { 'ex7.role': 'worker' }, profileId: 'talos', configs: ['talos-worker'] });
    await create('/devices', { mac: '52:54:00:00:07:01', hostname: 'cp1', labels: { 'ex7.role': 'control-plane' } });
    await create('/devices', { mac: '52:54:00:00:07:02', hostname: 'w1', labels: { 'ex7.role': 'worker' } });
    const urls: string[] = [];
    for (const [mac, type, host] of [['52-54-00-00-07-01', 'controlplane', 'cp1'], ['52-54-00-00-07-02', 'worker', 'w1']]) {
      const script = await text(`/boot/menu.ipxe?mac=${mac}`);
      expect(validateIpxeScript(script)).toEqual([]);
      const url = /talos\.config=(\S+)/.exec(script)?.[1];
      expect(url, script).toMatch(/\/boot\/configs\/.+\/talos\.yaml$/);
      urls.push(url!);
      const doc = await (await get(url!.replace(/^http:\/\/[^/]+/, ''))).text();
      expect(doc).toContain(`type: ${type}`);
      expect(doc).toContain(`hostname: "${host}"`);
    }
    // the worker's folder with the control plane's token: refused
    const crossed = urls[1].replace(/\/v1\.[^/]+\//, `/${/\/(v1\.[^/]+)\//.exec(urls[0])![1]}/`).replace(/^http:\/\/[^/]+/, '');
    expect((await get(crossed)).status).toBe(403);
  });

  it('8: an Ubuntu autoinstall fleet: a NoCloud seed per machine', async () => {
    await deploy('08-ubuntu-autoinstall.json');
    await create('/configs', { id: 'ubuntu-ai', name: 'ubuntu-ai', format: 'autoinstall', template: '#cloud-config\nautoinstall:\n  version: 1\n  identity: {hostname: {{hostname}}, username: ops, password: "$6$x"}\n' });
    await create('/profiles', { id: 'ubuntu-fleet', name: 'Ubuntu fleet', type: 'ubuntu', kernel: 'ubuntu/vmlinuz', initrd: ['ubuntu/initrd'], cmdline: { ip: 'dhcp' }, configs: ['ubuntu-ai'] });
    await create('/devices', { mac: '52:54:00:00:08:01', hostname: 'u1', profileId: 'ubuntu-fleet' });
    const script = await text('/boot/menu.ipxe?mac=52-54-00-00-08-01');
    expect(validateIpxeScript(script)).toEqual([]);
    const seed = / ds=nocloud-net;s=(\S+\/) autoinstall /.exec(script)?.[1];
    expect(seed, script).toBeDefined();
    const ud = await (await get(`${seed!.replace(/^http:\/\/[^/]+/, '')}user-data`)).text();
    expect(ud).toContain('hostname: "u1"');
    expect(await (await get(`${seed!.replace(/^http:\/\/[^/]+/, '')}meta-data`)).text()).toContain('local-hostname: "u1"');
  });

  it('9: enrol, build, boot: a new machine\'s enrolment queues its own image, which its next script boots', async () => {
    await deploy('09-enrol-build-boot.json');
    const mac = '52-54-00-00-09-01';
    const res = await get('/api/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mac_address: mac, hardware: { model: 'Test PC' } }) });
    expect(res.status).toBe(201);
    let builds: Array<{ id: string; status: string; recipe: string; error?: string }> = [];
    for (let i = 0; i < 120 && !builds.some((b) => b.status === 'success' || b.status === 'failed'); i++) {
      await new Promise((r) => setTimeout(r, 250));
      builds = ((await (await api(`/builds?device=${mac}`)).json()) as { items: typeof builds }).items;
    }
    expect(builds[0], JSON.stringify(builds)).toMatchObject({ recipe: 'initramfs', status: 'success' });
    const script = await text(`/boot/menu.ipxe?mac=${mac}`);
    expect(script).toContain(`/boot/assets/machines/${mac}/${builds[0].id}/vmlinuz`);
    expect((await get(`/boot/assets/machines/${mac}/${builds[0].id}/initrd.img`)).status).toBe(200);
  });

  it('6: diskless sessions, wake and the machine timeline', async () => {
    await deploy('06-diskless-sessions.json');
    const flows = await (await fetch(`${srv.baseUrl}/flows`, { headers: auth() })).json() as Array<{ type: string; payload?: string }>;
    for (const t of ['netboot-iscsi', 'netboot-wake', 'netboot-listen']) expect(flows.some((n) => n.type === t), t).toBe(true);
    const start = flows.find((n) => n.type === 'inject' && n.payload?.includes('start-session'));
    expect(JSON.parse(start!.payload!)).toMatchObject({ action: 'start-session', mode: 'clean' });
    // the sessions API answers through the example's iSCSI node (tgtd is off in this test)
    const list = await api('/sessions?active=true');
    expect(list.status, await list.clone().text()).toBe(200);
    expect(await list.json()).toEqual({ items: [] });
    const unknown = await api('/sessions', 'POST', { mac: '52:54:00:00:06:99', image: 'disk1', mode: 'clean' });
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.message).toMatch(/not in the inventory/);
  });
});
