/**
 * Shared pieces of the benchmarks: statistics, result tables, child processes we start (and only
 * those are ever killed, by PID), network namespaces we create (and remove), machine facts.
 */
import { parseArgs } from 'node:util';
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The repository root (bench files compile to .bench/bench/..., sources live in bench/...). */
export function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'bench', 'run.ts'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`cannot find the repository root above ${__dirname}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Spread of runs as ±% of the median: (max − min) / 2 / median. */
export function spread(xs: number[]): string {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length < 2) return '–';
  const m = median(v);
  if (!m) return '–';
  return `±${((((Math.max(...v) - Math.min(...v)) / 2) / m) * 100).toFixed(0)}%`;
}

export function fmt(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return '–';
  return x.toFixed(digits);
}

/** One ours/peer comparison, for the chart. `higherIsBetter` false for latencies. */
export interface Ratio {
  group: string;
  label: string;
  value: number;
}

export interface BenchResult {
  name: string;
  title: string;
  /** Markdown lines printed before the table (what was measured, settings). */
  notes: string[];
  header: string[];
  rows: string[][];
  /** Extra tables (title + header + rows). */
  extra?: Array<{ title: string; header: string[]; rows: string[][] }>;
  ratios: Ratio[];
  skipped: string[];
  findings: string[];
  seconds: number;
  /** A hard failure (e.g. a transfer that did not deliver the file): `npm run bench` exits 1. */
  failed?: boolean;
}

/** Notes how big the store grew: the inventory file, and the boot-event log appended beside it. */
export function inventoryNote(r: BenchResult, dataDir: string): void {
  const size = (name: string): string | undefined => {
    try {
      return `${(statSync(path.join(dataDir, name)).size / 1e6).toFixed(2)} MB`;
    } catch {
      return undefined;
    }
  };
  const inventory = size('inventory.json');
  if (!inventory) return;
  const events = size('inventory.events.jsonl') ?? 'no file';
  const journal = size('inventory.journal.jsonl') ?? 'no file';
  r.findings.push(`Store at the end: inventory.json (devices, images, settings; written whole when its journal outgrows it) ${inventory}; inventory.journal.jsonl (one line per changed record, fdatasync'ed before the change is acknowledged) ${journal}; inventory.events.jsonl (persisted boot events, one appended line each, batched fsync) ${events}.`);
}

