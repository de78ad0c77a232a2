/**
 * Our DhcpServer against real clients in network namespaces (root + iproute2 + busybox; dnsmasq for
 * the rogue test). Skips locally when a tool is missing; fails in CI (CI=true).
 *
 * Topology (names carry the PID): namespace srv holds bridge br0 = 10.79.0.1/24 and runs our server
 * (compiled to a temp dir with tsc); namespace cli holds veth vc0 (udhcpc); namespace rog holds
 * veth vr0 = 10.79.0.3/24 (dnsmasq, the "other" server). Everything is removed in afterAll.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');
const CI = process.env.CI === 'true';
const DNSMASQ = '/usr/sbin/dnsmasq';

function have(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

const missing: string[] = [];
if (process.platform !== 'linux' || process.getuid?.() !== 0) missing.push('root on Linux');
if (!have('ip', ['-V'])) missing.push('ip (iproute2)');
if (!have('busybox', ['udhcpc', '--help']) && !have('busybox', ['--list'])) missing.push('busybox');
const haveDnsmasq = existsSync(DNSMASQ);
if (!haveDnsmasq) missing.push('dnsmasq');
if (missing.length && CI) {
  throw new Error(`dhcp-netns: CI=true but missing ${missing.join(', ')}`);
}

const id = String(process.pid % 100000);
const NS = { srv: `nbsrv${id}`, cli: `nbcli${id}`, rog: `nbrog${id}` };

function sh(args: string[], timeout = 10_000): string {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
}
const inNs = (ns: string, args: string[]) => sh(['ip', 'netns', 'exec', ns, ...args]);

interface Ev {
  event: string;
  [k: string]: unknown;
}

class ServerProc {
  readonly events: Ev[] = [];
  readonly stderr: string[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as Ev);
      } catch {
        this.events.push({ event: 'text', line });
      }
      for (const w of this.waiters.splice(0)) w();
    });
    child.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
  }
  async waitFor(pred: (e: Ev) => boolean, ms: number, what: string): Promise<Ev> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events.slice(-20))} stderr: ${this.stderr.join('')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }
}

const children: ChildProcess[] = [];
function track(c: ChildProcess): ChildProcess {
  children.push(c);
  return c;
}

function runUdhcpc(args: string[], ms: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = track(spawn('ip', ['netns', 'exec', NS.cli, 'busybox', 'udhcpc', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => c.pid && process.kill(c.pid, 'SIGTERM'), ms);
    c.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

describe.skipIf(missing.length > 0)('DHCP in network namespaces', () => {
  let work: string;
  let compiled: string;
  let server: ServerProc;
  let script: string;
  let log: string;

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'netboot-dhcp-netns-'));
    // compile-free for the child: tsc writes CommonJS for lib/dhcp (+ errors, mac) into work/out
    sh(['npx', 'tsc', '--outDir', path.join(work, 'out'), '--rootDir', ROOT, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'ES2022', '--types', 'node', '--skipLibCheck', '--strict', path.join(ROOT, 'lib/dhcp/index.ts')], 60_000);
    compiled = path.join(work, 'out', 'lib', 'dhcp', 'index.js');

    for (const ns of Object.values(NS)) sh(['ip', 'netns', 'add', ns]);
    sh(['ip', 'link', 'add', 'vc0', 'netns', NS.cli, 'type', 'veth', 'peer', 'name', `vs0${id}`, 'netns', NS.srv]);
    sh(['ip', 'link', 'add', 'vr0', 'netns', NS.rog, 'type', 'veth', 'peer', 'name', `vs1${id}`, 'netns', NS.srv]);
    inNs(NS.srv, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    inNs(NS.srv, ['ip', 'link', 'set', `vs0${id}`, 'master', 'br0', 'up']);
    inNs(NS.srv, ['ip', 'link', 'set', `vs1${id}`, 'master', 'br0', 'up']);
    inNs(NS.srv, ['ip', 'addr', 'add', '10.79.0.1/24', 'dev', 'br0']);
    inNs(NS.srv, ['ip', 'link', 'set', 'br0', 'up']);
    inNs(NS.srv, ['ip', 'link', 'set', 'lo', 'up']);
    // Node cannot pick the interface for 255.255.255.255: give the limited broadcast a route.
    inNs(NS.srv, ['ip', 'route', 'add', '255.255.255.255/32', 'dev', 'br0']);
    inNs(NS.cli, ['ip', 'link', 'set', 'vc0', 'up']);
    inNs(NS.cli, ['ip', 'link', 'set', 'lo', 'up']);
    inNs(NS.rog, ['ip', 'addr', 'add', '10.79.0.3/24', 'dev', 'vr0']);
    inNs(NS.rog, ['ip', 'link', 'set', 'vr0', 'up']);

    log = path.join(work, 'udhcpc.log');
    script = path.join(work, 'udhcpc.sh');
    writeFileSync(
      script,
      `#!/bin/sh\necho "$1 ip=$ip mask=$mask lease=$lease serverid=$serverid" >> ${log}\ncase "$1" in\n  deconfig) ip addr flush dev "$interface" ;;\n  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/\${mask:-24}" dev "$interface" ;;\nesac\nexit 0\n`,
    );
    chmodSync(script, 0o755);

    const cfg = {
      mode: 'full',
      address: '10.79.0.1',
      netmask: '255.255.255.0',
      pool: { rangeStart: '10.79.0.100', rangeEnd: '10.79.0.120', netmask: '255.255.255.0', router: '10.79.0.1', leaseTime: 6 },
      leaseFile: path.join(work, 'leases.json'),
      lifetimeMs: 100_000,
    };
    const child = track(spawn('ip', ['netns', 'exec', NS.srv, process.execPath, path.join(ROOT, 'test/helpers/dhcp-netns-server.cjs'), compiled, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] }));
    server = new ServerProc(child);
    await server.waitFor((e) => e.event === 'ready' || e.event === 'fatal', 15_000, 'server ready');
    expect(server.events.find((e) => e.event === 'fatal')).toBeUndefined();
  }, 90_000);

  afterAll(async () => {
    server?.send('quit');
    for (const c of children) {
      if (c.pid && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    const pidFile = work && path.join(work, 'dnsmasq.pid');
    if (pidFile && existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (pid > 1) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    for (const ns of Object.values(NS)) {
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        /* not created */
      }
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('udhcpc gets a lease from our full-mode server', async () => {
    const r = await runUdhcpc(['-i', 'vc0', '-n', '-q', '-t', '3', '-T', '1', '-s', script], 20_000);
    expect(r.code, r.out).toBe(0);
    const lines = readFileSync(log, 'utf8');
    expect(lines).toMatch(/bound ip=10\.79\.0\.1(0[0-9]|1[0-9]|20) mask=24 lease=6 serverid=10\.79\.0\.1/);
    await server.waitFor((e) => e.event === 'ack', 2000, 'ack event');
    expect(server.events.filter((e) => e.event === 'offer').length).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(readFileSync(path.join(work, 'leases.json'), 'utf8')).leases).toMatchObject([{ state: 'bound', ip: expect.stringMatching(/^10\.79\.0\./) }]);
  }, 30_000);

  it('udhcpc renews its lease (SIGUSR1: unicast REQUEST → ACK to ciaddr)', async () => {
    // busybox clamps leases to at least 122 s (T1 = 61 s), so the renewal is triggered with SIGUSR1.
    writeFileSync(log, '');
    const before = server.events.length;
    const c = runUdhcpc(['-i', 'vc0', '-f', '-n', '-t', '3', '-T', '1', '-s', script], 15_000);
    const child = children[children.length - 1];
    const waitLog = async (re: RegExp, ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline && !re.test(readFileSync(log, 'utf8'))) await new Promise((r) => setTimeout(r, 100));
    };
    await waitLog(/bound ip=/, 8000);
    if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGUSR1');
    await waitLog(/renew ip=/, 5000);
    if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
    const r = await c;
    const lines = readFileSync(log, 'utf8');
    expect(lines, r.out).toMatch(/bound ip=10\.79\.0\./);
    expect(lines, r.out).toMatch(/renew ip=10\.79\.0\./);
    const acks = server.events.slice(before).filter((e) => e.event === 'ack') as unknown as { to: { address: string; port: number } }[];
    expect(acks.length).toBeGreaterThanOrEqual(2);
    expect(acks[acks.length - 1].to).toEqual({ address: expect.stringMatching(/^10\.79\.0\.1\d\d$/), port: 68 });
  }, 30_000);

  it.skipIf(!haveDnsmasq)('in off mode, reports another DHCP server (dnsmasq) once', async () => {
    server.send('mode off');
    await server.waitFor((e) => e.event === 'mode' && e.mode === 'off', 3000, 'mode off');
    const dn = track(
      spawn('ip', ['netns', 'exec', NS.rog, DNSMASQ, '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=vr0', '--bind-interfaces', '--user=root', '--group=root', `--pid-file=${path.join(work, 'dnsmasq.pid')}`, `--dhcp-leasefile=${path.join(work, 'dnsmasq.leases')}`, '--dhcp-range=10.79.0.150,10.79.0.160,255.255.255.0,120', '--dhcp-authoritative',
        // dnsmasq pings an address before offering it; on a loaded machine that pushed the OFFER past
        // udhcpc's 1 s wait (seen as three OFFERs logged and 'no lease')
        '--no-ping'], { stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    let dnOut = '';
    dn.stderr!.on('data', (d: Buffer) => (dnOut += d.toString()));
    await new Promise((r) => setTimeout(r, 500));
    const before = server.events.length;
    for (let i = 0; i < 2; i++) {
      writeFileSync(log, '');
      // -B: ask for broadcast replies so the OFFER also reaches the server namespace
      const r = await runUdhcpc(['-i', 'vc0', '-n', '-q', '-B', '-t', '5', '-T', '2', '-s', script], 30_000);
      expect(r.code, `${r.out}\n${dnOut}`).toBe(0);
      // dnsmasq hands out any address of its range, .150 to .160
      expect(readFileSync(log, 'utf8')).toMatch(/bound ip=10\.79\.0\.1(5\d|60) .*serverid=10\.79\.0\.3/);
    }
    const rogue = await server.waitFor((e) => e.event === 'rogue', 3000, 'rogue event');
    expect(rogue).toMatchObject({ serverId: '10.79.0.3', offersAddress: true, isProxy: false });
    const after = server.events.slice(before);
    expect(after.filter((e) => e.event === 'rogue')).toHaveLength(1);
    expect(after.some((e) => e.event === 'ignored' && e.reason === 'mode-off')).toBe(true);
    expect(after.some((e) => e.event === 'offer' || e.event === 'ack')).toBe(false);
  }, 60_000);
});
