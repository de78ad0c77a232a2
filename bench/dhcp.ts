/**
 * proxyDHCP benchmark: our DhcpServer (lib/dhcp) against dnsmasq in proxy mode, in two network
 * namespaces joined by a veth pair (server 10.82.0.1/24; the client side has no address, so its
 * DISCOVERs leave from 0.0.0.0:68 like a PXE ROM's and the servers answer by broadcast to port 68).
 *
 * One load generator for both (this file with `--load`, run in the client namespace): BIOS PXE
 * DISCOVERs (options 53, 93, 94, 60 PXEClient:Arch:00000, 97, 55), each with its own MAC and xid,
 * sent at a fixed offered rate for a bounded time per level (100, 1000, 5000/s); replies are matched
 * by xid and timed from the send. Only one server runs at a time. Three runs, servers interleaved.
 *
 * Servers:
 *   ours        the DhcpServer class in a child process (this file with `--serve-ours`), proxy mode,
 *               default rate limits (per MAC 10 then 2/s, per source 50 then 20/s; source 0.0.0.0 exempt)
 *   ours (npm start)  the real `npm start` entry point (Node-RED + reference flow) on 67/4011
 *   dnsmasq     `dnsmasq --dhcp-range=10.82.0.0,proxy --pxe-service=x86PC,...` (no TFTP, --quiet-dhcp)
 * Then one run from a source address (10.82.0.2, as when one host or a relay sends for many
 * clients), where our per-source limit applies.
 *
 * Standalone: node .bench/bench/dhcp.js [--quick] [--budget-s N] [--servers ours,npm,dnsmasq,base]   (root; iproute2; dnsmasq)
 * Looking into the npm start server: NETBOOT_BENCH_NODE_ARGS (its node options, e.g. --cpu-prof), NETBOOT_BENCH_SERVER_LOG (a
 * file for what it printed), NETBOOT_BENCH_SNAPSHOT=N (SIGUSR2 before stopping it, then N s: a heap snapshot with
 * --heapsnapshot-signal=SIGUSR2), NETBOOT_BENCH_BASE=<another built checkout> (its npm start, interleaved, as "base")
 */
import * as dgram from 'node:dgram';
import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { DhcpServer } from '../lib/dhcp/server';
import { build } from '../lib/dhcp/options';
import { clientBytes, PXE_BIOS } from '../support/dhcp-packets';
import {
  BenchResult, benchArgs, createNetnsPair, exitCleanly, fmt, haveRootNetns, median, NetnsPair, Output, parseCommon, pct, repoRoot,
  renderResult, RunOptions, sh, sleep, spread, startProcess, stopProcess,
} from './lib/common';

const DNSMASQ = '/usr/sbin/dnsmasq';
const NET = '10.82.0';

// ---- child: our server --------------------------------------------------------------------

interface ServeConfig {
  address: string;
  netmask: string;
  limits: 'default' | 'off';
  lifetimeMs: number;
}

function bindUdp(port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    s.once('error', reject);
    s.bind(port, '0.0.0.0', () => resolve(s));
  });
}

async function serveOurs(cfg: ServeConfig): Promise<void> {
  const server = new DhcpServer({
    mode: 'proxy',
    interfaces: [{ address: cfg.address, netmask: cfg.netmask }],
    boot: { httpPort: 8080 },
    rateLimit: cfg.limits === 'off' ? { perMac: false, perSource: false } : undefined,
  });
  const sockets = [await bindUdp(67), await bindUdp(4011)];
  server.attach(sockets[0], sockets[1]);
  const stop = (): void => {
    server.close();
    for (const s of sockets) s.close();
    process.exit(0);
  };
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'stats') process.stdout.write(`STATS ${JSON.stringify(server.stats)}\n`);
  }).on('close', stop);
  setTimeout(stop, cfg.lifetimeMs).unref();
  process.stdout.write('READY\n');
}

// ---- child: load generator ------------------------------------------------------------------

interface LoadConfig {
  levels: number[];
  durationMs: number;
  drainMs: number;
  /** Second MAC byte: unique per (server, run), so no MAC is ever sent twice. */
  tag: number;
}

export interface LevelResult {
  level: number;
  sent: number;
  answered: number;
  duplicates: number;
  durationMs: number;
  p50: number;
  p99: number;
  max: number;
}

