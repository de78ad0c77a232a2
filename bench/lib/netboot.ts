/**
 * Starts the real `npm start` entry point (dist/scripts/start.js: Node-RED, the repo's settings,
 * the reference flow) on 127.0.0.1 with a data directory of our own, and waits until the flow
 * serves `/boot/assets/<probe>`.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Output, repoRoot, sleep, startProcess, stopProcess } from './common';
import { freeTcpPort } from '../../support/ports';

export { freeTcpPort };

export interface NetbootProcess {
  child: ChildProcess;
  pid: number;
  httpPort: number;
  baseUrl: string;
  output: Output;
  stop(): Promise<void>;
}

export interface StartOptions {
  /**
   * Start the server in a session of its own (setsid), as a service manager starts a daemon. With
   * the kernel's autogroup scheduling a session's processes share one fair share of the CPU: in the
   * benchmark's session the server would share its share with the simulated client machines, and
   * weigh no more against a browser in a session of its own than those clients do.
   */
  ownSession?: boolean;
}

/** BENCH_SERVER_DIST names another build's folder (a copy of dist/ in the repo) to compare two builds in one sitting. */
export function startScript(): string {
  return path.join(repoRoot(), process.env.BENCH_SERVER_DIST ?? 'dist', 'scripts', 'start.js');
}

export function haveDist(): boolean {
  return existsSync(startScript());
}

/**
 * `env` overrides the NETBOOT_* defaults set here (UDP ports disabled, DHCP off). BENCH_SERVER_NODE_ARGS
 * (space-separated) goes to the server's `node` before the script, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`
 * to profile the server during a benchmark (Node refuses --cpu-prof in NODE_OPTIONS).
 */
export async function startNetboot(dataDir: string, probePath: string, env: Record<string, string> = {}, readyTimeoutMs = 30_000, opts: StartOptions = {}): Promise<NetbootProcess> {
  const httpPort = await freeTcpPort();
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = startProcess(process.execPath, [...nodeArgs, startScript()], {
    env: {
      ...process.env,
      NETBOOT_DATA_DIR: dataDir,
      NETBOOT_ADMIN_PASSWORD: 'bench-password-1',
      NETBOOT_HTTP_PORT: String(httpPort),
      NETBOOT_BIND: '127.0.0.1',
      NETBOOT_SERVER_IP: '127.0.0.1',
      NETBOOT_DHCP_MODE: 'off',
      NETBOOT_DHCP_PORT: '-1',
      NETBOOT_PROXY_PORT: '-1',
      NETBOOT_TFTP_PORT: '-1',
      // tgtd is a system-wide daemon that outlives Node-RED: the benchmarks never start one
      NETBOOT_ISCSI: 'off',
      ...env,
    },
    detached: opts.ownSession === true,
  });
  const output = new Output(child);
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  await output.waitFor(/netboot: HTTP listening/, readyTimeoutMs);
  const end = Date.now() + readyTimeoutMs;
  for (;;) {
    const ok = await fetch(`${baseUrl}${probePath}`).then((r) => r.arrayBuffer().then(() => r.status === 200), () => false);
    if (ok) break;
    if (Date.now() > end) throw new Error(`${probePath} not served within ${readyTimeoutMs / 1000} s:\n${output.text.slice(-2000)}`);
    await sleep(200);
  }
  return { child, pid: child.pid!, httpPort, baseUrl, output, stop: () => stopProcess(child, 10_000) };
}
