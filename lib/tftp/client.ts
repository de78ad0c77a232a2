/**
 * The TFTP read client: one receive engine on node:dgram, used by the probe (which imitates boot
 * firmwares), the tests and the benchmark.
 *
 * It sends one RRQ with the options in the caller's wire order (iPXE `blksize tsize`, EDK2 `tsize
 * blksize windowsize`, Pi 4 `tsize blksize`, Pi 3 none), follows RFC 7440 windows and block-number
 * rollover, and can act as a size probe: abort after the first answer (the OACK, or DATA 1 when there
 * is no OACK) with an ERROR (EDK2: 8 "User aborted the transfer"; Pi: 0 "Early terminate").
 *
 * Receiver rules:
 *  - ACK after `windowsize` in-order blocks, and at the last block (shorter than blksize);
 *  - on a gap, ACK the last in-order block once, until the transfer moves on;
 *  - on a repeat of the block last acknowledged (or of the OACK), repeat that ACK; other repeats get
 *    no answer, which would only make the sender rewind;
 *  - on silence, every `retryMs`, repeat the last ACK (or the RRQ before any answer);
 *  - a packet from another port gets ERROR 5 and does not disturb the transfer;
 *  - give up after `maxRetries` silent retries, or after `silenceMs` without a packet, or when the
 *    whole transfer takes longer than `totalMs`.
 *
 * It never throws and never rejects: every outcome, including a socket that cannot be bound, is a
 * `TftpReceiveResult`, with `failure` saying why when `ok` is false.
 */
import { createHash } from 'node:crypto';
import * as dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { encodeAck, encodeError, encodeRequest, parsePacket, type DataPacket, type TftpOptionList } from './packet';

export interface TftpReceiveOptions {
  host: string;
  port: number;
  filename: string;
  /** Transfer mode (default 'octet'). */
  mode?: string;
  /** Options in wire order, e.g. [['blksize', '1432'], ['tsize', '0']]. */
  options?: TftpOptionList;
  /** Abort after the first answer (OACK, or DATA 1 when there is no OACK) with this ERROR. */
  probe?: { code: number; message: string };
  /** Local address to bind (default 0.0.0.0, or :: for an IPv6 host). */
  bindAddress?: string;
  /** Retransmission interval (default 500 ms). */
  retryMs?: number;
  /** Give up after this much silence (default 3000 ms when `maxRetries` is not set). */
  silenceMs?: number;
  /** Give up after this many retransmissions in a row without progress. */
  maxRetries?: number;
  /** Hard limit for the whole transfer (default 10 min). */
  totalMs?: number;
  /** Keep the bytes when the file is at most this big (default 0: only size and sha256). */
  keepUpTo?: number;
  /** Default: a udp4 or udp6 socket, after the host's address family. */
  socketFactory?: () => dgram.Socket;
  /** After the last block, keep answering its retransmissions for this long (in the background). */
  dallyMs?: number;
}

export type TftpReceiveFailure =
  | { kind: 'remote'; code: number; message: string }
  | { kind: 'timeout'; limit: 'silence' | 'retries' | 'total'; message: string }
  | { kind: 'protocol'; message: string }
  | { kind: 'socket'; message: string; error: Error };

export interface TftpReceiveCounters {
  /** Every datagram received. */
  packets: number;
  dataPackets: number;
  /** DATA packets for blocks already received. */
  duplicates: number;
  /** DATA packets ahead of the expected block. */
  outOfOrder: number;
  acksSent: number;
  /** Retransmission timer expiries (RRQ/ACK repeated after silence, and the one that gave up). */
  timeouts: number;
}

export interface TftpReceiveResult extends TftpReceiveCounters {
  ok: boolean;
  failure?: TftpReceiveFailure;
  /** We aborted after the first answer (size probe). */
  probed: boolean;
  bytes: number;
  /** When ok: the sha256 of the bytes received (of nothing for a probe). */
  sha256?: string;
  /** When ok and the bytes were kept (see `keepUpTo`). */
  data?: Buffer;
  /** Options of the OACK, or undefined when the server answered without one. */
  oack?: Record<string, string>;
  blksize: number;
  windowsize: number;
  /** Blocks received in order. */
  blocks: number;
  /** The block number wrapped 65535 → 0. */
  rolledOver: boolean;
  /** The server's port for this transfer (0 before any answer). */
  serverTid: number;
  /** Length of the first DATA payload, when one arrived. */
  firstDataLength?: number;
  durationMs: number;
}

