/**
 * TFTP clients on node:dgram for tests and the benchmark.
 *
 * `tftpGet` is the shared receive engine (`lib/tftp/client.ts`: blksize / tsize / timeout /
 * windowsize, block-number rollover, the Raspberry Pi / EDK2 size probe, counters of what it saw)
 * with the tests' defaults (bound to loopback, retry 500 ms, give up after 10 silent retries or 60 s,
 * keep the data) and their error style: it throws `TftpRemoteError` on an ERROR packet and an Error
 * on a timeout. `tftpPut` is a minimal lock-step upload, `sendRaw` a one-datagram exchange.
 */
import * as dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { tftpReceive, type TftpReceiveResult } from '../lib/tftp/client';
import { encodeRequest, parsePacket, type TftpOptionList } from '../lib/tftp/packet';

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

/** What `tftpGet` saw: the engine's result without `ok` and `failure` (it throws instead). */
export interface TftpGetResult extends Omit<TftpReceiveResult, 'ok' | 'failure' | 'sha256'> {
  sha256: string;
}

export async function tftpGet(opts: TftpGetOptions): Promise<TftpGetResult> {
  const maxRetries = opts.maxRetries ?? 10;
  const totalMs = opts.totalTimeoutMs ?? 60_000;
  const options: TftpOptionList = [];
  if (opts.blksize !== undefined) options.push(['blksize', String(opts.blksize)]);
  if (opts.tsize) options.push(['tsize', '0']);
  if (opts.timeout !== undefined) options.push(['timeout', String(opts.timeout)]);
  if (opts.windowsize !== undefined) options.push(['windowsize', String(opts.windowsize)]);
  if (opts.extraOptions) options.push(...opts.extraOptions);
  const r = await tftpReceive({
    host: opts.host,
    port: opts.port,
    filename: opts.filename,
    mode: opts.mode,
    options,
    probe: opts.probe ? { code: opts.probeErrorCode ?? 0, message: opts.probeErrorMessage ?? 'Early terminate' } : undefined,
    bindAddress: isIPv6(opts.host) ? '::1' : '127.0.0.1',
    retryMs: opts.retryMs,
    maxRetries,
    totalMs,
    keepUpTo: (opts.collect ?? true) ? Infinity : 0,
    dallyMs: opts.dallyMs,
  });
  const f = r.failure;
  if (f?.kind === 'remote') throw new TftpRemoteError(f.code, f.message);
  if (f?.kind === 'socket') throw f.error;
  if (f?.kind === 'timeout') {
    throw new Error(f.limit === 'total' ? `TFTP get ${opts.filename}: no completion within ${totalMs} ms` : `TFTP get ${opts.filename}: timeout after ${maxRetries} retries (block ${r.blocks})`);
  }
  if (f) throw new Error(f.message);
  const { ok: _ok, failure: _failure, sha256, ...rest } = r;
  return { ...rest, sha256: sha256 ?? '' };
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
