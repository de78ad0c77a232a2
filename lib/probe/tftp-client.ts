/**
 * A TFTP read client on node:dgram that behaves like the boot firmwares the probe imitates:
 * options in the caller's wire order (iPXE `blksize tsize`, EDK2 `tsize blksize windowsize`, Pi 4
 * `tsize blksize`, Pi 3 none), RFC 7440 windows, block-number rollover, and the size probe that
 * aborts after the first answer with an ERROR (EDK2: 8 "User aborted the transfer"; Pi: 0 "Early
 * terminate").
 *
 * It never throws: every outcome, including a socket that cannot be bound, is a `TftpOutcome`.
 * Receiver rules for windows: ACK after `windowsize` in-order blocks and at the last block; on a gap
 * ACK the last in-order block once (until progress); on a repeat of the block last acknowledged,
 * repeat that ACK; on silence, repeat the last ACK (or the RRQ).
 */
import { createHash } from 'node:crypto';
import * as dgram from 'node:dgram';
import { encodeAck, encodeError, encodeRequest, parsePacket, type TftpOptionList } from '../tftp/packet';
import { errorCodeName } from '../tftp/packet';
import type { TftpOutcome } from './types';

export interface TftpReadOptions {
  host: string;
  port: number;
  filename: string;
  /** Options in wire order, e.g. [['blksize', '1432'], ['tsize', '0']]. */
  options?: TftpOptionList;
  /** Abort after the first answer (OACK, or DATA 1 when there is no OACK) with this ERROR. */
  probe?: { code: number; message: string };
  /** Local address to bind (default 0.0.0.0). */
  bindAddress?: string;
  /** Retransmission interval (default 500 ms). */
  retryMs?: number;
  /** Give up after this much silence (default 3000 ms). */
  silenceMs?: number;
  /** Hard limit for the whole transfer (default 10 min). */
  totalMs?: number;
  /** Keep the bytes when the file is at most this big (default 0: only size and sha256). */
  keepUpTo?: number;
  socketFactory?: () => dgram.Socket;
}

export function tftpRead(opts: TftpReadOptions): Promise<TftpOutcome> {
  const sock = (opts.socketFactory ?? (() => dgram.createSocket('udp4')))();
  const retryMs = opts.retryMs ?? 500;
  const silenceMs = opts.silenceMs ?? 3000;
  const keepUpTo = opts.keepUpTo ?? 0;
  const rrq = encodeRequest('RRQ', opts.filename, 'octet', opts.options ?? []);
  const started = performance.now();

  return new Promise<TftpOutcome>((resolve) => {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let keep = keepUpTo > 0;
    let tid = 0;
    let blksize = 512;
    let windowsize = 1;
    let oack: Record<string, string> | undefined;
    let received = 0; // absolute number of the last in-order block
    let sinceAck = 0;
    let gapAcked = false;
    let lastAck: Buffer | undefined;
    let lastHeard = performance.now();
    let bytes = 0;
    let finished = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hardStop = setTimeout(() => fail({ kind: 'timeout', message: `transfer of ${opts.filename} not finished within ${opts.totalMs ?? 600_000} ms` }), opts.totalMs ?? 600_000);

    const outcome = (extra: Partial<TftpOutcome>): TftpOutcome => ({
      ok: false,
      oack,
      probed: false,
      bytes,
      blksize,
      windowsize,
      durationMs: Math.round(performance.now() - started),
      ...extra,
    });
    const send = (buf: Buffer, port: number): void => {
      try {
        sock.send(buf, port, opts.host);
      } catch {
        // socket already closed: the transfer is over
      }
    };
    const close = (): void => {
      if (timer) clearTimeout(timer);
      clearTimeout(hardStop);
      // Let a just-queued final ACK/ERROR leave before the socket goes.
      setImmediate(() => {
        try {
          sock.close();
        } catch {
          // already closed
        }
      });
    };
    function fail(error: NonNullable<TftpOutcome['error']>): void {
      if (finished) return;
      finished = true;
      close();
      resolve(outcome({ error }));
    }
    const succeed = (probed: boolean): void => {
      if (finished) return;
      finished = true;
      close();
      resolve(outcome({ ok: true, probed, sha256: probed ? undefined : hash.digest('hex'), data: keep && !probed ? Buffer.concat(chunks) : undefined }));
    };
    const sendAck = (abs: number): void => {
      lastAck = encodeAck(abs & 0xffff);
      send(lastAck, tid);
    };
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(onTimer, retryMs);
    };
    function onTimer(): void {
      if (finished) return;
      if (performance.now() - lastHeard >= silenceMs) {
        const what = tid === 0 ? `no answer to the read request from ${opts.host}:${opts.port}` : `no data after block ${received} from ${opts.host}:${tid}`;
        fail({ kind: 'timeout', message: `${what} within ${silenceMs} ms` });
        return;
      }
      if (tid === 0) send(rrq, opts.port);
      else if (lastAck) send(lastAck, tid);
      gapAcked = false;
      arm();
    }
    const abortProbe = (): void => {
      send(encodeError(opts.probe!.code, opts.probe!.message), tid);
      succeed(true);
    };

    sock.on('error', (err) => fail({ kind: 'socket', message: err.message }));
    sock.on('message', (msg, rinfo) => {
      if (finished) return;
      if (tid !== 0 && rinfo.port !== tid) {
        // RFC 1350: a packet from another TID gets ERROR 5 and does not disturb the transfer.
        try {
          sock.send(encodeError(5, 'unknown transfer ID'), rinfo.port, rinfo.address);
        } catch {
          // closed
        }
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
      if (p.op === 'ERROR') {
        fail({ kind: 'remote', code: p.code, message: p.message || errorCodeName(p.code) });
        return;
      }
      if (p.op === 'OACK') {
        if (received > 0 || oack) return; // a retransmitted OACK
        oack = { ...p.options };
        const b = Number(oack.blksize);
        if (Number.isInteger(b) && b >= 8) blksize = b;
        const w = Number(oack.windowsize);
        if (Number.isInteger(w) && w >= 1) windowsize = w;
        if (opts.probe) {
          abortProbe();
          return;
        }
        sendAck(0);
        arm();
        return;
      }
      if (p.op !== 'DATA') {
        fail({ kind: 'protocol', message: `unexpected ${p.op} from the server` });
        return;
      }
      const expected = (received + 1) & 0xffff;
      if (p.block !== expected) {
        const behind = ((received & 0xffff) - p.block + 0x10000) & 0xffff;
        if (behind < 0x8000) {
          if (lastAck && p.block === lastAck.readUInt16BE(2)) send(lastAck, tid);
        } else if (!gapAcked && (received > 0 || oack !== undefined)) {
          gapAcked = true;
          sinceAck = 0;
          sendAck(received);
        }
        return;
      }
      if (opts.probe && received === 0) {
        abortProbe();
        return;
      }
      if (p.data.length > blksize) {
        fail({ kind: 'protocol', message: `DATA ${p.block} carries ${p.data.length} bytes, more than blksize ${blksize}` });
        return;
      }
      received++;
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
    });
    sock.once('listening', () => {
      lastHeard = performance.now();
      send(rrq, opts.port);
      arm();
    });
    try {
      sock.bind(0, opts.bindAddress ?? '0.0.0.0');
    } catch (err) {
      fail({ kind: 'socket', message: (err as Error).message });
    }
  });
}
