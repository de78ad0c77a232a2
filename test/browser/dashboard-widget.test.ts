/// <reference lib="dom" />
/**
 * The Dashboard 2.0 fleet widget (packages/node-red-dashboard-2-netboot-fleet) in a real Node-RED
 * with @flowfuse/node-red-dashboard, through the `npm start` entry point: packages/node-red-dashboard-2-netboot-fleet/examples/fleet-dashboard.json
 * puts `ui-netboot-fleet` in a Dashboard 2.0 group fed by a netboot-metrics node; Debian's Chromium opens the dashboard page (no editor login: Dashboard clients carry none),
 * a machine boots with real clients and its row appears and advances live; a page opened after the
 * boot loads the same row at once. Screenshots as in fleet.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { machine } from '../helpers/boot-client';
import { haveChromium, launchChromium, shot } from '../helpers/browser';
import { login, repo, startNetboot, type StartedServer } from '../helpers/start-server';

if (!haveChromium && process.env.CI) throw new Error('dashboard widget browser test: CI needs /usr/bin/chromium (Debian package chromium)');

/**
 * The reference flow (its HTTP boot endpoints serve the scripted boots) with the dashboard part of
 * the widget package's examples/fleet-dashboard.json: the example's netboot-metrics node and the widget, pointed at the
 * reference flow's netboot-server instead of the example's own.
 */
function flowWithWidget(): { flow: unknown[]; widget: string } {
  const read = (f: string) => JSON.parse(readFileSync(path.join(repo, f), 'utf8')) as Array<Record<string, unknown>>;
  const reference = read('examples/00-reference-flow.json');
  const example = read('packages/node-red-dashboard-2-netboot-fleet/examples/fleet-dashboard.json');
  const server = reference.find((n) => n.type === 'netboot-server')!.id;
  const own = example.find((n) => n.type === 'netboot-server')!.id;
  const added = example.filter((n) => n.type !== 'netboot-server').map((n) => (n.server === own ? { ...n, server, interval: '1' } : n));
  return { flow: [...reference, ...added], widget: String(example.find((n) => n.type === 'ui-netboot-fleet')!.id) };
}

describe.skipIf(!haveChromium)('the fleet widget on a Dashboard 2.0 page, in Chromium', { timeout: 120_000 }, () => {
  let dir: string;
  let srv: StartedServer;
  let browser: Browser;
  const hosts = new Set<string>();
  let widgetId = '';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-widget-'));
    const { flow, widget } = flowWithWidget();
    widgetId = widget;
    writeFileSync(path.join(dir, 'flows.json'), JSON.stringify(flow, null, 2));
    srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: 'widget admin pw' });
    await srv.waitForOutput(/netboot: dashboard {2}http:\/\/\S+\/netboot\//);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function dashboard(): Promise<Page> {
    const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    p.on('request', (r) => hosts.add(new URL(r.url()).protocol === 'data:' ? 'data:' : new URL(r.url()).host));
    await p.goto(`${srv.baseUrl}/dashboard/fleet`);
    await p.locator('[data-test=netboot-fleet-widget]').waitFor({ timeout: 30_000 });
    return p;
  }

  it('Node-RED loaded the widget as Dashboard 2.0 expects: the node type, and its UMD bundle from the package\'s resources', async () => {
    const token = await login(srv.baseUrl, 'widget admin pw');
    const sets = await (await fetch(`${srv.baseUrl}/nodes`, { headers: { Accept: 'application/json', authorization: `Bearer ${token}` } })).json() as Array<{ module: string; types: string[]; err?: string }>;
    const widget = sets.filter((s) => s.module === '@netboot/node-red-dashboard-2-netboot-fleet');
    expect(widget.map((s) => [s.types, s.err])).toEqual([[['ui-netboot-fleet'], undefined]]);
    expect(sets.some((s) => s.module === '@flowfuse/node-red-dashboard' && s.types.includes('ui-group'))).toBe(true);
    const umd = await fetch(`${srv.baseUrl}/resources/@netboot/node-red-dashboard-2-netboot-fleet/ui-netboot-fleet.umd.js`);
    expect(umd.status).toBe(200);
    const text = await umd.text();
    // a UMD whose global is the widget type, with Vue left to the dashboard
    expect(text).toContain('["ui-netboot-fleet"]');
    expect(text).toContain('.Vue');
  });

  it('shows a machine booting live, and a dashboard opened later loads it at once', async () => {
    const page = await dashboard();
    const widget = page.locator('[data-test=netboot-fleet-widget]');
    const mac = '52:54:00:21:40:01';
    expect(await widget.locator(`[data-mac="${mac}"]`).count()).toBe(0);
    const pc = machine(srv, mac, '127.0.21.60');
    await pc.dhcp();
    const row = widget.locator(`[data-mac="${mac}"]`);
    await row.waitFor({ timeout: 15_000 });
    await expect.poll(() => row.getAttribute('data-stage'), { timeout: 15_000 }).toBe('dhcp');
    await pc.tftp();
    await pc.menu();
    await expect.poll(() => row.getAttribute('data-stage'), { timeout: 15_000 }).toBe('script');
    expect(await row.innerText()).toContain('efi-x64');
    // the netboot-metrics node's fleet summary reached the widget too
    await expect.poll(() => widget.locator('[data-test=fleet-summary]').innerText(), { timeout: 15_000 }).toMatch(/1 booting/);
    await shot(page, 'body', 'dashboard2-fleet-widget.png');

    // a storm of events reaches the page in batches: fewer socket messages than events
    const frames: number[] = [];
    page.on('websocket', (ws) => ws.on('framereceived', (f) => {
      const text = typeof f.payload === 'string' ? f.payload : f.payload.toString();
      const m = text.startsWith(`42["msg-input:${widgetId}",`) ? /^42\["[^"]+",(.*)\]$/s.exec(text) : null;
      if (m) frames.push(((JSON.parse(m[1]) as { payload?: { events?: unknown[] } }).payload?.events ?? []).length);
    }));
    await page.reload();
    await page.locator('[data-test=netboot-fleet-widget] [data-mac]').first().waitFor({ timeout: 30_000 });
    const storm = Array.from({ length: 6 }, (_, i) => machine(srv, `52:54:00:21:41:0${i}`, `127.0.21.${70 + i}`));
    await Promise.all(storm.map((m) => m.boot()));
    for (const [i] of storm.entries()) await widget.locator(`[data-mac="52:54:00:21:41:0${i}"]`).waitFor({ timeout: 15_000 });
    const events = frames.reduce((a, b) => a + b, 0);
    expect(events).toBeGreaterThan(12);
    expect(frames.length).toBeLessThan(events);
    expect(Math.max(...frames)).toBeGreaterThan(1);

    const later = await dashboard();
    const again = later.locator(`[data-test=netboot-fleet-widget] [data-mac="${mac}"]`);
    await again.waitFor({ timeout: 15_000 });
    expect(await again.getAttribute('data-stage')).toBe('script');
    await later.close();
    await page.close();
    // the widget's node said nothing wrong while all this went through it
    expect(srv.output()).not.toMatch(/\[(error|warn)\] \[ui-netboot-fleet/);
    // nothing was fetched from another host
    expect([...hosts].filter((h) => h !== new URL(srv.baseUrl).host)).toEqual([]);
  });
});
