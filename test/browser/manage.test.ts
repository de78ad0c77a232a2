/// <reference lib="dom" />
/**
 * Managing the fleet from the full page at /netboot/, in a real Chromium (Debian's, driven by
 * playwright-core), against the `npm start` entry point: register and approve machines, assign a
 * profile, labels with the server's error beside them, a profile edited with a validation error on
 * its field and its script previewed for a machine before saving; a read-only user sees everything
 * and no button (and the API refuses them anyway). Screenshots as in fleet.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { machine } from '../helpers/boot-client';
import { haveChromium, launchChromium, shot } from '../helpers/browser';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

if (!haveChromium && process.env.CI) throw new Error('manage browser test: CI needs /usr/bin/chromium (Debian package chromium)');


describe.skipIf(!haveChromium)('managing the fleet from the full page, in Chromium', { timeout: 90_000 }, () => {
  let dir: string;
  let srv: StartedServer;
  let browser: Browser;
  let admin: string;
  let viewer: string;
  const api = (token: string, p: string, method = 'GET', body?: unknown) => fetch(`${srv.baseUrl}/netboot/api${p}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const ENROLLED = '52:54:00:21:10:01';
  const UNKNOWN = '52:54:00:21:10:02';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-manage-'));
    srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: 'manage admin pw', NETBOOT_VIEWER_PASSWORD: 'manage viewer pw' });
    await srv.waitForOutput(/netboot: dashboard {2}http:\/\/\S+\/netboot\//);
    admin = await login(srv.baseUrl, 'manage admin pw');
    viewer = await login(srv.baseUrl, 'manage viewer pw', 'viewer', 'read');
    expect((await api(admin, '/profiles', 'POST', { id: 'ubuntu', name: 'Ubuntu', type: 'ubuntu', kernel: 'ubuntu/vmlinuz', initrd: ['ubuntu/initrd'] })).status).toBe(201);
    // a machine that ran the registration image: anonymous enrolment, status "enrolled"
    const enrolled = await fetch(`${srv.baseUrl}/api/v1/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mac_address: ENROLLED, hostname: 'lab-pc-7', hardware: { model: 'Lab PC' } }) });
    expect(enrolled.status).toBe(201);
    browser = await launchChromium();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function page(token: string, hash = ''): Promise<Page> {
    const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await p.addInitScript((t) => localStorage.setItem('auth-tokens', JSON.stringify({ access_token: t, expires_in: 604800, token_type: 'Bearer' })), token);
    await p.goto(`${srv.baseUrl}/netboot/${hash}`);
    await p.locator('[data-test=connection][data-state=live]').waitFor({ timeout: 30_000 });
    return p;
  }
  const device = async (mac: string) => (await api(admin, `/devices/${mac}`)).json() as Promise<{ status: string; profileId?: string; labels: Record<string, string>; hostname?: string }>;

  it('approves an enrolled machine, assigns it a profile, and shows a refused label beside the labels', async () => {
    const p = await page(admin, `#mac=${ENROLLED}`);
    const manage = p.locator('[data-test=manage]');
    const notice = manage.locator('[role=status]');
    await manage.locator('[data-test=approve]').click();
    await expect.poll(() => notice.innerText()).toMatch(/Approved/);
    await expect.poll(async () => (await device(ENROLLED)).status).toBe('configured');
    expect((await device(ENROLLED)).hostname).toBe('lab-pc-7');
    await manage.locator('[data-test=approve]').waitFor({ state: 'detached' });

    await manage.locator('[data-test=profile]').selectOption('ubuntu');
    await manage.locator('[data-test=assign]').click();
    // the form reloads the device after a change: wait for it before typing into it again
    await expect.poll(() => notice.innerText()).toBe('Saved.');
    await expect.poll(async () => (await device(ENROLLED)).profileId).toBe('ubuntu');

    await manage.locator('[data-test=labels]').fill('role=worker\nbad key!=x');
    await manage.locator('[data-test=save-labels]').click();
    await manage.locator('[data-test=error-labels]').waitFor();
    expect(await manage.locator('[data-test=error-labels]').innerText()).toMatch(/labels/);
    expect((await device(ENROLLED)).labels).toEqual({});
    await manage.locator('[data-test=labels]').fill('role=worker');
    await manage.locator('[data-test=save-labels]').click();
    await expect.poll(async () => (await device(ENROLLED)).labels).toEqual({ role: 'worker' });
    await shot(p, 'body', 'fleet-manage-device.png');
    await p.close();
  });

  it('registers a machine that is not in the inventory yet', async () => {
    const p = await page(admin, `#mac=${UNKNOWN}`);
    expect((await api(admin, `/devices/${UNKNOWN}`)).status).toBe(404);
    await p.locator('[data-test=manage] [data-test=register]').click();
    await expect.poll(async () => (await api(admin, `/devices/${UNKNOWN}`)).status).toBe(200);
    expect((await device(UNKNOWN)).status).toBe('configured');
    await p.close();
  });

  it('shows changes made elsewhere (another admin, another server on the same inventory) without reloading', async () => {
    const p = await page(admin);
    const mac = '52:54:00:21:10:0e';
    const row = p.locator(`[data-mac="${mac}"]`);
    // made through the API, not the page: the page hears inventory.changed on its stream and reads the row
    expect((await api(admin, '/devices', 'POST', { mac, hostname: 'made-elsewhere' })).status).toBe(201);
    await expect.poll(() => row.innerText(), { timeout: 10_000 }).toContain('made-elsewhere');
    expect((await api(admin, `/devices/${mac}`, 'PATCH', { hostname: 'renamed-elsewhere' })).status).toBe(200);
    await expect.poll(() => row.innerText(), { timeout: 10_000 }).toContain('renamed-elsewhere');
    expect((await api(admin, `/devices/${mac}`, 'DELETE')).status).toBe(204);
    await row.waitFor({ state: 'detached', timeout: 10_000 });
    await p.close();
  });

  it('shows one site\'s machines when the inventory knows several sites', async () => {
    const p = await page(admin);
    const pinned = '52:54:00:21:10:0d';
    // a machine pinned to another site's servers: the inventory now knows two sites
    expect((await api(admin, '/devices', 'POST', { mac: pinned, hostname: 'at-rack-z', site: 'rack-z' })).status).toBe(201);
    const select = p.locator('[data-test=site-filter]');
    await select.waitFor({ timeout: 10_000 });
    await select.selectOption('rack-z');
    await expect.poll(() => p.locator('[data-test=shown]').innerText()).toMatch(/^1 /);
    expect(await p.locator(`[data-mac="${pinned}"]`).innerText()).toContain('at-rack-z');
    await shot(p, '.nb-devices', 'devices-site-filter.png');
    await select.selectOption('');
    await expect.poll(async () => Number((await p.locator('[data-test=shown]').innerText()).split(' ')[0])).toBeGreaterThan(1);
    expect((await api(admin, `/devices/${pinned}`, 'DELETE')).status).toBe(204);
    await p.close();
  });

  it('approves and registers from the Devices table in one click, without opening the machine', async () => {
    const enrolled = '52:54:00:21:10:05';
    const seen = '52:54:00:21:10:06';
    const res = await fetch(`${srv.baseUrl}/api/v1/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mac_address: enrolled, hostname: 'lab-pc-9', hardware: { model: 'OptiPlex 3080' } }) });
    expect(res.status).toBe(201);
    const p = await page(admin);
    const row = p.locator(`tr[data-mac="${enrolled}"]`);
    await row.waitFor({ timeout: 15_000 });
    expect(await row.innerText()).toMatch(/enrolled, not approved/);
    expect(await row.innerText()).toContain('OptiPlex 3080');
    await row.locator('[data-quick=approve]').click();
    await expect.poll(async () => (await device(enrolled)).status).toBe('configured');
    expect((await device(enrolled)).hostname).toBe('lab-pc-9');
    await row.locator('[data-quick]').waitFor({ state: 'detached' });
    // the click acted on the row's machine and did not open it
    expect(await p.locator('[data-test=timeline]').count()).toBe(0);

    // a machine only seen on the wire gets a Register button
    await machine(srv, seen, '127.0.21.80').dhcp();
    const unknown = p.locator(`tr[data-mac="${seen}"]`);
    await unknown.locator('[data-quick=register]').waitFor({ timeout: 15_000 });
    await unknown.locator('[data-quick=register]').click();
    // an administrator's registration is the approval: the machine is configured at once
    await expect.poll(async () => (await api(admin, `/devices/${seen}`)).status).toBe(200);
    expect((await device(seen)).status).toBe('configured');
    await unknown.locator('[data-quick]').waitFor({ state: 'detached' });
    await p.close();
  });

  it('edits a profile: the server\'s error on its field, then the script previewed for a machine, then saved', async () => {
    const p = await page(admin);
    await p.locator('[data-tab=profiles]').click();
    await p.locator('tr[data-profile=ubuntu]').click();
    const form = p.locator('[data-test=profile-form]');
    await form.locator('[data-field=kernel]').fill('http://10.0.0.5/k&&reboot');
    await form.locator('[data-test=save-profile]').click();
    await form.locator('[data-error=kernel]').waitFor();
    expect(await form.locator('[data-error=kernel]').innerText()).toMatch(/kernel/);
    expect(await form.locator('[data-field=kernel]').getAttribute('aria-invalid')).toBe('true');
    await shot(p, 'body', 'fleet-profile-error.png');

    await form.locator('[data-field=kernel]').fill('ubuntu/vmlinuz-24.04');
    await form.locator('[data-field=cmdline]').fill('console=ttyS0 autoinstall');
    await form.locator('[data-test=preview-mac]').selectOption(ENROLLED);
    await form.locator('[data-test=preview]').click();
    const pre = form.locator('[data-test=preview-text]');
    await pre.waitFor();
    expect(await pre.innerText()).toContain(`kernel ${srv.baseUrl}/boot/assets/ubuntu/vmlinuz-24.04 console=ttyS0 autoinstall`);
    // the preview saved nothing
    expect(((await (await api(admin, '/profiles/ubuntu')).json()) as { kernel: string }).kernel).toBe('ubuntu/vmlinuz');
    await shot(p, 'body', 'fleet-profile-preview.png');
    await form.locator('[data-test=save-profile]').click();
    await form.locator('[data-test=notice]').waitFor();
    expect(((await (await api(admin, '/profiles/ubuntu')).json()) as { kernel: string }).kernel).toBe('ubuntu/vmlinuz-24.04');
    await p.close();
  });

  it('a read-only user sees the machines and profiles and no button that changes anything; the API refuses them too', async () => {
    const p = await page(viewer, `#mac=${ENROLLED}`);
    await p.locator('[data-test=read-only]').waitFor();
    await p.locator('[data-test=timeline]').waitFor({ timeout: 15_000 }).catch(() => undefined);
    expect(await p.locator('[data-test=manage]').count()).toBe(0);
    await p.locator('[data-tab=profiles]').click();
    await p.locator('tr[data-profile=ubuntu]').click();
    expect(await p.locator('[data-test=new-profile]').count()).toBe(0);
    expect(await p.locator('[data-test=save-profile]').count()).toBe(0);
    expect(await p.locator('[data-field=kernel]').getAttribute('readonly')).not.toBeNull();
    await shot(p, 'body', 'fleet-read-only.png');
    expect([401, 403]).toContain((await api(viewer, `/devices/${ENROLLED}`, 'PATCH', { status: 'ready' })).status); // Node-RED's needsPermission answers 401
    expect((await api(viewer, '/devices')).status).toBe(200);
    await p.close();
  });

  it('keeps the Devices table light at 5 000 machines: a window of rows in the page, the last one reached by scrolling', async () => {
    const devices = Array.from({ length: 5000 }, (_, i) => ({ mac: `52:54:00:22:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, hostname: `rack-${String(i).padStart(4, '0')}` }));
    const imported = await api(admin, '/import?mode=merge', 'POST', { format: 'netboot-inventory', devices });
    expect(imported.status, await imported.clone().text()).toBe(200);
    const p = await page(admin);
    const table = p.locator('[data-test=devices]');
    await expect.poll(() => p.locator('[data-test=shown]').innerText(), { timeout: 30_000 }).toMatch(/of 500\d/);
    const inPage = await table.locator('tbody tr[data-mac]').count();
    expect(inPage).toBeGreaterThan(5);
    expect(inPage).toBeLessThan(100);
    await table.locator('[data-sort=hostname]').click();
    await p.locator('[data-test=devices-scroll]').evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await expect.poll(() => table.locator('tbody tr[data-mac]').last().innerText(), { timeout: 10_000 }).toContain('rack-4999');
    expect(await table.locator('tbody tr[data-mac]').count()).toBeLessThan(100);
    await p.close();
  });
});

