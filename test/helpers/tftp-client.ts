/**
 * A small TFTP client on node:dgram for tests, the diagnostic probe and the benchmark.
 *
 * Supports blksize / tsize / timeout / windowsize (RFC 2348/2349/7440), block-number rollover,
 * the Raspberry Pi / EDK2 size probe (abort after the first answer with an ERROR), and counts what it
 * saw (packets, duplicates, out-of-order blocks, ACKs sent). Receiver behaviour for windows: ACK after
 * `windowsize` in-order blocks or at the last block; on a gap, ACK the last in-order block once (until
 * progress); on a repeat of the block last acknowledged, repeat that ACK; on silence, repeat the last ACK.
 */
import { createHash } from 'node:crypto';
import * as dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { encodeAck, encodeError, encodeRequest, parsePacket, type TftpOptionList } from '../../lib/tftp/packet';

export class TftpRemoteError extends Error {
  constructor(readonly code: number, readonly remoteMessage: string) {
    super(`TFTP error ${code}: ${remoteMessage}`);
    this.name = 'TftpRemoteError';
  }
}

export interface TftpGetOptions {
  host: string;
  port: number;
  filename: string;
  mode?: string;
  blksize?: number;
  /** Send `tsize 0`. */
  tsize?: boolean;
  /** Seconds, sent as the `timeout` option. */
  timeout?: number;
  windowsize?: number;
  /** More options, sent after the standard ones (wire spelling kept). */
  extraOptions?: TftpOptionList;
  /** Probe: after the first answer (OACK, or DATA 1 without OACK) send an ERROR and stop. */
  probe?: boolean;
  probeErrorCode?: number;
  probeErrorMessage?: string;
  /** Client retransmission timeout (default 500 ms). */
  retryMs?: number;
  /** Silent timeouts before giving up (default 10). */
  maxRetries?: number;
  /** Hard limit for the whole transfer (default 60 s). */
  totalTimeoutMs?: number;
  /** Keep the data in memory (default true); false → only bytes and sha256. */
  collect?: boolean;
  /** After the last block, keep answering retransmissions for this long (in the background). */
  dallyMs?: number;
}

export interface TftpGetResult {
  data?: Buffer;
  bytes: number;
  sha256: string;
  /** Options from the OACK, or undefined when the server sent none. */
  oack?: Record<string, string>;
  blksize: number;
  windowsize: number;
  /** Every datagram received. */
  packets: number;
  dataPackets: number;
  /** DATA packets for blocks already received. */
  duplicates: number;
  /** DATA packets ahead of the expected block. */
  outOfOrder: number;
  acksSent: number;
  /** RRQ/ACK retransmissions after silence. */
  timeouts: number;
  /** Largest wire block number seen. */
  rolledOver: boolean;
  blocks: number;
  serverTid: number;
  durationMs: number;
  /** True when this was a probe (ERROR sent by us). */
  probed: boolean;
  /** Length of the first DATA payload, when one arrived. */
  firstDataLength?: number;
}

