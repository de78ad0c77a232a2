/**
 * One simulated PXE machine on loopback, with a local address of its own (127.x.y.z) so the
 * server's per-source limits and per-client TFTP limits see distinct clients, as on a LAN:
 *   1. proxyDHCP REQUEST to the boot-server port (like EDK2's 4011 step), BIOS PXE facts → ACK with a
 *      TFTP file name; 2. TFTP of that file (blksize 1432 + tsize, as iPXE's ROM asks);
 *   3. a second REQUEST as iPXE (user class iPXE, option 175) → ACK with the menu URL;
 *   4. HTTP GET of the menu URL (the decision); 5. HTTP GET of the kernel and the initrd.
 * Every step is bounded (retries, timeouts).
 */
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import { clientBytes, PXE_BIOS } from '../../test/helpers/dhcp-packets';

export interface MachineSpec {
  mac: string;
  localAddress: string;
  host: string;
  proxyPort: number;
  tftpPort: number;
  httpBase: string;
  assets: Array<{ path: string; size: number }>;
  tftpSize: number;
  timeoutMs: number;
}

export interface MachineResult {
  ok: boolean;
  error?: string;
  decisionMs: number;
  totalMs: number;
  dhcpRetries: number;
  tftpRetries: number;
  httpBytes: number;
}

function udpSocket(localAddress: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, localAddress, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

/** Sends `packet` to the boot-server port and waits for the reply with the same xid (4 tries, 1 s apart). */
async function dhcpExchange(spec: MachineSpec, packet: Buffer, xid: number): Promise<{ file: string; retries: number }> {
  const sock = await udpSocket(spec.localAddress);
  try {
    return await new Promise((resolve, reject) => {
      let tries = 0;
      let timer: NodeJS.Timeout | undefined;
      const send = (): void => {
        if (tries >= 4) return reject(new Error('proxyDHCP: no answer after 4 tries'));
        tries++;
        sock.send(packet, spec.proxyPort, spec.host);
        timer = setTimeout(send, 1000);
      };
      sock.on('message', (msg) => {
        if (msg.length < 240 || msg[0] !== 2 || msg.readUInt32BE(4) !== xid) return;
        clearTimeout(timer);
        const file = msg.subarray(108, 236).toString('latin1').replace(/\0.*$/s, '');
        resolve({ file, retries: tries - 1 });
      });
      send();
    });
  } finally {
    sock.close();
  }
}

/** A lock-step TFTP read with blksize 1432 and tsize; returns the bytes received and retransmissions. */
async function tftpRead(spec: MachineSpec, file: string): Promise<{ bytes: number; retries: number }> {
  const sock = await udpSocket(spec.localAddress);
  const blksizeWanted = 1432;
  const rrq = Buffer.concat([Buffer.from([0, 1]), Buffer.from(`${file}\0octet\0blksize\0${blksizeWanted}\0tsize\x000\0`, 'latin1')]);
  try {
    return await new Promise((resolve, reject) => {
      let blksize = 512;
      let expected = 1;
      let bytes = 0;
      let retries = 0;
      let silent = 0;
      let serverPort = 0;
      let last: Buffer = rrq;
      let timer: NodeJS.Timeout | undefined;
      const xmit = (buf: Buffer): void => {
        last = buf;
        sock.send(buf, serverPort || spec.tftpPort, spec.host);
        clearTimeout(timer);
        timer = setTimeout(onSilence, 1000);
      };
      const onSilence = (): void => {
        if (++silent > 5) return reject(new Error(`TFTP: timed out at block ${expected}`));
        retries++;
        xmit(last);
      };
      const ack = (n: number): Buffer => Buffer.from([0, 4, (n >> 8) & 0xff, n & 0xff]);
      sock.on('message', (msg, rinfo) => {
        if (serverPort && rinfo.port !== serverPort) return;
        const op = msg.readUInt16BE(0);
        if (op === 5) {
          clearTimeout(timer);
          return reject(new Error(`TFTP error ${msg.readUInt16BE(2)}: ${msg.subarray(4).toString('latin1').replace(/\0.*$/s, '')}`));
        }
        serverPort = rinfo.port;
        silent = 0;
        if (op === 6) {
          const parts = msg.subarray(2).toString('latin1').split('\0');
          for (let i = 0; i + 1 < parts.length; i += 2) if (parts[i].toLowerCase() === 'blksize') blksize = Number(parts[i + 1]);
          xmit(ack(0));
          return;
        }
        if (op !== 3) return;
        const block = msg.readUInt16BE(2);
        if (block !== (expected & 0xffff)) {
          xmit(ack((expected - 1) & 0xffff));
          return;
        }
        const len = msg.length - 4;
        bytes += len;
        expected++;
        const a = ack(block);
        if (len < blksize) {
          clearTimeout(timer);
          sock.send(a, serverPort, spec.host, () => resolve({ bytes, retries }));
          return;
        }
        xmit(a);
      });
      xmit(rrq);
    });
  } finally {
    sock.close();
  }
}

function httpGet(agent: http.Agent, url: string, localAddress: string, collect: boolean): Promise<{ status: number; bytes: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, localAddress, timeout: 60_000 }, (res) => {
      let bytes = 0;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (collect) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, body: collect ? Buffer.concat(chunks).toString('utf8') : '' }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`HTTP timeout for ${url}`)));
  });
}

