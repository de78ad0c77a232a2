import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';
import { tftpGet } from '../../support/tftp-client';

const run = promisify(execFile);

/** The server's resident memory in MiB, from /proc. */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** curl sends a 50 MB file as the body (declared length, or chunked); resolves with the status. */
async function sendBig(method: string, p: string, file: string, type: string, chunked = false): Promise<number> {
  const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '20', '-X', method, '-H', `content-type: ${type}`,
    ...(chunked ? ['-H', 'Transfer-Encoding: chunked'] : []), '--data-binary', `@${file}`, `${srv.baseUrl}${p}`]);
  return Number(stdout);
}

/** The public side as an attacker on the LAN sees it, through the real `npm start` (issue 13). */
let dir: string;
let srv: StartedServer;
let token: string;
const password = 'public side test';
const api = (p: string, init: RequestInit = {}) => fetch(`${srv.baseUrl}/netboot/api${p}`, {
  ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
});
const pub = (p: string, init: RequestInit = {}) => fetch(`${srv.baseUrl}${p}`, init);
const postJson = (p: string, body: unknown) => pub(p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
async function create(p: string, body: unknown): Promise<void> {
  const r = await api(p, { method: 'POST', body: JSON.stringify(body) });
  if (r.status !== 201) throw new Error(`${p}: ${r.status} ${await r.text()}`);
}

const VICTIM = '52:54:00:00:00:10';
const VICTIM_UUID = '4c4c4544-0042-3510-8052-b4c04f4e4a31';
const PI4 = 'dc:a6:32:01:36:c2';

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'netboot-public-'));
  mkdirSync(path.join(dir, 'assets'), { recursive: true });
  writeFileSync(path.join(dir, 'assets', '.hidden'), 'x');
  writeFileSync(path.join(dir, 'assets', 'visible'), 'y');
  srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: password });
  await srv.waitForOutput(/inventory: .*inventory\.json/);
  token = await login(srv.baseUrl, password);
  await create('/profiles', { id: 'wipe', name: 'wipe', type: 'rescue', kernel: 'wipe/vmlinuz' });
  await create('/profiles', { id: 'ubuntu', name: 'ubuntu', type: 'ubuntu', kernel: 'ubuntu/vmlinuz' });
  await create('/groups', { id: 'decom', name: 'decom', selector: { serviceTag: 'DECOM1' }, profileId: 'wipe' });
  await create('/groups', { id: 'i386', name: 'i386', selector: { arch: 'i386' }, profileId: 'wipe' });
  await create('/groups', { id: 'default', name: 'default', selector: {}, isDefault: true, profileId: 'ubuntu' });
  await create('/devices', { mac: VICTIM, uuid: VICTIM_UUID, arch: 'x86_64' });
  await create('/devices', { mac: PI4, serial: '9ffefdef', hardware: { model: 'Raspberry Pi 4 Model B Rev 1.4' } });
}, 60_000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The device's timeline once it has a notice of `type` (it follows the stored record by a moment), or after 3 s. */
async function noticesOf(mac: string, type: string): Promise<{ notices: Array<{ type: string; message: string }> }> {
  const end = Date.now() + 3000;
  for (;;) {
    const tl = (await (await api(`/devices/${mac}/timeline`)).json()) as { notices: Array<{ type: string; message: string }> };
    if (tl.notices.some((n) => n.type === type) || Date.now() > end) return tl;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('anonymous requests never change what a known machine boots', () => {
  it('1: an enrolment carrying the victim\'s uuid and a selector value is a 409 that names nothing', async () => {
    const before = await (await api(`/devices/${VICTIM}`)).json();
    const res = await postJson('/api/v1/enroll', { mac_address: '52:54:00:00:00:66', service_tag: 'DECOM1', hardware: { uuid: VICTIM_UUID } });
    expect(res.status).toBe(409);
    const text = await res.text();
    expect(text).not.toMatch(/52:54:00:00:00:10|4c4c4544|uuid|DECOM1/i);
    expect(await (await api(`/devices/${VICTIM}`)).json()).toEqual(before);
    expect((await api('/devices/52:54:00:00:00:66')).status).toBe(404);
    const menu = await (await pub(`/boot/menu.ipxe?mac=${VICTIM}`)).text();
    expect(menu).toContain('ubuntu/vmlinuz');
    expect(menu).not.toContain('wipe/vmlinuz');
    // the victim's history says who tried
    const events = (await (await api(`/devices/${VICTIM}/events`)).json()) as Array<{ type: string; data?: { from?: string } }>;
    expect(events.find((e) => e.type === 'enroll.conflict')?.data?.from).toBe('52:54:00:00:00:66');
    // and so does its timeline, as a notice that moves no stage
    const tl = await noticesOf(VICTIM, 'enroll.conflict');
    expect(tl.notices.find((n) => n.type === 'enroll.conflict')?.message).toMatch(/^refused an enrolment from 52:54:00:00:00:66 carrying this device's /);
  });

  it('1: a Pi 4 claiming to be a Pi 5 keeps its model; the claim is only reported', async () => {
    const res = await postJson('/api/v1/enroll', { mac_address: PI4, hardware: { model: 'Raspberry Pi 5 Model B' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ mac: PI4, created: false, reported: true });
    const dev = await (await api(`/devices/${PI4}`)).json();
    expect(dev).toMatchObject({ hardware: { model: 'Raspberry Pi 4 Model B Rev 1.4' }, reported: { hardware: { model: 'Raspberry Pi 5 Model B' } } });
    const config = await (await pub('/boot/pi/9ffefdef/config.txt')).text();
    expect(config).not.toContain('kernel_2712');
  });

  it('4: a check-in cannot set arch or lastIp; a bad arch is a 400; a change is an event', async () => {
    const bad = await pub(`/api/v1/boot/check-in?mac=${VICTIM}&ip=10.66.66.66&arch=evilarch`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { field: string } }).error.field).toBe('arch');
    const ok = await pub(`/api/v1/boot/check-in?mac=${VICTIM}&ip=10.66.66.66&arch=i386`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ action: 'boot_profile', profile_id: 'ubuntu' });
    const dev = await (await api(`/devices/${VICTIM}`)).json();
    expect(dev).toMatchObject({ arch: 'x86_64', lastIp: '127.0.0.1', reported: { arch: 'i386' } });
    const events = (await (await api(`/devices/${VICTIM}/events`)).json()) as Array<{ type: string; message: string }>;
    expect(events.find((e) => e.type === 'facts.changed')?.message).toBe('arch changed from x86_64 to i386 (reported over HTTP)');
    const tl = await noticesOf(VICTIM, 'facts.changed');
    expect(tl.notices.find((n) => n.type === 'facts.changed')?.message).toBe('arch changed from x86_64 to i386 (reported over HTTP)');
  });

  it('10: broadcast, multicast and all-zero MACs are refused with a clear error', async () => {
    for (const mac of ['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:fb', '00:00:00:00:00:00']) {
      const res = await postJson('/api/v1/enroll', { mac_address: mac });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/broadcast|multicast|zeros/);
      expect((await api('/devices', { method: 'POST', body: JSON.stringify({ mac }) })).status).toBe(400);
    }
  });
});