export function tftpGet(opts: TftpGetOptions): Promise<TftpGetResult> {
  const family = isIPv6(opts.host) ? 'udp6' : 'udp4';
  const sock = dgram.createSocket(family);
  const retryMs = opts.retryMs ?? 500;
  const maxRetries = opts.maxRetries ?? 10;
  const collect = opts.collect ?? true;
  const options: TftpOptionList = [];
  if (opts.blksize !== undefined) options.push(['blksize', String(opts.blksize)]);
  if (opts.tsize) options.push(['tsize', '0']);
  if (opts.timeout !== undefined) options.push(['timeout', String(opts.timeout)]);
  if (opts.windowsize !== undefined) options.push(['windowsize', String(opts.windowsize)]);
  if (opts.extraOptions) options.push(...opts.extraOptions);
  const rrq = encodeRequest('RRQ', opts.filename, opts.mode ?? 'octet', options);
  const started = performance.now();

  return new Promise<TftpGetResult>((resolve, reject) => {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let serverTid = 0;
    let blksize = 512;
    let windowsize = 1;
    let oack: Record<string, string> | undefined;
    let lastInOrder = 0; // absolute number of the last block received in order
    let sinceAck = 0;
    let gapAcked = false;
    let lastAck: Buffer | undefined;
    let silent = 0;
    let finished = false;
    let finalBlock = -1;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result: TftpGetResult = {
      bytes: 0, sha256: '', blksize: 512, windowsize: 1, packets: 0, dataPackets: 0, duplicates: 0,
      outOfOrder: 0, acksSent: 0, timeouts: 0, rolledOver: false, blocks: 0, serverTid: 0, durationMs: 0, probed: false,
    };
    const hardStop = setTimeout(() => fail(new Error(`TFTP get ${opts.filename}: no completion within ${opts.totalTimeoutMs ?? 60_000} ms`)), opts.totalTimeoutMs ?? 60_000);

    const send = (buf: Buffer, port: number): void => {
      try {
        sock.send(buf, port, opts.host);
      } catch {
        // closed
      }
    };
    const sendAck = (abs: number): void => {
      lastAck = encodeAck(abs & 0xffff);
      result.acksSent++;
      send(lastAck, serverTid);
    };
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(onTimeout, retryMs);
    };
    const close = (): void => {
      if (timer) clearTimeout(timer);
      clearTimeout(hardStop);
      // next turn: a just-queued final ACK/ERROR must leave before the socket goes
      setImmediate(() => {
        try {
          sock.close();
        } catch {
          // already closed
        }
      });
    };
    const fail = (err: Error): void => {
      if (finished) return;
      finished = true;
      close();
      reject(err);
    };
    const succeed = (): void => {
      if (finished) return;
      finished = true;
      result.durationMs = performance.now() - started;
      result.sha256 = hash.digest('hex');
      if (collect) result.data = Buffer.concat(chunks);
      result.oack = oack;
      result.blksize = blksize;
      result.windowsize = windowsize;
      result.serverTid = serverTid;
      if (opts.dallyMs && opts.dallyMs > 0 && !result.probed) {
        if (timer) clearTimeout(timer);
        clearTimeout(hardStop);
        setTimeout(close, opts.dallyMs);
      } else {
        close();
      }
      resolve(result);
    };
    function onTimeout(): void {
      if (finished) return;
      silent++;
      result.timeouts++;
      if (silent > maxRetries) {
        fail(new Error(`TFTP get ${opts.filename}: timeout after ${maxRetries} retries (block ${lastInOrder})`));
        return;
      }
      if (serverTid === 0) send(rrq, opts.port);
      else if (lastAck) {
        result.acksSent++;
        send(lastAck, serverTid);
      }
      gapAcked = false;
      arm();
    }

    sock.on('error', (err) => fail(err));
    sock.on('message', (msg, rinfo) => {
      result.packets++;
      if (finished) {
        // dallying: repeat the final ACK for a retransmitted last block
        if (lastAck && rinfo.port === serverTid) {
          const p = parsePacket(msg);
          if (p.ok && p.packet.op === 'DATA') send(lastAck, serverTid);
        }
        return;
      }
      if (serverTid !== 0 && rinfo.port !== serverTid) {
        send(encodeError(5, 'unknown transfer ID'), rinfo.port);
        return;
      }
      const parsed = parsePacket(msg);
      if (!parsed.ok) {
        fail(new Error(`malformed packet from server: ${parsed.error.message}`));
        return;
      }
      const p = parsed.packet;
      if (serverTid === 0) serverTid = rinfo.port;
      if (p.op === 'ERROR') {
        fail(new TftpRemoteError(p.code, p.message));
        return;
      }
      if (p.op === 'OACK') {
        if (lastInOrder > 0) return;
        oack = { ...p.options };
        if (oack.blksize) blksize = Number(oack.blksize);
        if (oack.windowsize) windowsize = Number(oack.windowsize);
        if (opts.probe) {
          result.probed = true;
          send(encodeError(opts.probeErrorCode ?? 0, opts.probeErrorMessage ?? 'Early terminate'), serverTid);
          succeed();
          return;
        }
        silent = 0;
        sendAck(0);
        arm();
        return;
      }
      if (p.op !== 'DATA') {
        fail(new Error(`unexpected ${p.op} from server`));
        return;
      }
      result.dataPackets++;
      const expectedWire = (lastInOrder + 1) & 0xffff;
      if (p.block !== expectedWire) {
        // older than expected (duplicate) or ahead (gap)
        const behind = ((lastInOrder & 0xffff) - p.block + 0x10000) & 0xffff;
        if (behind < 0x8000) {
          // A repeat. Only a repeat of the block we last acknowledged means "your ACK was lost";
          // answering other repeats would make the sender rewind needlessly.
          result.duplicates++;
          if (lastAck && p.block === lastAck.readUInt16BE(2)) {
            result.acksSent++;
            send(lastAck, serverTid);
          }
        } else {
          // A gap: tell the sender once where we are (RFC 7440).
          result.outOfOrder++;
          if (!gapAcked && (lastInOrder > 0 || oack !== undefined)) {
            gapAcked = true;
            sinceAck = 0;
            sendAck(lastInOrder);
          }
        }
        return;
      }
      if (lastInOrder === 0) result.firstDataLength = p.data.length;
      if (opts.probe && lastInOrder === 0) {
        result.probed = true;
        send(encodeError(opts.probeErrorCode ?? 0, opts.probeErrorMessage ?? 'Early terminate'), serverTid);
        succeed();
        return;
      }
      if (p.data.length > blksize) {
        fail(new Error(`DATA ${p.block} has ${p.data.length} bytes, more than blksize ${blksize}`));
        return;
      }
      lastInOrder++;
      if (lastInOrder > 0xffff) result.rolledOver = true;
      result.blocks = lastInOrder;
      silent = 0;
      gapAcked = false;
      hash.update(p.data);
      if (collect) chunks.push(Buffer.from(p.data));
      result.bytes += p.data.length;
      sinceAck++;
      if (p.data.length < blksize) {
        finalBlock = lastInOrder;
        sendAck(finalBlock);
        succeed();
        return;
      }
      if (sinceAck >= windowsize) {
        sinceAck = 0;
        sendAck(lastInOrder);
      }
      arm();
    });
    sock.bind(0, family === 'udp6' ? '::1' : '127.0.0.1', () => {
      send(rrq, opts.port);
      arm();
    });
  });
}

