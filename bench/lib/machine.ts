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
import * as net from 'node:net';
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
  /** Of those, the retries of the second exchange (iPXE's, after the TFTP download). */
  dhcpRetriesIpxe: number;
  tftpRetries: number;
  httpBytes: number;
  /** When each step ended, ms from the first DHCP packet: proxyDHCP, TFTP, proxyDHCP as iPXE, menu (NaN if not reached). */
  steps: { dhcp: number; tftp: number; ipxe: number; menuConnect: number; menuFirstByte: number; menu: number };
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

/**
 * A machine's HTTP connection: keep-alive GETs one after another on one socket, as iPXE does, with
 * Content-Length bodies only (what our server sends for the menu and for files). It reads into one
 * buffer shared by every connection of the process (`onread`: nothing allocated per chunk, no
 * stream machinery): Node's http client allocates a 64 KiB buffer for every read and pushes it
 * through a Readable, which at 500 machines fetching 15 MiB each cost the client process about as
 * much CPU as the server (a third of it in GC) and delayed its event loop by up to a second, time
 * the simulated machines then counted against the server. Every byte is still received and counted.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 << 10);
const HEAD_END = Buffer.from('\r\n\r\n');

export class HttpConnection {
  private sock?: net.Socket;
  private pending?: { resolve: (r: { status: number; bytes: number; body: string }) => void; reject: (e: Error) => void; collect: boolean; url: string };
  private head: Buffer[] = [];
  private headBytes = 0;
  private status = 0;
  private left = -1;
  private bytes = 0;
  private body: Buffer[] = [];
  /** performance.now() when the connection was established, and when the last answer's first byte came. */
  connectedAt = NaN;
  firstByteAt = NaN;

  constructor(private readonly base: URL, private readonly localAddress: string, private readonly timeoutMs = 60_000) {}

  get(pathAndQuery: string, collect: boolean): Promise<{ status: number; bytes: number; body: string }> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, collect, url: pathAndQuery };
      this.head = [];
      this.headBytes = 0;
      this.left = -1;
      this.bytes = 0;
      this.body = [];
      this.firstByteAt = NaN;
      const request = `GET ${pathAndQuery} HTTP/1.1\r\nHost: ${this.base.host}\r\nUser-Agent: iPXE/1.21.1 (bench)\r\nConnection: keep-alive\r\n\r\n`;
      if (this.sock && !this.sock.destroyed) {
        this.sock.write(request);
        return;
      }
      const sock = net.connect({
        host: this.base.hostname, port: Number(this.base.port), localAddress: this.localAddress,
        onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => this.onData(buf as Buffer, n) },
      });
      this.sock = sock;
      sock.setNoDelay(true);
      sock.once('connect', () => (this.connectedAt = performance.now()));
      sock.setTimeout(this.timeoutMs, () => sock.destroy(new Error(`HTTP timeout for ${this.pending?.url}`)));
      sock.on('error', (err) => this.fail(err));
      sock.on('close', () => this.fail(new Error(`HTTP: connection closed during ${this.pending?.url}`)));
      sock.write(request);
    });
  }

  close(): void {
    this.sock?.destroy();
  }

  private fail(err: Error): void {
    const p = this.pending;
    this.pending = undefined;
    p?.reject(err);
  }

  private onData(buf: Buffer, n: number): boolean {
    const p = this.pending;
    if (!p) {
      this.sock?.destroy();
      return false;
    }
    if (this.left < 0) {
      if (!this.headBytes) this.firstByteAt = performance.now();
      // the status line and headers: a few hundred bytes, copied until their end is seen
      this.head.push(Buffer.from(buf.subarray(0, n)));
      this.headBytes += n;
      const all = Buffer.concat(this.head, this.headBytes);
      const end = all.indexOf(HEAD_END);
      if (end < 0) return true;
      const text = all.subarray(0, end).toString('latin1');
      this.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(text);
      if (!length || /\r\ntransfer-encoding:/i.test(text)) {
        this.sock?.destroy();
        this.fail(new Error(`HTTP: ${p.url}: no Content-Length (status ${this.status})`));
        return false;
      }
      this.left = Number(length[1]);
      const rest = all.subarray(end + 4);
      this.take(rest, 0, rest.length, p);
      return true;
    }
    this.take(buf, 0, n, p);
    return true;
  }

  private take(buf: Buffer, from: number, to: number, p: NonNullable<HttpConnection['pending']>): void {
    const n = to - from;
    if (n > this.left) {
      this.sock?.destroy();
      this.fail(new Error(`HTTP: ${p.url}: ${n - this.left} bytes past the body`));
      return;
    }
    this.left -= n;
    this.bytes += n;
    if (p.collect && n) this.body.push(Buffer.from(buf.subarray(from, to)));
    if (this.left === 0) {
      this.pending = undefined;
      p.resolve({ status: this.status, bytes: this.bytes, body: p.collect ? Buffer.concat(this.body).toString('utf8') : '' });
    }
  }
}

