/**
 * Two boot servers on one PostgreSQL inventory, each the real `npm start` entry point with
 * NETBOOT_STORE=postgres://… (a throwaway cluster from Debian's `postgresql`): a machine and its
 * profile made through one server's management API are what the other server's boot endpoint
 * decides from; a change on one reaches the other's change feed; the database password never
 * reaches a log; each server's site: its events carry it, and a device pinned to one site is left
 * alone by the other's DHCP and only sent to its disk by the other's check-in. CI installs
 * PostgreSQL, so there a missing one is a failure, not a skip.
 */

/** A proxyDHCP request to one server; resolves with the boot file it answered, or undefined after `ms`. */
async function askProxy(port: number, mac: string, ms = 1500): Promise<string | undefined> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), ms);
      sock.on('message', (msg) => {
        clearTimeout(timer);
        resolve(msg.subarray(108, 236).toString('latin1').replace(/\0.*$/s, ''));
      });
      sock.send(clientBytes({ mac, xid: 0x1500, type: 3, arch: 0, vendorClass: PXE_BIOS }), port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}
import * as dgram from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientBytes, PXE_BIOS } from '../../support/dhcp-packets';
import { havePostgres, startPostgres, type TestPostgres } from '../helpers/postgres';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

/** The initramfs recipe needs a kernel and busybox (as test/integration/builds.test.ts, which fails in CI without them). */
const kernel = (() => {
  const boot = existsSync('/boot') ? readdirSync('/boot').filter((f) => /^vmlinuz-/.test(f)).sort() : [];
  return boot.length ? path.join('/boot', boot[boot.length - 1]) : undefined;
})();
const canBuild = kernel !== undefined && existsSync('/bin/busybox');

if (!havePostgres && process.env.CI) throw new Error('PostgreSQL store test: CI needs PostgreSQL (Debian package postgresql)');

