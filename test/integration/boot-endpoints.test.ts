import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateIpxeScript } from '../../lib/render';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';
import { tftpGet } from '../../support/tftp-client';

const run = promisify(execFile);

/** The reference flow's public boot endpoints, through the real `npm start`. */
let dir: string;
let outside: string;
let srv: StartedServer;
let token: string;
const password = 'boot endpoints test';
const api = (p: string, init: RequestInit = {}) => fetch(`${srv.baseUrl}/netboot/api${p}`, {
  ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
});
const get = (p: string, init: RequestInit = {}) => fetch(`${srv.baseUrl}${p}`, init);
const post = async (p: string, body: unknown) => api(p, { method: 'POST', body: JSON.stringify(body) }).then(async (r) => {
  if (r.status !== 201) throw new Error(`${p}: ${r.status} ${await r.text()}`);
});

/** A raw GET whose path is sent exactly as written (fetch would normalise `..`). */
function rawGet(p: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: srv.httpPort, path: p, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

const X86_KNOWN = '52:54:00:00:00:01';
const X86_UNKNOWN = '52-54-00-00-00-99';
const PI_KNOWN = { mac: 'dc:a6:32:01:36:c2', serial: '9ffefdef' };

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'netboot-boot-'));
  outside = mkdtempSync(path.join(tmpdir(), 'netboot-outside-'));
  writeFileSync(path.join(outside, 'secret.txt'), 'secret');
  mkdirSync(path.join(dir, 'assets', 'ubuntu'), { recursive: true });
  writeFileSync(path.join(dir, 'assets', 'ubuntu', 'vmlinuz'), Buffer.alloc(100_000, 7));
  writeFileSync(path.join(dir, 'assets', '.hidden'), 'x');
  writeFileSync(path.join(dir, 'assets', 'start4.elf'), Buffer.alloc(2_300_000, 4));
  writeFileSync(path.join(dir, 'assets', 'fixup4.dat'), Buffer.alloc(5_400, 5));
  symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'assets', 'escape.txt'));
  symlinkSync(outside, path.join(dir, 'assets', 'outdir'));
  srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: password });
  await srv.waitForOutput(/inventory: .*inventory\.json/);
  token = await login(srv.baseUrl, password);
  await post('/images', { id: 'disk1', name: 'disk1', kind: 'iscsi', iqn: 'iqn.2024-01.local.netboot:disk1', path: '/data/disk1.img' });
  await post('/profiles', { id: 'ubuntu', name: 'Ubuntu 24.04', type: 'ubuntu', kernel: 'ubuntu/vmlinuz', initrd: ['ubuntu/initrd'], cmdline: { ip: 'dhcp' } });
  await post('/devices', { mac: X86_KNOWN, imageId: 'disk1', hostname: 'pc1' });
  await post('/devices', { ...PI_KNOWN, paramsOverride: { 'pi.nfs.path': '/srv/nfs/pi1' } });
}, 60_000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('check-in JSON', () => {
  it('answers boot_image for a known x86 and show_menu for unknown machines', async () => {
    const known = await (await get(`/api/v1/boot/check-in?mac=${X86_KNOWN}&device_type=x64`)).json();
    expect(known).toMatchObject({ action: 'boot_image', image_id: 'disk1', image_path: '/data/disk1.img', kernel_set: 'default', known: true });
    const unknown = await (await get(`/api/v1/boot/check-in?mac=${X86_UNKNOWN}&device_type=x86`)).json();
    expect(unknown).toMatchObject({ action: 'show_menu', device_type: 'x86', message: 'Unknown device. Please register or select boot option.' });
    const pi = await (await get(`/api/v1/boot/check-in?mac=${PI_KNOWN.mac}&device_type=raspi`)).json();
    expect(pi).toMatchObject({ action: 'show_menu', known: true, device_type: 'raspi' });
    const piUnknown = await (await get('/api/v1/boot/check-in?mac=dc:a6:32:99:99:99&device_type=raspi')).json();
    expect(piUnknown).toMatchObject({ action: 'show_menu', known: false, device_type: 'raspi' });
    const bad = await get('/api/v1/boot/check-in?mac=aa:bb&device_type=x64');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { field: string } }).error.field).toBe('mac');
  });
});