async function runLoad(cfg: LoadConfig): Promise<void> {
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(68, '0.0.0.0', () => resolve());
  });
  sock.setBroadcast(true);
  sock.setRecvBufferSize(4 << 20);
  const template = clientBytes({
    mac: '02:00:00:00:00:00', xid: 0, arch: 0, vendorClass: PXE_BIOS, uuid: Buffer.alloc(16, 0x11),
    extra: [build.raw(55, Buffer.from([1, 3, 6, 43, 54, 60, 66, 67, 97, 128, 129, 130]))],
  });
  let sentAt = new Float64Array(0);
  let got = new Uint8Array(0);
  let lat: number[] = [];
  let dup = 0;
  let levelIdx = 0;
  sock.on('message', (msg) => {
    const now = performance.now();
    if (msg.length < 240 || msg[0] !== 2) return;
    const xid = msg.readUInt32BE(4);
    if (xid >>> 24 !== levelIdx + 1) return;
    const seq = xid & 0xffffff;
    if (seq >= sentAt.length || sentAt[seq] === 0) return;
    if (got[seq]) {
      dup++;
      return;
    }
    got[seq] = 1;
    lat.push(now - sentAt[seq]);
  });
  // level 0 warms both sides up (JIT, ARP-free broadcast path, caches) and is not reported
  const plan = [{ rate: 500, ms: 1000, report: false }, ...cfg.levels.map((rate) => ({ rate, ms: cfg.durationMs, report: true }))];
  for (let li = 0; li < plan.length; li++) {
    const { rate, ms, report } = plan[li];
    const total = Math.round((rate * ms) / 1000);
    levelIdx = li;
    sentAt = new Float64Array(total);
    got = new Uint8Array(total);
    lat = [];
    dup = 0;
    let sent = 0;
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
        while (sent < due) {
          const b = Buffer.from(template);
          b.writeUInt32BE((((li + 1) << 24) | sent) >>> 0, 4);
          b[28] = 0x02;
          b[29] = cfg.tag;
          b[30] = li;
          b[31] = (sent >> 16) & 0xff;
          b[32] = (sent >> 8) & 0xff;
          b[33] = sent & 0xff;
          sentAt[sent] = performance.now();
          sock.send(b, 67, '255.255.255.255');
          sent++;
        }
        if (sent >= total || performance.now() - t0 > ms * 1.5) return resolve();
        setTimeout(tick, 1);
      };
      tick();
    });
    const durationMs = performance.now() - t0;
    await sleep(report ? cfg.drainMs : 300);
    if (!report) continue;
    lat.sort((a, b) => a - b);
    const r: LevelResult = { level: rate, sent, answered: lat.length, duplicates: dup, durationMs, p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1] ?? NaN };
    process.stdout.write(`LEVEL ${JSON.stringify(r)}\n`);
  }
  sock.close();
  process.stdout.write('DONE\n');
}

// ---- parent ----------------------------------------------------------------------------------

interface Server {
  name: string;
  stop(): Promise<void>;
  stats?(): Promise<Record<string, number> | undefined>;
}

