/**
 * One read transfer (RRQ) as a state machine on its own UDP socket (its TID).
 *
 * Sending (RFC 1350 + RFC 7440 windows):
 *  - `base` is the first block not yet acknowledged, `next` the next block to send; at most
 *    `windowsize` blocks from `base` are in flight, and only those are held in memory;
 *  - an ACK for a block inside the window acknowledges everything up to it and restarts the window
 *    right after it (so a receiver that saw a gap gets the missing block at once) — unless the block
 *    after it has already been resent, in which case the window just slides;
 *  - an ACK for `base - 1` (a duplicate) or anything older is ignored: we never retransmit because of
 *    a duplicate ACK (no Sorcerer's Apprentice);
 *  - when nothing useful arrives within the adaptive timeout, the window is resent from `base`, the
 *    timeout doubles (bounded), and after `retries` silent timeouts the transfer is aborted;
 *  - block numbers are 16 bits on the wire and wrap 65535 → 0; internally they are plain counters.
 *
 * The Raspberry Pi / EDK2 size probe (ERROR code 0 or 8 from the client before it acknowledged any
 * data block) ends the transfer as a 'probe', which is not an error.
 */
import type * as dgram from 'node:dgram';
import { encodeData, encodeError, encodeOack, parsePacket, TftpErrorCode, type TftpOptionList } from './packet';
import type { ByteReader } from './source';
import type { TftpClock, TftpPeer, TftpTiming, TransferOutcome, TransferStats } from './types';

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
  reader: ByteReader;
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

interface WindowEntry {
  data: Buffer;
  sentAt: number;
  sends: number;
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
  /** Resolves once the transfer has ended and its socket and reader are released. */
  readonly finished: Promise<TransferOutcome>;

  private readonly socket: dgram.Socket;
  private readonly reader: ByteReader;
  private readonly opts: ReadTransferOptions;
  private readonly rto: RtoEstimator;
  private phase: Phase;
  private base = 1;
  private next = 1;
  private lastIndex: number | undefined;
  private win: WindowEntry[] = [];
  private pumping = false;
  private timer: unknown;
  private timerAt = 0;
  private deadline = 0;
  private silentTimeouts = 0;
  private oackSentAt = 0;
  private oackSends = 0;
  private bytesAcked = 0;
  private retransmits = 0;
  private timeouts = 0;
  private readonly startedAt: number;
  private lastProgressAt = -Infinity;
  private resolveFinished!: (o: TransferOutcome) => void;

