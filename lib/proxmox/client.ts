import * as https from 'node:https';
import * as http from 'node:http';
import { NetbootError } from '../core/errors';

/**
 * A small client for the part of the Proxmox VE HTTP API netboot uses (`/api2/json`): the cluster's
 * VMs, one VM's configuration (its network cards), and a VM's power. Authenticated with an API
 * token (`Authorization: PVEAPIToken=<user>@<realm>!<token id>=<secret>`), so no ticket or CSRF
 * token is needed. TLS is verified by default; a self-signed cluster is trusted by giving its CA
 * certificate (PEM), never by turning verification off silently.
 */

export interface ProxmoxOptions {
  /** `https://pve.example:8006` (the API root `/api2/json` is added). */
  url: string;
  /** `user@realm!tokenid`. */
  tokenId: string;
  secret: string;
  /** Verify the server's certificate (default true). */
  verifyTls?: boolean;
  /** PEM of a CA (or the cluster's self-signed certificate) to trust besides the system's. */
  ca?: string;
  timeoutMs?: number;
}

/** One row of `GET /cluster/resources?type=vm`. */
export interface ProxmoxResource {
  id: string;
  type: 'qemu' | 'lxc' | string;
  node: string;
  vmid: number;
  name?: string;
  status?: string;
  tags?: string;
  template?: number;
}

export type PowerAction = 'start' | 'stop' | 'shutdown' | 'reset' | 'reboot';
export const POWER_ACTIONS: readonly PowerAction[] = ['start', 'stop', 'shutdown', 'reset', 'reboot'];

const TOKEN_ID = /^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+![A-Za-z0-9._-]+$/;

export class ProxmoxClient {
  private readonly base: URL;
  private readonly agent: https.Agent | undefined;

  constructor(private readonly opts: ProxmoxOptions) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new NetbootError('validation', `Proxmox URL "${opts.url}" is not a URL (https://host:8006)`, { field: 'url' });
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new NetbootError('validation', `Proxmox URL "${opts.url}" must be https://`, { field: 'url' });
    if (!TOKEN_ID.test(opts.tokenId)) throw new NetbootError('validation', 'Proxmox token id must look like user@realm!tokenid', { field: 'tokenId' });
    if (!opts.secret) throw new NetbootError('validation', 'Proxmox token secret is missing (set it in the node\'s credentials)', { field: 'secret' });
    this.base = new URL(`${u.origin}/api2/json/`);
    this.agent = u.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: opts.verifyTls !== false, ...(opts.ca ? { ca: opts.ca } : {}) }) : undefined;
  }

  get origin(): string {
    return this.base.origin;
  }

  /** One API call; `data` of the answer. Errors say what failed without the token. */
  async call<T>(method: 'GET' | 'POST', path: string, body?: Record<string, string>): Promise<T> {
    const url = new URL(path.replace(/^\//, ''), this.base);
    const payload = body ? new URLSearchParams(body).toString() : undefined;
    const what = `Proxmox ${method} ${url.pathname}`;
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, {
        method, agent: this.agent, timeout: this.opts.timeoutMs ?? 15_000,
        headers: {
          Authorization: `PVEAPIToken=${this.opts.tokenId}=${this.opts.secret}`, Accept: 'application/json',
          ...(payload !== undefined ? { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(Buffer.byteLength(payload)) } : {}),
        },
      }, (r) => {
        const chunks: Buffer[] = [];
        let size = 0;
        r.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 64 * 1024 * 1024) r.destroy(new Error('answer larger than 64 MiB'));
          else chunks.push(c);
        });
        r.on('end', () => resolve({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        r.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new NetbootError('timeout', `${what}: no answer within ${this.opts.timeoutMs ?? 15_000} ms`)));
      req.on('error', reject);
      req.end(payload);
    }).catch((err: NodeJS.ErrnoException) => {
      if (err instanceof NetbootError) throw err;
      const code = err.code ?? '';
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
        throw new NetbootError('unavailable', `${what}: the server's TLS certificate is not trusted (${code}): give the cluster's CA certificate in the netboot-proxmox node`, { field: 'ca', tls: code });
      }
      throw new NetbootError('unavailable', `${what}: ${err.message}`, { errno: code });
    });
    if (res.status === 401 || res.status === 403) {
      throw new NetbootError('unavailable', `${what}: refused (${res.status}): check the API token id and secret, and that the token may see VMs (VM.Audit) and power them (VM.PowerMgmt)`, { status: res.status, field: 'secret' });
    }
    if (res.status < 200 || res.status >= 300) throw new NetbootError('unavailable', `${what}: HTTP ${res.status} ${res.text.slice(0, 200)}`, { status: res.status });
    let doc: unknown;
    try {
      doc = JSON.parse(res.text);
    } catch {
      throw new NetbootError('unavailable', `${what}: the answer is not JSON`);
    }
    if (!doc || typeof doc !== 'object' || !('data' in doc)) throw new NetbootError('unavailable', `${what}: the answer has no "data"`);
    return (doc as { data: T }).data;
  }

  /** Every VM of the cluster (QEMU guests; containers do not network-boot). */
  async vms(): Promise<ProxmoxResource[]> {
    const rows = await this.call<unknown>('GET', 'cluster/resources?type=vm');
    if (!Array.isArray(rows)) throw new NetbootError('unavailable', 'Proxmox cluster/resources: "data" is not a list');
    return rows.filter((r): r is ProxmoxResource => !!r && typeof r === 'object' && (r as ProxmoxResource).type === 'qemu'
      && Number.isInteger((r as ProxmoxResource).vmid) && typeof (r as ProxmoxResource).node === 'string');
  }

  /** A VM's configuration (`net0`…`netN`, `name`, `tags`, `smbios1`, …). */
  config(node: string, vmid: number): Promise<Record<string, unknown>> {
    return this.call('GET', `nodes/${encodeURIComponent(node)}/qemu/${vmid}/config`);
  }

  /** Starts, stops, shuts down, resets or reboots a VM; the task id (UPID) Proxmox answers with. */
  power(node: string, vmid: number, action: PowerAction): Promise<string> {
    if (!POWER_ACTIONS.includes(action)) throw new NetbootError('validation', `power action "${String(action)}" is not one of ${POWER_ACTIONS.join(', ')}`, { field: 'action' });
    return this.call('POST', `nodes/${encodeURIComponent(node)}/qemu/${vmid}/status/${action}`, {});
  }

  close(): void {
    this.agent?.destroy();
  }
}