export interface TftpPutOptions {
  host: string;
  port: number;
  filename: string;
  data: Buffer;
  blksize?: number;
  tsize?: boolean;
  retryMs?: number;
  maxRetries?: number;
}

/** Minimal lock-step upload (WRQ). Resolves with the number of bytes acknowledged. */
export function tftpPut(opts: TftpPutOptions): Promise<{ bytes: number; oack?: Record<string, string> }> {
  const sock = dgram.createSocket('udp4');
  const options: TftpOptionList = [];
  if (opts.blksize !== undefined) options.push(['blksize', String(opts.blksize)]);
  if (opts.tsize) options.push(['tsize', String(opts.data.length)]);
  const wrq = encodeRequest('WRQ', opts.filename, 'octet', options);
  return new Promise((resolve, reject) => {
    let tid = 0;
    let blksize = 512;
    let sent = 0; // last block sent
    let last: Buffer = wrq;
    let silent = 0;
    let done = false;
    let oack: Record<string, string> | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const end = (err?: Error): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      try {
        sock.close();
      } catch {
        // closed
      }
      if (err) reject(err);
      else resolve({ bytes: opts.data.length, oack });
    };
    const xmit = (buf: Buffer): void => {
      last = buf;
      sock.send(buf, tid || opts.port, opts.host);
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        if (++silent > (opts.maxRetries ?? 10)) end(new Error('upload timeout'));
        else xmit(last);
      }, opts.retryMs ?? 500);
    };
    const sendBlock = (n: number): void => {
      const start = (n - 1) * blksize;
      const chunk = opts.data.subarray(start, Math.min(opts.data.length, start + blksize));
      const b = Buffer.alloc(4 + chunk.length);
      b.writeUInt16BE(3, 0);
      b.writeUInt16BE(n & 0xffff, 2);
      chunk.copy(b, 4);
      sent = n;
      xmit(b);
    };
    sock.on('message', (msg, rinfo) => {
      if (tid === 0) tid = rinfo.port;
      if (rinfo.port !== tid) return;
      const parsed = parsePacket(msg);
      if (!parsed.ok) return end(new Error(parsed.error.message));
      const p = parsed.packet;
      if (p.op === 'ERROR') return end(new TftpRemoteError(p.code, p.message));
      if (p.op === 'OACK' && sent === 0) {
        oack = { ...p.options };
        if (oack.blksize) blksize = Number(oack.blksize);
        silent = 0;
        sendBlock(1);
        return;
      }
      if (p.op === 'ACK' && p.block === (sent & 0xffff)) {
        silent = 0;
        const final = Math.floor(opts.data.length / blksize) + 1;
        if (sent >= final) return end();
        sendBlock(sent + 1);
      }
    });
    sock.bind(0, '127.0.0.1', () => xmit(wrq));
  });
}

/** Sends one datagram and collects the answers that arrive within `waitMs`. */
export function sendRaw(host: string, port: number, buf: Buffer, waitMs = 200): Promise<Array<{ msg: Buffer; port: number }>> {
  const sock = dgram.createSocket('udp4');
  const got: Array<{ msg: Buffer; port: number }> = [];
  return new Promise((resolve) => {
    sock.on('message', (msg, rinfo) => got.push({ msg, port: rinfo.port }));
    sock.bind(0, '127.0.0.1', () => {
      sock.send(buf, port, host);
      setTimeout(() => {
        sock.close();
        resolve(got);
      }, waitMs);
    });
  });
}
