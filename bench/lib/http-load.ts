/**
 * The HTTP load client: wrk (C, one thread) when installed, else a Node keep-alive client in a
 * child process. The same client measures both servers; the result says which one ran.
 */
import { execFile } from 'node:child_process';
import * as http from 'node:http';
import { pct } from './common';

export interface HttpLoadResult {
  client: 'wrk' | 'node';
  requests: number;
  seconds: number;
  reqPerSec: number;
  /** Bytes of response bodies and headers read per second. */
  bytesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

let wrkChecked: boolean | undefined;

export function haveWrk(): Promise<boolean> {
  if (wrkChecked !== undefined) return Promise.resolve(wrkChecked);
  return new Promise((resolve) => {
    execFile('wrk', ['-v'], { timeout: 5000 }, (err, stdout, stderr) => {
      wrkChecked = /wrk/.test(`${stdout}${stderr}`) || !err;
      resolve(wrkChecked);
    });
  });
}

const UNIT: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

function durMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : NaN;
}

export function parseWrk(out: string): Omit<HttpLoadResult, 'client'> {
  const lat = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? durMs(m[1], m[2]) : NaN;
  };
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)(B|KB|MB|GB|TB) read/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const requests = total ? Number(total[1]) : 0;
  const seconds = total ? durMs(total[2], total[3]) / 1000 : NaN;
  const bytes = total ? Number(total[4]) * UNIT[total[5]] : 0;
  const errors = (non2xx ? Number(non2xx[1]) : 0) + (sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0);
  return { requests, seconds, reqPerSec: requests / seconds, bytesPerSec: bytes / seconds, p50Ms: lat('50'), p99Ms: lat('99'), errors };
}

function runWrk(url: string, connections: number, seconds: number): Promise<HttpLoadResult> {
  return new Promise((resolve, reject) => {
    execFile('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '60s', url], { timeout: (seconds + 70) * 1000, maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err && !stdout) return reject(err);
      resolve({ client: 'wrk', ...parseWrk(stdout) });
    });
  });
}

/** Node client: `connections` keep-alive loops for `seconds`, bodies counted and dropped. */
export async function nodeLoad(url: string, connections: number, seconds: number): Promise<HttpLoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const lat: number[] = [];
  let bytes = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const one = (): Promise<void> => new Promise((resolve) => {
    const s = performance.now();
    const req = http.get(url, { agent, timeout: 60_000 }, (res) => {
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => {
        if (res.statusCode === 200) lat.push(performance.now() - s);
        else errors++;
        resolve();
      });
      res.on('error', () => {
        errors++;
        resolve();
      });
    });
    req.on('error', () => {
      errors++;
      resolve();
    });
    req.on('timeout', () => req.destroy());
  });
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < end) await one();
  }));
  const secs = (performance.now() - t0) / 1000;
  agent.destroy();
  lat.sort((a, b) => a - b);
  return { client: 'node', requests: lat.length, seconds: secs, reqPerSec: lat.length / secs, bytesPerSec: bytes / secs, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), errors };
}

export async function httpLoad(url: string, connections: number, seconds: number): Promise<HttpLoadResult> {
  if (await haveWrk()) return runWrk(url, connections, seconds);
  return nodeLoad(url, connections, seconds);
}
