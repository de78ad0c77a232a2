/// <reference lib="dom" />
/**
 * The fleet dashboard in a real Chromium (Debian's, driven by playwright-core), against the
 * `npm start` entry point: the editor's Netboot sidebar tab and the full page at /netboot/ show a
 * machine that boots with real clients (a PXE DHCP request on the proxy port, curl fetching iPXE
 * over TFTP and the menu over HTTP) appear and advance live, with no reload. Screenshots go to
 * test/.tmp/screenshots (and docs/screenshots with UPDATE_SCREENSHOTS=1). CI installs chromium,
 * so there a skip is a failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium, shot } from '../helpers/browser';
import { machine } from '../helpers/boot-client';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

if (!haveChromium && process.env.CI) throw new Error('fleet browser test: CI needs /usr/bin/chromium (Debian package chromium)');


describe.skipIf(!haveChromium)('the fleet dashboard, in Chromium', { timeout: 90_000 }, () => {
  let dir: string;
  let srv: StartedServer;
  let browser: Browser;
  let token: string;
  const password = 'fleet test pw';
  /** Every request the pages make: none may go to another host. */
  const hosts = new Set<string>();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-fleet-'));
    srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: password });
    await srv.waitForOutput(/netboot: dashboard {2}http:\/\/\S+\/netboot\//);
    token = await login(srv.baseUrl, password);
    browser = await launchChromium();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function newPage(loggedIn: boolean, colorScheme: 'light' | 'dark' = 'light'): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme });
    page.on('request', (r) => hosts.add(new URL(r.url()).protocol === 'data:' ? 'data:' : new URL(r.url()).host));
    if (loggedIn) await page.addInitScript((t) => localStorage.setItem('auth-tokens', JSON.stringify({ access_token: t, expires_in: 604800, token_type: 'Bearer' })), token);
    return page;
  }

  it('the editor has a Netboot sidebar tab that shows server health and a machine booting, live', async () => {
    const page = await newPage(true);
    await page.goto(`${srv.baseUrl}/`);
    const tab = page.locator('#red-ui-tab-netboot');
    await tab.waitFor({ state: 'attached', timeout: 30_000 });
    const side = page.locator('.netboot-sidebar-tab');
    await page.waitForFunction(() => (window as unknown as { RED?: { nodes?: { getType(t: string): unknown } } }).RED?.nodes?.getType('netboot-server') !== undefined, undefined, { timeout: 30_000 });
    // the editor switches the sidebar to its own tabs while it loads the flows: show ours until it stays
    await expect.poll(async () => {
      await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show('netboot'));
      await page.waitForTimeout(1000);
      return side.isVisible();
    }, { timeout: 30_000 }).toBe(true);
    await side.locator('[data-test=connection][data-state=live]').waitFor({ timeout: 30_000 });
    await expect.poll(() => side.locator('[data-test=dhcp-mode]').innerText()).toBe('proxy');
    expect(await side.locator('[data-port=tftp]').innerText()).toContain(String(srv.udp.tftp));
    expect(await side.locator('[data-test=address]').innerText()).toContain('127.0.0.1');

    const mac = '52:54:00:21:00:01';
    expect(await side.locator(`[data-mac="${mac}"]`).count()).toBe(0);
    await machine(srv, mac, '127.0.21.1').boot();
    // it appears and reaches the script stage without a reload
    const row = side.locator(`[data-mac="${mac}"]`);
    await row.waitFor({ timeout: 15_000 });
    await expect.poll(() => row.getAttribute('data-stage'), { timeout: 15_000 }).toBe('script');
    expect(await row.innerText()).toContain('efi-x64');
    expect(await row.innerText()).toContain('script');
    expect(await side.locator('[data-test=open-page]').getAttribute('href')).toBe(`${srv.baseUrl}/netboot/`);
    await shot(page, '#red-ui-sidebar', 'editor-sidebar-netboot.png');
    await page.close();
  });

  it('the full page at /netboot/ asks for a login, then lists the machines and follows a boot on its timeline', async () => {
    hosts.clear(); // the editor itself asks Node-RED's flow catalogue; our pages ask no one else
    const page = await newPage(false);
    await page.goto(`${srv.baseUrl}/netboot/`);
    const form = page.locator('[data-test=login]');
    await form.waitFor({ timeout: 15_000 });
    await shot(page, 'body', 'fleet-login.png');
    await form.locator('input[name=username]').fill('admin');
    await form.locator('input[name=password]').fill('wrong');
    await form.locator('button[type=submit]').click();
    await page.locator('[role=alert]').waitFor();
    await form.locator('input[name=password]').fill(password);
    await form.locator('button[type=submit]').click();
    await page.locator('[data-test=connection][data-state=live]').waitFor({ timeout: 30_000 });

    const table = page.locator('[data-test=devices]');
    await table.locator('tr[data-mac="52:54:00:21:00:01"]').waitFor({ timeout: 15_000 });
    // a second machine starts to boot while the page is open: it appears live
    const mac = '52:54:00:21:00:02';
    const m2 = machine(srv, mac, '127.0.21.2');
    await m2.dhcp();
    const row = table.locator(`tr[data-mac="${mac}"]`);
    await row.waitFor({ timeout: 15_000 });
    // the filter narrows to one machine, sorting by MAC orders them
    await page.locator('[data-test=filter]').fill('21:00:02');
    await expect.poll(() => table.locator('tbody tr[data-mac]').count()).toBe(1);
    await page.locator('[data-test=filter]').fill('');
    await table.locator('[data-sort=mac]').click();
    expect(await table.locator('tbody tr[data-mac]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-mac')))).toEqual(['52:54:00:21:00:01', mac]);
    // the virtualiser's spacers count on every row being ROW (31 px, DeviceTable.vue) high in a real layout
    expect(await table.locator('tbody tr[data-mac]').evaluateAll((rows) => rows.map((r) => r.getBoundingClientRect().height))).toEqual([31, 31]);

    // its timeline, open while it boots, follows each stage without a reload
    await row.click();
    const timeline = page.locator(`[data-test=timeline][data-mac="${mac}"]`);
    const stagesShown = () => timeline.locator('.nb-stages tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-stage')));
    await expect.poll(stagesShown, { timeout: 15_000 }).toEqual(['dhcp']);
    await m2.tftp();
    await expect.poll(stagesShown, { timeout: 15_000 }).toEqual(['dhcp', 'firmware-tftp']);
    await m2.menu();
    await expect.poll(stagesShown, { timeout: 15_000 }).toEqual(['dhcp', 'firmware-tftp', 'script']);
    // the firmware stage carried iPXE's bytes
    expect(await timeline.locator('.nb-stages tr[data-stage=firmware-tftp]').innerText()).toMatch(/\d+(\.\d)? (KiB|MiB)/);
    expect(await row.innerText()).toContain('script');
    await shot(page, 'body', 'fleet-page.png');
    await page.close();
  });

  it('follows a dark system theme on the full page, and asks no host but the server', async () => {
    const page = await newPage(true, 'dark');
    await page.goto(`${srv.baseUrl}/netboot/#mac=52:54:00:21:00:02`);
    await page.locator('[data-test=timeline] [data-boot]').first().waitFor({ timeout: 15_000 });
    const bg = await page.locator('.nb-page').evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(bg).toBe('rgb(31, 32, 35)');
    await shot(page, 'body', 'fleet-page-dark.png');
    await page.close();
    expect([...hosts], [...hosts].join(' ')).toEqual([`127.0.0.1:${srv.httpPort}`]);
  });
});
