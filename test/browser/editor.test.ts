/// <reference lib="dom" />
/**
 * What a Node-RED user sees of this package in the editor, in a real Chromium (Debian's, driven by
 * playwright-core): the netboot palette with our own labels and icons, and the netboot-server form
 * in tabs. Screenshots go to test/.tmp/screenshots (and to docs/screenshots with UPDATE_SCREENSHOTS=1,
 * which `npm run docs:screenshots` sets). Needs /usr/bin/chromium; CI installs it, so there a skip
 * is a failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, haveChromium, shot } from '../helpers/browser';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

if (!haveChromium && process.env.CI) throw new Error('editor browser test: CI needs /usr/bin/chromium (Debian package chromium)');

describe.skipIf(!haveChromium)('the editor, in Chromium', () => {
  let dir: string;
  let srv: StartedServer;
  let browser: Browser;
  let page: Page;
  const password = 'editor test pw';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-editor-'));
    srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: password });
    await srv.waitForOutput(/inventory: .*inventory\.json/);
    const token = await login(srv.baseUrl, password);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    // the editor keeps its login in localStorage under "auth-tokens"
    await page.addInitScript((t) => localStorage.setItem('auth-tokens', JSON.stringify({ access_token: t, expires_in: 604800, token_type: 'Bearer' })), token);
    await page.goto(`${srv.baseUrl}/`);
    await page.waitForFunction(() => (window as unknown as { RED?: { nodes?: { getType(t: string): unknown } } }).RED?.nodes?.getType('netboot-server') !== undefined, undefined, { timeout: 30_000 });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the netboot palette with our labels and our own icons', async () => {
    const category = page.locator('#red-ui-palette-container-netboot');
    await category.waitFor({ state: 'visible', timeout: 15_000 });
    // the palette breaks labels at hyphens for wrapping ("check - in"); compare the words
    const labels = (await category.locator('.red-ui-palette-label').allInnerTexts()).map((s) => s.replace(/\s*-\s*/g, '-').replace(/\s+/g, ' ').trim());
    expect(labels).toEqual(expect.arrayContaining(['check-in', 'iPXE script', 'Pi config', 'boot files', 'iSCSI disks', 'boot events', 'metrics', 'enrol', 'boot log']));
    // every icon is one of ours and actually loaded (a missing icon would fall back to the default arrow)
    const icons = await category.locator('.red-ui-palette-icon').evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundImage));
    expect(icons.length).toBeGreaterThanOrEqual(9);
    for (const bg of icons) expect(bg).toMatch(/netboot(-[a-z]+)?\.svg/);
    const status = await page.evaluate(async (u) => (await fetch(u)).status, new URL(/url\("?([^")]+)"?\)/.exec(icons[0])![1], srv.baseUrl).pathname);
    expect(status).toBe(200);
    await category.scrollIntoViewIfNeeded();
    await shot(page, '#red-ui-palette-base-category-netboot', 'editor-palette.png');
  });

  it('groups the netboot-server settings in tabs, with the defaults as hints', async () => {
    const id = await page.evaluate(() => {
      const RED = (window as unknown as { RED: { nodes: { eachConfig(cb: (n: { id: string; type: string }) => void): void }; editor: { editConfig(name: string, type: string, id: string): void } } }).RED;
      let found = '';
      RED.nodes.eachConfig((n) => { if (n.type === 'netboot-server' && !found) found = n.id; });
      RED.editor.editConfig('', 'netboot-server', found);
      return found;
    });
    expect(id).not.toBe('');
    const tabs = page.locator('#node-config-netboot-server-tabs');
    await tabs.waitFor({ state: 'visible', timeout: 15_000 });
    expect((await tabs.locator('li a').allInnerTexts()).map((s) => s.trim())).toEqual(['Server', 'DHCP', 'TFTP', 'Access', 'Storage']);
    await expect.poll(() => page.locator('#node-config-input-serverIp').isVisible()).toBe(true);
    expect(await page.locator('#node-config-input-dhcpRange').isVisible()).toBe(false);
    await shot(page, '.red-ui-tray', 'editor-server-node.png');
    await tabs.locator('li a', { hasText: 'DHCP' }).click();
    await expect.poll(() => page.locator('#node-config-input-dhcpRange').isVisible()).toBe(true);
    expect(await page.locator('#node-config-input-serverIp').isVisible()).toBe(false);
    await shot(page, '.red-ui-tray', 'editor-server-node-dhcp.png');
  });
});