  constructor(opts: ReadTransferOptions) {
    this.opts = opts;
    this.client = opts.client;
    this.socket = opts.socket;
    this.reader = opts.reader;
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
      this.armTimer();
    } else {
      void this.pump();
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
      blksize: this.opts.blksize,
      windowsize: this.opts.windowsize,
    };
  }

  private send(buf: Buffer): void {
    try {
      this.socket.send(buf, this.client.port, this.client.address);
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

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.phase === 'finished') return;
    if (rinfo.port !== this.client.port || rinfo.address !== this.client.address) {
      // RFC 1350: answer the stranger with ERROR 5 and carry on.
      try {
        this.socket.send(encodeError(TftpErrorCode.UNKNOWN_TID, 'unknown transfer ID'), rinfo.port, rinfo.address);
      } catch {
        // closing
      }
      this.opts.hooks?.stray?.('unknown_tid', { address: rinfo.address, port: rinfo.port });
      return;
    }
    const parsed = parsePacket(msg);
    if (!parsed.ok || (parsed.packet.op !== 'ACK' && parsed.packet.op !== 'ERROR')) {
      this.opts.hooks?.stray?.('malformed', this.client);
      this.cancel('illegal operation from client', TftpErrorCode.ILLEGAL_OPERATION, 'illegal TFTP operation');
      return;
    }
    const p = parsed.packet;
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
      this.silentTimeouts = 0;
      this.clearTimer();
      void this.pump();
      return;
    }
    if (this.phase !== 'data') return;
    // Map the 16-bit number onto [base-1, base-1+65535]; only blocks we hold and have sent count
    // (after a timeout rewind `next` may be below a block the client already has).
    const lo = this.base - 1;
    const offset = (wire - (lo & 0xffff) + 0x10000) & 0xffff;
    const abs = lo + offset;
    if (abs === lo) return; // duplicate ACK: ignore, never retransmit because of it
    const acked = abs - this.base + 1;
    if (acked > this.win.length || this.win[acked - 1].sends === 0) return; // not sent yet: stale/bogus
    const last = this.win[acked - 1];
    if (last.sends === 1) this.rto.sample(now - last.sentAt);
    for (let i = 0; i < acked; i++) this.bytesAcked += this.win[i].data.length;
    this.win.splice(0, acked);
    this.base = abs + 1;
    // An ACK inside the window means the receiver lacks the next block: restart the window right
    // after it. Only once per block, though: if that block was already resent, the ACK is most
    // likely a late answer to an older copy, and rewinding again would flood the receiver with
    // duplicates (the windowed form of the Sorcerer's Apprentice); the timer covers a real loss.
    const following = this.win[0];
    if (this.next < this.base || following === undefined || following.sends <= 1) this.next = this.base;
    this.silentTimeouts = 0;
    this.clearTimer();
    if (this.lastIndex !== undefined && abs >= this.lastIndex) {
      this.emitProgress(true);
      this.finish({ kind: 'done' });
      return;
    }
    this.emitProgress(false);
    void this.pump();
  }

  private emitProgress(force: boolean): void {
    const hook = this.opts.hooks?.progress;
    if (!hook) return;
    const now = this.opts.clock.now();
    if (!force && now - this.lastProgressAt < (this.opts.progressIntervalMs ?? 250)) return;
    this.lastProgressAt = now;
    hook(this.bytesAcked, this.opts.size);
  }

  /** Reads and sends until the window is full or the data is exhausted. */
  private async pump(): Promise<void> {
    if (this.pumping || this.phase !== 'data') return;
    this.pumping = true;
    try {
      // Bounded per call: at most one read and one send per window slot; a later ACK or timer
      // calls pump again.
      const maxSteps = 2 * this.opts.windowsize + 2;
      for (let step = 0; step < maxSteps; step++) {
        if (this.phase !== 'data') return;
        if (this.next >= this.base + this.opts.windowsize) break;
        if (this.lastIndex !== undefined && this.next > this.lastIndex) break;
        const i = this.next - this.base;
        if (i >= this.win.length) {
          const data = await this.reader.read(this.opts.blksize);
          if (this.phase !== 'data') return;
          this.win.push({ data, sentAt: 0, sends: 0 });
          if (data.length < this.opts.blksize) this.lastIndex = this.base + this.win.length - 1;
          continue;
        }
        const entry = this.win[i];
        if (entry.sends > 0) this.retransmits++;
        entry.sends++;
        entry.sentAt = this.opts.clock.now();
        this.send(encodeData(this.next, entry.data));
        this.next++;
      }
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.cancel(`read error: ${why}`, TftpErrorCode.NOT_DEFINED, 'read error');
      return;
    } finally {
      this.pumping = false;
    }
    if (this.phase !== 'data') return;
    const windowFull = this.next >= this.base + this.opts.windowsize;
    const allSent = this.lastIndex !== undefined && this.next > this.lastIndex;
    if (!windowFull && !allSent) {
      // Step budget used up (ACKs arrived while reading): continue on the next turn of the loop.
      setImmediate(() => void this.pump());
    }
    if (this.next > this.base) this.armTimer();
  }

  // The retransmission timer is re-armed on every ACK. Creating and clearing a Node timer per
  // packet is measurable at tens of thousands of packets per second, so the deadline is kept in a
  // field and one timer is reused: it re-arms itself for the remainder when it fires early.
  private armTimer(): void {
    const now = this.opts.clock.now();
    this.deadline = now + this.rto.rto;
    if (this.timer !== undefined && this.timerAt <= this.deadline) return;
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timerAt = this.deadline;
    this.timer = this.opts.clock.setTimeout(() => this.onTimer(), this.rto.rto);
  }

  private clearTimer(): void {
    this.deadline = 0;
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
      this.timer = this.opts.clock.setTimeout(() => this.onTimer(), left);
      return;
    }
    this.deadline = 0;
    this.onTimeout();
  }

  private onTimeout(): void {
    if (this.phase === 'finished') return;
    this.timeouts++;
    this.silentTimeouts++;
    if (this.silentTimeouts > this.opts.retries) {
      this.cancel('timeout', TftpErrorCode.NOT_DEFINED, 'timeout waiting for ACK');
      return;
    }
    this.rto.backoff();
    if (this.phase === 'oack') {
      this.sendOack();
      this.armTimer();
      return;
    }
    this.next = this.base;
    if (this.pumping) {
      // a read is in flight; the running pump resends from base
      this.armTimer();
      return;
    }
    void this.pump();
  }

  private finish(partial: { kind: 'done' } | { kind: 'probe' } | { kind: 'aborted'; reason: string }): void {
    if (this.phase === 'finished') return;
    this.phase = 'finished';
    this.stopTimer();
    this.win = [];
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
    void Promise.all([closeSocket, this.reader.close().catch(() => undefined)]).then(() => this.resolveFinished(outcome));
  }
}