export function tftpReceive(opts: TftpReceiveOptions): Promise<TftpReceiveResult> {
  const v6 = isIPv6(opts.host);
  const retryMs = opts.retryMs ?? 500;
  const maxRetries = opts.maxRetries;
  const silenceMs = opts.silenceMs ?? (maxRetries === undefined ? 3000 : undefined);
  const totalMs = opts.totalMs ?? 600_000;
  const keepUpTo = opts.keepUpTo ?? 0;
  const rrq = encodeRequest('RRQ', opts.filename, opts.mode ?? 'octet', opts.options ?? []);
  const started = performance.now();

  return new Promise<TftpReceiveResult>((resolve) => {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    const counters: TftpReceiveCounters = { packets: 0, dataPackets: 0, duplicates: 0, outOfOrder: 0, acksSent: 0, timeouts: 0 };
    let sock: dgram.Socket | undefined;
    let keep = keepUpTo > 0;
    let tid = 0;
    let blksize = 512;
    let windowsize = 1;
    let oack: Record<string, string> | undefined;
    let received = 0; // absolute number of the last in-order block
    let firstDataLength: number | undefined;
    let bytes = 0;
    let sinceAck = 0;
    let gapAcked = false;
    let lastAck: Buffer | undefined;
    let lastHeard = performance.now();
    let silent = 0; // retransmissions since the last progress
    let finished = false;
    let dallying = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hardStop = setTimeout(() => fail({ kind: 'timeout', limit: 'total', message: `transfer of ${opts.filename} not finished within ${totalMs} ms` }), totalMs);

    const result = (extra: Partial<TftpReceiveResult>): TftpReceiveResult => ({
      ok: false,
      probed: false,
      bytes,
      oack,
      blksize,
      windowsize,
      ...counters,
      blocks: received,
      rolledOver: received > 0xffff,
      serverTid: tid,
      firstDataLength,
      durationMs: performance.now() - started,
      ...extra,
    });
    const send = (buf: Buffer, port: number, address = opts.host): void => {
      try {
        sock?.send(buf, port, address);
      } catch {
        // socket already closed: the transfer is over
      }
    };
    const stopTimers = (): void => {
      if (timer) clearTimeout(timer);
      clearTimeout(hardStop);
    };
    const close = (): void => {
      stopTimers();
      // Let a just-queued final ACK/ERROR leave before the socket goes.
      setImmediate(() => {
        try {
          sock?.close();
        } catch {
          // already closed
        }
      });
    };
    function fail(failure: TftpReceiveFailure): void {
      if (finished) return;
      finished = true;
      close();
      resolve(result({ failure }));
    }
    const succeed = (probed: boolean): void => {
      if (finished) return;
      finished = true;
      const dallyMs = opts.dallyMs ?? 0;
      if (dallyMs > 0 && !probed) {
        stopTimers();
        dallying = true;
        setTimeout(close, dallyMs);
      } else close();
      resolve(result({ ok: true, probed, sha256: hash.digest('hex'), data: keep ? Buffer.concat(chunks) : undefined }));
    };
    const sendAck = (abs: number): void => {
      lastAck = encodeAck(abs & 0xffff);
      counters.acksSent++;
      send(lastAck, tid);
    };
    const repeatAck = (): void => {
      if (!lastAck) return;
      counters.acksSent++;
      send(lastAck, tid);
    };
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(onTimer, retryMs);
    };
    function onTimer(): void {
      if (finished) return;
      silent++;
      counters.timeouts++;
      const what = tid === 0 ? `no answer to the read request from ${opts.host}:${opts.port}` : `no data after block ${received} from ${opts.host}:${tid}`;
      if (maxRetries !== undefined && silent > maxRetries) {
        fail({ kind: 'timeout', limit: 'retries', message: `${what} after ${maxRetries} retries` });
        return;
      }
      if (silenceMs !== undefined && performance.now() - lastHeard >= silenceMs) {
        fail({ kind: 'timeout', limit: 'silence', message: `${what} within ${silenceMs} ms` });
        return;
      }
      if (tid === 0) send(rrq, opts.port);
      else repeatAck();
      gapAcked = false;
      arm();
    }
    const abortProbe = (probe: { code: number; message: string }): void => {
      send(encodeError(probe.code, probe.message), tid);
      succeed(true);
    };

    const onOack = (options: Record<string, string>): void => {
      if (received > 0) return; // a late copy: the data has begun
      if (oack) {
        repeatAck(); // a retransmitted OACK: our ACK 0 was lost
        return;
      }
      oack = { ...options };
      const b = Number(oack.blksize);
      if (Number.isInteger(b) && b >= 8) blksize = b;
      const w = Number(oack.windowsize);
      if (Number.isInteger(w) && w >= 1) windowsize = w;
      if (opts.probe) {
        abortProbe(opts.probe);
        return;
      }
      silent = 0;
      sendAck(0);
      arm();
    };
    const onData = (p: DataPacket): void => {
      counters.dataPackets++;
      if (p.block !== ((received + 1) & 0xffff)) {
        const behind = ((received & 0xffff) - p.block + 0x10000) & 0xffff;
        if (behind < 0x8000) {
          // A repeat: only one of the block last acknowledged means "your ACK was lost".
          counters.duplicates++;
          if (lastAck && p.block === lastAck.readUInt16BE(2)) repeatAck();
        } else {
          // A gap: tell the sender once where we are (RFC 7440).
          counters.outOfOrder++;
          if (!gapAcked && (received > 0 || oack !== undefined)) {
            gapAcked = true;
            sinceAck = 0;
            sendAck(received);
          }
        }
        return;
      }
      if (received === 0) {
        firstDataLength = p.data.length;
        if (opts.probe) {
          abortProbe(opts.probe);
          return;
        }
      }
      if (p.data.length > blksize) {
        fail({ kind: 'protocol', message: `DATA ${p.block} carries ${p.data.length} bytes, more than blksize ${blksize}` });
        return;
      }
      received++;
      silent = 0;
      gapAcked = false;
      hash.update(p.data);
      bytes += p.data.length;
      if (keep) {
        if (bytes > keepUpTo) {
          keep = false;
          chunks.length = 0;
        } else chunks.push(Buffer.from(p.data));
      }
      sinceAck++;
      if (p.data.length < blksize) {
        sendAck(received);
        succeed(false);
        return;
      }
      if (sinceAck >= windowsize) {
        sinceAck = 0;
        sendAck(received);
      }
      arm();
    };
    const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
      counters.packets++;
      if (finished) {
        // Dallying: a retransmitted last block means our final ACK was lost.
        if (dallying && lastAck && rinfo.port === tid) {
          const p = parsePacket(msg);
          if (p.ok && p.packet.op === 'DATA') send(lastAck, tid);
        }
        return;
      }
      if (tid !== 0 && rinfo.port !== tid) {
        // RFC 1350: a packet from another TID gets ERROR 5 and does not disturb the transfer.
        send(encodeError(5, 'unknown transfer ID'), rinfo.port, rinfo.address);
        return;
      }
      const parsed = parsePacket(msg);
      if (!parsed.ok) {
        fail({ kind: 'protocol', message: `malformed packet from ${rinfo.address}:${rinfo.port}: ${parsed.error.message}` });
        return;
      }
      const p = parsed.packet;
      if (tid === 0) tid = rinfo.port;
      lastHeard = performance.now();
      if (p.op === 'ERROR') fail({ kind: 'remote', code: p.code, message: p.message });
      else if (p.op === 'OACK') onOack(p.options);
      else if (p.op === 'DATA') onData(p);
      else fail({ kind: 'protocol', message: `unexpected ${p.op} from the server` });
    };

    try {
      sock = (opts.socketFactory ?? (() => dgram.createSocket(v6 ? 'udp6' : 'udp4')))();
      sock.on('error', (err) => fail({ kind: 'socket', message: err.message, error: err }));
      sock.on('message', onMessage);
      sock.once('listening', () => {
        lastHeard = performance.now();
        send(rrq, opts.port);
        arm();
      });
      sock.bind(0, opts.bindAddress ?? (v6 ? '::' : '0.0.0.0'));
    } catch (err) {
      fail({ kind: 'socket', message: (err as Error).message, error: err as Error });
    }
  });
}