async function startOurs(ns: NetnsPair, limits: 'default' | 'off'): Promise<Server> {
  const cfg: ServeConfig = { address: ns.srvIp, netmask: '255.255.255.0', limits, lifetimeMs: 600_000 };
  const child = startProcess('ip', ['netns', 'exec', ns.srv, process.execPath, __filename, '--serve-ours', JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new Output(child);
  await out.waitFor(/READY/, 10_000);
  return {
    name: 'ours',
    stop: async () => {
      child.stdin?.end();
      await stopProcess(child);
    },
    stats: async () => {
      const before = out.text.length;
      child.stdin?.write('stats\n');
      for (let i = 0; i < 40; i++) {
        const m = /STATS (\{.*\})/.exec(out.text.slice(before));
        if (m) return JSON.parse(m[1]) as Record<string, number>;
        await sleep(50);
      }
      return undefined;
    },
  };
}

async function startOursNpm(ns: NetnsPair, work: string, repo = repoRoot(), name = 'ours (npm start)'): Promise<Server> {
  const dataDir = mkdtempSync(path.join(work, 'npm-'));
  // NETBOOT_BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p --trace-gc"): node options for this server only
  const nodeArgs = (process.env.NETBOOT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = startProcess('ip', ['netns', 'exec', ns.srv, process.execPath, ...nodeArgs, path.join(repo, 'dist', 'scripts', 'start.js')], {
    env: {
      ...process.env,
      NETBOOT_DATA_DIR: dataDir,
      NETBOOT_ADMIN_PASSWORD: 'bench-password-1',
      NETBOOT_HTTP_PORT: '1880',
      NETBOOT_BIND: '0.0.0.0',
      NETBOOT_SERVER_IP: ns.srvIp,
      NETBOOT_DHCP_MODE: 'proxy',
      NETBOOT_DHCP_PORT: '67',
      NETBOOT_PROXY_PORT: '4011',
      NETBOOT_TFTP_PORT: '69',
      NETBOOT_ISCSI: 'off', // no tgtd from a benchmark
    },
  });
  const out = new Output(child);
  await out.waitFor(/netboot: HTTP listening/, 30_000);
  // the flow (and with it the DHCP sockets) starts right after; give it a moment
  await out.waitFor(/Started flows/, 30_000);
  await sleep(500);
  return {
    name,
    stop: async () => {
      if (process.env.NETBOOT_BENCH_SNAPSHOT) {
        child.kill('SIGUSR2');
        await sleep(Number(process.env.NETBOOT_BENCH_SNAPSHOT) * 1000);
      }
      await stopProcess(child, 5000);
      // NETBOOT_BENCH_SERVER_LOG=file: what the server printed (e.g. its --trace-gc lines)
      if (process.env.NETBOOT_BENCH_SERVER_LOG) appendFileSync(process.env.NETBOOT_BENCH_SERVER_LOG, out.text);
    },
  };
}

async function startDnsmasq(ns: NetnsPair, work: string): Promise<Server> {
  const dir = mkdtempSync(path.join(work, 'dnsmasq-'));
  const child = startProcess('ip', ['netns', 'exec', ns.srv, DNSMASQ,
    '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', `--interface=${ns.srvIf}`, '--bind-interfaces',
    `--dhcp-range=${NET}.0,proxy`, '--pxe-service=x86PC,"netboot",undionly', '--quiet-dhcp',
    `--log-facility=${path.join(dir, 'dnsmasq.log')}`, `--pid-file=${path.join(dir, 'dnsmasq.pid')}`,
    `--dhcp-leasefile=${path.join(dir, 'leases')}`, '--user=root', '--group=root']);
  const out = new Output(child);
  await sleep(500);
  if (child.exitCode !== null) throw new Error(`dnsmasq exited: ${out.text}`);
  return { name: 'dnsmasq', stop: () => stopProcess(child) };
}

async function runLoadChild(ns: NetnsPair, cfg: LoadConfig): Promise<LevelResult[]> {
  const child = startProcess('ip', ['netns', 'exec', ns.cli, process.execPath, __filename, '--load', JSON.stringify(cfg)]);
  const out = new Output(child);
  const limit = cfg.levels.length * (cfg.durationMs * 1.5 + cfg.drainMs) + 15_000;
  try {
    await out.waitFor(/^DONE$/m, limit);
  } finally {
    await stopProcess(child, 1000);
  }
  return [...out.text.matchAll(/^LEVEL (\{.*\})$/gm)].map((m) => JSON.parse(m[1]) as LevelResult);
}

export async function runDhcp(opts: RunOptions, only?: string[]): Promise<BenchResult> {
  const t0 = performance.now();
  const result: BenchResult = {
    name: 'dhcp', title: 'proxyDHCP: DISCOVER → OFFER (ours vs dnsmasq)', notes: [], header: [], rows: [], ratios: [], skipped: [], findings: [], seconds: 0,
  };
  const why = haveRootNetns() ?? (existsSync(DNSMASQ) ? undefined : 'dnsmasq missing');
  if (why) {
    result.skipped.push(`whole benchmark: ${why}`);
    return result;
  }
  const levels = [100, 1000, 5000];
  const durationMs = opts.quick ? 2000 : 5000;
  const runs = opts.quick ? 1 : 3;
  const drainMs = 1000;
  const work = mkdtempSync(path.join(os.tmpdir(), 'netboot-dhcp-bench-'));
  const ns = createNetnsPair('nbd', NET);
  const servers: Array<{ name: string; start: () => Promise<Server> }> = [
    { name: 'ours', start: () => startOurs(ns, 'default') },
    { name: 'ours (npm start)', start: () => startOursNpm(ns, work) },
    { name: 'dnsmasq', start: () => startDnsmasq(ns, work) },
  ];
  // NETBOOT_BENCH_BASE=<another checkout, built>: its `npm start` as one more server, interleaved with
  // ours, for a before/after comparison under the same load (not part of the regular tables)
  const base = process.env.NETBOOT_BENCH_BASE;
  if (base) servers.splice(2, 0, { name: 'base (npm start)', start: () => startOursNpm(ns, work, base, 'base (npm start)') });
  if (only) servers.splice(0, servers.length, ...servers.filter((s) => only.includes(s.name)));
  const haveDist = existsSync(path.join(repoRoot(), 'dist', 'scripts', 'start.js'));
  if (!haveDist && servers.some((s) => s.name === 'ours (npm start)')) {
    servers.splice(servers.findIndex((s) => s.name === 'ours (npm start)'), 1);
    result.skipped.push('ours (npm start): dist/ missing (npm run build)');
  }
  // name → level → runs
  const data = new Map<string, Map<number, LevelResult[]>>();
  const limited = new Map<string, number>();
  let tag = 1;
  let current: Server | undefined;
  try {
    for (let r = 0; r < runs; r++) {
      for (const s of servers) {
        if (performance.now() > opts.deadline) {
          result.skipped.push(`${s.name} run ${r + 1} (budget)`);
          continue;
        }
        current = await s.start();
        const levelResults = await runLoadChild(ns, { levels, durationMs, drainMs, tag: tag++ });
        const st = await current.stats?.();
        if (st) limited.set(s.name, (limited.get(s.name) ?? 0) + (st.rateLimited ?? 0));
        await current.stop();
        current = undefined;
        const byLevel = data.get(s.name) ?? new Map<number, LevelResult[]>();
        for (const lr of levelResults) byLevel.set(lr.level, [...(byLevel.get(lr.level) ?? []), lr]);
        data.set(s.name, byLevel);
        console.log(`  dhcp run ${r + 1} ${s.name}: ${levelResults.map((x) => `${x.level}/s → ${x.answered}/${x.sent} p99 ${fmt(x.p99, 2)} ms`).join(', ')}`);
      }
    }
    // one source address for all clients: the per-source limit (50 then 20/s) applies to ours
    const srcRows: string[][] = [];
    if (performance.now() < opts.deadline) {
      sh('ip', ['-n', ns.cli, 'addr', 'add', `${NET}.2/24`, 'dev', ns.cliIf]);
      try {
        for (const s of [servers[0], servers[servers.length - 1]]) {
          current = await s.start();
          const lr = await runLoadChild(ns, { levels: [100, 1000], durationMs, drainMs, tag: tag++ });
          const st = await current.stats?.();
          await current.stop();
          current = undefined;
          for (const x of lr) {
            srcRows.push([`${x.level}`, s.name, fmt((x.sent / x.durationMs) * 1000, 0), fmt((x.answered / x.durationMs) * 1000, 0), `${x.sent - x.answered} (${fmt(((x.sent - x.answered) / x.sent) * 100, 0)}%)`, fmt(x.p99, 2)]);
          }
          if (st) srcRows.push(['', `${s.name} counters`, '', '', `rate-limited ${st.rateLimited}`, '']);
        }
      } finally {
        sh('ip', ['-n', ns.cli, 'addr', 'del', `${NET}.2/24`, 'dev', ns.cliIf]);
      }
    } else result.skipped.push('source-address run (budget)');
    if (srcRows.length) {
      result.extra = [{
        title: `Same load from one source address (${NET}.2, e.g. one host or a relay for many clients), one run, ours with its default limits:`,
        header: ['offered/s', 'server', 'sent/s', 'answers/s', 'lost', 'p99 ms'],
        rows: srcRows,
      }];
    }
  } finally {
    if (current) await current.stop().catch(() => undefined);
    ns.remove();
    rmSync(work, { recursive: true, force: true });
  }

  result.header = ['offered/s', 'server', 'answers/s (median)', 'spread', 'p50 ms', 'p99 ms', 'lost (all runs)', 'runs', 'answers ours/dnsmasq', 'p99 dnsmasq/ours'];
  const peer = data.get('dnsmasq');
  for (const level of levels) {
    for (const s of servers) {
      const runsOf = data.get(s.name)?.get(level) ?? [];
      if (!runsOf.length) continue;
      const rate = runsOf.map((x) => (x.answered / x.durationMs) * 1000);
      const sent = runsOf.reduce((a, x) => a + x.sent, 0);
      const lost = runsOf.reduce((a, x) => a + (x.sent - x.answered), 0);
      const p50 = median(runsOf.map((x) => x.p50));
      const p99 = median(runsOf.map((x) => x.p99));
      let ratio = '';
      let latRatio = '';
      const peerRuns = peer?.get(level);
      if (s.name !== 'dnsmasq' && peerRuns?.length) {
        const pr = median(peerRuns.map((x) => (x.answered / x.durationMs) * 1000));
        const pp99 = median(peerRuns.map((x) => x.p99));
        ratio = fmt(median(rate) / pr, 2);
        latRatio = fmt(pp99 / p99, 2);
        result.ratios.push({ group: 'DHCP answers/s', label: `${s.name} ${level}/s`, value: median(rate) / pr });
      }
      result.rows.push([`${level}`, s.name, fmt(median(rate), 0), spread(rate), fmt(p50, 2), fmt(p99, 2), `${lost}/${sent} (${fmt((lost / sent) * 100, 1)}%)`, `${runsOf.length}`, ratio, latRatio]);
    }
  }
  for (const name of ['ours', 'ours (npm start)']) {
    const at = data.get(name)?.get(1000);
    const pr = peer?.get(1000);
    if (!at?.length) continue;
    const lost = at.reduce((a, x) => a + (x.sent - x.answered), 0);
    const p99 = median(at.map((x) => x.p99));
    const ratio = pr?.length ? median(at.map((x) => x.answered / x.durationMs)) / median(pr.map((x) => x.answered / x.durationMs)) : NaN;
    result.findings.push(`Target at 1000/s for ${name}: no loss ${lost === 0 ? 'met' : `MISSED (${lost} lost)`}; p99 < 5 ms ${p99 < 5 ? 'met' : `MISSED (${fmt(p99, 2)} ms)`}; answers ≥ dnsmasq's ${ratio >= 0.99 ? 'met' : `MISSED (${fmt(ratio, 2)}×)`}.`);
  }
  // issue 23: the real entry point at 5000/s, full runs
  const npm5000 = data.get('ours (npm start)')?.get(5000);
  if (npm5000?.length) {
    const lost = npm5000.reduce((a, x) => a + (x.sent - x.answered), 0);
    const p99 = median(npm5000.map((x) => x.p99));
    result.findings.push(`Target at 5000/s for ours (npm start), ${runs} run(s)${opts.quick ? ' (--quick: not a full run)' : ''}: no loss ${lost === 0 ? 'met' : `MISSED (${lost} lost)`}; p99 ≤ 5 ms ${p99 <= 5 ? 'met' : `MISSED (${fmt(p99, 2)} ms)`}.`);
  }
  result.notes.push(
    `After a 1 s warm-up at 500/s (not counted), each level offers DISCOVERs for ${durationMs / 1000} s (then ${drainMs / 1000} s to drain); distinct MAC and xid per packet; client in its own namespace sending from 0.0.0.0:68, replies by broadcast. ${runs} run(s), servers interleaved; "spread" = half the min–max range of the runs' answers/s.`,
    'Rate limits: **ours** = DhcpServer with the default limits on (per MAC: 10 burst then 2/s; per source: 50 burst then 20/s, but source 0.0.0.0 is exempt, so only the per-MAC limit runs and never triggers with distinct MACs); **ours (npm start)** = the same defaults inside the real entry point (Node-RED, reference flow, metrics, the port-68 monitor socket); dnsmasq has no rate limit.',
    `dnsmasq: \`--dhcp-range=${NET}.0,proxy --pxe-service=x86PC,"netboot",undionly --quiet-dhcp\`, no TFTP, no DNS. Rate-limited packets counted by ours during the main runs: ${[...limited].map(([k, v]) => `${k} ${v}`).join(', ') || 'n/a'}.`,
  );
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--serve-ours') return serveOurs(JSON.parse(args[1]) as ServeConfig);
  if (args[0] === '--load') return runLoad(JSON.parse(args[1]) as LoadConfig);
  const opts = parseCommon(args);
  // --servers ours,npm,dnsmasq: measure only these (for looking into one server)
  const servers = benchArgs(args).servers;
  const names: Record<string, string> = { ours: 'ours', npm: 'ours (npm start)', dnsmasq: 'dnsmasq', base: 'base (npm start)' };
  const only = servers !== undefined ? servers.split(',').map((n) => names[n] ?? n) : undefined;
  const r = await runDhcp(opts, only);
  console.log(renderResult(r));
}

if (require.main === module) {
  exitCleanly(main);
}