let xidSeq = 0x5000_0000;

export async function bootMachine(spec: MachineSpec): Promise<MachineResult> {
  const t0 = performance.now();
  const r: MachineResult = { ok: false, decisionMs: NaN, totalMs: NaN, dhcpRetries: 0, tftpRetries: 0, httpBytes: 0 };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let watchdog: NodeJS.Timeout | undefined;
  const steps = async (): Promise<void> => {
    const uuid = Buffer.alloc(16, 0x22);
    const xid1 = xidSeq++ >>> 0;
    const first = await dhcpExchange(spec, clientBytes({ mac: spec.mac, xid: xid1, type: 3, arch: 0, vendorClass: PXE_BIOS, uuid }), xid1);
    r.dhcpRetries += first.retries;
    if (!first.file || first.file.startsWith('http')) throw new Error(`proxyDHCP: expected a TFTP file for a BIOS ROM, got "${first.file}"`);
    const t = await tftpRead(spec, first.file);
    r.tftpRetries = t.retries;
    if (t.bytes !== spec.tftpSize) throw new Error(`TFTP: ${t.bytes} bytes of ${first.file}, expected ${spec.tftpSize}`);
    const xid2 = xidSeq++ >>> 0;
    const second = await dhcpExchange(spec, clientBytes({ mac: spec.mac, xid: xid2, type: 3, arch: 0, vendorClass: PXE_BIOS, uuid, userClass: 'iPXE', ipxeEncap: true }), xid2);
    r.dhcpRetries += second.retries;
    if (!second.file.startsWith('http://')) throw new Error(`proxyDHCP: expected the menu URL for iPXE, got "${second.file}"`);
    // iPXE expands its settings in the URL
    const url = second.file
      .replace('${netX/mac:hexhyp}', spec.mac.replace(/:/g, '-'))
      .replace('${uuid}', '22222222-2222-2222-2222-222222222222')
      .replace('${buildarch}', 'i386')
      .replace('${platform}', 'pcbios');
    const menu = await httpGet(agent, url, spec.localAddress, true);
    if (menu.status !== 200 || !menu.body.startsWith('#!ipxe')) throw new Error(`menu: HTTP ${menu.status} ${menu.body.slice(0, 80)}`);
    r.decisionMs = performance.now() - t0;
    r.httpBytes += menu.bytes;
    for (const a of spec.assets) {
      const got = await httpGet(agent, `${spec.httpBase}${a.path}`, spec.localAddress, false);
      if (got.status !== 200 || got.bytes !== a.size) throw new Error(`${a.path}: HTTP ${got.status}, ${got.bytes} of ${a.size} bytes`);
      r.httpBytes += got.bytes;
    }
  };
  try {
    await Promise.race([
      steps(),
      new Promise<never>((_, reject) => {
        watchdog = setTimeout(() => reject(new Error(`boot not finished within ${spec.timeoutMs} ms`)), spec.timeoutMs);
      }),
    ]);
    r.ok = true;
  } catch (err) {
    r.error = (err as Error).message;
  } finally {
    clearTimeout(watchdog);
    agent.destroy();
  }
  r.totalMs = performance.now() - t0;
  return r;
}
