/**
 * Whole boots: N simulated machines start at once (N = 50, 200, 500) against the real `npm start`
 * server on 127.0.0.1 (proxyDHCP on high ports, TFTP, HTTP through the reference flow), each with
 * a loopback address of its own. Per machine: proxyDHCP REQUEST → TFTP undionly.kpxe (70 KiB) →
 * REQUEST as iPXE → GET /boot/menu.ipxe?mac=… (the decision) → GET kernel (10 MiB) and initrd
 * (5 MiB) from /boot/assets (bench/lib/machine.ts). Measures boots/s, time to decision, failures,
 * and the server's RSS and CPU from /proc. No peer: absolute numbers.
 *
 * Standalone: node .bench/bench/boots.js [--quick] [--budget-s N]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { BenchResult, exitCleanly, inventoryNote, fmt, onCleanup, parseCommon, pct, procCpuSeconds, procRssMiB, renderResult, RunOptions, sleep, startProcess, stopProcess } from './lib/common';
import type { MachineResult, MachineSpec } from './lib/machine';
import type { WorkerReply, WorkerRequest } from './lib/machine-worker';
import { haveDist, startNetboot } from './lib/netboot';
import { freeUdpPort } from '../support/ports';

/** 127.20.0.1, 127.20.0.2, ... one loopback address per machine (never .0 or .255). */
export function localAddress(level: number, i: number): string {
  return `127.${20 + level}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

export function macOf(level: number, i: number): string {
  return ['02', '42', level, 0, i >> 8, i & 0xff].map((x) => (typeof x === 'string' ? x : x.toString(16).padStart(2, '0'))).join(':');
}

/** Client processes the machines are spread over (BOOTS_CLIENT_PROCS overrides). */
export const CLIENT_PROCS = Number(process.env.BOOTS_CLIENT_PROCS) || 4;

export interface Storm {
  results: MachineResult[];
  /** CPU seconds of all client processes together. */
  clientCpu: number;
  /** The worst client process's event-loop delay p99 and max, ms. */
  loopP99: number;
  loopMax: number;
}

/** Client processes (bench/lib/machine-worker.ts) that boot the machines of one storm together. */
export class ClientProcesses {
  private readonly children: ChildProcess[] = [];

  get pids(): number[] {
    return this.children.map((c) => c.pid ?? 0);
  }

  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      this.children.push(startProcess(process.execPath, [path.join(__dirname, 'lib', 'machine-worker.js')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' }));
    }
  }

  private ask(child: ChildProcess, req: WorkerRequest, want: WorkerReply['type']): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: WorkerReply) => {
        if (m.type !== want) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m);
      };
      const onExit = () => reject(new Error(`a client process exited (${child.exitCode ?? child.signalCode}) before "${want}"`));
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(req);
    });
  }

  /** Boots `specs` (machine i in process i mod count), all processes starting at the same moment. */
  async storm(specs: MachineSpec[]): Promise<Storm> {
    const parts = this.children.map((_, k) => specs.filter((_s, i) => i % this.children.length === k));
    const used = this.children.filter((_, k) => parts[k].length > 0);
    await Promise.all(used.map((c) => this.ask(c, { type: 'load', specs: parts[this.children.indexOf(c)] }, 'loaded')));
    const replies = await Promise.all(used.map((c) => this.ask(c, { type: 'go' }, 'done')));
    const done = replies.filter((r): r is Extract<WorkerReply, { type: 'done' }> => r.type === 'done');
    return {
      results: done.flatMap((r) => r.results),
      clientCpu: done.reduce((a, r) => a + r.cpuSeconds, 0),
      loopP99: Math.max(...done.map((r) => r.loopDelayMs.p99)),
      loopMax: Math.max(...done.map((r) => r.loopDelayMs.max)),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map((c) => stopProcess(c, 2000)));
  }
}

export async function runBoots(opts: RunOptions): Promise<BenchResult> {
  const t0 = performance.now();
  const result: BenchResult = {
    name: 'boots', title: 'Whole boots: proxyDHCP → TFTP → iPXE menu → kernel + initrd (ours only, absolute numbers)',
    notes: [], header: [], rows: [], ratios: [], skipped: [], findings: [], seconds: 0,
  };
  if (!haveDist()) {
    result.skipped.push('whole benchmark: dist/ missing (npm run build)');
    return result;
  }
  const work = mkdtempSync(path.join(os.tmpdir(), 'netboot-boots-bench-'));
  const removeWork = onCleanup(() => rmSync(work, { recursive: true, force: true }));
  const dataDir = path.join(work, 'data');
  const assets = path.join(dataDir, 'assets');
  mkdirSync(assets, { recursive: true });
  const tftpSize = 70 * 1024;
  const files = [
    { name: 'undionly.kpxe', size: tftpSize },
    { name: 'vmlinuz', size: 10 << 20 },
    { name: 'initrd.img', size: 5 << 20 },
  ];
  for (const f of files) writeFileSync(path.join(assets, f.name), randomBytes(f.size));
  // BOOTS_LEVELS=500 (comma-separated): only these storms, for profiling one
  const levels = process.env.BOOTS_LEVELS ? process.env.BOOTS_LEVELS.split(',').map(Number) : opts.quick ? [50, 200] : [50, 200, 500];
  const timeoutMs = opts.quick ? 60_000 : 120_000;
  const udp = { dhcp: await freeUdpPort(), proxy: await freeUdpPort(), tftp: await freeUdpPort() };
  const server = await startNetboot(dataDir, '/boot/assets/undionly.kpxe', {
    NETBOOT_DHCP_MODE: 'proxy',
    NETBOOT_DHCP_PORT: String(udp.dhcp),
    NETBOOT_PROXY_PORT: String(udp.proxy),
    NETBOOT_TFTP_PORT: String(udp.tftp),
  });
  const errors = new Map<string, number>();
  const clients = new ClientProcesses(CLIENT_PROCS);
  const stepRows: string[][] = [];
  try {
    const spec = (level: number, i: number): MachineSpec => ({
      mac: macOf(level, i), localAddress: localAddress(level, i), host: '127.0.0.1', proxyPort: udp.proxy, tftpPort: udp.tftp, httpBase: server.baseUrl,
      assets: [{ path: '/boot/assets/vmlinuz', size: 10 << 20 }, { path: '/boot/assets/initrd.img', size: 5 << 20 }], tftpSize, timeoutMs,
    });
    // warm-up: 5 machines, not counted
    const warm = (await clients.storm(Array.from({ length: 5 }, (_, i) => spec(0, i)))).results;
    const warmFail = warm.find((w) => !w.ok);
    if (warmFail) result.findings.push(`warm-up machine failed: ${warmFail.error}`);
    for (let li = 0; li < levels.length; li++) {
      const n = levels[li];
      if (performance.now() > opts.deadline) {
        result.skipped.push(`N=${n} (budget)`);
        continue;
      }
      const rss0 = procRssMiB(server.pid);
      let rssPeak = rss0;
      const cpu0 = procCpuSeconds(server.pid);
      const sampler = setInterval(() => {
        rssPeak = Math.max(rssPeak, procRssMiB(server.pid));
      }, 200);
      const s0 = performance.now();
      if (process.env.BOOTS_MARK) console.log(`  mark start N=${n} ${process.hrtime.bigint() / 1000n}`);
      const storm = await clients.storm(Array.from({ length: n }, (_, i) => spec(li + 1, i)));
      const results = storm.results;
      const wall = (performance.now() - s0) / 1000;
      if (process.env.BOOTS_MARK) console.log(`  mark end N=${n} ${process.hrtime.bigint() / 1000n}`);
      clearInterval(sampler);
      const stepMs = (k: keyof MachineResult['steps'], prev?: keyof MachineResult['steps']) => results.map((r) => r.steps[k] - (prev ? r.steps[prev] : 0)).filter(Number.isFinite).sort((a, b) => a - b);
      const show = (xs: number[]) => `${fmt(pct(xs, 50), 0)} / ${fmt(pct(xs, 99), 0)}`;
      stepRows.push([`${n}`, show(stepMs('dhcp')), show(stepMs('tftp', 'dhcp')), show(stepMs('ipxe', 'tftp')), show(stepMs('menuConnect', 'ipxe')), show(stepMs('menuFirstByte', 'menuConnect')), show(stepMs('menu', 'menuFirstByte')), show(stepMs('menu'))]);
      const cpu = procCpuSeconds(server.pid) - cpu0;
      rssPeak = Math.max(rssPeak, procRssMiB(server.pid));
      const ok = results.filter((r) => r.ok);
      const failures = results.length - ok.length;
      for (const r of results) if (!r.ok && r.error) errors.set(r.error.replace(/\d+/g, 'N'), (errors.get(r.error.replace(/\d+/g, 'N')) ?? 0) + 1);
      const dec = ok.map((r) => r.decisionMs).sort((a, b) => a - b);
      const tot = ok.map((r) => r.totalMs).sort((a, b) => a - b);
      const mb = results.reduce((a, r) => a + r.httpBytes, 0) / 1e6;
      const retries = results.reduce((a, r) => a + r.dhcpRetries, 0);
      const tftpRetries = results.reduce((a, r) => a + r.tftpRetries, 0);
      result.rows.push([
        `${n}`, fmt(wall, 1), fmt(ok.length / wall, 1), fmt(pct(dec, 50) / 1000, 2), fmt(pct(dec, 99) / 1000, 2), fmt(pct(tot, 99) / 1000, 2),
        `${failures}`, `${retries} / ${tftpRetries}`, `${fmt(rss0, 0)} → ${fmt(rssPeak, 0)}`, fmt((cpu / wall) * 100, 0), fmt((storm.clientCpu / wall) * 100, 0),
        `${fmt(storm.loopP99, 0)} / ${fmt(storm.loopMax, 0)}`, fmt(mb / wall, 0),
      ]);
      console.log(`  boots N=${n}: ${ok.length}/${n} ok in ${fmt(wall, 1)} s, decision p50 ${fmt(pct(dec, 50), 0)} p99 ${fmt(pct(dec, 99), 0)} ms, whole p99 ${fmt(pct(tot, 99), 0)} ms, failures ${failures}, retries ${retries} / ${tftpRetries}, server CPU ${fmt((cpu / wall) * 100, 0)} %, clients CPU ${fmt((storm.clientCpu / wall) * 100, 0)} % loop p99/max ${fmt(storm.loopP99, 0)}/${fmt(storm.loopMax, 0)} ms; steps p50/p99 ms: ${stepRows[stepRows.length - 1].slice(1).join(' | ')}`);
      await sleep(2000);
    }
    inventoryNote(result, dataDir);
  } finally {
    await clients.stop();
    await server.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
    removeWork();
  }
  result.header = ['machines at once', 'wall s', 'boots/s', 'decision p50 s', 'decision p99 s', 'whole boot p99 s', 'failures', 'DHCP / TFTP retries', 'server RSS MiB (start → peak)', 'server CPU % of one core', 'client CPU % of one core', 'client loop delay p99 / max ms', 'HTTP MB/s'];
  result.extra = [{
    title: '### Where the time to the menu goes\n\nEach step\'s duration per machine (p50 / p99 ms over the machines that got there): the first proxyDHCP exchange, the TFTP read of the 70 KiB boot program (lock-step, 50 blocks of 1432 bytes: 50 round trips), the proxyDHCP exchange as iPXE, the menu GET (connection and answer); the last column is their sum, the decision time.',
    header: ['machines at once', 'proxyDHCP', 'TFTP 70 KiB', 'proxyDHCP as iPXE', 'menu: TCP connect', 'menu: request → first byte', 'menu: rest of the answer', 'decision'],
    rows: stepRows,
  }];
  result.notes.push(
    'Server: `npm start` on 127.0.0.1 (Node-RED + reference flow, proxyDHCP and TFTP on high ports, default rate limits). Each machine has its own loopback address (127.2x.y.z) and MAC, so per-source and per-client limits see distinct clients. "Decision" = from the first DHCP packet to the end of the `/boot/menu.ipxe` answer. DHCP retries after 1 s (4 tries), TFTP after 1 s (5 tries). The machines run in ' + String(CLIENT_PROCS) + ' client processes (bench/lib/machine-worker.ts; machine i in process i mod their count, all started at the same moment), separate from the server and from the benchmark, on the same 2 cores; their HTTP is a keep-alive GET reader on one shared read buffer (bench/lib/machine.ts), every byte received and counted. "client loop delay" is the worst client process\'s event-loop delay: time the machines would add to what they measure.',
    'No peer: there is no single established server doing proxyDHCP + TFTP + a flow-rendered iPXE menu + HTTP; these are absolute numbers on this machine.',
  );
  if (errors.size) result.findings.push(`Failure reasons: ${[...errors].map(([e, c]) => `${c}× ${e}`).join('; ')}`);
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

if (require.main === module) {
  exitCleanly(async () => {
    const r = await runBoots(parseCommon(process.argv.slice(2)));
    console.log(renderResult(r));
  });
}
