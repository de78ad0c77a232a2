import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';
import { tftpGet } from '../../support/tftp-client';

/** NETBOOT_ALLOWLIST through the real `npm start`: boot endpoints and TFTP refuse other addresses, the editor does not. */
let dir: string;
let srv: StartedServer;
const password = 'allowlist test';

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'netboot-allow-'));
  mkdirSync(path.join(dir, 'assets'), { recursive: true });
  writeFileSync(path.join(dir, 'assets', 'visible'), 'y');
  srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: password, NETBOOT_ALLOWLIST: '10.9.9.0/24, 192.0.2.7' });
  await srv.waitForOutput(/inventory: .*inventory\.json/);
}, 60_000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('allowlist', () => {
  it('refuses a client outside it on HTTP and TFTP, counts and logs it once, and leaves the editor alone', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${srv.baseUrl}/api/v1/boot/check-in?mac=52:54:00:00:00:01`);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/allowlist/);
    }
    await expect(tftpGet({ host: '127.0.0.1', port: srv.udp.tftp, filename: 'visible', totalTimeoutMs: 5000 })).rejects.toThrow(/access violation/i);
    const token = await login(srv.baseUrl, password);
    const metrics = await (await fetch(`${srv.baseUrl}/netboot/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toMatch(/netboot_public_refusals_total\{where="http",reason="allowlist"\} 5/);
    expect(metrics).toMatch(/netboot_public_refusals_total\{where="tftp",reason="allowlist"\} 1/);
    // once per source per minute on each side
    expect(srv.output().match(/refused 127\.0\.0\.1: not in the allowlist/g)?.length).toBe(2);
  });
});
