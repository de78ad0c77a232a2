import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

// Runs `npm start` as an unprivileged user (uid 65534) with the real low ports, as a newcomer
// without the capability would. Needs root to switch users; CI runs as root.
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

describe.skipIf(!isRoot && !process.env.CI)('npm start without the right to bind low ports', () => {
  let dir: string;
  let srv: StartedServer;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-noroot-'));
    chownSync(dir, NOBODY, NOBODY);
    srv = await startNetboot(dir, {
      NETBOOT_ADMIN_PASSWORD: 'unprivileged-user',
      NETBOOT_DHCP_PORT: '67', NETBOOT_PROXY_PORT: '4011', NETBOOT_TFTP_PORT: '69',
      // as npm start's default: use a running tgtd or start one, which needs root
      NETBOOT_ISCSI: 'auto', NETBOOT_TGTD_CONTROL_PORT: String(2000 + (process.pid % 500)),
      HOME: dir,
    }, { uid: NOBODY, gid: NOBODY });
    await srv.waitForOutput(/inventory: .*inventory\.json/);
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says which ports failed and how to fix it', () => {
    const out = srv.output();
    expect(out).toMatch(/cannot bind UDP 127\.0\.0\.1:67 \(DHCP\): permission denied \(EACCES\)/);
    expect(out).toMatch(/cannot bind UDP 127\.0\.0\.1:69 \(TFTP\).*setcap cap_net_bind_service=\+ep/);
    expect(out).toMatch(/NETBOOT_TFTP_PORT/);
    // proxyDHCP's 4011 is above 1023 and binds
    expect(out).toContain('proxyDHCP: listening on UDP 127.0.0.1:4011');
  });

  it('says that tgtd needs root, and iSCSI answers 503 with that reason while the rest runs', async () => {
    await srv.waitForOutput(/iSCSI: tgtd needs root/);
    const token = await login(srv.baseUrl, 'unprivileged-user');
    const res = await fetch(`${srv.baseUrl}/netboot/api/iscsi`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: { state: string; error: string }; targets: unknown[] };
    expect(body.status).toMatchObject({ state: 'failed', error: expect.stringMatching(/tgtd needs root.*run Node-RED as root/) });
    const create = await fetch(`${srv.baseUrl}/netboot/api/iscsi/actions`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'create', id: 'd1', sizeBytes: 1048576 }),
    });
    expect(create.status).toBe(503);
    expect(((await create.json()) as { error: { message: string } }).error.message).toMatch(/tgtd/);
  });

  it('keeps the rest running: editor login and the management API answer', async () => {
    const token = await login(srv.baseUrl, 'unprivileged-user');
    const res = await fetch(`${srv.baseUrl}/netboot/api/status`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const status = (await res.json()) as { store: string; ports: Array<{ key: string; state: string }> };
    expect(status.store).toBe('open');
    expect(status.ports.find((p) => p.key === 'tftp')?.state).toBe('failed');
  });
});
