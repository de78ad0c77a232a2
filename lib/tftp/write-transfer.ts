/**
 * One write transfer (WRQ), lock-step (windowsize is not offered for writes).
 *
 * Data goes to a temporary file beside the target (`<name>.tftp-<random>.part`, created exclusively)
 * and is hard-linked into place only when the last block arrived, so a half-written upload is never
 * visible and an existing file is never replaced (ERROR 6). More than `maxBytes` → ERROR 3.
 */
import { randomBytes } from 'node:crypto';
import type * as dgram from 'node:dgram';
import { promises as fsp } from 'node:fs';
import { encodeAck, encodeError, encodeOack, TftpErrorCode, type TftpOptionList } from './packet';
import { expectPacket, fromClient } from './peer';
import { fromNetascii } from './source';
import { RtoEstimator, type TransferHooks } from './transfer';
import type { TftpClock, TftpPeer, TftpTiming, TransferOutcome, TransferStats } from './types';

export interface WriteTransferOptions {
  socket: dgram.Socket;
  client: TftpPeer;
  /** Absolute path of the file to create. */
  targetPath: string;
  maxBytes: number;
  blksize: number;
  oack: TftpOptionList;
  netascii: boolean;
  retries: number;
  timing: TftpTiming;
  clock: TftpClock;
  hooks?: TransferHooks;
}

export class WriteTransfer {
  readonly client: TftpPeer;
  readonly finished: Promise<TransferOutcome>;
  private readonly opts: WriteTransferOptions;
  private readonly rto: RtoEstimator;
  private readonly tempPath: string;
  private handle: fsp.FileHandle | undefined;
  private state: 'starting' | 'receiving' | 'dallying' | 'finished' = 'starting';
  private received = 0; // last block number written (absolute)
  private bytes = 0;
  private busy = false;
  private lastSent: Buffer | undefined;
  private timer: unknown;
  private silentTimeouts = 0;
  private timeouts = 0;
  private retransmits = 0;
  private readonly startedAt: number;
  private readonly nascii = { pendingCr: false };
  private resolveFinished!: (o: TransferOutcome) => void;

  constructor(opts: WriteTransferOptions) {
    this.opts = opts;
    this.client = opts.client;
    this.rto = new RtoEstimator(opts.timing);
    this.startedAt = opts.clock.now();
    this.tempPath = `${opts.targetPath}.tftp-${randomBytes(6).toString('hex')}.part`;
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
    opts.socket.on('message', (msg, rinfo) => void this.onMessage(msg, rinfo));
    opts.socket.on('error', () => void this.finish({ kind: 'aborted', reason: 'socket error' }));
  }

  get isFinished(): boolean {
    return this.state === 'finished';
  }

  get progress(): { bytesAcked: number; size: number | undefined } {
    return { bytesAcked: this.bytes, size: undefined };
  }

  async start(): Promise<void> {
    try {
      this.handle = await fsp.open(this.tempPath, 'wx', 0o644);
    } catch {
      this.cancel('cannot create upload file', TftpErrorCode.ACCESS_VIOLATION, 'cannot create file');
      return;
    }
    if (this.state !== 'starting') return;
    this.state = 'receiving';
    if (this.opts.oack.length > 0) {
      this.opts.hooks?.oack?.(Object.fromEntries(this.opts.oack));
      this.sendTracked(encodeOack(this.opts.oack));
    } else {
      this.sendTracked(encodeAck(0));
    }
  }

  cancel(reason: string, code: number = TftpErrorCode.NOT_DEFINED, message = reason): void {
    if (this.state === 'finished') return;
    this.sendRaw(encodeError(code, message));
    void this.finish({ kind: 'aborted', reason });
  }

  private sendRaw(buf: Buffer): void {
    try {
      this.opts.socket.send(buf, this.client.port, this.client.address);
    } catch {
      // closing
    }
  }

  private sendTracked(buf: Buffer): void {
    this.lastSent = buf;
    this.sendRaw(buf);
    this.armTimer();
  }

  private armTimer(): void {
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = this.opts.clock.setTimeout(() => this.onTimeout(), this.state === 'dallying' ? Math.min(1000, 2 * this.rto.rto) : this.rto.rto);
  }