export function markdownTable(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((h, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

export function renderResult(r: BenchResult): string {
  const out: string[] = [`## ${r.title}`, ''];
  if (r.notes.length) out.push(...r.notes, '');
  out.push(markdownTable(r.header, r.rows), '');
  for (const t of r.extra ?? []) out.push(`${t.title}`, '', markdownTable(t.header, t.rows), '');
  if (r.findings.length) out.push(...r.findings.map((f) => `- ${f}`), '');
  if (r.skipped.length) out.push(`Skipped: ${r.skipped.join('; ')}`, '');
  out.push(`(${r.seconds.toFixed(0)} s)`, '');
  return out.join('\n');
}

export interface RunOptions {
  quick: boolean;
  /** performance.now() value after which no new cell starts. */
  deadline: number;
}

/** Every flag of the benchmark scripts (one table, so `npm run bench -- --quick` means the same everywhere). */
const BENCH_OPTIONS = {
  quick: { type: 'boolean' },
  'budget-s': { type: 'string' },
  only: { type: 'string' },
  'no-write': { type: 'boolean' },
  servers: { type: 'string' },
  pin: { type: 'boolean' },
  'no-floor': { type: 'boolean' },
  conc: { type: 'string' },
  configs: { type: 'string' },
  'in-netns': { type: 'string' },
  'no-netns': { type: 'boolean' },
} as const;
export type BenchArgs = ReturnType<typeof parseArgs<{ options: typeof BENCH_OPTIONS; strict: true }>>['values'];

/** The command line of a benchmark script, by node:util's parser: an unknown flag or a missing value stops it with the reason. */
export function benchArgs(argv: string[]): BenchArgs {
  try {
    return parseArgs({ args: argv, options: BENCH_OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    console.error(`bench: ${(err as Error).message}`);
    return process.exit(2);
  }
}

/** The budget in seconds: --budget-s, else the default for a quick or a full run. */
export function budgetSeconds(a: BenchArgs, quickDefault: number, fullDefault: number): number {
  const n = a['budget-s'] === undefined ? NaN : Number(a['budget-s']);
  return Number.isFinite(n) && n > 0 ? n : a.quick ? quickDefault : fullDefault;
}

export function parseCommon(argv: string[]): RunOptions {
  const a = benchArgs(argv);
  return { quick: a.quick === true, deadline: performance.now() + budgetSeconds(a, 90, 300) * 1000 };
}

// ---- processes we start -------------------------------------------------------------------

const started = new Set<ChildProcess>();

export function startProcess(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

export function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  return new Promise((resolve) => {
    if (!alive(child)) return resolve();
    const t = setTimeout(() => {
      if (alive(child)) child.kill('SIGKILL');
    }, graceMs);
    const hard = setTimeout(resolve, graceMs + 2000);
    child.once('exit', () => {
      clearTimeout(t);
      clearTimeout(hard);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

const cleanups = new Set<() => void>();

/** Registers a synchronous clean-up (namespaces, temp dirs) that also runs on SIGINT/SIGTERM. */
export function onCleanup(fn: () => void): () => void {
  cleanups.add(fn);
  return () => {
    cleanups.delete(fn);
  };
}

function runCleanups(): void {
  killAllStarted();
  for (const fn of [...cleanups].reverse()) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
  cleanups.clear();
}

/** Runs `main`; on error or SIGINT/SIGTERM kills what we started and removes what we created. */
export function exitCleanly(main: () => Promise<void>): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      runCleanups();
      process.exit(130);
    });
  }
  main().then(() => runCleanups(), (err: unknown) => {
    console.error(err);
    runCleanups();
    process.exit(1);
  });
}

/** Kills (SIGKILL, by PID) every child this process started that still runs. */
export function killAllStarted(): void {
  for (const c of started) {
    if (alive(c) && c.pid) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
  }
}

/** Collects a child's output; `waitFor` resolves on the first match or rejects on exit/timeout. */
export class Output {
  text = '';
  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.text += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.text += d.toString()));
  }

  waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray> {
    const end = Date.now() + ms;
    return new Promise((resolve, reject) => {
      const tick = (): void => {
        const m = this.text.match(re);
        if (m) return resolve(m);
        if (!alive(this.child)) return reject(new Error(`process exited (${this.child.exitCode ?? this.child.signalCode}) before ${re}:\n${this.text.slice(-2000)}`));
        if (Date.now() > end) return reject(new Error(`timed out waiting for ${re}:\n${this.text.slice(-2000)}`));
        setTimeout(tick, 50);
      };
      tick();
    });
  }
}

export function sh(cmd: string, args: string[], timeout = 10_000): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tryVersion(cmd: string, args: string[], re: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  if (r.error) return 'not installed';
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return re.exec(text)?.[1] ?? (text.split('\n')[0].trim() || '?');
}

function dpkgVersion(pkg: string): string {
  const v = tryVersion('dpkg-query', ['-W', '-f=${Version}', pkg], /^(\S+)$/);
  return /^\d/.test(v) ? v : 'not installed';
}

export function machineInfo(): Array<[string, string]> {
  const cpus = os.cpus();
  let load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  if (!load) load = '?';
  return [
    ['CPU', `${cpus[0]?.model ?? '?'} (${cpus.length} logical cores)`],
    ['memory', `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['kernel', `${os.type()} ${os.release()}`],
    ['node', process.version],
    ['dnsmasq', tryVersion('/usr/sbin/dnsmasq', ['--version'], /Dnsmasq version (\S+)/)],
    ['nginx', `${tryVersion('/usr/sbin/nginx', ['-v'], /nginx\/(\S+)/)} (Debian nginx-light ${dpkgVersion('nginx-light')})`],
    ['tftpd-hpa', `${dpkgVersion('tftpd-hpa')} (in.tftpd)`],
    ['wrk', tryVersion('wrk', ['-v'], /wrk (\S+)/)],
    ['load average at start', load],
  ];
}

// ---- /proc sampling ------------------------------------------------------------------------

let ticksPerSecond: number | undefined;

/** CPU seconds `pid` has used so far (all its threads), or NaN. */
export function procCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    ticksPerSecond ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
    // the command name may hold spaces: the fields start after its closing parenthesis
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11] = utime, fields[12] = stime (1-based 14 and 15), in clock ticks
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return NaN;
  }
}

/** Sets the CPU affinity of `pid` and all its threads (`taskset -a`); false when that fails. */
export function setAffinity(pid: number | undefined, cpus: string): boolean {
  if (pid === undefined) return false;
  try {
    sh('taskset', ['-a', '-p', '-c', cpus, String(pid)]);
    return true;
  } catch {
    return false;
  }
}

export function procRssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// ---- network namespaces --------------------------------------------------------------------

export interface NetnsPair {
  srv: string;
  cli: string;
  srvIf: string;
  cliIf: string;
  srvIp: string;
  remove(): void;
}

/**
 * Two namespaces joined by a veth pair: `srv` holds `${net}.1/24`, `cli` holds no address (so its
 * broadcasts leave from 0.0.0.0 like a PXE ROM's); both route 255.255.255.255 to the veth.
 */
export function createNetnsPair(prefix: string, net: string): NetnsPair {
  const id = String(process.pid % 100000);
  const srv = `${prefix}s${id}`;
  const cli = `${prefix}c${id}`;
  const srvIf = `${prefix}vs${id}`.slice(0, 15);
  const cliIf = `${prefix}vc${id}`.slice(0, 15);
  const made: string[] = [];
  let unregister = (): void => undefined;
  const remove = (): void => {
    unregister();
    for (const ns of made.splice(0).reverse()) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
  };
  unregister = onCleanup(remove);
  try {
    for (const ns of [srv, cli]) {
      sh('ip', ['netns', 'add', ns]);
      made.push(ns);
    }
    sh('ip', ['link', 'add', cliIf, 'netns', cli, 'type', 'veth', 'peer', 'name', srvIf, 'netns', srv]);
    sh('ip', ['-n', srv, 'addr', 'add', `${net}.1/24`, 'dev', srvIf]);
    for (const [ns, dev] of [[srv, srvIf], [cli, cliIf]]) {
      sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', ns, 'route', 'add', '255.255.255.255/32', 'dev', dev]);
    }
  } catch (err) {
    remove();
    throw err;
  }
  return { srv, cli, srvIf, cliIf, srvIp: `${net}.1`, remove };
}

export function haveRootNetns(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  try {
    sh('ip', ['-V']);
  } catch {
    return 'ip (iproute2) missing';
  }
  return undefined;
}
