/**
 * Simulated PXE machines on one segment served by several boot servers (each `npm start` on its own
 * ports on 127.0.0.1): a machine's proxyDHCP request reaches every server, as a broadcast does, and
 * the machine follows the first answer (its TFTP file from that server, then iPXE's request, the menu
 * URL that answer names, the kernel and initrd the menu names). When a step fails, the machine starts
 * over from DHCP after a pause, as PXE ROMs and iPXE retry; it gives up after `attempts`.
 * Each machine uses its own loopback address so the servers tell their transfers apart.
 */
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import { tftpReceive } from '../../lib/tftp/client';
import { clientBytes, PXE_BIOS } from '../../support/dhcp-packets';

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

/** One request to every server at once; the first answer with this xid wins (4 tries, 500 ms apart). */
async function proxyDhcp(servers: SegmentServer[], m: StormMachine, packet: Buffer, xid: number): Promise<{ file: string; from: SegmentServer }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, m.ip, () => resolve());
  });
  try {
    return await new Promise((resolve, reject) => {
      let tries = 0;
      let timer: NodeJS.Timeout | undefined;
      const send = () => {
        if (tries >= 4) return reject(new Error('proxyDHCP: no answer after 4 tries'));
        tries++;
        for (const s of servers) sock.send(packet, s.proxyPort, '127.0.0.1');
        timer = setTimeout(send, 500);
      };
      sock.on('message', (msg, rinfo) => {
        if (msg.length < 240 || msg[0] !== 2 || msg.readUInt32BE(4) !== xid) return;
        const from = servers.find((s) => s.proxyPort === rinfo.port);
        if (!from) return;
        clearTimeout(timer);
        resolve({ file: msg.subarray(108, 236).toString('latin1').replace(/\0.*$/s, ''), from });
      });
      send();
    });
  } finally {
    sock.close();
  }
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
