/**
 * `npm run bench`: every benchmark in sequence within an overall budget (default 20 min, `--quick`
 * 4 min, `--budget-s N`), the machine it ran on, each table, then docs/benchmarks.md and
 * docs/benchmarks.svg. Options: --quick, --budget-s N, --only dhcp,http,tftp,boots,dashboard,inventory,poweron, --no-write.
 * With --only, the sections of the benchmarks that ran replace theirs in docs/benchmarks.md and the
 * others stay (benchmarks.svg, the ratios of all of them, is then left as it was).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runBoots } from './boots';
import { runDashboard } from './dashboard';
import { runDhcp } from './dhcp';
import { runHttp } from './http';
import { runInventory } from './inventory';
import { runPoweron } from './poweron';
import { BenchResult, benchArgs, budgetSeconds, exitCleanly, machineInfo, Output, renderResult, repoRoot, RunOptions, startProcess, stopProcess } from './lib/common';
import { mergeDoc, ratioChart, renderDoc } from './lib/report';

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
    name: 'tftp', title: 'TFTP: ours vs tftpd-hpa, dnsmasq and atftpd (bench/tftp.ts)', notes: [], header: [], rows: [], ratios: [], skipped: [], findings: [], seconds: 0,
  };
  // file, options, clients, server, MB/s, files/s, p50, p99, runs, fail, ours/tftpd-hpa, ours/dnsmasq, ours/atftpd ("-" = not this row)
  const line = /^(\S+)\s+(bs\d+(?: w\d+)?)\s+(\d+)\s+(\S+)\s+([\d.]+|NaN)\s+([\d.]+|NaN)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+([\d.]+|-)\s+([\d.]+|-)\s+([\d.]+|-)\s*$/;
  const peers = ['tftpd-hpa', 'dnsmasq', 'atftpd'];
  for (const l of out.text.split('\n')) {
    const m = line.exec(l);
    if (!m) continue;
    const [file, cfg, conc, server, mbps, fps, p50, p99, runs, fail] = m.slice(1);
    const ratios = m.slice(11, 14).map((x) => (x === '-' ? '' : x));
    result.rows.push([file, cfg, conc, server, mbps, fps, p50, p99, runs, fail, ...ratios]);
    ratios.forEach((r, i) => {
      if (r) result.ratios.push({ group: `TFTP MB/s vs ${peers[i]}`, label: `${file} ${cfg} c=${conc}`, value: Number(r) });
    });
  }
  result.header = ['file', 'options', 'clients', 'server', 'MB/s', 'files/s', 'p50 ms', 'p99 ms', 'runs', 'fail', 'ours/tftpd-hpa', 'ours/dnsmasq', 'ours/atftpd'];
  const skipped = /^skipped: (.*)$/m.exec(out.text);
  if (skipped) result.skipped.push(skipped[1]);
  const where = /^node \S+, [^;]*; (.*)$/m.exec(out.text);
  result.notes.push(
    'From bench/tftp.ts, run as a child process: our TftpServer in its own process (transfer limits raised to 1000 in total and per client) vs in.tftpd (tftpd-hpa 5.2, forks per transfer) vs dnsmasq\'s built-in TFTP (one process, `--tftp-max=1000 --quiet-tftp`, blocksize extension on) vs atftpd 0.8 (one process, a thread per transfer, `--maxthread 1000`, warnings only; the one C server with RFC 7440 windowsize, unpacked by the benchmark from Debian\'s `atftpd` package into .bench/cache because installed it conflicts with tftpd-hpa), same client (support/tftp-client.ts). As root, all servers and the client run in a private network namespace (`nbtftp<pid>`, only `lo`), because dnsmasq always serves TFTP on port 69. In a cell the servers\' runs are interleaved (the order rotates each round, so a busy moment of the machine hits each alike) and pooled into MB/s, files/s and p50/p99: at least 3 rounds, more until each server was measured for 1 s (at most 200), none started after 20 s per server; 1 round at 500 clients and with --quick. Lock-step rows: ours, tftpd-hpa and dnsmasq; windowsize rows: ours and atftpd (neither tftpd-hpa 5.2 nor dnsmasq 2.90 does RFC 7440). 32 MiB only up to 10 clients. Every transfer must deliver the file\'s exact bytes (sha256) at the blksize/windowsize asked for: any failure fails the benchmark.',
  );
  result.notes.push(
    'Our windowed path (lib/tftp/packets.ts): a regular file is read with one readv() per refill (two windows, at least 64 KiB) straight into a per-transfer ring of ready DATA packets whose headers are written once, so each DATA is one existing buffer handed to one sendmsg, with nothing made per packet on our side. Pinned on one CPU (32 MiB, windowsize 64), that took our server CPU per DATA packet from 8.8-9.0 µs to 7.3-8.3 µs, atftpd\'s being 7.4-8.2 µs; what is left is the kernel (about 4.5 µs of it in both) and Node\'s dgram send (user time 2.9-3.6 µs against atftpd\'s 2.2). atftpd runs a thread per transfer, so with many clients (or other load on the machine) it spreads over both CPUs while ours is one thread: the rows with 10 and more clients compare one core with two.',
  );
  if (where) result.notes.push(`This run: ${where[1]}.`);
  // floor <name> <kind> <µs per round trip> <server CPU µs per round trip> <rounds>
  const floor = [...out.text.matchAll(/^floor (\S+) (echo|tftp) ([\d.]+|NaN) ([\d.]+|NaN) (\d+)$/gm)].map((m) => ({
    name: m[1].replace(/_/g, ' '), kind: m[2], us: Number(m[3]), cpu: Number(m[4]), rounds: m[5],
  }));
  const floorNote = /^floor-note (.*)$/m.exec(out.text)?.[1];
  const base = floor.find((f) => f.name === 'C echo');
  if (floor.length && base) {
    const fixed = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
    result.extra = [{
      title: `### Round-trip floor: what one lock-step exchange costs in each server\n\nBefore the table above, one C client (bench/c/tftp-lockstep.c, bench/c/udp-ping.c) times single round trips: a lock-step TFTP read of 1m.bin at blksize 512 from every server (2049 DATA/ACK exchanges, 2 transfers per round), and a 4-byte request answered with 516 bytes (the same shapes) by two servers that do nothing else: a C one waiting in poll() like in.tftpd and dnsmasq (bench/c/udp-echo.c) and a bare Node \`dgram\` one. ${floorNote ? `${floorNote}; ` : ''}rounds interleaved, median of ${floor[0].rounds}. "server CPU" is the server process's user+system time per exchange (all threads); in.tftpd forks a child per transfer whose time is not counted to it. "speed vs C echo" = C echo's µs / this row's µs: the C echo is the fastest any server can answer here, the Node echo the fastest a Node server can.`,
      header: ['server', 'what it is', 'µs per round trip', 'server CPU µs per round trip', 'speed vs C echo'],
      rows: floor.map((f) => [f.name, f.kind === 'echo' ? 'answers only' : 'TFTP server', fixed(f.us), fixed(f.cpu), (base.us / f.us).toFixed(2)]),
    }];
  } else if (floorNote) result.notes.push(`${floorNote}.`);
  for (const f of out.text.match(/^FAILED: .*$/gm) ?? []) {
    result.findings.push(`**${f}**`);
    result.failed = true;
  }
  if (!result.rows.length) result.skipped.push(`no table parsed; output:\n${out.text.slice(-1500)}`);
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

async function main(): Promise<void> {
  const args = benchArgs(process.argv.slice(2));
  const quick = args.quick === true;
  const budgetS = budgetSeconds(args, 240, 1200);
  const only = args.only !== undefined ? new Set(args.only.split(',')) : undefined;
  const write = args['no-write'] !== true;
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
    { name: 'dhcp', share: 0.26, run: runDhcp },
    { name: 'http', share: 0.17, run: runHttp },
    { name: 'tftp', share: 0.28, run: runTftp },
    { name: 'boots', share: 0.14, run: runBoots },
    { name: 'dashboard', share: 0.15, run: runDashboard },
    { name: 'inventory', share: 0.05, run: runInventory },
    // QEMU machines boot Linux through ours and through dnsmasq: about 60 s a round, 5 rounds
    { name: 'poweron', share: 0.3, run: runPoweron },
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
  const failed = results.filter((r) => r.failed).map((r) => r.name);
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  if (write) {
    const docs = path.join(repoRoot(), 'docs');
    const ratios = results.flatMap((r) => r.ratios);
    const doc = renderDoc({ date, machine, results, command: COMMAND, totalSeconds: total, quick });
    const file = path.join(docs, 'benchmarks.md');
    if (only && existsSync(file)) {
      const load = machine.find(([k]) => k === 'load average at start')?.[1] ?? '?';
      const note = `${results.map((r) => r.name).join(', ')} on ${date} (\`--only ${[...only].join(',')}\`${quick ? ' --quick' : ''}, ${total.toFixed(0)} s, load average at start ${load})`;
      writeFileSync(file, mergeDoc(readFileSync(file, 'utf8'), doc, results, note));
      console.log(`updated the ${results.map((r) => r.name).join(', ')} section(s) of docs/benchmarks.md; benchmarks.svg left as it was (${total.toFixed(0)} s)`);
    } else {
      writeFileSync(file, doc);
      writeFileSync(path.join(docs, 'benchmarks.svg'), ratioChart(ratios, `${date}, ${machine[0][1]}, node ${process.version}; DHCP vs dnsmasq ${machine[4][1]}, HTTP vs bare Node and nginx, TFTP vs tftpd-hpa and dnsmasq`));
      console.log(`wrote docs/benchmarks.md and docs/benchmarks.svg (${total.toFixed(0)} s)`);
    }
  }
  if (failed.length) {
    console.error(`bench: FAILED (${failed.join(', ')}): see the FAILED lines above`);
    process.exitCode = 1;
  }
}

exitCleanly(main);
