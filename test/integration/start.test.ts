import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/node-red';
import { freeTcpPort, login, repo, startNetboot, type StartedServer } from '../helpers/start-server';
import { inventoryOnDisk } from '../helpers/inventory-on-disk';

describe('npm start (generated admin password)', () => {
  let dir: string;
  let srv: StartedServer;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-start-'));
    srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: '' });
    await srv.waitForOutput(/inventory: .*inventory\.json/);
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports the bound ports and the URLs on the console', () => {
    const out = srv.output();
    expect(out).toContain(`DHCP: listening on UDP 127.0.0.1:${srv.udp.dhcp}`);
    expect(out).toContain(`proxyDHCP: listening on UDP 127.0.0.1:${srv.udp.proxy}`);
    expect(out).toContain(`TFTP: listening on UDP 127.0.0.1:${srv.udp.tftp}`);
    expect(out).toContain(`editor     http://127.0.0.1:${srv.httpPort}/`);
    expect(out).toContain(`netboot: dashboard  http://127.0.0.1:${srv.httpPort}/netboot/`);
  });

  it('prints a generated password once and stores only its bcrypt hash', async () => {
    const m = srv.output().match(/user: admin {3}password: (\S+)/);
    expect(m).not.toBeNull();
    const password = m![1];
    const stored = readFileSync(path.join(dir, 'admin.json'), 'utf8');
    expect(stored).not.toContain(password);
    expect(JSON.parse(stored).hash).toMatch(/^\$2[aby]\$10\$/);
    const token = await login(srv.baseUrl, password);
    expect(token.length).toBeGreaterThan(20);
    await expect(login(srv.baseUrl, 'wrong-password')).rejects.toThrow(/login failed: 403|login failed: 401/);
  });

  it('creates the store file in the data folder and deploys the reference flow', () => {
    expect(existsSync(path.join(dir, 'inventory.json'))).toBe(true);
    const flows = JSON.parse(readFileSync(path.join(dir, 'flows.json'), 'utf8')) as Array<{ type: string; dhcpPort?: string }>;
    expect(flows.find((n) => n.type === 'netboot-server')?.dhcpPort).toBe('${NETBOOT_DHCP_PORT}');
  });
});

