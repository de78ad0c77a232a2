import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

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
