import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const repo = path.join(__dirname, '..', '..');

import { freeTcpPort, freeUdpPort } from '../../support/ports';

export { freeTcpPort, freeUdpPort };

export interface StartedServer {
  child: ChildProcess;
  output(): string;
  httpPort: number;
  udp: { dhcp: number; proxy: number; tftp: number };
  baseUrl: string;
  waitForOutput(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

/** Runs the `npm start` entry point (dist/scripts/start.js) on free high ports. */
export async function startNetboot(dataDir: string, env: Record<string, string> = {}, as: { uid?: number; gid?: number } = {}): Promise<StartedServer> {
  const httpPort = await freeTcpPort();
  const udp = { dhcp: await freeUdpPort(), proxy: await freeUdpPort(), tftp: await freeUdpPort() };
  const child = spawn(process.execPath, [path.join(repo, 'dist', 'scripts', 'start.js')], {
    env: {
      ...process.env,
      NETBOOT_DATA_DIR: dataDir,
      NETBOOT_HTTP_PORT: String(httpPort),
      NETBOOT_BIND: '127.0.0.1',
      NETBOOT_SERVER_IP: '127.0.0.1',
      NETBOOT_DHCP_PORT: String(udp.dhcp),
      NETBOOT_PROXY_PORT: String(udp.proxy),
      NETBOOT_TFTP_PORT: String(udp.tftp),
      // tgtd is a system-wide daemon: only the tests about it start one
      NETBOOT_ISCSI: 'off',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...as,
  });
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  const waitForOutput = (re: RegExp, ms = 30_000) => new Promise<RegExpMatchArray>((resolve, reject) => {
    const end = Date.now() + ms;
    const tick = () => {
      const m = out.match(re);
      if (m) return resolve(m);
      if (child.exitCode !== null) return reject(new Error(`netboot exited (${child.exitCode}) before ${re}:\n${out}`));
      if (Date.now() > end) return reject(new Error(`timed out waiting for ${re}:\n${out}`));
      setTimeout(tick, 50);
    };
    tick();
  });
  const stop = () => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
  return { child, output: () => out, httpPort, udp, baseUrl: `http://127.0.0.1:${httpPort}`, waitForOutput, stop };
}

/** Logs in to Node-RED (as its admin by default; `scope` "read" for a read-only user) and returns a bearer token. */
export async function login(baseUrl: string, password: string, username = 'admin', scope = '*'): Promise<string> {
  const res = await fetch(`${baseUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope, username, password }),
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}
