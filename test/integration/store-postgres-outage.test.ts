/**
 * The PostgreSQL inventory stopped and started again while machines boot, through the real `npm start`
 * entry point and real clients (a PXE request to the proxyDHCP port, iPXE over TFTP with curl, the
 * menu over HTTP): known machines keep booting from the copy the server kept, a change answers 503
 * with nothing written, what the machines report meanwhile waits, and once the database is back the
 * server finds it by itself, writes what waited and takes changes again. CI installs PostgreSQL, so
 * there a missing one is a failure, not a skip.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { machine } from '../helpers/boot-client';
import { havePostgres, startPostgres, type TestPostgres } from '../helpers/postgres';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

if (!havePostgres && process.env.CI) throw new Error('PostgreSQL outage test: CI needs PostgreSQL (Debian package postgresql)');

const KNOWN = [
  { mac: '52:54:00:15:0f:01', ip: '127.0.15.1' },
  { mac: '52:54:00:15:0f:02', ip: '127.0.15.2' },
];

describe.skipIf(!havePostgres)('the PostgreSQL inventory lost and found again while machines boot', { timeout: 180_000 }, () => {
  let pg: TestPostgres;
  let dir = '';
  let srv: StartedServer;
  let token = '';
  const api = (p: string, method = 'GET', body?: unknown) => fetch(`${srv.baseUrl}/netboot/api${p}`, {
    method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const storeState = async () => ((await (await api('/status')).json()) as { store: string; storeError?: string });
  const menu = async (mac: string) => (await fetch(`${srv.baseUrl}/boot/menu.ipxe?mac=${mac}&arch=x86_64&platform=efi`)).text();

  beforeAll(async () => {
    pg = await startPostgres();
    const url = await pg.createDatabase('netboot_outage');
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-pg-outage-'));
    srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: 'pg outage test', NETBOOT_STORE: url });
    await srv.waitForOutput(/inventory: PostgreSQL/);
    token = await login(srv.baseUrl, 'pg outage test');
  }, 120_000);

  afterAll(async () => {
    await srv?.stop();
    pg?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('boots known machines from the last copy, refuses changes with 503, and writes what waited once it is back', async () => {
    expect((await api('/profiles', 'POST', { id: 'debian', name: 'Debian', type: 'debian', kernel: 'debian/linux', initrd: ['debian/initrd.gz'] })).status).toBe(201);
    for (const [i, k] of KNOWN.entries()) {
      expect((await api('/devices', 'POST', { mac: k.mac, hostname: `kept-${i + 1}`, status: 'configured', profileId: 'debian' })).status).toBe(201);
    }
    await machine(srv, KNOWN[0].mac, KNOWN[0].ip).boot();
    expect(await menu(KNOWN[0].mac)).toContain(`kernel ${srv.baseUrl}/boot/assets/debian/linux`);
    expect(await storeState()).toMatchObject({ store: 'open' });

    pg.stop();
    // the change feed's connection ends with the database: the server notices without a request
    await expect.poll(async () => (await storeState()).store, { timeout: 15_000, interval: 200 }).toBe('read-only');
    expect((await storeState()).storeError).toBeTruthy();
    await srv.waitForOutput(/inventory database unreachable \(.+\): boots of known machines go on from the last inventory read, changes are refused until it is back/);

    // both known machines boot, each step with real clients, and get their profile
    for (const k of KNOWN) {
      await machine(srv, k.mac, k.ip).boot();
      expect(await menu(k.mac)).toContain(`kernel ${srv.baseUrl}/boot/assets/debian/linux`);
    }
    // reads answer from the copy
    const seen = await api(`/devices/${KNOWN[1].mac}`);
    expect(seen.status).toBe(200);
    expect(await seen.json()).toMatchObject({ hostname: 'kept-2', profileId: 'debian' });
    // a change is refused, clearly, and nothing of it lands later
    const refused = await api(`/devices/${KNOWN[1].mac}`, 'PATCH', { hostname: 'changed-while-down' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('2');
    const body = await refused.json() as { error: { code: string; message: string } };
    expect(body.error.code).toBe('unavailable');
    expect(body.error.message).toMatch(/inventory database is unreachable .*changes are refused until it is back/);
    expect((await api('/devices', 'POST', { mac: '52:54:00:15:0f:09' })).status).toBe(503);
    // what a machine reports meanwhile is accepted and waits
    await machine(srv, KNOWN[1].mac, KNOWN[1].ip).finish();

    pg.start();
    await expect.poll(async () => (await storeState()).store, { timeout: 20_000, interval: 250 }).toBe('open');
    await srv.waitForOutput(/inventory database reachable again after \d+ s; wrote \d+ boot events/);
    // changes work again; the refused one never landed
    expect((await (await api(`/devices/${KNOWN[1].mac}`)).json() as { hostname: string }).hostname).toBe('kept-2');
    expect((await api(`/devices/${KNOWN[1].mac}`, 'PATCH', { hostname: 'after-outage' })).status).toBe(200);
    expect((await (await api(`/devices/${KNOWN[1].mac}`)).json() as { hostname: string }).hostname).toBe('after-outage');
    expect((await api('/devices', 'POST', { mac: '52:54:00:15:0f:09' })).status).toBe(201);
    // the installer's line sent during the outage is in the machine's history now
    const events = await (await api(`/devices/${KNOWN[1].mac}/events`)).json() as Array<{ type: string; message?: string; site?: string }>;
    expect(events.find((e) => e.type === 'boot.log' && e.message === 'install complete')).toBeDefined();
    // and boots go on
    await machine(srv, KNOWN[0].mac, KNOWN[0].ip).boot();
  });
});