describe.skipIf(!havePostgres)('two boot servers sharing one PostgreSQL inventory', { timeout: 120_000 }, () => {
  let pg: TestPostgres;
  const dirs: string[] = [];
  const servers: StartedServer[] = [];
  const tokens: string[] = [];
  const api = (i: number, p: string, method = 'GET', body?: unknown) => fetch(`${servers[i].baseUrl}/netboot/api${p}`, {
    method, headers: { authorization: `Bearer ${tokens[i]}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });

  beforeAll(async () => {
    pg = await startPostgres();
    // the password is a credential of the server; the test cluster trusts every local login, so any word does
    const url = (await pg.createDatabase('netboot_shared')).replace('//netboot@', '//netboot:db-secret-pw@');
    for (const name of ['a', 'b']) {
      const dir = mkdtempSync(path.join(tmpdir(), `netboot-pg-${name}-`));
      dirs.push(dir);
      const srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: `pg test ${name}`, NETBOOT_STORE: url, NETBOOT_SITE: `site-${name}` });
      servers.push(srv);
      await srv.waitForOutput(/inventory: PostgreSQL/);
      tokens.push(await login(srv.baseUrl, `pg test ${name}`));
    }
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) await s.stop();
    pg?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a machine registered through one server boots its profile from the other', async () => {
    expect((await api(0, '/profiles', 'POST', { id: 'debian', name: 'Debian', type: 'debian', kernel: 'debian/linux', initrd: ['debian/initrd.gz'] })).status).toBe(201);
    expect((await api(0, '/devices', 'POST', { mac: '52:54:00:15:00:01', hostname: 'shared-1', status: 'configured', profileId: 'debian' })).status).toBe(201);
    // the other server sees it at once: the same rows
    const onB = await (await api(1, '/devices/52:54:00:15:00:01')).json() as { hostname: string; profileId: string };
    expect(onB).toMatchObject({ hostname: 'shared-1', profileId: 'debian' });
    // and its boot endpoint decides from it
    const script = await (await fetch(`${servers[1].baseUrl}/boot/menu.ipxe?mac=52:54:00:15:00:01&arch=x86_64&platform=efi`)).text();
    expect(script).toContain(`kernel ${servers[1].baseUrl}/boot/assets/debian/linux`);
    // a change through the second server is the first's too
    expect((await api(1, '/devices/52:54:00:15:00:01', 'PATCH', { labels: { site: 'b' } })).status).toBe(200);
    expect(((await (await api(0, '/devices/52:54:00:15:00:01')).json()) as { labels: Record<string, string> }).labels).toEqual({ site: 'b' });
  });

  it('a change through one server reaches the other\'s event stream, naming the record', async () => {
    expect((await api(0, '/devices', 'POST', { mac: '52:54:00:15:00:02', hostname: 'streamed' })).status).toBe(201);
    // the dashboard's path: the other server's live stream, read with the bearer token
    const ac = new AbortController();
    const res = await fetch(`${servers[1].baseUrl}/netboot/api/events`, { headers: { authorization: `Bearer ${tokens[1]}` }, signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let t0 = Number.POSITIVE_INFINITY;
    const seen = (async () => {
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += Buffer.from(value).toString('utf8');
        const hit = text.split('\n\n').map((f) => /^data: (.*)$/m.exec(f)?.[1]).filter(Boolean).map((d) => JSON.parse(d!) as { type: string; ts: number; id?: string; collection?: string; site?: string })
          // the stream first replays recent events (the device's creation among them): only the change made below counts
          .find((e) => e.type === 'inventory.changed' && e.id === '52:54:00:15:00:02' && e.collection === 'devices' && e.ts >= t0);
        if (hit) return { hit, at: Date.now() };
      }
    })();
    // let the stream's replay pass before the change
    await new Promise((r) => setTimeout(r, 300));
    t0 = Date.now();
    expect((await api(0, '/devices/52:54:00:15:00:02', 'PATCH', { hostname: 'streamed-2' })).status).toBe(200);
    const { hit, at } = await seen;
    ac.abort();
    // announced by the server that heard it, with its site
    expect(hit.site).toBe('site-b');
    console.log(`change on site-a → inventory.changed on site-b's stream: ${at - t0} ms`);
    expect(((await (await api(1, '/devices/52:54:00:15:00:02')).json()) as { hostname: string }).hostname).toBe('streamed-2');
  });

  it('leaves a device pinned to one site to that site\'s server', async () => {
    expect((await api(0, '/devices', 'POST', { mac: '52:54:00:15:00:03', status: 'configured', profileId: 'debian', site: 'site-b' })).status).toBe(201);
    // site-a's proxyDHCP stays silent for it (after the change feed told site-a of the pin); site-b answers
    await expect.poll(() => askProxy(servers[0].udp.proxy, '52:54:00:15:00:03', 800), { timeout: 10_000 }).toBeUndefined();
    expect(await askProxy(servers[1].udp.proxy, '52:54:00:15:00:03')).toBeTruthy();
    // a machine nobody pinned still gets both
    expect(await askProxy(servers[0].udp.proxy, '52:54:00:15:00:01')).toBeTruthy();
    // a check-in through site-a only sends it to its disk; site-b boots its profile
    const onA = await (await fetch(`${servers[0].baseUrl}/boot/menu.ipxe?mac=52:54:00:15:00:03&arch=x86_64&platform=efi`)).text();
    expect(onA).not.toContain('debian/linux');
    expect(onA).toMatch(/^exit/m);
    expect(await (await fetch(`${servers[1].baseUrl}/boot/menu.ipxe?mac=52:54:00:15:00:03&arch=x86_64&platform=efi`)).text()).toContain('debian/linux');
    // the API lists one site's devices; the sites both servers know
    const pinned = await (await api(0, '/devices?site=site-b')).json() as { items: Array<{ mac: string }> };
    expect(pinned.items.map((d) => d.mac)).toEqual(['52:54:00:15:00:03']);
    const sites = await (await api(1, '/sites')).json() as { site: string; sites: Array<{ name: string; devices: number }> };
    expect(sites.site).toBe('site-b');
    expect(sites.sites.find((x) => x.name === 'site-b')?.devices).toBe(1);
    // unpinned, site-a answers it again
    expect((await api(1, '/devices/52:54:00:15:00:03', 'PATCH', { site: null })).status).toBe(200);
    await expect.poll(() => askProxy(servers[0].udp.proxy, '52:54:00:15:00:03', 800), { timeout: 10_000 }).toBeTruthy();
  });

  it('writes each server\'s site on the events it keeps', async () => {
    const log = await (await api(0, '/events/log?limit=1000')).json() as Array<{ site?: string }>;
    const sites = new Set(log.map((e) => e.site));
    expect(sites.has('site-a') || sites.has('site-b')).toBe(true);
    for (const s of ['site-a', 'site-b']) {
      const one = await (await api(0, `/events/log?site=${s}&limit=1000`)).json() as Array<{ site?: string }>;
      expect(one.every((e) => e.site === s)).toBe(true);
    }
    expect((await api(0, '/events/log?site=not%20a%20site')).status).toBe(400);
  });

  it.skipIf(!canBuild)('shares the build queue: builds queued through either server each run once, on one of them', async () => {
    const macs = Array.from({ length: 6 }, (_, i) => `52:54:00:15:0b:0${i + 1}`);
    for (const m of macs) expect((await api(0, '/devices', 'POST', { mac: m, status: 'configured' })).status).toBe(201);
    const ids: string[] = [];
    for (const [i, m] of macs.entries()) {
      const res = await api(i % 2, `/devices/${m}/build`, 'POST', { recipe: 'initramfs', params: { kernel: kernel!, marker: `shared ${i}` } });
      expect(res.status, await res.clone().text()).toBe(202);
      ids.push(((await res.json()) as { id: string }).id);
    }
    type B = { id: string; status: string; claimedBy?: string; attempts?: number; error?: string };
    const all = async () => ((await (await api(1, '/builds')).json()) as { items: B[] }).items.filter((b) => ids.includes(b.id));
    await expect.poll(async () => (await all()).filter((b) => b.status === 'success').length, { timeout: 180_000, interval: 500 }).toBe(6);
    const builds = await all();
    // each ran once: one claim, one start event, whichever server it was
    expect(builds.every((b) => b.attempts === 1)).toBe(true);
    const log = await (await api(0, '/events/log?limit=1000')).json() as Array<{ type: string; site?: string; data?: { build?: string } }>;
    for (const id of ids) expect(log.filter((e) => e.type === 'build.start' && e.data?.build === id)).toHaveLength(1);
    const owners = new Set(builds.map((b) => b.claimedBy));
    const sites = new Set(log.filter((e) => e.type === 'build.start' && ids.includes(e.data?.build ?? '')).map((e) => e.site));
    console.log(`shared build queue: 6 builds, claimed by ${owners.size} server(s), started on ${[...sites].join(', ')}`);
  }, 240_000);

  it('keeps the database password out of every log line', () => {
    for (const s of servers) {
      expect(s.output()).toMatch(/inventory: PostgreSQL postgres:\/\/netboot:\*\*\*@127\.0\.0\.1/);
      expect(s.output()).not.toContain('db-secret-pw');
    }
  });
});
