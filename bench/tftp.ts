/**
 * TFTP benchmark: our TftpServer against tftpd-hpa (in.tftpd) on 127.0.0.1, same client for both
 * (test/helpers/tftp-client.ts).
 *
 * Build and run (tsx is not installed; tsc compiles this file and its imports to .bench/, which is
 * git-ignored):
 *   npx tsc bench/tftp.ts --outDir .bench/tftp --rootDir . --module commonjs --target es2022 \
 *     --types node --esModuleInterop --skipLibCheck --strict
 *   node .bench/tftp/bench/tftp.js [--quick] [--budget-s 270]
 *
 * Our server runs in a child process (like in.tftpd's forked children, so the client's event loop
 * does not share a CPU thread with the server). Matrix: 1 MiB and 32 MiB files × blksize 512, 1468,
 * 1468+windowsize 16, 1468+windowsize 64 (ours only: tftpd-hpa 5.2 has no windowsize) × concurrency
 * 1/10/50 × 3 runs. A cell stops early after 20 s and the whole run after the budget (default
 * 270 s); skipped cells are listed. Prints MB/s, files/s, per-file p50/p99 and ours/peer ratio.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createStaticResolver } from '../lib/tftp/static-resolver';
import { TftpServer } from '../lib/tftp/server';
import { tftpGet } from '../test/helpers/tftp-client';

const HPA = '/usr/sbin/in.tftpd';

async function serveMode(dir: string): Promise<void> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
  const server = new TftpServer({ address: '127.0.0.1', resolver: createStaticResolver(dir), maxTransfers: 1000, maxTransfersPerClient: 1000 });
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
  return new Promise((res) => s.bind(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => res(p));
  }));
}

interface Peer {
  name: string;
  port: number;
  proc: ChildProcess;
  windows: boolean;
}

async function startOurs(dir: string): Promise<Peer> {
  const proc = spawn(process.execPath, [__filename, '--serve', dir], { stdio: ['pipe', 'pipe', 'inherit'] });
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
  return { name: 'ours', port, proc, windows: true };
}

async function startHpa(dir: string): Promise<Peer> {
  const port = await freePort();
  const proc = spawn(HPA, ['-L', '-u', 'root', '-s', dir, '-a', `127.0.0.1:${port}`], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  if (proc.exitCode !== null) throw new Error(`in.tftpd exited with ${proc.exitCode}`);
  return { name: 'tftpd-hpa', port, proc, windows: false };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Cell {
  mbps: number;
  filesPerSec: number;
  p50: number;
  p99: number;
  runs: number;
  failures: number;
}

async function runCell(peer: Peer, file: string, size: number, blksize: number, windowsize: number | undefined, conc: number, runs: number, cellBudgetMs: number): Promise<Cell> {
  const lat: number[] = [];
  let bytes = 0;
  let files = 0;
  let wall = 0;
  let failures = 0;
  let done = 0;
  const cellStart = performance.now();
  for (let r = 0; r < runs; r++) {
    if (r > 0 && performance.now() - cellStart > cellBudgetMs) break;
    const t0 = performance.now();
    const results = await Promise.allSettled(Array.from({ length: conc }, () =>
      tftpGet({ host: '127.0.0.1', port: peer.port, filename: file, blksize: blksize === 512 ? undefined : blksize, windowsize, collect: false, retryMs: 1000, totalTimeoutMs: 120_000 })));
    wall += performance.now() - t0;
    for (const x of results) {
      if (x.status === 'fulfilled' && x.value.bytes === size) {
        lat.push(x.value.durationMs);
        bytes += x.value.bytes;
        files++;
      } else failures++;
    }
    done++;
  }
  lat.sort((a, b) => a - b);
  return { mbps: bytes / 1e6 / (wall / 1000), filesPerSec: files / (wall / 1000), p50: pct(lat, 50), p99: pct(lat, 99), runs: done, failures };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--serve') return serveMode(args[1]);
  const quick = args.includes('--quick');
  const bi = args.indexOf('--budget-s');
  const budgetMs = (bi >= 0 ? Number(args[bi + 1]) : 270) * 1000;
  const started = performance.now();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'netboot-tftp-bench-'));
  await fsp.chmod(dir, 0o755);
  const sizes: Array<[string, number]> = [['1m.bin', 1 << 20], ['32m.bin', 32 << 20]];
  for (const [name, size] of sizes) await fsp.writeFile(path.join(dir, name), randomBytes(size));
  const peers: Peer[] = [await startOurs(dir)];
  if (existsSync(HPA)) peers.push(await startHpa(dir));
  else console.log(`${HPA} missing: only our server is measured`);
  const configs: Array<{ label: string; blksize: number; windowsize?: number }> = [
    { label: 'bs512', blksize: 512 },
    { label: 'bs1468', blksize: 1468 },
    { label: 'bs1468 w16', blksize: 1468, windowsize: 16 },
    { label: 'bs1468 w64', blksize: 1468, windowsize: 64 },
  ];
  const concs = quick ? [1, 10] : [1, 10, 50];
  const rows: string[] = [];
  const skipped: string[] = [];
  console.log(`node ${process.version}, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? ''}`);
  console.log('size    config       conc  server      MB/s   files/s   p50 ms   p99 ms  runs fail  ours/peer');
  try {
    for (const [file, size] of sizes) {
      for (const cfg of configs) {
        for (const conc of concs) {
          // 32 MiB × 50 at 512-byte lock-step would take minutes per run: keep big files to conc ≤ 10.
          if (size > (8 << 20) && conc > 10) {
            skipped.push(`${file} ${cfg.label} c=${conc} (too long for the budget)`);
            continue;
          }
          const results = new Map<string, Cell>();
          for (const peer of peers) {
            if (cfg.windowsize && !peer.windows) continue;
            if (performance.now() - started > budgetMs) {
              skipped.push(`${file} ${cfg.label} c=${conc} ${peer.name} (budget)`);
              continue;
            }
            const cell = await runCell(peer, file, size, cfg.blksize, cfg.windowsize, conc, quick ? 1 : 3, 20_000);
            results.set(peer.name, cell);
            const ours = results.get('ours');
            const ratio = peer.name !== 'ours' && ours ? (ours.mbps / cell.mbps).toFixed(2) : '';
            const line = `${file.padEnd(8)}${cfg.label.padEnd(13)}${String(conc).padStart(4)}  ${peer.name.padEnd(10)}${cell.mbps.toFixed(1).padStart(7)}${cell.filesPerSec.toFixed(1).padStart(10)}${cell.p50.toFixed(0).padStart(9)}${cell.p99.toFixed(0).padStart(9)}${String(cell.runs).padStart(6)}${String(cell.failures).padStart(5)}  ${ratio}`;
            rows.push(line);
            console.log(line);
          }
        }
      }
    }
  } finally {
    for (const p of peers) {
      if (p.name === 'ours') p.proc.stdin?.end();
      else p.proc.kill('SIGTERM');
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const p of peers) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    await fsp.rm(dir, { recursive: true, force: true });
  }
  if (skipped.length) console.log(`skipped: ${skipped.join('; ')}`);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
