/**
 * Two boot servers on one PostgreSQL inventory, each the real `npm start` entry point with
 * NETBOOT_STORE=postgres://… (a throwaway cluster from Debian's `postgresql`): a machine and its
 * profile made through one server's management API are what the other server's boot endpoint
 * decides from; a change on one reaches the other's change feed; the database password never
 * reaches a log. CI installs PostgreSQL, so there a missing one is a failure, not a skip.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { havePostgres, startPostgres, type TestPostgres } from '../helpers/postgres';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

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
      const srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: `pg test ${name}`, NETBOOT_STORE: url });
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

  it('keeps the database password out of every log line', () => {
    for (const s of servers) {
      expect(s.output()).toMatch(/inventory: PostgreSQL postgres:\/\/netboot:\*\*\*@127\.0\.0\.1/);
      expect(s.output()).not.toContain('db-secret-pw');
    }
  });
});
