/**
 * TFTP benchmark: our TftpServer against tftpd-hpa (in.tftpd), dnsmasq's built-in TFTP server and,
 * on the windowsize rows, atftpd; the same client for all (support/tftp-client.ts).
 *
 * Build and run (tsx is not installed; tsc compiles this file and its imports to .bench/, which is
 * git-ignored):
 *   npx tsc -p tsconfig.bench.json
 *   node .bench/bench/tftp.js [--quick] [--budget-s 420] [--no-netns] [--conc 1,10,50,500] [--pin] [--no-floor]
 *     [--configs bs512,bs1468,w16,w64]
 *
 * atftpd 0.8 is the one C TFTP server with RFC 7440 windowsize. Installed normally it conflicts
 * with tftpd-hpa, so the benchmark unpacks Debian's `atftpd` package itself (`apt-get download`,
 * `dpkg-deb -x`) into .bench/cache/atftpd once and runs the binary from there; without apt (or
 * offline, with nothing cached) the windowsize rows have no peer and the notes say why.
 *
 * Where: dnsmasq always serves TFTP on port 69, so (as root, with iproute2) the whole benchmark
 * re-runs itself inside a private network namespace `nbtftp<pid>` with only `lo` up: every server
 * and the client run there on 127.0.0.1, and the namespace is removed at the end (also on
 * SIGINT/SIGTERM). Ours and in.tftpd use free high ports, dnsmasq 127.0.0.1:69. Without root or with
 * `--no-netns` it runs on the host's 127.0.0.1, and dnsmasq only when 127.0.0.1:69 is free.
 *
 * Our server runs in a child process (like in.tftpd's forked children, so the client's event loop
 * does not share a CPU thread with the server), with its total and per-client transfer limits
 * raised to 1000 (every client here is 127.0.0.1). dnsmasq: `--tftp-max=1000`, blocksize extension
 * on, `--quiet-tftp`. atftpd: `--daemon --no-fork --maxthread 1000`, warnings only. Matrix: 1 MiB
 * and 32 MiB files × blksize 512, 1468 (ours, tftpd-hpa, dnsmasq), 1468+windowsize 16,
 * 1468+windowsize 64 (ours and atftpd: neither tftpd-hpa 5.2 nor dnsmasq 2.90 does windowsize) ×
 * concurrency 1/10/50/500 (`--quick`: 1/10); 32 MiB only up to 10 clients. In a cell the servers'
 * runs are interleaved (the order rotates each round) and pooled: at least 3 rounds, more until
 * each server was measured for 1 s (a 1 MiB file to one client takes milliseconds), at most 200
 * rounds, none started after 20 s per server; 1 round with --quick and at 500 clients (one run
 * takes up to ~20 s at blksize 512). The whole run starts no cell after the budget (default
 * 420 s); skipped cells are listed. Prints MB/s, files/s, per-file p50/p99 and the
 * ours/peer MB/s ratio for each peer (ours/tftpd-hpa, ours/dnsmasq, ours/atftpd).
 *
 * Round-trip floor (before the matrix; `--no-floor` skips it; needs `cc`): bench/lib/floor.ts
 * compiles bench/c/*.c and measures, with one C client, the µs and server CPU per lock-step round
 * trip of every TFTP server (1m.bin at blksize 512) and of two servers that only answer: a C one and
 * a bare Node dgram one. Printed as `floor ...` lines.
 *
 * Hard failures: every transfer must return exactly the file's bytes (sha256 compared) with the
 * blksize/windowsize asked for; any failed, short, corrupt or renegotiated transfer, and a peer that
 * is installed but does not start or fails its check, prints a `FAILED:` line and the process exits 1
 * (after the table and the `total N s` line).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { existsSync, mkdirSync, promises as fsp, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createStaticResolver } from '../lib/tftp/static-resolver';
import { TftpServer } from '../lib/tftp/server';
import { measureFloor } from './lib/floor';
import { tftpGet } from '../support/tftp-client';
import { alive, benchArgs, budgetSeconds, exitCleanly, haveRootNetns, killAllStarted, onCleanup, Output, pct, repoRoot, setAffinity, sh, sleep, startProcess, stopProcess } from './lib/common';

const HPA = '/usr/sbin/in.tftpd';
const DNSMASQ = '/usr/sbin/dnsmasq';
const HOST = '127.0.0.1';
/** Debian's atftpd, unpacked (not installed: it conflicts with tftpd-hpa) into .bench/cache/atftpd. */
const atftpdCache = (): string => path.join(repoRoot(), '.bench', 'cache', 'atftpd');

