/**
 * One read transfer (RRQ) as a state machine on its own UDP socket (its TID).
 *
 * Sending (RFC 1350 + RFC 7440 windows):
 *  - `base` is the first block not yet acknowledged, `next` the next block to send; at most
 *    `windowsize` blocks from `base` are in flight;
 *  - the hot path (ACK in → next DATA out) is synchronous whenever the block is in memory (a
 *    buffer, or file data already read ahead): no await, no timer created, no copy of the payload.
 *    A regular file is read straight into ready DATA packets (packets.ts), each sent as it is: one
 *    buffer, nothing made per packet. Other sources send the 4-byte header and the payload view in
 *    one sendmsg;
 *  - an ACK for a block inside the window acknowledges everything up to it and restarts the window
 *    right after it, so a receiver that saw a gap gets the missing block at once (RFC 7440);
 *  - an ACK for `base - 1` (a duplicate), anything older, or a block never sent is ignored: we
 *    never retransmit because of a duplicate ACK (no Sorcerer's Apprentice);
 *  - one timer per transfer, re-armed lazily through a deadline field. When nothing useful arrives,
 *    a windowed transfer first sends a probe — only the newest block sent — after a short RTT-based
 *    probe timeout, which makes a receiver that lost the last block of a window, or whose window ACK
 *    was lost, answer at once. Then the window is resent from `base` after the adaptive RTO (RFC 6298
 *    style, floor `minMs`, cap `maxMs`), doubling each time; after `retries` of these the transfer is
 *    aborted. Lock-step transfers skip the probe (Pi firmware mis-ACKs needless duplicates). The
 *    probe resends the whole window instead when the window out answers a gap report, or when a
 *    duplicate ACK arrived while it was out (the receiver lacks the window's first block, so its gap
 *    ACK looks like a repeat of the previous one): the receiver reported that gap once and waits.
 *    Still timer-driven and at most once per silence, so never an ACK-clocked storm;
 *  - an expired deadline is looked at once more after the socket reads of that loop turn, so an
 *    ACK that waited unread in a busy event loop never counts as a timeout;
 *  - block numbers are 16 bits on the wire and wrap 65535 → 0; internally they are plain counters.
 *
 * The Raspberry Pi / EDK2 size probe (ERROR code 0 or 8 from the client before it acknowledged any
 * data block) ends the transfer as a 'probe', which is not an error.
 */
import type * as dgram from 'node:dgram';
import { StreamBlocks, type BlockSource } from './blocks';
import { encodeError, encodeOack, Opcode, TftpErrorCode, type TftpOptionList } from './packet';
import { expectPacket, fromClient } from './peer';
import type { ByteReader } from './source';
import { DEFAULT_PROBE_MIN_MS, type TftpClock, type TftpPeer, type TftpTiming, type TransferOutcome, type TransferStats } from './types';

export interface TransferHooks {
  oack?(options: Record<string, string>): void;
  progress?(bytesAcked: number, size: number | undefined): void;
  /** A packet arrived from a wrong TID, or a malformed packet from the client. */
  stray?(kind: 'unknown_tid' | 'malformed', from: TftpPeer): void;
}

export interface ReadTransferOptions {
  /** Bound socket used only by this transfer. The transfer closes it. */
  socket: dgram.Socket;
  client: TftpPeer;
  /** The data, cut into `blksize` blocks. The transfer closes it. */
  blocks?: BlockSource;
  /** Instead of `blocks`: a sequential reader (wrapped in StreamBlocks). */
  reader?: ByteReader;
  /** Size announced to progress listeners, when known. */
  size?: number;
  blksize: number;
  windowsize: number;
  /** OACK contents; empty → start with DATA 1. */
  oack: TftpOptionList;
  retries: number;
  timing: TftpTiming;
  clock: TftpClock;
  hooks?: TransferHooks;
  /** Minimum interval between progress hooks (default 250 ms). */
  progressIntervalMs?: number;
}