let xidSeq = 0x5000_0000;

export async function bootMachine(spec: MachineSpec): Promise<MachineResult> {
  const t0 = performance.now();
  const r: MachineResult = { ok: false, decisionMs: NaN, totalMs: NaN, dhcpRetries: 0, dhcpRetriesIpxe: 0, tftpRetries: 0, httpBytes: 0, steps: { dhcp: NaN, tftp: NaN, ipxe: NaN, menuConnect: NaN, menuFirstByte: NaN, menu: NaN } };
  const conn = new HttpConnection(new URL(spec.httpBase), spec.localAddress);
  let watchdog: NodeJS.Timeout | undefined;
  const steps = async (): Promise<void> => {
    const uuid = Buffer.alloc(16, 0x22);
    const xid1 = xidSeq++ >>> 0;
    const first = await dhcpExchange(spec, clientBytes({ mac: spec.mac, xid: xid1, type: 3, arch: 0, vendorClass: PXE_BIOS, uuid }), xid1);
    r.dhcpRetries += first.retries;
    r.steps.dhcp = performance.now() - t0;
    if (!first.file || first.file.startsWith('http')) throw new Error(`proxyDHCP: expected a TFTP file for a BIOS ROM, got "${first.file}"`);
    const t = await tftpRead(spec, first.file);
    r.tftpRetries = t.retries;
    r.steps.tftp = performance.now() - t0;
    if (t.bytes !== spec.tftpSize) throw new Error(`TFTP: ${t.bytes} bytes of ${first.file}, expected ${spec.tftpSize}`);
    const xid2 = xidSeq++ >>> 0;
    const second = await dhcpExchange(spec, clientBytes({ mac: spec.mac, xid: xid2, type: 3, arch: 0, vendorClass: PXE_BIOS, uuid, userClass: 'iPXE', ipxeEncap: true }), xid2);
    r.dhcpRetries += second.retries;
    r.dhcpRetriesIpxe = second.retries;
    r.steps.ipxe = performance.now() - t0;
    if (!second.file.startsWith('http://')) throw new Error(`proxyDHCP: expected the menu URL for iPXE, got "${second.file}"`);
    // iPXE expands its settings in the URL
    const url = second.file
      .replace('${netX/mac:hexhyp}', spec.mac.replace(/:/g, '-'))
      .replace('${uuid}', '22222222-2222-2222-2222-222222222222')
      .replace('${buildarch}', 'i386')
      .replace('${platform}', 'pcbios');
    const u = new URL(url);
    if (u.host !== new URL(spec.httpBase).host) throw new Error(`proxyDHCP: the menu URL ${url} is not on ${spec.httpBase}`);
    const menu = await conn.get(`${u.pathname}${u.search}`, true);
    if (menu.status !== 200 || !menu.body.startsWith('#!ipxe')) throw new Error(`menu: HTTP ${menu.status} ${menu.body.slice(0, 80)}`);
    r.decisionMs = performance.now() - t0;
    r.steps.menu = r.decisionMs;
    r.steps.menuConnect = conn.connectedAt - t0;
    r.steps.menuFirstByte = conn.firstByteAt - t0;
    r.httpBytes += menu.bytes;
    for (const a of spec.assets) {
      const got = await conn.get(a.path, false);
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
    conn.close();
  }
  r.totalMs = performance.now() - t0;
  return r;
}
