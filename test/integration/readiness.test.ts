import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

/**
 * The management API while `npm start` comes up: from the first accepted connection until the flows
 * run, `/netboot/api/…` answers 503 with Retry-After (never 404), `/status` says `starting`, then `ready`.
 */
let dir: string;
let srv: StartedServer | undefined;
afterAll(async () => {
  await srv?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('readiness', () => {
  it('answers 503 + Retry-After, never 404, until ready; then /status says ready', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-ready-'));
    const password = 'readiness test';
    srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: password });
    const seen: Array<{ path: string; status: number; retry: string | null; body: string }> = [];
    let token: string | undefined;
    const end = Date.now() + 45_000;
    // poll the API from the moment the port accepts until a device list comes back
    for (;;) {
      if (Date.now() > end) throw new Error(`never became ready: ${JSON.stringify(seen.slice(-3))}\n${srv.output()}`);
      try {
        token ??= await login(srv.baseUrl, password).catch(() => undefined);
        const headers = token ? { authorization: `Bearer ${token}` } : undefined;
        for (const p of ['/netboot/api/status', '/netboot/api/devices']) {
          const res = await fetch(`${srv.baseUrl}${p}`, { headers });
          seen.push({ path: p, status: res.status, retry: res.headers.get('retry-after'), body: await res.text() });
        }
        const last = seen.at(-1)!;
        if (last.status === 200) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen.filter((s) => s.status === 404)).toEqual([]);
    const early = seen.filter((s) => s.status === 503);
    expect(early.length).toBeGreaterThan(0);
    for (const s of early) expect(s.retry, JSON.stringify(s)).toMatch(/^\d+$/);
    expect(early.filter((s) => s.path === '/netboot/api/status').some((s) => JSON.parse(s.body).status === 'starting')).toBe(true);
    expect(seen.every((s) => [200, 401, 503].includes(s.status))).toBe(true);
    const status = await (await fetch(`${srv.baseUrl}/netboot/api/status`, { headers: { authorization: `Bearer ${token}` } })).json();
    expect(status).toMatchObject({ status: 'ready', store: 'open' });
  }, 60_000);
});
