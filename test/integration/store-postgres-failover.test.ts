/**
 * Two boot servers on one segment, both `npm start` in proxy mode on one PostgreSQL inventory (one
 * site, the failover pair): they give a machine the same decision, since it comes from the shared
 * inventory; a storm of machines that retry as PXE ROMs do boots through both, one server is killed
 * (SIGKILL) in the middle, and every machine still boots, on the other. Machines new to the inventory
 * enrol during the storm (registerUnknown) and none of those enrolments is lost. Real clients: the
 * project's TFTP receive engine, UDP DHCP packets, HTTP. CI installs PostgreSQL, so there a missing
 * one is a failure, not a skip.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { havePostgres, startPostgres, type TestPostgres } from '../helpers/postgres';
import { bootWithRetries, type SegmentServer, type StormResult } from '../helpers/pxe-storm';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

if (!havePostgres && process.env.CI) throw new Error('PostgreSQL failover test: CI needs PostgreSQL (Debian package postgresql)');

const KNOWN = 40;
const NEW = 20;
const mac = (kind: number, i: number) => `52:54:00:16:${kind.toString(16).padStart(2, '0')}:${i.toString(16).padStart(2, '0')}`;

describe.skipIf(!havePostgres)('two boot servers on one segment sharing one PostgreSQL inventory: one killed during a storm', { timeout: 240_000 }, () => {
  let pg: TestPostgres;
  const dirs: string[] = [];
  const servers: StartedServer[] = [];
  let token = '';
  const api = (i: number, p: string, method = 'GET', body?: unknown) => fetch(`${servers[i].baseUrl}/netboot/api${p}`, {
    method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });

  beforeAll(async () => {
    pg = await startPostgres();
    const url = await pg.createDatabase('netboot_failover');
    for (const name of ['a', 'b']) {
      const dir = mkdtempSync(path.join(tmpdir(), `netboot-failover-${name}-`));
      dirs.push(dir);
      // each server has the same boot files (a shared or synced assets folder in a real pair)
      mkdirSync(path.join(dir, 'assets', 'debian'), { recursive: true });
      writeFileSync(path.join(dir, 'assets', 'debian', 'linux'), Buffer.alloc(256 * 1024, 1));
      writeFileSync(path.join(dir, 'assets', 'debian', 'initrd.gz'), Buffer.alloc(128 * 1024, 2));
      const srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: 'failover test', NETBOOT_STORE: url, NETBOOT_SITE: 'rack-1' });
      servers.push(srv);
      await srv.waitForOutput(/inventory: PostgreSQL/);
    }
    token = await login(servers[1].baseUrl, 'failover test');
  }, 180_000);

  afterAll(async () => {
    for (const s of servers) await s.stop();
    pg?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('boots every machine, known and new, though one server dies mid-storm, and keeps every enrolment', async () => {
    expect((await api(1, '/profiles', 'POST', { id: 'debian', name: 'Debian', type: 'debian', kernel: 'debian/linux', initrd: ['debian/initrd.gz'] })).status).toBe(201);
    for (let i = 0; i < KNOWN; i++) {
      expect((await api(1, '/devices', 'POST', { mac: mac(1, i), status: 'configured', profileId: 'debian' })).status).toBe(201);
    }
    expect((await api(1, '/settings', 'PUT', { registerUnknown: true })).status).toBe(200);

    // the same decision from either server: it comes from the shared inventory
    const menus = await Promise.all(servers.map(async (s) => (await fetch(`${s.baseUrl}/boot/menu.ipxe?mac=${mac(1, 0)}&arch=i386&platform=pcbios`)).text()));
    expect(menus.map((m, i) => m.replaceAll(servers[i].baseUrl, 'BASE'))).toEqual([menus[0].replaceAll(servers[0].baseUrl, 'BASE'), menus[0].replaceAll(servers[0].baseUrl, 'BASE')]);
    expect(menus[0]).toContain('/boot/assets/debian/linux');

    const segment: Array<SegmentServer & { alive: boolean }> = servers.map((s, i) => ({ name: i === 0 ? 'a' : 'b', proxyPort: s.udp.proxy, tftpPort: s.udp.tftp, alive: true }));
    const machines = [
      ...Array.from({ length: KNOWN }, (_, i) => ({ mac: mac(1, i), ip: `127.0.16.${i + 1}`, known: true })),
      ...Array.from({ length: NEW }, (_, i) => ({ mac: mac(2, i), ip: `127.0.17.${i + 1}`, known: false })),
    ];
    // the segment carries every request to both servers, dead or alive: a killed server just stays silent
    const results: Array<Promise<StormResult>> = [];
    let killedAt = 0;
    for (const [i, m] of machines.entries()) {
      results.push(bootWithRetries(() => segment, m));
      if (i === Math.floor(machines.length / 2)) {
        servers[0].child.kill('SIGKILL');
        killedAt = i;
      }
      await new Promise((r) => setTimeout(r, 40));
    }
    const done = await Promise.all(results);
    // what the storm looked like (a machine mid-boot on a when it died starts over and lands on b)
    console.log(`failover storm: ${done.length} machines, a answered ${done.filter((r) => r.server === 'a').length}, b ${done.filter((r) => r.server === 'b').length}, started over: ${done.filter((r) => r.attempts > 1).length} (${[...new Set(done.flatMap((r) => r.failures))].slice(0, 4).join('; ')})`);
    const failed = done.filter((r) => !r.ok);
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
    expect(killedAt).toBeGreaterThan(0);
    // both served part of the storm; after the kill, only b answers
    const by = (n: string) => done.filter((r) => r.server === n).length;
    expect(by('a')).toBeGreaterThan(0);
    expect(by('b')).toBeGreaterThan(0);
    expect(done.slice(killedAt + 1).every((r) => r.server === 'b')).toBe(true);
    // known machines got their profile from whichever server answered
    for (const r of done.slice(0, KNOWN)) expect(r.menu).toContain('/boot/assets/debian/linux');

    // every new machine's enrolment is in the shared inventory, made by whichever server it reached
    for (let i = 0; i < NEW; i++) {
      const res = await api(1, `/devices/${mac(2, i)}`);
      expect(res.status, mac(2, i)).toBe(200);
    }
    // both servers wrote their events with the site they share
    const log = await (await api(1, '/events/log?site=rack-1&limit=1000')).json() as Array<{ site?: string }>;
    expect(log.length).toBeGreaterThan(0);
    expect(log.every((e) => e.site === 'rack-1')).toBe(true);
  });
});
