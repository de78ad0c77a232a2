/**
 * The round-trip floor printed beside the TFTP table.
 *
 * A lock-step TFTP transfer (one client, no windowsize) is one round trip per block: DATA out, ACK
 * back, nothing else overlaps. Its speed is the cost of one UDP round trip through the server
 * process. This measures that cost for every TFTP server and for two servers that do nothing but
 * answer (a C one that waits in poll() like in.tftpd and dnsmasq, and a bare Node `dgram` one), with
 * one C client for all, so the table says how much of a gap is the server's own work and how much is
 * the runtime it is written in. Shapes match TFTP at blksize 512: a 4-byte request, a 516-byte answer.
 *
 * Needs a C compiler (`cc`); without one it reports why and measures nothing. With 2 or more CPUs
 * every target runs pinned the same way (client on CPU 0, server with all its threads on CPU 1,
 * restored to all CPUs afterwards): unpinned, a round trip costs 17-25 µs or 65-90 µs depending on
 * whether the scheduler puts both on one vCPU, which would swamp what is measured here. Rounds are
 * interleaved (the order rotates) so a busy moment of the machine hits every target alike; each
 * value is the median over the rounds. Server CPU per round trip comes from /proc/<pid>/stat (utime
 * + stime over all threads), summed over all rounds; not for in.tftpd, whose per-transfer children
 * are reaped without their CPU time reaching the parent.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { alive, median, procCpuSeconds, setAffinity, sh, sleep, startProcess, stopProcess } from './common';

export interface FloorServer {
  name: string;
  port: number;
  pid: number | undefined;
  /** False when the process's own /proc counters do not hold the work (a server that forks per transfer). */
  cpu?: boolean;
}

export interface FloorRow {
  name: string;
  kind: 'echo' | 'tftp';
  /** Median over the rounds of the µs per round trip. */
  usPerRoundTrip: number;
  /** Server CPU (all threads) per round trip, µs; NaN when not measured. */
  cpuUsPerRoundTrip: number;
  rounds: number;
}

export interface FloorResult {
  rows: FloorRow[];
  /** Why nothing (or not everything) was measured. */
  notes: string[];
}

const SOURCES = ['udp-echo', 'udp-ping', 'tftp-lockstep'];
const ECHO_COUNT = 4000;
const TFTP_REPS = 2;
/** The Node server of the floor: the least a Node UDP server can do per datagram. */
const NODE_ECHO = `const d=require('node:dgram');const r=Buffer.alloc(516,0x5a);const s=d.createSocket('udp4');
s.on('message',(m,a)=>s.send(r,a.port,a.address));s.bind(Number(process.argv[1]),'127.0.0.1',()=>process.stdout.write('up\\n'));`;

function sourceDir(): string | undefined {
  // .bench/bench/lib/floor.js when compiled, bench/lib/floor.ts in the tree: bench/c is two levels up from either bench/
  for (const dir of [path.resolve(__dirname, '../../../bench/c'), path.resolve(__dirname, '../c')]) {
    if (SOURCES.every((s) => existsSync(path.join(dir, `${s}.c`)))) return dir;
  }
  return undefined;
}

/** Compiles the three C helpers into `work`; the reason when it cannot. */
function compile(work: string): string | undefined {
  const dir = sourceDir();
  if (!dir) return 'bench/c sources not found';
  for (const s of SOURCES) {
    const r = spawnSync('cc', ['-O2', '-o', path.join(work, s), path.join(dir, `${s}.c`)], { encoding: 'utf8' });
    if (r.error) return `no C compiler (cc: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install gcc to measure it`;
    if (r.status !== 0) return `cc failed on ${s}.c: ${r.stderr.trim().split('\n')[0]}`;
  }
  return undefined;
}

/** Runs a C client to the end (on CPU 0 when pinned) and returns what it printed. */
function run(cmd: string, args: string[], pinned: boolean): string {
  return pinned ? sh('taskset', ['-c', '0', cmd, ...args], 60_000) : sh(cmd, args, 60_000);
}