  private onTimeout(): void {
    this.timer = undefined;
    if (this.state === 'dallying') {
      void this.finish({ kind: 'done' });
      return;
    }
    if (this.state !== 'receiving') return;
    this.timeouts++;
    this.silentTimeouts++;
    if (this.silentTimeouts > this.opts.retries) {
      this.cancel('timeout', TftpErrorCode.NOT_DEFINED, 'timeout waiting for DATA');
      return;
    }
    this.rto.backoff();
    if (this.lastSent) {
      this.retransmits++;
      this.sendTracked(this.lastSent);
    }
  }

  private async onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    if (this.state === 'finished' || this.state === 'starting') return;
    if (!fromClient(this.opts.socket, this.client, rinfo, (from) => this.opts.hooks?.stray?.('unknown_tid', from))) return;
    const p = expectPacket(msg, 'DATA');
    if (!p) {
      this.opts.hooks?.stray?.('malformed', this.client);
      this.cancel('illegal operation from client', TftpErrorCode.ILLEGAL_OPERATION, 'illegal TFTP operation');
      return;
    }
    if (p.op === 'ERROR') {
      void this.finish({ kind: 'aborted', reason: `client error ${p.code}${p.message ? `: ${p.message}` : ''}` });
      return;
    }
    const expected = (this.received + 1) & 0xffff;
    if (p.block !== expected) {
      // A repeat of the block we already acknowledged: our ACK was lost, say it again.
      if (p.block === (this.received & 0xffff) && this.lastSent && !this.busy) this.sendRaw(this.lastSent);
      return;
    }
    if (this.busy || this.state !== 'receiving') return;
    if (p.data.length > this.opts.blksize) {
      this.cancel('block larger than blksize', TftpErrorCode.ILLEGAL_OPERATION, 'block larger than negotiated blksize');
      return;
    }
    this.busy = true;
    try {
      if (this.bytes + p.data.length > this.opts.maxBytes) {
        this.cancel(`upload larger than ${this.opts.maxBytes} bytes`, TftpErrorCode.DISK_FULL, 'upload too large');
        return;
      }
      const chunk = this.opts.netascii ? fromNetascii(p.data, this.nascii) : p.data;
      if (chunk.length > 0 && this.handle) await this.handle.write(chunk);
      if (this.state !== 'receiving') return;
      this.bytes += p.data.length;
      this.received++;
      this.silentTimeouts = 0;
      this.opts.hooks?.progress?.(this.bytes, undefined);
      if (p.data.length < this.opts.blksize) {
        await this.commit();
        return;
      }
      this.sendTracked(encodeAck(this.received));
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.cancel(`write error: ${why}`, TftpErrorCode.DISK_FULL, 'write error');
    } finally {
      this.busy = false;
    }
  }

  private async commit(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (this.nascii.pendingCr && h) await h.write(Buffer.from([0x0d]));
    await h?.close();
    try {
      await fsp.link(this.tempPath, this.opts.targetPath);
    } catch (err) {
      const exists = (err as NodeJS.ErrnoException).code === 'EEXIST';
      this.cancel(exists ? 'file exists' : 'cannot store upload', exists ? TftpErrorCode.FILE_EXISTS : TftpErrorCode.ACCESS_VIOLATION, exists ? 'file already exists' : 'cannot store file');
      return;
    }
    await fsp.unlink(this.tempPath).catch(() => undefined);
    // Acknowledge the last block and linger briefly to repeat that ACK if the client resends.
    this.state = 'dallying';
    this.sendTracked(encodeAck(this.received));
  }

  private stats(): TransferStats {
    const durationMs = Math.max(0, this.opts.clock.now() - this.startedAt);
    return {
      bytes: this.bytes,
      durationMs,
      rateBps: durationMs > 0 ? Math.round((this.bytes * 1000) / durationMs) : 0,
      retransmits: this.retransmits,
      timeouts: this.timeouts,
      blksize: this.opts.blksize,
      windowsize: 1,
    };
  }

  private async finish(partial: { kind: 'done' } | { kind: 'aborted'; reason: string }): Promise<void> {
    if (this.state === 'finished') return;
    const committed = this.state === 'dallying';
    this.state = 'finished';
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const stats = this.stats();
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => undefined);
    if (!committed) await fsp.unlink(this.tempPath).catch(() => undefined);
    await new Promise<void>((resolve) => {
      setImmediate(() => {
        try {
          this.opts.socket.close(() => resolve());
        } catch {
          resolve();
        }
      });
    });
    this.resolveFinished(partial.kind === 'aborted' ? { kind: 'aborted', reason: partial.reason, stats } : { kind: 'done', stats });
  }
}
