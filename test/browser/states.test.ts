/// <reference lib="dom" />
/**
 * Two states a person must be able to read off the full page, in a real Chromium against `npm start`:
 * a machine whose boot stopped making progress is flagged as stalled on its row and its timeline, and a
 * stopped server shows "cannot reach the server" instead of a list that silently stops moving.
 */
import * as dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientBytes, PXE_EFI_X64 } from '../../support/dhcp-packets';
import { haveChromium, launchChromium, shot } from '../helpers/browser';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

if (!haveChromium && process.env.CI) throw new Error('states browser test: CI needs /usr/bin/chromium (Debian package chromium)');


describe.skipIf(!haveChromium)('stalls and a stopped server, in Chromium', { timeout: 90_000 }, () => {
  let dir: string;
  let srv: StartedServer;
  let browser: Browser;
  let token: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-states-'));
    // the stall threshold is an inventory setting read at start: 5 s (its minimum) instead of 180
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'inventory.json'), JSON.stringify({ schemaVersion: 3, devices: [], images: [], profiles: [], groups: [], sessions: [], boots: [], settings: { stallSeconds: 5 } }));
    srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: 'states pw' });
    await srv.waitForOutput(/netboot: dashboard {2}http:\/\/\S+\/netboot\//);
    token = await login(srv.baseUrl, 'states pw');
    browser = await launchChromium();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('flags a boot that stops making progress, then says plainly when the server is gone', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.addInitScript((t) => localStorage.setItem('auth-tokens', JSON.stringify({ access_token: t, expires_in: 604800, token_type: 'Bearer' })), token);
    const mac = '52:54:00:21:20:01';
    await page.goto(`${srv.baseUrl}/netboot/#mac=${mac}`);
    await page.locator('[data-test=connection][data-state=live]').waitFor({ timeout: 30_000 });

    // a UEFI PXE client asks the proxy port once, then nothing more: its boot stalls in the dhcp stage
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.21.20', () => r()));
    const reply = new Promise<Buffer>((resolve) => client.once('message', (m) => resolve(m)));
    client.send(clientBytes({ mac, type: 3, vendorClass: PXE_EFI_X64, arch: 7, serverId: '127.0.0.1', ciaddr: '127.0.21.20' }), srv.udp.proxy, '127.0.0.1');
    await reply;
    client.close();

    const row = page.locator(`tr[data-mac="${mac}"]`);
    await row.waitFor({ timeout: 15_000 });
    await expect.poll(() => row.innerText(), { timeout: 30_000 }).toMatch(/stalled/);
    const stalls = page.locator('[data-test=timeline] [data-test=stalls]');
    await stalls.waitFor({ timeout: 15_000 });
    expect(await stalls.innerText()).toMatch(/DHCP|dhcp/);
    await shot(page, 'body', 'fleet-stalled.png');

    await srv.stop();
    const badge = page.locator('[data-test=connection]');
    await expect.poll(() => badge.getAttribute('data-state'), { timeout: 30_000 }).toBe('offline');
    expect(await badge.innerText()).toBe('cannot reach the server');
    expect(await page.locator('[data-test=offline-banner]').innerText()).toMatch(/cannot be reached/);
    await shot(page, 'body', 'fleet-offline.png');
    await page.close();
  });
});
