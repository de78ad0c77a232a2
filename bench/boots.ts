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
import { BenchResult, exitCleanly, inventoryNote, fmt, onCleanup, parseCommon, pct, procCpuSeconds, procRssMiB, renderResult, RunOptions, sleep } from './lib/common';
import { bootMachine, type MachineResult } from './lib/machine';
import { haveDist, startNetboot } from './lib/netboot';
import { freeUdpPort } from '../support/ports';

/** 127.20.0.1, 127.20.0.2, ... one loopback address per machine (never .0 or .255). */
export function localAddress(level: number, i: number): string {
  return `127.${20 + level}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

export function macOf(level: number, i: number): string {
  return ['02', '42', level, 0, i >> 8, i & 0xff].map((x) => (typeof x === 'string' ? x : x.toString(16).padStart(2, '0'))).join(':');
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
  const levels = opts.quick ? [50, 200] : [50, 200, 500];
  const timeoutMs = opts.quick ? 60_000 : 120_000;
  const udp = { dhcp: await freeUdpPort(), proxy: await freeUdpPort(), tftp: await freeUdpPort() };
  const server = await startNetboot(dataDir, '/boot/assets/undionly.kpxe', {
    NETBOOT_DHCP_MODE: 'proxy',
    NETBOOT_DHCP_PORT: String(udp.dhcp),
    NETBOOT_PROXY_PORT: String(udp.proxy),
    NETBOOT_TFTP_PORT: String(udp.tftp),
  });
  const errors = new Map<string, number>();
  try {
    const spec = (level: number, i: number) => ({
      mac: macOf(level, i), localAddress: localAddress(level, i), host: '127.0.0.1', proxyPort: udp.proxy, tftpPort: udp.tftp, httpBase: server.baseUrl,
      assets: [{ path: '/boot/assets/vmlinuz', size: 10 << 20 }, { path: '/boot/assets/initrd.img', size: 5 << 20 }], tftpSize, timeoutMs,
    });
    // warm-up: 5 machines, not counted
    const warm = await Promise.all(Array.from({ length: 5 }, (_, i) => bootMachine(spec(0, i))));
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
      const results: MachineResult[] = await Promise.all(Array.from({ length: n }, (_, i) => bootMachine(spec(li + 1, i))));
      const wall = (performance.now() - s0) / 1000;
      clearInterval(sampler);
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
        `${failures}`, `${retries} / ${tftpRetries}`, `${fmt(rss0, 0)} → ${fmt(rssPeak, 0)}`, fmt((cpu / wall) * 100, 0), fmt(mb / wall, 0),
      ]);
      console.log(`  boots N=${n}: ${ok.length}/${n} ok in ${fmt(wall, 1)} s, decision p99 ${fmt(pct(dec, 99), 0)} ms, failures ${failures}, RSS peak ${fmt(rssPeak, 0)} MiB`);
      await sleep(2000);
    }
    inventoryNote(result, dataDir);
  } finally {
    await server.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
    removeWork();
  }
  result.header = ['machines at once', 'wall s', 'boots/s', 'decision p50 s', 'decision p99 s', 'whole boot p99 s', 'failures', 'DHCP / TFTP retries', 'server RSS MiB (start → peak)', 'server CPU % of one core', 'HTTP MB/s'];
  result.notes.push(
    'Server: `npm start` on 127.0.0.1 (Node-RED + reference flow, proxyDHCP and TFTP on high ports, default rate limits). Each machine has its own loopback address (127.2x.y.z) and MAC, so per-source and per-client limits see distinct clients. "Decision" = from the first DHCP packet to the end of the `/boot/menu.ipxe` answer. DHCP retries after 1 s (4 tries), TFTP after 1 s (5 tries). The client machines run in one Node process on the same 2 cores as the server.',
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