describe('iPXE scripts', () => {
  it('gives a known x86 its sanboot and an unknown one the menu, on both menu paths', async () => {
    for (const p of ['/boot/menu.ipxe', '/api/v1/boot/ipxe/menu']) {
      const own = await get(`${p}?mac=${X86_KNOWN.replace(/:/g, '-')}&uuid=&arch=x86_64&platform=efi`);
      expect(own.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await own.text();
      expect(text).toContain('sanboot iscsi:127.0.0.1:::1:iqn.2024-01.local.netboot:disk1');
      expect(validateIpxeScript(text)).toEqual([]);
      const menu = await (await get(`${p}?mac=${X86_UNKNOWN}&arch=i386&platform=pcbios`)).text();
      expect(menu).toMatch(/^#!ipxe\n/);
      expect(menu).toContain('item nb_item_0 Ubuntu 24.04');
      expect(menu).toContain('item --key r nb_register Register this device');
      expect(validateIpxeScript(menu)).toEqual([]);
    }
    const anon = await (await get('/boot/menu.ipxe')).text();
    expect(anon).toContain('/boot/menu.ipxe?mac=${netX/mac:hexhyp}');
  });

  it('serves a profile, an image, the registration script and 404 for a missing name', async () => {
    const ubuntu = await (await get(`/boot/ubuntu.ipxe?mac=${X86_UNKNOWN}`)).text();
    expect(ubuntu).toContain(`kernel ${srv.baseUrl}/boot/assets/ubuntu/vmlinuz ip=dhcp || goto nb_failed`);
    expect(validateIpxeScript(ubuntu)).toEqual([]);
    const img = await (await get(`/boot/image.disk1.ipxe?mac=${X86_UNKNOWN}`)).text();
    expect(img).toContain('sanboot iscsi:127.0.0.1:::1:iqn.2024-01.local.netboot:disk1');
    const reg = await (await get(`/boot/register.ipxe?mac=${X86_UNKNOWN}`)).text();
    expect(reg).toContain(`netboot_server=${srv.baseUrl}`);
    expect(validateIpxeScript(reg)).toEqual([]);
    const missing = await get(`/boot/nope.ipxe?mac=${X86_UNKNOWN}`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { field: string } }).error.field).toBe('profile');
  });
});

describe('Raspberry Pi files', () => {
  it('renders the known Pi\'s NFS root and the unknown Pi\'s registration initramfs', async () => {
    const cmd = await (await get(`/boot/pi/${PI_KNOWN.serial}/cmdline.txt`)).text();
    expect(cmd).toContain('root=/dev/nfs nfsroot=127.0.0.1:/srv/nfs/pi1,vers=3');
    const cfg = await (await get(`/boot/pi/${PI_KNOWN.serial}/config.txt`)).text();
    expect(cfg).toContain('kernel=kernel8.img');
    const unknown = await (await get('/boot/pi/0badc0de/config.txt')).text();
    expect(unknown).toContain('initramfs registration/initrd.img followkernel');
    expect(await (await get('/boot/pi/0badc0de/cmdline.txt')).text()).toContain(`netboot_server=${srv.baseUrl}`);
    expect((await get(`/boot/pi/${PI_KNOWN.serial}/start4.elf`)).status).toBe(404);
  });
});

