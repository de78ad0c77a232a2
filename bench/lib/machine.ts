/**
 * One simulated PXE machine on loopback, with a local address of its own (127.x.y.z) so the
 * server's per-source limits and per-client TFTP limits see distinct clients, as on a LAN:
 *   1. proxyDHCP REQUEST to the boot-server port (like EDK2's 4011 step), BIOS PXE facts → ACK with a
 *      TFTP file name; 2. TFTP of that file (blksize 1432 + tsize, as iPXE's ROM asks);
 *   3. a second REQUEST as iPXE (user class iPXE, option 175) → ACK with the menu URL;
 *   4. HTTP GET of the menu URL (the decision); 5. HTTP GET of the kernel and the initrd.
 * Every step is bounded (retries, timeouts).
 */
import { tftpReceive } from '../../lib/tftp/client';
import * as http from 'node:http';
import { clientBytes, PXE_BIOS } from '../../support/dhcp-packets';
import { pxeExchange } from '../../support/pxe-exchange';

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

/** Sends `packet` to the boot-server port and waits for the reply with the same xid (4 tries, 1 s apart). */
async function dhcpExchange(spec: MachineSpec, packet: Buffer, xid: number): Promise<{ file: string; retries: number }> {
  const r = await pxeExchange({ localAddress: spec.localAddress, targets: [{ host: spec.host, port: spec.proxyPort }], packet, xid, tries: 4, intervalMs: 1000 });
  return { file: r.file, retries: r.retries };
}

/**
 * A lock-step TFTP read with blksize 1432 and tsize, as a PXE ROM does it (the project's own receive
 * engine, lib/tftp/client.ts); returns the bytes received and the retransmissions it needed.
 */
async function tftpRead(spec: MachineSpec, file: string): Promise<{ bytes: number; retries: number }> {
  const r = await tftpReceive({
    host: spec.host, port: spec.tftpPort, filename: file, bindAddress: spec.localAddress,
    options: [['blksize', '1432'], ['tsize', '0']], retryMs: 1000, maxRetries: 5,
  });
  if (!r.ok) {
    const f = r.failure!;
    throw new Error(f.kind === 'remote' ? `TFTP error ${f.code}: ${f.message}` : `TFTP: ${f.message} at block ${r.blocks + 1}`);
  }
  return { bytes: r.bytes, retries: r.timeouts };
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
