/**
 * The real `npm start` entry point inside a network namespace, for tests that change the network
 * under it: output captured, the admin token fetched with curl from inside the namespace, the status
 * read back, stopped by PID.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { waitFor } from './node-red';
import { freeTcpPort, repo } from './start-server';

export class NetnsServer {
  out = '';
  child?: ChildProcess;
  httpPort = 0;
  token = '';

  constructor(readonly ns: string, readonly password: string, readonly baseEnv: Record<string, string> = {}) {}

  private inNs(...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.ns, ...args], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  async start(dir: string, env: Record<string, string> = {}): Promise<void> {
    this.out = '';
    this.httpPort = await freeTcpPort();
    this.child = spawn('ip', ['netns', 'exec', this.ns, process.execPath, path.join(repo, 'dist', 'scripts', 'start.js')], {
      env: {
        ...process.env, NETBOOT_DATA_DIR: dir, NETBOOT_HTTP_PORT: String(this.httpPort), NETBOOT_BIND: '0.0.0.0',
        NETBOOT_ISCSI: 'off', NETBOOT_ADMIN_PASSWORD: this.password, NETBOOT_SERVER_IP: '', ...this.baseEnv, ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    await waitFor(() => (/netboot: HTTP listening/.test(this.out) && /DHCP: listening/.test(this.out)) || undefined, `the server; output:\n${this.out}`, 40_000);
    const login = this.inNs('curl', '-s', '--max-time', '10', '-d', `client_id=node-red-admin&grant_type=password&scope=*&username=admin&password=${this.password}`, `http://127.0.0.1:${this.httpPort}/auth/token`);
    this.token = (JSON.parse(login) as { access_token: string }).access_token;
  }

  /** An admin API call from inside the namespace: status code and parsed body. */
  api(method: string, p: string, body?: unknown): { status: number; body: any } { // eslint-disable-line @typescript-eslint/no-explicit-any
    const args = ['curl', '-s', '--max-time', '10', '-X', method, '-H', `Authorization: Bearer ${this.token}`, '-w', '\n%{http_code}'];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '-d', JSON.stringify(body));
    const out = this.inNs(...args, `http://127.0.0.1:${this.httpPort}/netboot/api${p}`);
    const nl = out.lastIndexOf('\n');
    const text = out.slice(0, nl);
    return { status: Number(out.slice(nl + 1)), body: text ? JSON.parse(text) : undefined };
  }

  status(): { network: { advertised: string; pinned: boolean; problem?: string; interface?: string; lastChange?: { kind: string } } } {
    return this.api('GET', '/status').body;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c?.pid || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (c.exitCode === null) c.kill('SIGKILL');
  }
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Two namespaces joined by a veth pair: the server's (`srvDev`, `srvCidr`, a default route via
 * `gateway` as a DHCP client would set it) and the client's (`cliDev`, `cliCidr`). Returns the
 * function that deletes both.
 */
export function vethLab(o: { srv: string; cli: string; srvDev: string; cliDev: string; srvCidr: string; cliCidr: string; gateway: string }): () => void {
  ip('netns', 'add', o.srv);
  ip('netns', 'add', o.cli);
  ip('-n', o.srv, 'link', 'add', o.srvDev, 'type', 'veth', 'peer', 'name', o.cliDev, 'netns', o.cli);
  ip('-n', o.srv, 'addr', 'add', o.srvCidr, 'dev', o.srvDev);
  ip('-n', o.cli, 'addr', 'add', o.cliCidr, 'dev', o.cliDev);
  for (const [ns, dev] of [[o.srv, o.srvDev], [o.srv, 'lo'], [o.cli, o.cliDev], [o.cli, 'lo']]) ip('-n', ns, 'link', 'set', dev, 'up');
  ip('-n', o.srv, 'route', 'add', 'default', 'via', o.gateway, 'dev', o.srvDev);
  return () => {
    for (const ns of [o.srv, o.cli]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        /* not created */
      }
    }
  };
}