describe('bounded bodies, content types and errors', () => {
  it('2: a 50 MB upload or log is refused with 413 before it is buffered (declared or chunked)', async () => {
    const pid = srv.child.pid!;
    const before = rssMiB(pid);
    const mac = '52-54-00-00-00-10';
    const big = path.join(dir, 'big.bin');
    writeFileSync(big, Buffer.alloc(50 << 20, 0x41));
    for (const chunked of [false, true]) {
      expect(await sendBig('PUT', `/api/v1/boot/winpe/logs/upload?mac=${mac}&name=big.log`, big, 'application/octet-stream', chunked)).toBe(413);
      expect(await sendBig('POST', `/api/v1/boot/log?mac=${mac}`, big, 'text/plain', chunked)).toBe(413);
      expect(await sendBig('POST', '/api/v1/enroll', big, 'application/json', chunked)).toBe(413);
    }
    rmSync(big);
    // six refused 50 MB bodies: memory does not grow with their size
    expect(rssMiB(pid) - before).toBeLessThan(40);
    // the limit's own size still works
    const ok = await pub(`/api/v1/boot/winpe/logs/upload?mac=${mac}&name=ok.log`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: 'x'.repeat(1000) });
    expect(ok.status).toBe(200);
  });

  it('a WinPE log upload is kept as the file it is, whatever type the client declares', async () => {
    const mac = '52-54-00-00-00-10';
    for (const [type, name] of [['application/x-www-form-urlencoded', 'ps.log'], ['', 'curl.log']]) {
      const res = await pub(`/api/v1/boot/winpe/logs/upload?mac=${mac}&name=${name}`, { method: 'PUT', headers: type ? { 'content-type': type } : {}, body: Buffer.from('a=1&b=2\r\nSetup done') });
      expect(res.status).toBe(200);
    }
    const events = (await (await api(`/devices/${VICTIM}/events`)).json()) as Array<{ type: string; data: { name?: string; text?: string } }>;
    for (const name of ['ps.log', 'curl.log']) expect(events.find((e) => e.data?.name === name)?.data.text).toBe('a=1&b=2\r\nSetup done');
  });

  it('9: enrolment takes JSON only (415 for text and forms)', async () => {
    const body = JSON.stringify({ mac_address: '52:54:00:00:00:77' });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await pub('/api/v1/enroll', { method: 'POST', headers: { 'content-type': type }, body });
      expect(res.status).toBe(415);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/application\/json/);
    }
    expect((await api('/devices/52:54:00:00:00:77')).status).toBe(404);
  });

  it('6: malformed JSON is a 400 "body is not JSON" on the public and the admin side; oversize admin JSON a 413', async () => {
    const pubBad = await pub('/api/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"mac_address": ' });
    expect(pubBad.status).toBe(400);
    expect(((await pubBad.json()) as { error: { message: string } }).error.message).toBe('body is not JSON');
    const adminBad = await api('/devices', { method: 'POST', body: '{"mac": ' });
    expect(adminBad.status).toBe(400);
    expect(((await adminBad.json()) as { error: { message: string } }).error.message).toBe('body is not JSON');
    const adminBig = await api('/devices', { method: 'POST', body: JSON.stringify({ mac: '52:54:00:00:00:78', notes: 'x'.repeat(6 << 20) }) });
    expect(adminBig.status).toBe(413);
  });

  it('9: no CORS on boot endpoints or the public API; scripts are no-store', async () => {
    for (const p of [`/boot/menu.ipxe?mac=${VICTIM}`, `/api/v1/boot/check-in?mac=${VICTIM}`]) {
      const res = await pub(p, { headers: { origin: 'http://evil.example' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    const pre = await pub('/api/v1/enroll', { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('7: the data folder is 0700 and live admin tokens 0600', async () => {
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, '.sessions.json')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, 'inventory.json')).mode & 0o077).toBe(0);
  });

  it('8: TFTP refuses dot files, as HTTP does', async () => {
    await expect(tftpGet({ host: '127.0.0.1', port: srv.udp.tftp, filename: '.hidden', totalTimeoutMs: 5000 })).rejects.toThrow(/dot files|not found|access/i);
    expect((await tftpGet({ host: '127.0.0.1', port: srv.udp.tftp, filename: 'visible', totalTimeoutMs: 5000 })).data?.toString()).toBe('y');
    expect((await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${srv.baseUrl}/boot/assets/.hidden`])).stdout).toBe('404');
  });
});

describe('API correctness', () => {
  it('5: patterned keys and unrenderable profiles are refused at save time, naming the field', async () => {
    const labels = await api('/devices', { method: 'POST', body: JSON.stringify({ mac: '52:54:00:00:01:01', labels: { 'a\nb c=${x}': 'v' } }) });
    expect(labels.status).toBe(400);
    const params = await api('/groups', { method: 'POST', body: JSON.stringify({ name: 'bad', selector: {}, params: { '-x': { nested: true } } }) });
    expect(params.status).toBe(400);
    const kernel = await api('/profiles', { method: 'POST', body: JSON.stringify({ id: 'evil', name: 'evil', type: 'custom', kernel: '${x} && shell' }) });
    expect(kernel.status).toBe(400);
    expect(((await kernel.json()) as { error: { field: string } }).error.field).toBe('kernel');
    const patch = await api('/profiles/ubuntu', { method: 'PATCH', body: JSON.stringify({ cmdline: { console: 'tty0 && shell' } }) });
    expect(patch.status).toBe(400);
    expect((await api('/profiles/evil')).status).toBe(404);
  });

  it('a command line as an ordered list keeps repeated keys, and renders', async () => {
    await create('/profiles', { id: 'serial', name: 'serial', type: 'custom', kernel: 'serial/vmlinuz', cmdline: 'console=tty0 console=ttyS0,115200 quiet' });
    await create('/devices', { mac: '52:54:00:00:01:02', profileId: 'serial' });
    const script = await (await pub('/boot/menu.ipxe?mac=52:54:00:00:01:02')).text();
    expect(script).toMatch(/kernel \S+serial\/vmlinuz console=tty0 console=ttyS0,115200 quiet/);
    const listForm = await api('/profiles/serial', { method: 'PATCH', body: JSON.stringify({ cmdline: ['console=ttyS0,115200', 'console=tty0'] }) });
    expect(listForm.status).toBe(200);
    expect(await (await pub('/boot/menu.ipxe?mac=52:54:00:00:01:02')).text()).toMatch(/vmlinuz console=ttyS0,115200 console=tty0/);
  });

  it('the timeline of a known device that has not booted is 200 and empty; of an unknown MAC 404', async () => {
    await create('/devices', { mac: '52:54:00:00:01:03' });
    const known = await api('/devices/52:54:00:00:01:03/timeline');
    expect(known.status).toBe(200);
    expect(await known.json()).toMatchObject({ mac: '52:54:00:00:01:03', boots: [] });
    expect((await api('/devices/52:54:00:00:01:04/timeline')).status).toBe(404);
  });
});

describe('audit log', () => {
  it('records who fetched which script (MAC, IP, endpoint, profile, outcome) and every change (user, route, before/after)', async () => {
    await api(`/devices/${VICTIM}`, { method: 'PATCH', body: JSON.stringify({ notes: 'rack 4' }) });
    await pub(`/boot/menu.ipxe?mac=${VICTIM}`);
    type Rec = { kind: string; endpoint: string; outcome: number; mac?: string; ip?: string; profile?: string; user?: string; method: string; summary?: { id?: string; fields: Record<string, unknown> } };
    let fetches: Rec[] = [];
    for (let i = 0; i < 50 && !fetches.some((r) => r.endpoint === '/boot/menu.ipxe'); i++) {
      fetches = (await (await api(`/audit?kind=fetch&mac=${VICTIM}`)).json()) as Rec[];
    }
    expect(fetches.find((r) => r.endpoint === '/boot/menu.ipxe')).toMatchObject({ method: 'GET', outcome: 200, mac: VICTIM, ip: '127.0.0.1', profile: 'ubuntu' });
    // the refused enrolment is there too, as what it was
    const all = (await (await api('/audit?kind=fetch&limit=1000')).json()) as Rec[];
    expect(all.find((r) => r.endpoint === '/api/v1/enroll' && r.outcome === 409)?.mac).toBe('52:54:00:00:00:66');
    expect(all.every((r) => !r.endpoint.includes('?'))).toBe(true);
    const changes = (await (await api('/audit?kind=change')).json()) as Rec[];
    const patch = changes.find((r) => r.method === 'PATCH' && r.endpoint === `/netboot/api/devices/${VICTIM}`);
    expect(patch).toMatchObject({ user: 'admin', outcome: 200, summary: { id: VICTIM, fields: { notes: { after: 'rack 4' } } } });
    expect(changes.some((r) => r.method === 'POST' && r.endpoint === '/netboot/api/profiles' && r.outcome === 400)).toBe(true);
    expect((await api('/audit?kind=nope')).status).toBe(400);
  });
});

describe('readiness and rate limits', () => {
  it('/netboot/api/status says ready once the flows run', async () => {
    expect(await (await api('/status')).json()).toMatchObject({ status: 'ready', store: 'open' });
  });

  it('3: a client over its rate gets 429 with Retry-After, counted in Prometheus; others are served', async () => {
    // the earlier tests' public requests came from this address too: let its bucket fill up again
    // (it refills 30 a second up to 120) before counting what a full burst is allowed
    await new Promise((r) => setTimeout(r, 4200));
    const statuses = await Promise.all(Array.from({ length: 400 }, () => pub(`/api/v1/boot/check-in?mac=${VICTIM}`).then(async (r) => {
      await r.arrayBuffer();
      return { status: r.status, retry: r.headers.get('retry-after') };
    })));
    const limited = statuses.filter((s) => s.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0].retry).toBe('1');
    expect(statuses.filter((s) => s.status === 200).length).toBeGreaterThanOrEqual(120);
    // another client address is not affected
    const other = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--interface', '127.0.0.2', `${srv.baseUrl.replace('localhost', '127.0.0.1')}/api/v1/boot/check-in?mac=${VICTIM}`]);
    expect(other.stdout).toBe('200');
    const metrics = await (await fetch(`${srv.baseUrl}/netboot/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toMatch(/netboot_public_refusals_total\{where="http",reason="rate"\} [1-9]/);
  });
});