/** RFC 6298-style retransmission timeout estimator. */
export class RtoEstimator {
  private srtt: number | undefined;
  private rttvar = 0;
  private current: number;
  constructor(private readonly timing: TftpTiming) {
    this.current = clamp(timing.initialMs, timing.minMs, timing.maxMs);
  }
  get rto(): number {
    return this.current;
  }
  /** Smoothed round-trip time, once there is a sample. */
  get smoothed(): number | undefined {
    return this.srtt;
  }
  sample(ms: number): void {
    const s = Math.max(0, ms);
    if (this.srtt === undefined) {
      this.srtt = s;
      this.rttvar = s / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - s);
      this.srtt = 0.875 * this.srtt + 0.125 * s;
    }
    this.current = clamp(this.srtt + Math.max(4 * this.rttvar, 10), this.timing.minMs, this.timing.maxMs);
  }
  backoff(): void {
    this.current = clamp(this.current * 2, this.timing.minMs, this.timing.maxMs);
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), Math.max(lo, hi));
}

type Phase = 'oack' | 'data' | 'finished';

export class ReadTransfer {
  readonly client: TftpPeer;
  /** Resolves once the transfer has ended and its socket and data source are released. */
  readonly finished: Promise<TransferOutcome>;

  private readonly socket: dgram.Socket;
  private readonly blocks: BlockSource;
  private readonly opts: ReadTransferOptions;
  private readonly rto: RtoEstimator;
  private readonly windowsize: number;
  private readonly blksize: number;
  private readonly port: number;
  private readonly address: string;
  private phase: Phase;
  /** First block not yet acknowledged. */
  private base = 1;
  /** Next block to send. */
  private next = 1;
  /** Highest block sent so far; sending a block at or below it is a retransmission. */
  private maxSent = 0;
  /** Per window slot (block % windowsize): when the block was last sent and how often. */
  private readonly sentAt: Float64Array;
  private readonly sends: Uint32Array;
  /** Per window slot: the 4-byte DATA header, made on first use and rewritten for each send. */
  private readonly headers: Array<Buffer | undefined>;
  private lastLength = 0;
  private loading = false;
  private timer: unknown;
  private timerAt = 0;
  private deadline = 0;
  private expiryQueued = false;
  /** The probe of the current silence was sent (windowed transfers). */
  private probed = false;
  /** A duplicate ACK arrived while a window was out, since the last progress. */
  private duplicateSeen = false;
  /** The window out was restarted by an ACK inside the previous one (the receiver saw a gap). */
  private rewound = false;
  private silentTimeouts = 0;
  private oackSentAt = 0;
  private oackSends = 0;
  private bytesAcked = 0;
  private retransmits = 0;
  private timeouts = 0;
  private readonly startedAt: number;
  private lastProgressAt = -Infinity;
  private resolveFinished!: (o: TransferOutcome) => void;
  private readonly onTimerFired = (): void => this.onTimer();
  private readonly onExpiry = (): void => this.checkExpiry();

  constructor(opts: ReadTransferOptions) {
    this.opts = opts;
    this.client = opts.client;
    this.port = opts.client.port;
    this.address = opts.client.address;
    this.socket = opts.socket;
    if (opts.blocks) this.blocks = opts.blocks;
    else if (opts.reader) this.blocks = new StreamBlocks(opts.reader, opts.blksize);
    else throw new TypeError('ReadTransfer needs blocks or a reader');
    this.blksize = opts.blksize;
    this.windowsize = Math.max(1, Math.floor(opts.windowsize));
    this.sentAt = new Float64Array(this.windowsize);
    this.sends = new Uint32Array(this.windowsize);
    this.headers = [];
    this.rto = new RtoEstimator(opts.timing);
    this.phase = opts.oack.length > 0 ? 'oack' : 'data';
    this.startedAt = opts.clock.now();
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.socket.on('error', () => this.finish({ kind: 'aborted', reason: 'socket error' }));
  }

  /** Bytes acknowledged so far. */
  get progress(): { bytesAcked: number; size: number | undefined } {
    return { bytesAcked: this.bytesAcked, size: this.opts.size };
  }

