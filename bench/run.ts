/**
 * `npm run bench`: every benchmark in sequence within an overall budget (default 15 min, `--quick`
 * 3 min, `--budget-s N`), the machine it ran on, each table, then docs/benchmarks.md and
 * docs/benchmarks.svg. Options: --quick, --budget-s N, --only dhcp,http,tftp,boots, --no-write.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runBoots } from './boots';
import { runDhcp } from './dhcp';
import { runHttp } from './http';
import { BenchResult, exitCleanly, machineInfo, Output, renderResult, repoRoot, RunOptions, startProcess, stopProcess } from './lib/common';
import { ratioChart, renderDoc } from './lib/report';

const COMMAND = 'npm run bench';

/** bench/tftp.ts runs as its own process (it starts on load); its table is parsed from stdout. */
async function runTftp(opts: RunOptions): Promise<BenchResult> {
  const t0 = performance.now();
  const budget = Math.max(20, Math.floor((opts.deadline - performance.now()) / 1000));
  const child = startProcess(process.execPath, [path.join(__dirname, 'tftp.js'), '--budget-s', String(budget), ...(opts.quick ? ['--quick'] : [])]);
  const out = new Output(child);
  try {
    await out.waitFor(/^total \d+ s$/m, (budget + 240) * 1000);
  } finally {
    await stopProcess(child, 2000);
  }
  const result: BenchResult = {
    name: 'tftp', title: 'TFTP: ours vs tftpd-hpa (bench/tftp.ts)', notes: [], header: [], rows: [], ratios: [], skipped: [], findings: [], seconds: 0,
  };
  const line = /^(\S+)\s+(bs\d+(?: w\d+)?)\s+(\d+)\s+(\S+)\s+([\d.]+|NaN)\s+([\d.]+|NaN)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s*([\d.]*)\s*$/;
  for (const l of out.text.split('\n')) {
    const m = line.exec(l);
    if (!m) continue;
    const [, file, cfg, conc, server, mbps, fps, p50, p99, runs, fail, ratio] = m;
    result.rows.push([file, cfg, conc, server, mbps, fps, p50, p99, runs, fail, ratio]);
    if (ratio) result.ratios.push({ group: 'TFTP MB/s', label: `${file} ${cfg} c=${conc}`, value: Number(ratio) });
  }
  result.header = ['file', 'options', 'clients', 'server', 'MB/s', 'files/s', 'p50 ms', 'p99 ms', 'runs', 'fail', 'ours/tftpd-hpa'];
  const skipped = /^skipped: (.*)$/m.exec(out.text);
  if (skipped) result.skipped.push(skipped[1]);
  result.notes.push(
    'From bench/tftp.ts (another developer\'s benchmark, run unchanged as a child process): our TftpServer in its own process vs in.tftpd (tftpd-hpa 5.2) on 127.0.0.1, same client (test/helpers/tftp-client.ts). Windowsize rows are ours only (tftpd-hpa has no RFC 7440). Median over 3 runs per cell (1 with --quick); big files only up to 10 clients.',
  );
  if (!result.rows.length) result.skipped.push(`no table parsed; output:\n${out.text.slice(-1500)}`);
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const bi = args.indexOf('--budget-s');
  const budgetS = bi >= 0 ? Number(args[bi + 1]) : quick ? 180 : 900;
  const oi = args.indexOf('--only');
  const only = oi >= 0 ? new Set(args[oi + 1].split(',')) : undefined;
  const write = !args.includes('--no-write');
  const t0 = performance.now();
  const end = t0 + budgetS * 1000;
  // a hard stop past the budget: kill what we started, remove namespaces (exitCleanly's handlers)
  const watchdog = setTimeout(() => {
    console.error(`bench: still running ${budgetS + 180} s after start: stopping`);
    process.kill(process.pid, 'SIGTERM');
  }, (budgetS + 180) * 1000);
  watchdog.unref();

  const machine = machineInfo();
  console.log('# netboot benchmarks');
  for (const [k, v] of machine) console.log(`${k.padEnd(22)} ${v}`);
  console.log(`budget ${budgetS} s${quick ? ' (quick)' : ''}\n`);

  // share of the remaining budget each benchmark may start cells in
  const plan: Array<{ name: string; share: number; run: (o: RunOptions) => Promise<BenchResult> }> = [
    { name: 'dhcp', share: 0.3, run: runDhcp },
    { name: 'http', share: 0.2, run: runHttp },
    { name: 'tftp', share: 0.33, run: runTftp },
    { name: 'boots', share: 0.17, run: runBoots },
  ].filter((p) => !only || only.has(p.name));
  const results: BenchResult[] = [];
  let shareLeft = plan.reduce((a, p) => a + p.share, 0);
  for (const p of plan) {
    const now = performance.now();
    const allot = ((end - now) * p.share) / shareLeft;
    shareLeft -= p.share;
    console.log(`== ${p.name} (may start cells for ${(allot / 1000).toFixed(0)} s)`);
    let r: BenchResult;
    try {
      r = await p.run({ quick, deadline: now + allot });
    } catch (err) {
      r = { name: p.name, title: p.name, notes: [], header: [], rows: [], ratios: [], skipped: [`failed: ${(err as Error).message.split('\n')[0]}`], findings: [], seconds: (performance.now() - now) / 1000 };
      console.error(err);
    }
    results.push(r);
    console.log(renderResult(r));
  }
  const total = (performance.now() - t0) / 1000;
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  if (write) {
    const docs = path.join(repoRoot(), 'docs');
    const ratios = results.flatMap((r) => r.ratios);
    writeFileSync(path.join(docs, 'benchmarks.md'), renderDoc({ date, machine, results, command: COMMAND, totalSeconds: total, quick }));
    writeFileSync(path.join(docs, 'benchmarks.svg'), ratioChart(ratios, `${date}, ${machine[0][1]}, node ${process.version}; DHCP vs dnsmasq ${machine[4][1]}, HTTP vs nginx, TFTP vs tftpd-hpa`));
    console.log(`wrote docs/benchmarks.md and docs/benchmarks.svg (${total.toFixed(0)} s)`);
  }
}

exitCleanly(main);