describe('Raspberry Pi over TFTP, through the reference flow', () => {
  const tftp = (filename: string, extra: Partial<Parameters<typeof tftpGet>[0]> = {}) =>
    tftpGet({ host: '127.0.0.1', port: srv.udp.tftp, filename, totalTimeoutMs: 10_000, ...extra });

  it('answers the Pi 4 sequence: probe, shared firmware through the serial prefix, per-device config', async () => {
    // the EEPROM probes <serial>/start4.elf with tsize 0 blksize 1024, then aborts with ERROR 0
    const probe = await tftp(`${PI_KNOWN.serial}/start4.elf`, { tsize: true, blksize: 1024, probe: true, probeErrorCode: 0, probeErrorMessage: 'Early terminate' });
    expect(probe.probed).toBe(true);
    expect(probe.oack).toMatchObject({ tsize: '2300000', blksize: '1024' });
    const cfg = await tftp(`${PI_KNOWN.serial}/config.txt`, { tsize: true, blksize: 1024 });
    expect(cfg.oack?.blksize).toBe('1024');
    expect(cfg.data!.toString()).toContain('kernel=kernel8.img');
    const firmware = await tftp(`${PI_KNOWN.serial}/start4.elf`, { blksize: 1024 });
    expect(firmware.data!.equals(Buffer.alloc(2_300_000, 4))).toBe(true);
    const cmd = await tftp(`${PI_KNOWN.serial}/cmdline.txt`, { blksize: 1024 });
    expect(cmd.data!.toString()).toContain('root=/dev/nfs nfsroot=127.0.0.1:/srv/nfs/pi1,vers=3');
  });

  it('serves static and virtual files to curl, tftp-hpa and atftp', async () => {
    const fetchWith = async (cmd: string, args: string[], out: string) => {
      await run(cmd, args, { timeout: 20_000 });
      return readFileSync(out);
    };
    const out = path.join(dir, 'client-out');
    const port = String(srv.udp.tftp);
    const virtual = `${PI_KNOWN.serial}/config.txt`;
    const want = (await tftp(virtual)).data!;
    expect(await fetchWith('curl', ['-s', '--fail', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${port}/${virtual}`], out)).toEqual(want);
    expect((await fetchWith('curl', ['-s', '--fail', '-o', out, `tftp://127.0.0.1:${port}/start4.elf`], out)).equals(Buffer.alloc(2_300_000, 4))).toBe(true);
    expect(await fetchWith('tftp', ['127.0.0.1', port, '-m', 'binary', '-c', 'get', virtual, out], out)).toEqual(want);
    expect((await fetchWith('atftp', ['--option', 'blksize 1468', '--option', 'windowsize 16', '-g', '-r', `${PI_KNOWN.serial}/start4.elf`, '-l', out, '127.0.0.1', port], out)).equals(Buffer.alloc(2_300_000, 4))).toBe(true);
  });

  it('gives an unknown Pi the default folder and a Pi 3 plain 512-byte blocks', async () => {
    const unknown = await tftp('0badc0de/config.txt');
    expect(unknown.oack).toBeUndefined();
    expect(unknown.data!.toString()).toContain('initramfs registration/initrd.img followkernel');
    const fixup = await tftp('0badc0de/fixup4.dat');
    expect(fixup.blksize).toBe(512);
    expect(fixup.bytes).toBe(5_400);
    await expect(tftp(`${PI_KNOWN.serial}/nothing-here.dtb`)).rejects.toThrow(/not found|code 1/i);
  });
});

describe('the boot timeline through the reference flow', () => {
  it('advances stage by stage: script, kernel over HTTP, the OS reporting progress', async () => {
    const mac = '52:54:00:00:00:42';
    await post('/devices', { mac, profileId: 'ubuntu' });
    // this machine has an address of its own (the other tests all come from 127.0.0.1, which is
    // therefore ambiguous and never credited to one MAC)
    const from = (p: string, method = 'GET') => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = http.request({ host: '127.0.0.1', port: srv.httpPort, path: p, method, localAddress: '127.0.0.42' }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      r.on('error', reject);
      r.end();
    });
    const script = await from(`/boot/menu.ipxe?mac=${mac.replace(/:/g, '-')}`);
    expect(script.body).toContain('ubuntu/vmlinuz');
    expect((await from('/boot/assets/ubuntu/vmlinuz')).status).toBe(200);
    expect((await from(`/api/v1/boot/log?mac=${mac}&progress=100`, 'POST')).status).toBe(200);
    let tl: { boots: Array<{ outcome: string; stages: Array<{ stage: string; bytes: number }> }> } | undefined;
    for (let i = 0; i < 50 && tl?.boots.at(-1)?.outcome !== 'done'; i++) {
      const res = await api(`/devices/${mac}/timeline`);
      if (res.status === 200) tl = (await res.json()) as typeof tl;
      await new Promise((r) => setTimeout(r, 100));
    }
    const boot = tl!.boots.at(-1)!;
    expect(boot.stages.map((st) => st.stage)).toEqual(['script', 'kernel', 'os']);
    expect(boot.stages[1].bytes).toBe(100_000);
    expect(boot.outcome).toBe('done');
  });
});

describe('enrolment and logs', () => {
  it('enrols from the registration JSON, validates it and refuses an oversize body', async () => {
    const body = { mac_address: X86_UNKNOWN.replace(/-/g, ':'), service_tag: 'ABC123', hardware: { manufacturer: 'QEMU', model: 'Standard PC', serial: '', uuid: '', pi_serial: '', cpu: null, memory: { total_kb: 2048 }, disks: null, nics: null, pci: '' } };
    const res = await get('/api/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ status: 'enrolled', created: true });
    const again = await get('/api/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(again.status).toBe(200);
    const bad = await get('/api/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, service_tag: 'no spaces allowed' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { field: string } }).error.field).toBe('service_tag');
    const big = await get('/api/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, hardware: { pci: 'x'.repeat(300_000) } }) });
    expect(big.status).toBe(413);
    const dev = await (await api(`/devices/${X86_UNKNOWN}`)).json();
    expect(dev).toMatchObject({ status: 'enrolled', serviceTag: 'ABC123', hardware: { manufacturer: 'QEMU' } });
  });

  it('stores boot log lines and WinPE log uploads in the device history', async () => {
    expect((await get(`/api/v1/boot/log?mac=${X86_UNKNOWN}&stage=winpe_started`, { method: 'POST', body: '' })).status).toBe(200);
    expect((await get('/api/v1/boot/log', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mac: X86_UNKNOWN, progress: 30, line: 'copying files' }) })).status).toBe(200);
    expect((await get(`/api/v1/boot/winpe/logs/upload?mac=${X86_UNKNOWN}&name=setupact.log`, { method: 'PUT', body: 'Setup started\r\nSetup done\r\n' })).status).toBe(200);
    const tooBig = await get(`/api/v1/boot/winpe/logs/upload?mac=${X86_UNKNOWN}&name=big.log`, { method: 'PUT', body: 'x'.repeat(1024 * 1024 + 10) });
    expect(tooBig.status).toBe(413);
    expect((await get('/api/v1/boot/log?mac=bad&stage=x', { method: 'POST', body: '' })).status).toBe(400);
    const events = (await (await api(`/devices/${X86_UNKNOWN}/events`)).json()) as Array<{ type: string; message: string; data: Record<string, unknown> }>;
    const logs = events.filter((e) => e.type.startsWith('boot.log'));
    expect(logs.map((e) => e.type)).toEqual(['boot.log', 'boot.log', 'boot.log_upload']);
    expect(logs[0].data).toEqual({ stage: 'winpe_started' });
    expect(logs[1]).toMatchObject({ message: 'copying files', data: { progress: 30 } });
    expect(logs[2].data).toMatchObject({ name: 'setupact.log', text: 'Setup started\r\nSetup done\r\n' });
  });
});

describe('boot assets', () => {
  it('serves files with Range, HEAD and ETag', async () => {
    const full = await get('/boot/assets/ubuntu/vmlinuz');
    expect(full.status).toBe(200);
    expect((await full.arrayBuffer()).byteLength).toBe(100_000);
    const etag = full.headers.get('etag')!;
    expect(full.headers.get('last-modified')).toBeTruthy();
    const range = await get('/boot/assets/ubuntu/vmlinuz', { headers: { range: 'bytes=100-199' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe('bytes 100-199/100000');
    expect((await range.arrayBuffer()).byteLength).toBe(100);
    const head = await get('/boot/assets/ubuntu/vmlinuz', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('100000');
    // fetch() adds Cache-Control: no-cache to conditional requests, so ask like a client would
    expect(await rawGet('/boot/assets/ubuntu/vmlinuz', { 'if-none-match': etag })).toBe(304);
  });

  it('answers 404 for escapes, symlinks out of the root, dot files and directories', async () => {
    for (const p of ['/boot/assets/../inventory.json', '/boot/assets/%2e%2e/inventory.json', '/boot/assets/ubuntu/..%2f..%2finventory.json',
      '/boot/assets/escape.txt', '/boot/assets/outdir/secret.txt', '/boot/assets/.hidden', '/boot/assets/ubuntu', '/boot/assets/missing']) {
      expect(await rawGet(p), p).toBe(404);
    }
  });
});

describe('network-config (admin)', () => {
  it('renders a DHCP snippet for this server behind the login', async () => {
    expect((await get('/netboot/api/network-config?vendor=dnsmasq')).status).toBe(401);
    const res = await api('/network-config?vendor=dnsmasq');
    const out = (await res.json()) as { text: string; menuUrl: string };
    expect(out.menuUrl).toBe(`${srv.baseUrl}/boot/menu.ipxe`);
    expect(out.text).toContain(`dhcp-boot=tag:ipxe,${srv.baseUrl}/boot/menu.ipxe`);
    expect((await api('/network-config?vendor=cisco')).status).toBe(400);
    // Secure Boot machines: x86-64 UEFI gets the signed shim (the signed GRUB needs this next-server)
    const sb = (await (await api('/network-config?vendor=dnsmasq&secureBoot=true')).json()) as { text: string };
    expect(sb.text).toContain('shimx64.efi');
    expect(out.text).not.toContain('shimx64.efi');
    expect((await api('/network-config?vendor=dnsmasq&secureBoot=maybe')).status).toBe(400);
  });
});