  get isFinished(): boolean {
    return this.phase === 'finished';
  }

  start(): void {
    if (this.phase === 'oack') {
      this.sendOack();
      this.opts.hooks?.oack?.(Object.fromEntries(this.opts.oack));
      this.armTimer(this.rto.rto);
    } else {
      this.fill();
    }
  }

  /** Ends the transfer from our side, telling the client why. */
  cancel(reason: string, code: number = TftpErrorCode.NOT_DEFINED, message = reason): void {
    if (this.phase === 'finished') return;
    this.send(encodeError(code, message));
    this.finish({ kind: 'aborted', reason });
  }

  private stats(): TransferStats {
    const durationMs = Math.max(0, this.opts.clock.now() - this.startedAt);
    return {
      bytes: this.bytesAcked,
      durationMs,
      rateBps: durationMs > 0 ? Math.round((this.bytesAcked * 1000) / durationMs) : 0,
      retransmits: this.retransmits,
      timeouts: this.timeouts,
      blksize: this.blksize,
      windowsize: this.windowsize,
    };
  }

  private send(buf: Buffer): void {
    try {
      this.socket.send(buf, this.port, this.address);
    } catch {
      // the socket is closing; the finish path handles it
    }
  }

  private sendOack(): void {
    if (this.oackSends > 0) this.retransmits++;
    this.oackSends++;
    this.oackSentAt = this.opts.clock.now();
    this.send(encodeOack(this.opts.oack));
  }

  /** Sends block n when it is in memory; false when it must be loaded first. */
  private sendBlock(n: number, now: number): boolean {
    const packet = this.blocks.packet?.(n);
    if (packet !== undefined) {
      this.account(n, packet.length - 4, now);
      try {
        this.socket.send(packet, this.port, this.address);
      } catch {
        // the socket is closing; the finish path handles it
      }
      return true;
    }
    if (this.blocks.packet !== undefined) return false;
    const payload = this.blocks.peek(n);
    if (payload === undefined) return false;
    this.sendData(n, payload, now);
    return true;
  }

  /** Counts a send of block n (its payload `length` bytes) for retransmission and RTT bookkeeping. */
  private account(n: number, length: number, now: number): void {
    const slot = n % this.windowsize;
    if (n > this.maxSent) {
      this.maxSent = n;
      this.sends[slot] = 1;
    } else {
      this.sends[slot]++;
      this.retransmits++;
    }
    this.sentAt[slot] = now;
    if (n === this.blocks.last) this.lastLength = length;
  }

