/**
 * netboot-probe on the boot server's own host: the first thing a user tries when a machine will not
 * boot. The server's rogue-server monitor holds UDP 68, where the probe must hear the answers; both
 * share the port, so the probe gets the OFFER (the kernel hands a broadcast to every sharer) and then
 * the boot file over TFTP.
 *
 * Runs the real `npm start` entry point with the real ports (67, 68, 4011, 69) inside a network
 * namespace of its own (a veth pair, 10.78.0.1/24 on one end, nothing else), and the compiled probe
 * in the same namespace. Needs root and iproute2; in CI both are there and a skip is a failure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/node-red';
import { freeTcpPort, repo } from '../helpers/start-server';

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot && process.env.CI) throw new Error('probe-same-host: CI needs root for network namespaces');

const NS = `nbph${process.pid % 100000}`;
const SERVER = '10.78.0.1';

function sh(args: string[]): string {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

describe.skipIf(!isRoot)('netboot-probe on the server host', () => {
  let dir: string;
  let server: ChildProcess | undefined;
  let out = '';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-probe-host-'));
    mkdirSync(path.join(dir, 'assets'));
    writeFileSync(path.join(dir, 'assets', 'undionly.kpxe'), Buffer.alloc(70_000, 0x42));
    sh(['ip', 'netns', 'add', NS]);
    sh(['ip', '-n', NS, 'link', 'add', 'vh0', 'type', 'veth', 'peer', 'name', 'vh1']);
    sh(['ip', '-n', NS, 'addr', 'add', `${SERVER}/24`, 'dev', 'vh0']);
    for (const dev of ['vh0', 'vh1', 'lo']) sh(['ip', '-n', NS, 'link', 'set', dev, 'up']);
    server = spawn('ip', ['netns', 'exec', NS, process.execPath, path.join(repo, 'dist', 'scripts', 'start.js')], {
      env: {
        ...process.env, NETBOOT_DATA_DIR: dir, NETBOOT_HTTP_PORT: String(await freeTcpPort()), NETBOOT_SERVER_IP: SERVER, NETBOOT_BIND: '0.0.0.0',
        NETBOOT_DHCP_MODE: 'proxy', NETBOOT_ISCSI: 'off', NETBOOT_ADMIN_PASSWORD: 'probe-host-password-1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => /DHCP monitor: listening on UDP 0\.0\.0\.0:68/.test(out) || undefined, `the monitor on 68; output:\n${out}`, 30_000);
  }, 60_000);

  afterAll(async () => {
    if (server?.pid && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    try {
      sh(['ip', 'netns', 'del', NS]);
    } catch {
      /* not created */
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('gets our OFFER on the port the monitor also holds, then the boot file', () => {
    const cli = path.join(repo, 'dist', 'scripts', 'netboot-probe.js');
    let stdout: string;
    try {
      stdout = execFileSync('ip', ['netns', 'exec', NS, process.execPath, cli, '--as', 'bios', '--interface', 'vh0', '--timeout', '2s', '--json'], { encoding: 'utf8', timeout: 30_000 });
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string };
      throw new Error(`probe exited ${e.status}: ${e.stderr}${e.stdout}\nserver:\n${out.slice(-2000)}`);
    }
    const report = JSON.parse(stdout) as { ok: boolean; stages: Array<{ name: string; ok: boolean; detail: string }>; files: Array<{ name: string; bytes: number }> };
    expect(report.ok).toBe(true);
    expect(report.files).toEqual([expect.objectContaining({ name: 'undionly.kpxe', bytes: 70_000 })]);
    // the server is still listening on 68 after the probe came and went
    expect(sh(['ip', 'netns', 'exec', NS, 'ss', '-uln', 'sport', '= :68'])).toMatch(/0\.0\.0\.0:68/);
  });
});
