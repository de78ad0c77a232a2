/// <reference lib="dom" />
/**
 * The Disks view of the full page in a real Chromium, against `npm start` with its own tgtd (the
 * iSCSI node in `own` mode on a control port of this test's): create a disk, link a machine, copy it,
 * delete the copy, each seen in the table as tgtd and the disks folder have it. Needs root for tgtd;
 * CI runs as root and installs tgt, so there a skip is a failure.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium, shot } from '../helpers/browser';
import { freeTcpPort, login, startNetboot, type StartedServer } from '../helpers/start-server';

const haveTgt = spawnSync('sh', ['-c', 'command -v tgtd && command -v tgtadm']).status === 0 && process.getuid?.() === 0;
if ((!haveChromium || !haveTgt) && process.env.CI) throw new Error('disks browser test: CI needs chromium, tgt and root');

describe.skipIf(!haveChromium || !haveTgt)('the Disks view, in Chromium with a real tgtd', { timeout: 90_000 }, () => {
  let dir: string;
  let srv: StartedServer;
  let browser: Browser;
  let token: string;
  const controlPort = 300 + ((process.pid + 29) % 600);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-disks-'));
    srv = await startNetboot(dir, {
      NETBOOT_ADMIN_PASSWORD: 'disks test pw', NETBOOT_ISCSI: 'own', NETBOOT_ISCSI_PORT: String(await freeTcpPort()),
      NETBOOT_TGTD_CONTROL_PORT: String(controlPort), NETBOOT_ISCSI_STOP_TGTD: 'true',
    });
    await srv.waitForOutput(/iSCSI: started tgtd/);
    token = await login(srv.baseUrl, 'disks test pw');
    browser = await launchChromium();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
    spawnSync('tgtadm', ['-C', String(controlPort), '--op', 'delete', '--mode', 'system']);
    rmSync(`/var/run/tgtd/socket.${controlPort}`, { force: true });
    rmSync(`/var/run/tgtd/socket.${controlPort}.lock`, { force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates a disk, links a machine, copies it, renames the copy and deletes it', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.addInitScript((t) => localStorage.setItem('auth-tokens', JSON.stringify({ access_token: t, expires_in: 604800, token_type: 'Bearer' })), token);
    await page.goto(`${srv.baseUrl}/netboot/`);
    await page.locator('[data-test=connection][data-state=live]').waitFor({ timeout: 30_000 });
    await page.locator('[data-tab=disks]').click();
    const view = page.locator('[data-test=disks]');
    await expect.poll(() => view.locator('[data-test=tgtd]').innerText(), { timeout: 15_000 }).toMatch(/ready/);
    await view.locator('[data-test=new-disk-id]').fill('lab1');
    await view.locator('[data-test=new-disk-size]').fill('0.015625');
    await view.locator('[data-test=create-disk]').click();
    const row = view.locator('tr[data-disk=lab1]');
    await row.waitFor({ timeout: 15_000 });
    expect(await row.innerText()).toContain('16 MiB');
    expect(await row.innerText()).toContain('ready');

    await row.locator('input').fill('52:54:00:21:30:01');
    await row.locator('[data-act=link]').click();
    await expect.poll(() => row.innerText()).toContain('52:54:00:21:30:01');
    const show = spawnSync('tgtadm', ['-C', String(controlPort), '--lld', 'iscsi', '--op', 'show', '--mode', 'target'], { encoding: 'utf8' }).stdout;
    expect(show).toContain('iqn.2024-01.local.netboot:device-52-54-00-21-30-01');

    await row.locator('[data-act=copy]').click();
    const copy = view.locator('tr[data-disk=lab1-copy]');
    await copy.waitFor({ timeout: 15_000 });
    // renamed: the name people see changes, the file and the IQN stay
    const iqn = await copy.locator('.nb-mono').first().innerText();
    await copy.locator('[data-act=rename]').click();
    await copy.locator('[data-test=rename-input]').fill('Lab 1 spare');
    await copy.locator('[data-test=rename-save]').click();
    await expect.poll(() => view.locator('[data-test=disks-notice]').innerText()).toBe('Disk renamed.');
    expect(await copy.innerText()).toContain('Lab 1 spare');
    expect(await copy.locator('.nb-mono').first().innerText()).toBe(iqn);
    const image = await (await fetch(`${srv.baseUrl}/netboot/api/images/lab1-copy`, { headers: { authorization: `Bearer ${token}` } })).json() as { name: string; path: string };
    expect(image).toMatchObject({ name: 'Lab 1 spare', path: 'lab1-copy.img' });
    await shot(page, 'body', 'fleet-disks.png');
    await copy.locator('[data-act=delete]').click();
    await copy.waitFor({ state: 'detached', timeout: 15_000 });
    await page.close();
  });
});