  private sendData(n: number, payload: Buffer, now: number): void {
    const slot = n % this.windowsize;
    let header = this.headers[slot];
    // A send the kernel could not take at once stays queued and keeps pointing at its header:
    // never rewrite a header that may still be waiting.
    if (header === undefined || this.socket.getSendQueueCount() > 0) {
      header = Buffer.allocUnsafe(4);
      header[0] = 0;
      header[1] = Opcode.DATA;
      this.headers[slot] = header;
    }
    header[2] = (n >>> 8) & 0xff;
    header[3] = n & 0xff;
    this.account(n, payload.length, now);
    try {
      this.socket.send([header, payload], this.port, this.address);
    } catch {
      // the socket is closing; the finish path handles it
    }
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.phase === 'finished') return;
    if (!fromClient(this.socket, { address: this.address, port: this.port }, rinfo, (from) => this.opts.hooks?.stray?.('unknown_tid', from))) return;
    // Fast path for the packet that arrives once per window: ACK (bytes after the block number,
    // padding from some stacks, are ignored as parsePacket does).
    if (msg.length >= 4 && msg[0] === 0 && msg[1] === Opcode.ACK) {
      this.onAck((msg[2] << 8) | msg[3]);
      return;
    }
    const p = expectPacket(msg, 'ACK');
    if (!p) {
      this.opts.hooks?.stray?.('malformed', this.client);
      this.cancel('illegal operation from client', TftpErrorCode.ILLEGAL_OPERATION, 'illegal TFTP operation');
      return;
    }
    if (p.op === 'ERROR') {
      const probe = (p.code === 0 || p.code === TftpErrorCode.OPTION_REFUSED) && this.bytesAcked === 0 && this.base <= 1;
      if (probe) this.finish({ kind: 'probe' });
      else this.finish({ kind: 'aborted', reason: `client error ${p.code}${p.message ? `: ${p.message}` : ''}` });
      return;
    }
    this.onAck(p.block);
  }

  private onAck(wire: number): void {
    const now = this.opts.clock.now();
    if (this.phase === 'oack') {
      if (wire !== 0) return; // not an answer to the OACK
      if (this.oackSends === 1) this.rto.sample(now - this.oackSentAt);
      this.phase = 'data';
      this.quiet();
      this.fill(now);
      return;
    }
    if (this.phase !== 'data') return;
    // Map the 16-bit number onto [base-1, base-1+65535]; only blocks already sent count.
    const lo = this.base - 1;
    const abs = lo + ((wire - (lo & 0xffff) + 0x10000) & 0xffff);
    if (abs === lo) {
      // A duplicate: never a retransmission by itself. But while a window is out it may be the
      // receiver saying that the window's first block is missing; the probe will then go back.
      if (this.next > this.base) this.duplicateSeen = true;
      return;
    }
    if (abs > this.maxSent) return; // stale or bogus
    const slot = abs % this.windowsize;
    if (this.sends[slot] === 1) this.rto.sample(now - this.sentAt[slot]); // Karn: only unambiguous samples
    this.base = abs + 1;
    // Everything up to abs is acknowledged. An ACK below the newest block sent means the receiver
    // lacks the block after it (RFC 7440): the window restarts right after the acknowledged block.
    this.rewound = this.next > this.base;
    this.next = this.base;
    this.blocks.release(this.base);
    this.quiet();
    const last = this.blocks.last;
    if (last !== undefined && abs >= last) {
      this.bytesAcked = (last - 1) * this.blksize + this.lastLength;
      this.emitProgress(true, now);
      this.finish({ kind: 'done' });
      return;
    }
    this.bytesAcked = abs * this.blksize;
    this.emitProgress(false, now);
    this.fill(now);
  }

  /** Something useful arrived: the silence (and its timeouts) is over. */
  private quiet(): void {
    this.silentTimeouts = 0;
    this.probed = false;
    this.duplicateSeen = false;
    this.deadline = 0;
  }

  private emitProgress(force: boolean, now: number): void {
    const hook = this.opts.hooks?.progress;
    if (!hook) return;
    if (!force && now - this.lastProgressAt < (this.opts.progressIntervalMs ?? 250)) return;
    this.lastProgressAt = now;
    hook(this.bytesAcked, this.opts.size);
  }

  /**
   * Sends from `next` until the window is full or the data is exhausted, synchronously while the
   * blocks are in memory; a block that must be read first is loaded and the sending resumes then.
   */
  private fill(now = this.opts.clock.now()): void {
    if (this.phase !== 'data') return;
    const end = this.base + this.windowsize;
    // Bounded by the window size.
    while (this.next < end) {
      const last = this.blocks.last;
      if (last !== undefined && this.next > last) break;
      if (!this.sendBlock(this.next, now)) {
        this.loadThenFill(this.next);
        break;
      }
      this.next++;
    }
    if (this.next > this.base) this.armTimer(this.windowsize > 1 && !this.probed ? this.probeTimeout() : this.rto.rto, now);
  }

  private loadThenFill(n: number): void {
    if (this.loading) return;
    this.loading = true;
    this.blocks.load(n).then(
      () => {
        this.loading = false;
        this.fill();
      },
      (err: unknown) => {
        this.loading = false;
        const why = err instanceof Error ? err.message : String(err);
        this.cancel(`read error: ${why}`, TftpErrorCode.NOT_DEFINED, 'read error');
      },
    );
  }

  /** Short wait before the probe: twice the smoothed RTT, at least `probeMinMs`, at most the RTO. */
  private probeTimeout(): number {
    const srtt = this.rto.smoothed;
    const rto = this.rto.rto;
    if (srtt === undefined) return rto;
    return Math.min(rto, Math.max(this.opts.timing.probeMinMs ?? DEFAULT_PROBE_MIN_MS, 2 * srtt));
  }

  // One Node timer per transfer: re-arming only moves `deadline`; the timer, when it fires early,
  // re-arms itself for the remainder.
  private armTimer(ms: number, now = this.opts.clock.now()): void {
    this.deadline = now + ms;
    if (this.timer !== undefined) {
      if (this.timerAt <= this.deadline) return;
      this.opts.clock.clearTimeout(this.timer);
    }
    this.timerAt = this.deadline;
    this.timer = this.opts.clock.setTimeout(this.onTimerFired, ms);
  }

  private stopTimer(): void {
    this.deadline = 0;
    if (this.timer !== undefined) {
      this.opts.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.phase === 'finished' || this.deadline === 0) return;
    const left = this.deadline - this.opts.clock.now();
    if (left > 1) {
      this.timerAt = this.deadline;
      this.timer = this.opts.clock.setTimeout(this.onTimerFired, left);
      return;
    }
    // Timers run before the sockets are read in a loop turn: let the reads of this turn happen
    // first, an ACK may be waiting.
    if (!this.expiryQueued) {
      this.expiryQueued = true;
      setImmediate(this.onExpiry);
    }
  }

  private checkExpiry(): void {
    this.expiryQueued = false;
    if (this.phase === 'finished' || this.deadline === 0) return;
    const left = this.deadline - this.opts.clock.now();
    if (left > 1) {
      if (this.timer === undefined) {
        this.timerAt = this.deadline;
        this.timer = this.opts.clock.setTimeout(this.onTimerFired, left);
      }
      return;
    }
    this.deadline = 0;
    this.onTimeout();
  }

  private onTimeout(): void {
    if (this.phase === 'finished') return;
    this.timeouts++;
    if (this.phase === 'data' && this.windowsize > 1 && !this.probed && this.next > this.base) {
      this.probed = true;
      if (this.duplicateSeen || this.rewound) {
        // The receiver repeated its last ACK while this window was out, or this window resends
        // what it reported missing, and it has been silent since: most likely the window's first
        // block was lost (again) and the receiver, having reported that gap once, waits. Go back.
        this.next = this.base;
        this.fill();
        return;
      }
      // Probe: resend only the newest block sent.
      this.sendBlock(this.next - 1, this.opts.clock.now());
      this.armTimer(this.rto.rto);
      return;
    }
    this.silentTimeouts++;
    if (this.silentTimeouts > this.opts.retries) {
      this.cancel('timeout', TftpErrorCode.NOT_DEFINED, 'timeout waiting for ACK');
      return;
    }
    this.rto.backoff();
    if (this.phase === 'oack') {
      this.sendOack();
      this.armTimer(this.rto.rto);
      return;
    }
    this.probed = true;
    this.next = this.base;
    this.fill();
  }

  private finish(partial: { kind: 'done' } | { kind: 'probe' } | { kind: 'aborted'; reason: string }): void {
    if (this.phase === 'finished') return;
    this.phase = 'finished';
    this.stopTimer();
    const stats = this.stats();
    const outcome: TransferOutcome = partial.kind === 'aborted' ? { kind: 'aborted', reason: partial.reason, stats } : { kind: partial.kind, stats };
    // Close on the next turn so a final ERROR just handed to the socket is not cancelled.
    const closeSocket = new Promise<void>((resolve) => {
      setImmediate(() => {
        try {
          this.socket.close(() => resolve());
        } catch {
          resolve();
        }
      });
    });
    void Promise.all([closeSocket, this.blocks.close().catch(() => undefined)]).then(() => this.resolveFinished(outcome));
  }
}
