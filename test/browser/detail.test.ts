/// <reference lib="dom" />
/**
 * The rest of the full page in a real Chromium against the `npm start` entry point: groups (a
 * refused selector shown on its field, a group made, a machine put in it from its Manage panel and
 * the table's Group column following), one machine's boot log following new lines live with its
 * uploaded WinPE log, its hardware facts from enrolment, its last boots side by side, the Activity
 * charts from the kept boots, the keyboard path through the tabs, and the page at phone width.
 * Boots are real clients (a PXE packet to the proxy port, curl over TFTP and HTTP) and the
 * installer's progress line. Screenshots as in fleet.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { machine } from '../helpers/boot-client';
import { haveChromium, launchChromium, shot } from '../helpers/browser';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

if (!haveChromium && process.env.CI) throw new Error('detail browser test: CI needs /usr/bin/chromium (Debian package chromium)');


describe.skipIf(!haveChromium)('groups, a machine\'s log, facts and boots, and the charts, in Chromium', { timeout: 120_000 }, () => {
  let dir: string;
  let srv: StartedServer;
  let browser: Browser;
  let admin: string;
  const api = (p: string, method = 'GET', body?: unknown) => fetch(`${srv.baseUrl}/netboot/api${p}`, { method, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const PC = '52:54:00:21:20:01';
  const OTHER = '52:54:00:21:20:02';
  /** Every request the pages make: none may go to another host. */
  const hosts = new Set<string>();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-detail-'));
    srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: 'detail admin pw' });
    await srv.waitForOutput(/netboot: dashboard {2}http:\/\/\S+\/netboot\//);
    admin = await login(srv.baseUrl, 'detail admin pw');
    // a machine that enrolled itself (facts reported) and was then approved; another one registered by hand
    const enrolled = await fetch(`${srv.baseUrl}/api/v1/enroll`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mac_address: PC, hostname: 'rack2-node1', hardware: { model: 'ThinkCentre M720q', cpus: 6, memoryMiB: 16384 } }),
    });
    expect(enrolled.status).toBe(201);
    expect((await api(`/devices/${PC}`, 'PATCH', { status: 'configured', hostname: 'rack2-node1' })).status).toBe(200);
    expect((await api('/devices', 'POST', { mac: OTHER, hostname: 'spare' })).status).toBe(201);
    expect((await api('/profiles', 'POST', { id: 'debian', name: 'Debian', type: 'debian', kernel: 'debian/linux', initrd: ['debian/initrd.gz'] })).status).toBe(201);
    // two whole boots of the machine, kept by the inventory: the charts and the side-by-side view read them
    const pc = machine(srv, PC, '127.0.21.40');
    for (let i = 0; i < 2; i++) {
      await pc.boot();
      await pc.finish();
    }
    const done = async () => ((await (await api(`/devices/${PC}/timeline`)).json()) as { boots: Array<{ outcome: string }> }).boots.filter((b) => b.outcome === 'done').length;
    for (let i = 0; i < 75 && (await done()) < 2; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await done()).toBe(2);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function page(hash = '', viewport = { width: 1280, height: 800 }): Promise<Page> {
    const p = await browser.newPage({ viewport });
    p.on('request', (r) => hosts.add(new URL(r.url()).protocol === 'data:' ? 'data:' : new URL(r.url()).host));
    await p.addInitScript((t) => localStorage.setItem('auth-tokens', JSON.stringify({ access_token: t, expires_in: 604800, token_type: 'Bearer' })), admin);
    await p.goto(`${srv.baseUrl}/netboot/${hash}`);
    await p.locator('[data-test=connection][data-state=live]').waitFor({ timeout: 30_000 });
    return p;
  }

  it('makes a group (a bad selector refused on its field), puts a machine in it, and the Devices table shows it', async () => {
    const p = await page();
    await p.locator('[data-tab=groups]').click();
    const groups = p.locator('[data-test=groups]');
    await groups.locator('[data-test=new-group]').click();
    const form = groups.locator('[data-test=group-form]');
    await form.locator('[data-field=id]').fill('rack2');
    await form.locator('[data-field=name]').fill('Rack 2');
    await form.locator('[data-field=selector]').fill('bad key!=2');
    await form.locator('[data-field=profileId]').selectOption('debian');
    await form.locator('[data-test=save-group]').click();
    await form.locator('[data-error=selector]').waitFor();
    expect(await form.locator('[data-error=selector]').innerText()).toMatch(/selector/);
    expect(((await (await api('/groups')).json()) as { items: unknown[] }).items).toEqual([]);

    await form.locator('[data-field=selector]').fill('rack=2');
    await form.locator('[data-test=save-group]').click();
    await expect.poll(() => form.locator('[data-test=notice]').innerText()).toMatch(/Rack 2 saved/);
    expect(await groups.locator('tr[data-group=rack2]').innerText()).toMatch(/rack=2[\s\S]*Debian[\s\S]*0/);

    // the machine joins from its Manage panel: it gets the selector's label
    await p.locator('[data-tab=devices]').click();
    await p.locator(`tr[data-mac="${PC}"]`).click();
    const manage = p.locator('[data-test=manage]');
    await manage.locator('[data-test=group] option[value=rack2]').waitFor({ state: 'attached' });
    await manage.locator('[data-test=group]').selectOption('rack2');
    await manage.locator('[data-test=join-group]').click();
    await expect.poll(() => manage.locator('[role=status]').innerText()).toBe('Saved.');
    expect(((await (await api(`/devices/${PC}`)).json()) as { labels: Record<string, string> }).labels).toEqual({ rack: '2' });
    await expect.poll(() => p.locator(`tr[data-mac="${PC}"] [data-col=group]`).innerText()).toBe('Rack 2');
    expect(await p.locator(`tr[data-mac="${OTHER}"] [data-col=group]`).innerText()).toBe('');
    // the group counts its machine, and the kept boots give the table its last boot
    expect(await p.locator(`tr[data-mac="${PC}"] [data-col=last-boot]`).innerText()).toMatch(/^done · \d/);
    await p.locator('[data-tab=groups]').click();
    await expect.poll(() => groups.locator('tr[data-group=rack2] [data-col=members]').innerText()).toBe('1');
    await shot(p, '.nb-page', 'fleet-groups.png');
    await p.close();
  });

  it('follows the machine\'s boot log live, with its uploaded WinPE log, and shows its hardware facts', async () => {
    const p = await page(`#mac=${PC}`);
    await p.locator('[data-detail=log]').click();
    const log = p.locator('[data-test=boot-log]');
    const lines = log.locator('[data-test=log-lines]');
    // the kept lines are there: the installer's last line of the boots above
    await expect.poll(() => lines.innerText()).toContain('install complete');
    expect(await log.locator('[data-test=follow]').isChecked()).toBe(true);
    // new lines arrive without a reload, and follow mode keeps the newest in view
    for (let i = 1; i <= 40; i++) {
      const res = await fetch(`${srv.baseUrl}/api/v1/boot/log`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mac: PC, line: `unpacking package ${i} of 40` }) });
      expect(res.status).toBe(200);
    }
    await expect.poll(() => lines.innerText()).toContain('unpacking package 40 of 40');
    const atBottom = () => lines.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 30);
    await expect.poll(atBottom).toBe(true);
    // scrolling up pauses follow mode: a new line does not pull the view down
    await lines.evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
    await expect.poll(() => log.locator('[data-test=follow]').isChecked()).toBe(false);
    await fetch(`${srv.baseUrl}/api/v1/boot/log`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mac: PC, line: 'configuring grub' }) });
    await expect.poll(() => lines.innerText()).toContain('configuring grub');
    expect(await lines.evaluate((el) => el.scrollTop)).toBe(0);
    await log.locator('[data-test=follow]').check();
    await expect.poll(atBottom).toBe(true);

    // a WinPE log upload appears under the lines, and opens to its text
    const up = await fetch(`${srv.baseUrl}/api/v1/boot/winpe/logs/upload?mac=${PC}&name=setupact.log`, { method: 'PUT', body: 'Windows Setup started\r\nApplying image 1 of 1\r\n' });
    expect(up.status).toBe(200);
    const upload = log.locator('[data-test=upload]');
    await upload.first().waitFor({ timeout: 15_000 });
    expect(await upload.first().locator('summary').innerText()).toContain('setupact.log');
    await upload.first().locator('summary').click();
    await expect.poll(() => upload.first().locator('pre').innerText()).toContain('Applying image 1 of 1');
    await shot(p, '.nb-detail', 'fleet-boot-log.png');

    await p.locator('[data-detail=facts]').click();
    const facts = p.locator('[data-test=facts]');
    // the enrolment's hardware document became the record's; what the boots reported is kept apart
    await facts.locator('[data-test=facts-confirmed]').waitFor();
    const record = await facts.locator('[data-test=facts-confirmed]').innerText();
    expect(record).toContain('ThinkCentre M720q');
    expect(record).toMatch(/memoryMiB\s+16384/);
    expect(await facts.locator('[data-test=facts-reported]').innerText()).toMatch(/Architecture\s+x86_64/);
    await shot(p, '.nb-detail', 'fleet-hardware.png');
    await p.close();
  });

  it('shows the last boots side by side, and the Activity charts from the kept boots', async () => {
    const p = await page(`#mac=${PC}`);
    const timeline = p.locator('[data-test=timeline]');
    await timeline.locator('[data-boot]').first().waitFor();
    await timeline.locator('[data-test=view-compare]').click();
    const compare = timeline.locator('[data-test=compare]');
    await compare.waitFor();
    // one column per boot, one row per stage, newest first
    expect(await compare.locator('thead th[data-boot]').count()).toBeGreaterThanOrEqual(2);
    const stages = await compare.locator('tbody tr[data-stage]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-stage')));
    expect(stages).toEqual(['dhcp', 'firmware-tftp', 'script', 'os']);
    expect(await compare.innerText()).toMatch(/Outcome[\s\S]*done[\s\S]*done/);
    await shot(p, '[data-test=timeline]', 'fleet-boots-side-by-side.png');

    await p.locator('[data-tab=activity]').click();
    const activity = p.locator('[data-test=activity]');
    // both of the kept boots are this hour's, both done
    await expect.poll(() => activity.locator('[data-test=activity-summary]').innerText()).toMatch(/2 boots, 2 done, 0 failed/);
    // uPlot drew into a canvas of each chart
    for (const chart of ['chart-boots', 'chart-menu']) {
      const size = await activity.locator(`[data-test=${chart}] canvas`).evaluate((c: HTMLCanvasElement) => [c.width, c.height]);
      expect(size[0]).toBeGreaterThan(200);
      expect(size[1]).toBeGreaterThan(50);
    }
    expect(await activity.locator('[data-test=busiest] tbody tr').count()).toBe(1);
    await shot(p, '.nb-page', 'fleet-activity.png');
    await p.close();
    // the pages asked nothing of any other host (homelabs are often offline)
    expect([...hosts].filter((h) => h !== new URL(srv.baseUrl).host)).toEqual([]);
  });

  it('can be used from the keyboard: tabs with the arrow keys, a machine opened with Enter', async () => {
    const p = await page();
    await p.locator('[data-tab=devices]').focus();
    await p.keyboard.press('ArrowRight');
    await expect.poll(() => p.evaluate(() => document.activeElement?.getAttribute('data-tab'))).toBe('groups');
    expect(await p.locator('[data-tab=groups]').getAttribute('aria-selected')).toBe('true');
    await p.locator('[data-test=groups]').waitFor();
    await p.keyboard.press('ArrowLeft');
    await expect.poll(() => p.evaluate(() => document.activeElement?.getAttribute('data-tab'))).toBe('devices');
    // Tab reaches the filter, then the table's rows; Enter opens the focused machine
    await p.locator('[data-test=filter]').focus();
    await p.keyboard.type('spare');
    await expect.poll(() => p.locator('[data-test=devices] tbody tr[data-mac]').count()).toBe(1);
    await p.locator(`tr[data-mac="${OTHER}"]`).focus();
    await p.keyboard.press('Enter');
    await expect.poll(() => p.locator('[data-test=timeline]').getAttribute('data-mac')).toBe(OTHER);
    // focus is visible where it is
    const outline = await p.locator(`tr[data-mac="${OTHER}"]`).evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(outline).not.toBe('rgba(0, 0, 0, 0)');
    await p.close();
  });

  it('keeps each row element in its place as machines move, and holds the order while a row has the keyboard focus', async () => {
    const p = await page();
    const rows = p.locator('[data-test=devices] tbody tr[data-mac]');
    await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(2);
    // sorted by last seen: the machine that booted is at the top
    expect(await rows.first().getAttribute('data-mac')).toBe(PC);
    const top = await rows.first().elementHandle();
    // a machine seen for the first time goes to the top: the top row element stays and shows it
    // (moving, creating and removing row elements for every batch of a boot storm was most of its cost)
    const first = '52:54:00:21:20:03';
    await machine(srv, first, '127.0.21.43').dhcp();
    await expect.poll(() => rows.first().getAttribute('data-mac'), { timeout: 15_000 }).toBe(first);
    expect(await top!.evaluate((el) => el.isConnected && (el as HTMLElement).dataset.mac)).toBe(first);
    // a row with the keyboard focus: nothing moves under it; the count says a machine came
    const focused = rows.nth(1);
    const mac = await focused.getAttribute('data-mac');
    await focused.focus();
    expect(await focused.evaluate((el) => el.matches(':focus-visible'))).toBe(true);
    await p.locator('[data-test=order-held]').waitFor();
    const before = await rows.evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.mac));
    const total = async () => Number(/(\d+)$/.exec(await p.locator('[data-test=shown]').innerText())?.[1]);
    const known = await total();
    const second = '52:54:00:21:20:04';
    await machine(srv, second, '127.0.21.44').dhcp();
    await expect.poll(total, { timeout: 15_000 }).toBe(known + 1);
    expect(await rows.evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.mac))).toEqual(before);
    expect(await p.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.mac)).toBe(mac);
    await shot(p, 'section.nb-devices', 'fleet-order-held.png');
    // Enter opens the machine the focus is on
    await p.keyboard.press('Enter');
    await expect.poll(() => p.locator('[data-test=timeline]').getAttribute('data-mac')).toBe(mac);
    // the focus leaves the rows: the order is live again, the newest machine on top
    await p.locator('[data-test=filter]').focus();
    await expect.poll(() => rows.first().getAttribute('data-mac')).toBe(second);
    expect(await p.locator('[data-test=order-held]').count()).toBe(0);
    await p.close();
  });

  it('fits a phone\'s width: nothing pushes the page sideways, and the tables scroll inside themselves', async () => {
    const p = await page(`#mac=${PC}`, { width: 390, height: 844 });
    await p.locator('[data-test=timeline]').waitFor();
    for (const tab of ['devices', 'groups', 'profiles', 'activity']) {
      await p.locator(`[data-tab=${tab}]`).click();
      await p.waitForTimeout(300);
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `page wider than the phone on the ${tab} tab`).toBeLessThanOrEqual(0);
    }
    await p.locator('[data-tab=devices]').click();
    // a few machines leave no empty band under the table: its box ends at its last row
    const gap = await p.locator('[data-test=devices-scroll]').evaluate((box) => {
      const rows = box.querySelectorAll('tr[data-mac]');
      // the box's inside (clientHeight leaves out a horizontal scrollbar)
      return box.getBoundingClientRect().top + box.clientTop + box.clientHeight - rows[rows.length - 1].getBoundingClientRect().bottom;
    });
    expect(gap).toBeGreaterThanOrEqual(0);
    expect(gap, 'empty band under the Devices table').toBeLessThan(8);
    await shot(p, 'body', 'fleet-phone.png');
    await p.close();
  });
});