/**
 * The atftpd binary, unpacked from Debian's package into the cache folder when it is not there yet
 * (`apt-get download` + `dpkg-deb -x`; nothing is installed). `fetch` false only looks at the cache
 * (inside the namespace there is no network). Answers the binary's path, or why there is none.
 */
function atftpdBinary(fetch: boolean): { bin?: string; why?: string } {
  const cache = atftpdCache();
  const binPath = path.join(cache, 'root', 'usr', 'sbin', 'atftpd');
  if (existsSync(binPath)) return { bin: binPath };
  if (!fetch) return { why: `${binPath} missing` };
  try {
    mkdirSync(cache, { recursive: true });
    if (!readdirSync(cache).some((f) => /^atftpd_.*\.deb$/.test(f))) {
      // as root apt would drop to its sandbox user, which cannot write here
      const r = spawnSync('apt-get', ['download', '-o', 'APT::Sandbox::User=root', 'atftpd'], { cwd: cache, encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) return { why: `apt-get download atftpd failed: ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').pop()}` };
    }
    const deb = readdirSync(cache).find((f) => /^atftpd_.*\.deb$/.test(f));
    if (!deb) return { why: 'apt-get download atftpd left no .deb' };
    sh('dpkg-deb', ['-x', path.join(cache, deb), path.join(cache, 'root')], 60_000);
    return existsSync(binPath) ? { bin: binPath } : { why: `${deb} holds no usr/sbin/atftpd` };
  } catch (err) {
    return { why: `unpacking atftpd failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

async function serveMode(dir: string): Promise<void> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((res) => sock.bind(0, HOST, () => res()));
  const server = new TftpServer({ address: HOST, resolver: createStaticResolver(dir), maxTransfers: 1000, maxTransfersPerClient: 1000 });
  server.attach(sock);
  process.stdout.write(`PORT ${sock.address().port}\n`);
  const stop = async (): Promise<void> => {
    await server.close();
    sock.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
}

function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  return new Promise((res) => s.bind(0, HOST, () => {
    const p = s.address().port;
    s.close(() => res(p));
  }));
}

/** True when a UDP socket can bind HOST:port right now (nothing else holds it). */
function portFree(port: number): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  return new Promise((res) => {
    s.once('error', () => {
      s.close();
      res(false);
    });
    s.bind(port, HOST, () => s.close(() => res(true)));
  });
}

interface Peer {
  name: string;
  port: number;
  proc: ChildProcess;
  /** Serves the windowsize rows (RFC 7440). */
  windows: boolean;
  /** Serves the rows without windowsize (false: a peer measured on the windowed rows only). */
  lockstep: boolean;
  stop(): Promise<void>;
  /** Server-side log lines worth showing when something failed. */
  log(): string;
}

async function startOurs(dir: string): Promise<Peer> {
  const proc = startProcess(process.execPath, [__filename, '--serve', dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error('our server did not start')), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /PORT (\d+)/.exec(buf);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
  });
  return {
    name: 'ours', port, proc, windows: true, lockstep: true, log: () => '',
    stop: async () => {
      proc.stdin?.end();
      await stopProcess(proc, 1000);
    },
  };
}

async function startHpa(dir: string): Promise<Peer> {
  const port = await freePort();
  const proc = startProcess(HPA, ['-L', '-u', 'root', '-s', dir, '-a', `${HOST}:${port}`], { stdio: 'ignore' });
  await sleep(300);
  if (!alive(proc)) throw new Error(`in.tftpd exited with ${proc.exitCode ?? proc.signalCode}`);
  return { name: 'tftpd-hpa', port, proc, windows: false, lockstep: true, log: () => '', stop: () => stopProcess(proc, 1000) };
}

/**
 * atftpd 0.8 (Debian's package, unpacked): one process, a thread per transfer, RFC 7440 windowsize.
 * Standalone in the foreground, on a free port, up to 1000 threads, warnings and errors only on
 * its stdout (per-transfer notices would be a write per request the others do not make).
 */
async function startAtftpd(bin: string, dir: string): Promise<Peer> {
  const port = await freePort();
  const root = process.getuid?.() === 0;
  const user = root ? 'root' : os.userInfo().username;
  const group = root ? 'root' : sh('id', ['-gn']).trim();
  const proc = startProcess(bin, [
    '--daemon', '--no-fork', '--port', String(port), '--bind-address', HOST, '--maxthread', '1000', '--no-multicast',
    '--logfile', '-', '--verbose=4', '--user', user, '--group', group, dir,
  ]);
  const out = new Output(proc);
  await sleep(300);
  if (!alive(proc)) throw new Error(`atftpd exited with ${proc.exitCode ?? proc.signalCode}: ${out.text.trim()}`);
  return { name: 'atftpd', port, proc, windows: true, lockstep: false, log: () => out.text, stop: () => stopProcess(proc, 1000) };
}

async function startDnsmasq(dir: string, work: string): Promise<Peer> {
  const logFile = path.join(work, 'dnsmasq.log');
  const proc = startProcess(DNSMASQ, [
    '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--enable-tftp', `--tftp-root=${dir}`,
    `--listen-address=${HOST}`, '--bind-interfaces', '--tftp-max=1000', '--quiet-tftp',
    `--log-facility=${logFile}`, `--pid-file=${path.join(work, 'dnsmasq.pid')}`, '--user=root', '--group=root',
  ]);
  const out = new Output(proc);
  const log = (): string => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return out.text;
    }
  };
  await sleep(500);
  if (!alive(proc)) throw new Error(`dnsmasq exited with ${proc.exitCode ?? proc.signalCode}: ${out.text.trim()} ${log().trim()}`);
  return { name: 'dnsmasq', port: 69, proc, windows: false, lockstep: true, log, stop: () => stopProcess(proc, 1000) };
}

interface Cell {
  mbps: number;
  filesPerSec: number;
  p50: number;
  p99: number;
  runs: number;
  failures: number;
  reasons: string[];
}

interface Want {
  file: string;
  size: number;
  sha256: string;
  blksize: number;
  windowsize?: number;
}

/** Why a transfer does not count, or undefined when it delivered the whole file as negotiated. */
function checkTransfer(x: PromiseSettledResult<Awaited<ReturnType<typeof tftpGet>>>, want: Want): string | undefined {
  if (x.status === 'rejected') return String((x.reason as Error)?.message ?? x.reason).split('\n')[0];
  const v = x.value;
  if (v.bytes !== want.size) return `${v.bytes} bytes instead of ${want.size}`;
  if (v.sha256 !== want.sha256) return 'content differs (sha256)';
  if (v.blksize !== want.blksize) return `blksize ${v.blksize} instead of ${want.blksize}`;
  if ((want.windowsize ?? 1) !== v.windowsize) return `windowsize ${v.windowsize} instead of ${want.windowsize ?? 1}`;
  return undefined;
}

function get(peer: Peer, want: Want): Promise<Awaited<ReturnType<typeof tftpGet>>> {
  return tftpGet({
    host: HOST, port: peer.port, filename: want.file, blksize: want.blksize === 512 ? undefined : want.blksize, windowsize: want.windowsize,
    collect: false, retryMs: 1000, totalTimeoutMs: 120_000,
  });
}

/** What the runs of one server in one cell add up to. */
class CellRuns {
  private readonly lat: number[] = [];
  private readonly reasons = new Map<string, number>();
  private bytes = 0;
  private files = 0;
  private failures = 0;
  wall = 0;
  runs = 0;

  constructor(private readonly want: Want) {}

  add(results: Array<PromiseSettledResult<Awaited<ReturnType<typeof tftpGet>>>>, wallMs: number): void {
    this.wall += wallMs;
    this.runs++;
    for (const x of results) {
      const why = checkTransfer(x, this.want);
      if (why === undefined && x.status === 'fulfilled') {
        this.lat.push(x.value.durationMs);
        this.bytes += x.value.bytes;
        this.files++;
      } else {
        this.failures++;
        this.reasons.set(why ?? '?', (this.reasons.get(why ?? '?') ?? 0) + 1);
      }
    }
  }

  cell(): Cell {
    const lat = [...this.lat].sort((a, b) => a - b);
    const s = this.wall / 1000;
    return {
      mbps: this.bytes / 1e6 / s, filesPerSec: this.files / s, p50: pct(lat, 50), p99: pct(lat, 99), runs: this.runs, failures: this.failures,
      reasons: [...this.reasons].slice(0, 3).map(([k, n]) => `${n}× ${k}`),
    };
  }
}

/**
 * One cell for all its servers, their runs interleaved (the order rotates each round) so that a
 * busy moment of the machine hits each server alike. At least `minRuns` rounds, more while a
 * server has been measured for less than `minMs` in total (a 1 MiB file to one client takes a few
 * milliseconds), at most `maxRuns`; no new round after `budgetMs`.
 */
async function runCell(cellPeers: Peer[], want: Want, conc: number, o: { minRuns: number; maxRuns: number; minMs: number; budgetMs: number }): Promise<Map<string, Cell>> {
  const acc = new Map(cellPeers.map((p) => [p.name, new CellRuns(want)]));
  const start = performance.now();
  for (let r = 0; r < o.maxRuns; r++) {
    if (r >= o.minRuns && [...acc.values()].every((a) => a.wall >= o.minMs)) break;
    if (r > 0 && performance.now() - start > o.budgetMs) break;
    for (let k = 0; k < cellPeers.length; k++) {
      const peer = cellPeers[(r + k) % cellPeers.length];
      const t0 = performance.now();
      const results = await Promise.allSettled(Array.from({ length: conc }, () => get(peer, want)));
      acc.get(peer.name)!.add(results, performance.now() - t0);
    }
  }
  return new Map([...acc].map(([name, a]) => [name, a.cell()]));
}

function ratioText(ours: Cell | undefined, peer: Cell): string {
  if (!ours) return '-';
  const r = ours.mbps / peer.mbps;
  return Number.isFinite(r) && r > 0 ? r.toFixed(2) : '-';
}

/** The benchmark itself (inside the namespace when there is one). */
async function bench(argv: string[], netns: string | undefined): Promise<void> {
  const args = benchArgs(argv);
  const quick = args.quick === true;
  const budgetMs = budgetSeconds(args, 420, 420) * 1000;
  const started = performance.now();
  const failed: string[] = [];
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'netboot-tftp-bench-'));
  const unregister = onCleanup(() => sh('rm', ['-rf', work]));
  // also when the process dies another way (e.g. EPIPE on stdout): no server outlives it
  const onExit = (): void => {
    killAllStarted();
    rmSync(work, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const dir = path.join(work, 'root');
  await fsp.mkdir(dir);
  await fsp.chmod(work, 0o755);
  await fsp.chmod(dir, 0o755);
  const sizes: Array<[string, number, string]> = [];
  for (const [name, size] of [['1m.bin', 1 << 20], ['32m.bin', 32 << 20]] as const) {
    const data = randomBytes(size);
    await fsp.writeFile(path.join(dir, name), data);
    sizes.push([name, size, createHash('sha256').update(data).digest('hex')]);
  }
  const peers: Peer[] = [];
  const notes: string[] = [netns ? `network namespace ${netns} (lo only), all servers and the client on ${HOST}` : `host ${HOST} (no namespace)`];
  try {
    peers.push(await startOurs(dir));
    if (existsSync(HPA)) peers.push(await startHpa(dir));
    else notes.push(`${HPA} missing: tftpd-hpa not measured`);
    const atftpd = atftpdBinary(false);
    if (atftpd.bin) {
      try {
        peers.push(await startAtftpd(atftpd.bin, dir));
      } catch (err) {
        failed.push(`atftpd did not start: ${(err as Error).message}`);
      }
    } else notes.push(`atftpd not measured (${atftpd.why})`);
    if (!existsSync(DNSMASQ)) notes.push(`${DNSMASQ} missing: dnsmasq not measured`);
    else if (!(await portFree(69))) notes.push(`${HOST}:69 is in use (or not bindable): dnsmasq not measured`);
    else {
      try {
        peers.push(await startDnsmasq(dir, work));
      } catch (err) {
        failed.push(`dnsmasq did not start: ${(err as Error).message}`);
      }
    }
    if (args.pin) {
      // like a client on another machine, and the same for every server: the client on CPU 0, each
      // server (with every thread and every process it forks) on CPU 1
      if (os.cpus().length < 2) notes.push('--pin needs 2 CPUs: not pinned');
      else {
        const ok = setAffinity(process.pid, '0') && peers.every((p) => setAffinity(p.proc.pid, '1'));
        notes.push(ok ? 'pinned: client on CPU 0, every server on CPU 1' : 'taskset failed: not pinned');
      }
    }
    // every peer must serve the whole file, as asked, before it is measured
    for (const p of [...peers]) {
      const [file, size, sha256] = sizes[0];
      let why: string | undefined = 'not tried';
      for (let i = 0; i < 10 && why !== undefined; i++) {
        if (i > 0) await sleep(300);
        why = checkTransfer((await Promise.allSettled([get(p, { file, size, sha256, blksize: 1468 })]))[0], { file, size, sha256, blksize: 1468 });
      }
      if (why !== undefined) {
        failed.push(`${p.name}: check transfer of ${file} at blksize 1468 failed: ${why}`);
        peers.splice(peers.indexOf(p), 1);
        await p.stop();
      }
    }
    // warm-up, the same for every server, not measured: servers run for weeks, so the first transfers
    // after a start (our JIT compiling the hot path, a file not yet in a cache) are not what we compare
    const WARMUP = 5;
    for (const p of peers) {
      const [file, size, sha256] = sizes[0];
      for (const blksize of [512, 1468]) for (let i = 0; i < WARMUP; i++) await Promise.allSettled([get(p, { file, size, sha256, blksize })]);
    }
    notes.push(`each server warmed up with ${WARMUP} transfers of 1m.bin at blksize 512 and 1468 (not measured)`);
    if (!args['no-floor']) {
      const [file, size] = sizes[0];
      const floor = await measureFloor({
        work, file, blocks: Math.floor(size / 512) + 1, rounds: quick ? 3 : 7, freePort,
        tftp: peers.map((p) => ({ name: p.name, port: p.port, pid: p.proc.pid, cpu: p.name !== 'tftpd-hpa' })),
      });
      // "floor <name> <kind> <µs per round trip> <server CPU µs per round trip> <rounds>", parsed by bench/run.ts
      for (const r of floor.rows) console.log(`floor ${r.name.replace(/ /g, '_')} ${r.kind} ${r.usPerRoundTrip.toFixed(1)} ${r.cpuUsPerRoundTrip.toFixed(1)} ${r.rounds}`);
      console.log(`floor-note ${floor.notes.join('; ')}`);
    }
    const names = peers.map((p) => p.name).filter((n) => n !== 'ours');
    // --configs bs512,bs1468,w16,w64 (or bs1468w64): only those rows
    const pick = args.configs?.split(',').map((t) => t.trim()).filter(Boolean);
    const configs: Array<{ label: string; blksize: number; windowsize?: number }> = [
      { label: 'bs512', blksize: 512 },
      { label: 'bs1468', blksize: 1468 },
      { label: 'bs1468 w16', blksize: 1468, windowsize: 16 },
      { label: 'bs1468 w64', blksize: 1468, windowsize: 64 },
    ].filter((c) => !pick || pick.some((t) => c.label.replace(' ', '') === t || c.label.endsWith(` ${t}`)));
    const concs = args.conc !== undefined ? args.conc.split(',').map(Number).filter((n) => n > 0 && n <= 1000) : quick ? [1, 10] : [1, 10, 50, 500];
    const skipped: string[] = [];
    console.log(`node ${process.version}, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? ''}; ${notes.join('; ')}; peers: ${names.join(', ') || 'none'}`);
    console.log('size    config       conc  server      MB/s   files/s   p50 ms   p99 ms  runs fail  ours/tftpd-hpa  ours/dnsmasq  ours/atftpd');
    for (const [file, size, sha256] of sizes) {
      for (const cfg of configs) {
        for (const conc of concs) {
          // 32 MiB × 50 at 512-byte lock-step would take minutes per run: keep big files to conc ≤ 10.
          if (size > (8 << 20) && conc > 10) {
            skipped.push(`${file} ${cfg.label} c=${conc} (too long for the budget)`);
            continue;
          }
          const cellPeers = peers.filter((p) => (cfg.windowsize ? p.windows : p.lockstep));
          if (performance.now() - started > budgetMs) {
            skipped.push(`${file} ${cfg.label} c=${conc} (budget)`);
            continue;
          }
          const want = { file, size, sha256, blksize: cfg.blksize, windowsize: cfg.windowsize };
          const one = quick || conc >= 500;
          const results = await runCell(cellPeers, want, conc, { minRuns: one ? 1 : 3, maxRuns: one ? 1 : 200, minMs: quick ? 0 : 1000, budgetMs: 20_000 * cellPeers.length });
          const ours = results.get('ours');
          for (const peer of cellPeers) {
            const cell = results.get(peer.name)!;
            const rHpa = peer.name === 'tftpd-hpa' ? ratioText(ours, cell) : '-';
            const rDns = peer.name === 'dnsmasq' ? ratioText(ours, cell) : '-';
            const rAtf = peer.name === 'atftpd' ? ratioText(ours, cell) : '-';
            const line = `${file.padEnd(8)}${cfg.label.padEnd(13)}${String(conc).padStart(4)}  ${peer.name.padEnd(10)}${cell.mbps.toFixed(1).padStart(7)}${cell.filesPerSec.toFixed(1).padStart(10)}${cell.p50.toFixed(0).padStart(9)}${cell.p99.toFixed(0).padStart(9)}${String(cell.runs).padStart(6)}${String(cell.failures).padStart(5)}  ${rHpa.padStart(14)}  ${rDns.padStart(12)}  ${rAtf.padStart(11)}`;
            console.log(line);
            if (cell.failures) {
              failed.push(`${file} ${cfg.label} c=${conc} ${peer.name}: ${cell.failures} of ${cell.runs * conc} transfers (${cell.reasons.join(', ')})`);
              const log = peer.log().split('\n').filter((l) => /fail|error|refus|limit|max/i.test(l)).slice(-3).join(' | ');
              if (log) failed.push(`${peer.name} log: ${log}`);
            }
          }
        }
      }
    }
    if (skipped.length) console.log(`skipped: ${skipped.join('; ')}`);
  } finally {
    for (const p of peers) await p.stop();
    unregister();
    process.removeListener('exit', onExit);
    await fsp.rm(work, { recursive: true, force: true });
  }
  for (const f of failed) console.log(`FAILED: ${f}`);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (failed.length) process.exitCode = 1;
}

/** Creates `nbtftp<pid>` (lo up, 127.0.0.1 and 127.0.0.2), runs this file with `--in-netns` inside it, removes it at the end. */
async function inNamespace(args: string[]): Promise<void> {
  const ns = `nbtftp${process.pid % 100000}`;
  let made = false;
  const remove = (): void => {
    if (!made) return;
    made = false;
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {
      /* already gone */
    }
  };
  const unregister = onCleanup(remove);
  process.once('exit', remove);
  let child: ChildProcess | undefined;
  // forward a stop to the inner run (it stops its servers by PID); the namespace goes after it
  const forward = (): void => {
    if (child && alive(child) && child.pid) process.kill(child.pid, 'SIGTERM');
    setTimeout(() => {
      if (child && alive(child) && child.pid) process.kill(child.pid, 'SIGKILL');
      remove();
      process.exit(130);
    }, 3000).unref();
  };
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  process.on('SIGTERM', forward);
  process.on('SIGINT', forward);
  try {
    sh('ip', ['netns', 'add', ns]);
    made = true;
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // in.tftpd resolves its -a address with AI_ADDRCONFIG, which (glibc) does not count 127.0.0.1:
    // with only that address it finds no IPv4 and exits 66. A second loopback address fixes that.
    sh('ip', ['-n', ns, 'addr', 'add', '127.0.0.2/8', 'dev', 'lo']);
    child = spawn('ip', ['netns', 'exec', ns, process.execPath, __filename, '--in-netns', ns, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
    const code = await new Promise<number>((resolve) => child!.once('exit', (c, s) => resolve(c ?? (s ? 130 : 1))));
    if (code) process.exitCode = code;
  } finally {
    remove();
    unregister();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--serve') return serveMode(args[1]);
  const parsed = benchArgs(args);
  if (parsed['in-netns'] !== undefined) return bench(args, parsed['in-netns']);
  // before the namespace, which has no network: the peer atftpd is unpacked from its package once
  atftpdBinary(true);
  if (!parsed['no-netns'] && haveRootNetns() === undefined) return inNamespace(args);
  return bench(args, undefined);
}

if (process.argv[2] === '--serve') {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  exitCleanly(main);
}