describe('npm start (NETBOOT_ADMIN_PASSWORD) and the management API', () => {
  let dir: string;
  let srv: StartedServer;
  let token: string;
  const password = 'correct horse battery';
  const api = (p: string, init: RequestInit = {}) => fetch(`${srv.baseUrl}/netboot/api${p}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-start-'));
    srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: password });
    await srv.waitForOutput(/inventory: .*inventory\.json/);
    token = await login(srv.baseUrl, password);
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('never prints the password it was given', () => {
    expect(srv.output()).not.toContain(password);
  });

  it('answers 401 without a token and with a wrong one', async () => {
    expect((await fetch(`${srv.baseUrl}/netboot/api/devices`)).status).toBe(401);
    expect((await fetch(`${srv.baseUrl}/netboot/api/devices`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    // a token in the query string is not accepted either
    expect((await fetch(`${srv.baseUrl}/netboot/api/devices?access_token=${token}`)).status).toBe(401);
  });

  it('creates, reads, updates, lists and deletes through the API', async () => {
    let res = await api('/profiles', { method: 'POST', body: JSON.stringify({ name: 'Ubuntu 24.04', type: 'ubuntu', kernel: 'ubuntu/vmlinuz', initrd: ['ubuntu/initrd'] }) });
    expect(res.status).toBe(201);
    const profile = (await res.json()) as { id: string };
    expect(profile.id).toBe('ubuntu-24.04');
    res = await api('/devices', { method: 'POST', body: JSON.stringify({ mac: '52-54-00-12-34-56', hostname: 'pc1', labels: { rack: '1' }, profileId: profile.id }) });
    expect(res.status).toBe(201);
    res = await api('/devices/52:54:00:12:34:56', { method: 'PATCH', body: JSON.stringify({ status: 'configured' }) });
    expect(((await res.json()) as { status: string }).status).toBe('configured');
    res = await api('/devices?label.rack=1&limit=5');
    const page = (await res.json()) as { total: number; items: Array<{ mac: string }> };
    expect(page.total).toBe(1);
    expect(page.items[0].mac).toBe('52:54:00:12:34:56');
    res = await api(`/profiles/${profile.id}`, { method: 'DELETE' });
    expect(res.status).toBe(409);
    res = await api('/devices/525400123456', { method: 'DELETE' });
    expect(res.status).toBe(204);
    res = await api('/devices/525400123456');
    expect(res.status).toBe(404);
    const onDisk = inventoryOnDisk(dir);
    expect(onDisk.devices).toEqual([]);
    expect(onDisk.profiles[0].id).toBe('ubuntu-24.04');
  });

  it('refuses invalid input with the field named', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['/devices', { mac: 'not-a-mac' }, 'mac'],
      ['/devices', { mac: 'aa:bb:cc:dd:ee:01', hostname: 'evil\nhost' }, 'hostname'],
      ['/devices', { mac: 'aa:bb:cc:dd:ee:01', status: 'flying' }, 'status'],
      ['/profiles', { name: 'x', type: 'nonsense' }, 'type'],
      ['/groups', { name: 'g' }, 'selector'],
    ];
    for (const [p, body, field] of cases) {
      const res = await api(p, { method: 'POST', body: JSON.stringify(body) });
      expect(res.status, JSON.stringify(body)).toBe(400);
      const err = ((await res.json()) as { error: { field: string; message: string } }).error;
      expect(err.field).toBe(field);
      expect(err.message).toContain(`"${field}"`);
    }
    expect((await api('/devices?color=red')).status).toBe(400);
    expect((await api('/devices?limit=0')).status).toBe(400);
  });

  it('exports and imports the inventory', async () => {
    await api('/devices', { method: 'POST', body: JSON.stringify({ mac: 'aa:bb:cc:dd:ee:10' }) });
    const doc = await (await api('/export')).json();
    expect((doc as { format: string }).format).toBe('netboot-inventory');
    const res = await api('/import?mode=replace', { method: 'POST', body: JSON.stringify(doc) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { imported: { devices: number } }).imported.devices).toBe(1);
  });

  it('lists the nodes in the palette under netboot', async () => {
    const res = await fetch(`${srv.baseUrl}/nodes`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
    const sets = (await res.json()) as Array<{ module: string; types: string[] }>;
    const ours = sets.filter((s) => s.module === (JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { name: string }).name);
    expect(ours.flatMap((s) => s.types)).toContain('netboot-server');
  });
});

/** Every process below `pid` (children, grandchildren, ...). */
function descendants(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    /* no children */
  }
  return kids.flatMap((k) => [k, ...descendants(k)]);
}

describe('npm start under a process manager', () => {
  it('stops Node-RED when npm itself gets SIGTERM (nothing left holding the ports)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'netboot-npm-'));
    const httpPort = await freeTcpPort();
    // the real `npm start` command, as systemd, docker or pm2 would run it
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: repo,
      env: {
        ...process.env, NETBOOT_DATA_DIR: dir, NETBOOT_HTTP_PORT: String(httpPort), NETBOOT_BIND: '127.0.0.1', NETBOOT_SERVER_IP: '127.0.0.1',
        NETBOOT_DHCP_MODE: 'off', NETBOOT_DHCP_PORT: '-1', NETBOOT_PROXY_PORT: '-1', NETBOOT_TFTP_PORT: '-1', NETBOOT_ISCSI: 'off',
        NETBOOT_ADMIN_PASSWORD: 'npm-start-password-1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started: number[] = [];
    let out = '';
    npm.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    npm.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const listening = async () => fetch(`http://127.0.0.1:${httpPort}/netboot/api/health`).then(() => true, () => false);
    try {
      await waitFor(() => /Started flows/.test(out) || undefined, 'Node-RED started', 30_000);
      expect(await listening()).toBe(true);
      started.push(...descendants(npm.pid!));
      const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
      npm.kill('SIGTERM');
      await exited;
      // npm is gone; Node-RED must be gone too: its HTTP port stops answering
      await waitFor(async () => !(await listening()) || undefined, 'Node-RED stopped', 15_000);
      expect(out).toMatch(/SIGTERM, stopping/);
    } finally {
      if (npm.exitCode === null) npm.kill('SIGKILL');
      // a failed run must not leave its Node-RED behind
      for (const pid of started) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