async function startEcho(cmd: string, args: string[]): Promise<ChildProcess> {
  const proc = startProcess(cmd, args);
  proc.stdout?.resume();
  proc.stderr?.resume();
  await sleep(300);
  if (!alive(proc)) throw new Error(`${path.basename(cmd)} exited with ${proc.exitCode ?? proc.signalCode}`);
  return proc;
}


/**
 * Measures the floor. `tftp` are the running TFTP servers (serving `file`, `blocks` blocks at
 * blksize 512); `freePort` gives a free UDP port on 127.0.0.1.
 */
export async function measureFloor(opts: {
  work: string;
  tftp: FloorServer[];
  file: string;
  blocks: number;
  rounds: number;
  freePort: () => Promise<number>;
}): Promise<FloorResult> {
  const notes: string[] = [];
  const why = compile(opts.work);
  if (why) return { rows: [], notes: [`round-trip floor not measured: ${why}`] };
  const bin = (s: string) => path.join(opts.work, s);
  const echoes: ChildProcess[] = [];
  try {
    const targets: Array<FloorServer & { kind: 'echo' | 'tftp' }> = [];
    const cPort = await opts.freePort();
    const cEcho = await startEcho(bin('udp-echo'), [String(cPort), '516']);
    echoes.push(cEcho);
    targets.push({ name: 'C echo', kind: 'echo', port: cPort, pid: cEcho.pid });
    const nodePort = await opts.freePort();
    const nodeEcho = await startEcho(process.execPath, ['-e', NODE_ECHO, String(nodePort)]);
    echoes.push(nodeEcho);
    targets.push({ name: 'Node echo', kind: 'echo', port: nodePort, pid: nodeEcho.pid });
    for (const t of opts.tftp) targets.push({ ...t, kind: 'tftp' });
    const cpus = os.cpus().length;
    const pinned = cpus >= 2 && targets.every((t) => setAffinity(t.pid, '1'));
    notes.push(pinned ? 'Client on CPU 0, each server on CPU 1' : cpus < 2 ? 'One CPU: not pinned' : 'taskset failed: not pinned');

    const us = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    const cpu = new Map<string, number>(targets.map((t) => [t.name, 0]));
    const trips = new Map<string, number>(targets.map((t) => [t.name, 0]));
    const all = `0-${cpus - 1}`;
    const measureOne = (t: (typeof targets)[number]): void => {
      const before = procCpuSeconds(t.pid);
      let value: number;
      let n: number;
      if (t.kind === 'echo') {
        const out = run(bin('udp-ping'), [String(t.port), String(ECHO_COUNT)], pinned);
        value = Number(/us_per_rtt ([\d.]+)/.exec(out)?.[1]);
        n = ECHO_COUNT + 500;
      } else {
        const out = run(bin('tftp-lockstep'), [String(t.port), opts.file, '512', String(TFTP_REPS)], pinned);
        const per = [...out.matchAll(/us_per_block ([\d.]+)/g)].map((m) => Number(m[1]));
        value = per.reduce((a, b) => a + b, 0) / per.length;
        n = opts.blocks * TFTP_REPS;
      }
      cpu.set(t.name, cpu.get(t.name)! + (procCpuSeconds(t.pid) - before));
      trips.set(t.name, trips.get(t.name)! + n);
      us.get(t.name)!.push(value);
    };
    // one untimed pass, then the rounds, each in a rotated order
    for (const t of targets) measureOne(t);
    us.forEach((v) => v.splice(0));
    cpu.forEach((_, k) => cpu.set(k, 0));
    trips.forEach((_, k) => trips.set(k, 0));
    for (let r = 0; r < opts.rounds; r++) {
      for (let i = 0; i < targets.length; i++) measureOne(targets[(i + r) % targets.length]);
    }
    if (pinned) for (const t of opts.tftp) setAffinity(t.pid, all);
    const rows: FloorRow[] = targets.map((t) => ({
      name: t.name,
      kind: t.kind,
      usPerRoundTrip: median(us.get(t.name)!),
      cpuUsPerRoundTrip: t.cpu === false ? NaN : (cpu.get(t.name)! / trips.get(t.name)!) * 1e6,
      rounds: us.get(t.name)!.length,
    }));
    return { rows, notes };
  } finally {
    for (const p of echoes) await stopProcess(p, 1000);
  }
}
