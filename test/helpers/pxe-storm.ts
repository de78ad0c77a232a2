/**
 * Simulated PXE machines on one segment served by several boot servers (each `npm start` on its own
 * ports on 127.0.0.1): a machine's proxyDHCP request reaches every server, as a broadcast does, and
 * the machine follows the first answer (its TFTP file from that server, then iPXE's request, the menu
 * URL that answer names, the kernel and initrd the menu names). When a step fails, the machine starts
 * over from DHCP after a pause, as PXE ROMs and iPXE retry; it gives up after `attempts`.
 * Each machine uses its own loopback address so the servers tell their transfers apart.
 */
import * as http from 'node:http';
import { tftpReceive } from '../../lib/tftp/client';
import { clientBytes, PXE_BIOS } from '../../support/dhcp-packets';
import { pxeExchange } from '../../support/pxe-exchange';

export interface SegmentServer { name: string; proxyPort: number; tftpPort: number }

export interface StormMachine { mac: string; ip: string }

export interface StormResult {
  mac: string;
  ok: boolean;
  /** Which server gave the menu of the boot that worked. */
  server?: string;
  attempts: number;
  /** Why each failed attempt failed. */
  failures: string[];
  /** The menu script of the boot that worked. */
  menu?: string;
}

let xidSeq = 0x7100_0000;

/** One request to every server at once (a broadcast on the segment); the first answer wins (4 tries, 500 ms apart). */
async function proxyDhcp(servers: SegmentServer[], m: StormMachine, packet: Buffer, xid: number): Promise<{ file: string; from: SegmentServer }> {
  const r = await pxeExchange({ localAddress: m.ip, targets: servers.map((s) => ({ host: '127.0.0.1', port: s.proxyPort })), packet, xid, tries: 4, intervalMs: 500 });
  return { file: r.file, from: servers[r.from] };
}

function get(url: string, localAddress: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress, timeout: 5000, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`HTTP timeout: ${url}`)));
  });
}

async function bootOnce(servers: SegmentServer[], m: StormMachine): Promise<{ server: string; menu: string }> {
  const uuid = Buffer.alloc(16, 0x33);
  const x1 = xidSeq++ >>> 0;
  const first = await proxyDhcp(servers, m, clientBytes({ mac: m.mac, xid: x1, type: 3, arch: 0, vendorClass: PXE_BIOS, uuid }), x1);
  if (!first.file || first.file.startsWith('http')) throw new Error(`proxyDHCP: expected a TFTP file, got "${first.file}"`);
  const t = await tftpReceive({ host: '127.0.0.1', port: first.from.tftpPort, filename: first.file, bindAddress: m.ip, options: [['blksize', '1432'], ['tsize', '0']], retryMs: 500, maxRetries: 4 });
  if (!t.ok) throw new Error(`TFTP from ${first.from.name}: ${t.failure?.message ?? 'failed'}`);
  const x2 = xidSeq++ >>> 0;
  const second = await proxyDhcp(servers, m, clientBytes({ mac: m.mac, xid: x2, type: 3, arch: 0, vendorClass: PXE_BIOS, uuid, userClass: 'iPXE', ipxeEncap: true }), x2);
  if (!second.file.startsWith('http://')) throw new Error(`proxyDHCP: expected the menu URL, got "${second.file}"`);
  const url = second.file.replace('${netX/mac:hexhyp}', m.mac.replace(/:/g, '-')).replace('${uuid}', '33333333-3333-3333-3333-333333333333')
    .replace('${buildarch}', 'i386').replace('${platform}', 'pcbios');
  const menu = await get(url, m.ip);
  const text = menu.body.toString('utf8');
  if (menu.status !== 200 || !text.startsWith('#!ipxe')) throw new Error(`menu from ${second.from.name}: HTTP ${menu.status}`);
  // a machine with an assignment gets its kernel and initrd; a menu (`choose`) waits for a person
  const direct = !/^\s*choose\b/m.test(text);
  for (const line of direct ? text.split('\n') : []) {
    const file = /^(?:kernel|initrd)\s+(http:\/\/\S+)/.exec(line.trim())?.[1];
    if (!file) continue;
    const got = await get(file, m.ip);
    if (got.status !== 200) throw new Error(`${file}: HTTP ${got.status}`);
  }
  return { server: second.from.name, menu: text };
}

/** One machine's boot, started over after a failed step (500 ms apart), at most `attempts` times. */
export async function bootWithRetries(servers: () => SegmentServer[], m: StormMachine, attempts = 6): Promise<StormResult> {
  const r: StormResult = { mac: m.mac, ok: false, attempts: 0, failures: [] };
  while (r.attempts < attempts) {
    r.attempts++;
    try {
      const done = await bootOnce(servers(), m);
      r.ok = true;
      r.server = done.server;
      r.menu = done.menu;
      return r;
    } catch (err) {
      r.failures.push((err as Error).message);
      await new Promise((res) => setTimeout(res, 500));
    }
  }
  return r;
}
