import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * A stand-in for a Proxmox VE cluster's HTTP API, for tests: HTTPS with a certificate made here
 * (openssl), API-token authentication, and answers in the shapes of the published Proxmox VE API
 * (the API viewer of pve-docs, `api2/json`): `GET /cluster/resources?type=vm` (id, type, node, vmid,
 * name, status, tags, template), `GET /nodes/{node}/qemu/{vmid}/config` (`netN` as
 * `<model>=<MAC>,bridge=…`, `smbios1`, `tags` separated by `;`), and
 * `POST /nodes/{node}/qemu/{vmid}/status/{action}` answering a task id (UPID). A wrong token gets
 * 401 with `{"data":null}`, as Proxmox answers.
 */

export interface StandinVm {
  vmid: number;
  node: string;
  name: string;
  type?: 'qemu' | 'lxc';
  template?: boolean;
  tags?: string[];
  nets?: string[];
  uuid?: string;
  status?: string;
}

export interface ProxmoxStandin {
  url: string;
  ca: string;
  tokenId: string;
  secret: string;
  vms: StandinVm[];
  /** Power requests received: `node/vmid/action`. */
  power: string[];
  /** How many requests came in, and how many were refused. */
  requests: number;
  refused: number;
  close(): Promise<void>;
}

export async function startProxmoxStandin(vms: StandinVm[]): Promise<ProxmoxStandin> {
  const dir = mkdtempSync(path.join(tmpdir(), 'netboot-pve-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=pve-standin', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  const cert = readFileSync(path.join(dir, 'cert.pem'), 'utf8');
  const key = readFileSync(path.join(dir, 'key.pem'), 'utf8');
  rmSync(dir, { recursive: true, force: true });
  const tokenId = 'netboot@pve!sync';
  const secret = '5a6b1c3e-0f7d-4c1a-9d2e-8b7f6a5c4d3e';
  const state: ProxmoxStandin = { url: '', ca: cert, tokenId, secret, vms, power: [], requests: 0, refused: 0, close: async () => undefined };
  const send = (res: import('node:http').ServerResponse, status: number, data: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8' });
    res.end(JSON.stringify({ data }));
  };
  const server = https.createServer({ cert, key }, (req, res) => {
    state.requests++;
    if (req.headers.authorization !== `PVEAPIToken=${tokenId}=${secret}`) {
      state.refused++;
      return send(res, 401, null);
    }
    const u = new URL(req.url ?? '/', 'https://x');
    const p = u.pathname.replace(/^\/api2\/json/, '');
    if (req.method === 'GET' && p === '/cluster/resources') {
      const type = u.searchParams.get('type');
      return send(res, 200, state.vms.filter(() => type === 'vm').map((v) => ({
        id: `${v.type ?? 'qemu'}/${v.vmid}`, type: v.type ?? 'qemu', node: v.node, vmid: v.vmid, name: v.name, status: v.status ?? 'stopped',
        maxmem: 2147483648, maxdisk: 34359738368, maxcpu: 2, uptime: 0, template: v.template ? 1 : 0, ...(v.tags?.length ? { tags: v.tags.join(';') } : {}),
      })));
    }
    const cfg = /^\/nodes\/([^/]+)\/qemu\/(\d+)\/config$/.exec(p);
    if (req.method === 'GET' && cfg) {
      const vm = state.vms.find((v) => v.vmid === Number(cfg[2]) && v.node === decodeURIComponent(cfg[1]));
      if (!vm) return send(res, 500, null);
      const conf: Record<string, unknown> = { name: vm.name, memory: '2048', cores: 2, boot: 'order=net0;scsi0', ostype: 'l26', digest: 'a'.repeat(40) };
      (vm.nets ?? []).forEach((mac, i) => (conf[`net${i}`] = `${i % 2 ? 'e1000' : 'virtio'}=${mac},bridge=vmbr0,firewall=1`));
      if (vm.uuid) conf.smbios1 = `uuid=${vm.uuid}`;
      if (vm.tags?.length) conf.tags = vm.tags.join(';');
      return send(res, 200, conf);
    }
    const pw = /^\/nodes\/([^/]+)\/qemu\/(\d+)\/status\/(start|stop|shutdown|reset|reboot)$/.exec(p);
    if (req.method === 'POST' && pw) {
      const vm = state.vms.find((v) => v.vmid === Number(pw[2]) && v.node === decodeURIComponent(pw[1]));
      if (!vm) return send(res, 500, null);
      state.power.push(`${vm.node}/${vm.vmid}/${pw[3]}`);
      return send(res, 200, `UPID:${vm.node}:0000ABCD:00112233:65000000:qm${pw[3]}:${vm.vmid}:${tokenId}:`);
    }
    send(res, 501, null);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
  return state;
}

/** `n` VMs on three nodes, each with one card (`bc:24:11:xx:xx:xx`), every tenth tagged `worker`. */
export function manyVms(n: number, first = 1000): StandinVm[] {
  return Array.from({ length: n }, (_, i) => {
    const id = first + i;
    const hex = id.toString(16).padStart(6, '0');
    return { vmid: id, node: `pve${(i % 3) + 1}`, name: `vm-${id}`, nets: [`BC:24:11:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`.toUpperCase()], ...(i % 10 === 0 ? { tags: ['worker'] } : {}) };
  });
}
