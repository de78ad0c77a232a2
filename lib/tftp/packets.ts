/**
 * The blocks of a regular file, read straight into ready DATA packets.
 *
 * Each transfer owns a ring of packet slots in one allocation: slot i holds a 4-byte DATA header
 * followed by blksize bytes of payload. The file is read with one readv() per refill, the
 * payload of many blocks at once landing in their slots, and each block's header is written once
 * when its data arrives. Sending block n is then one datagram from a buffer that already exists:
 * no copy, no view or array made per packet, one iovec for the kernel.
 *
 * The ring holds two windows (the one out, the next one read ahead) and at least `minBytes` of
 * data, so a lock-step transfer also reads in large pieces; at most 4 MiB unless a single window
 * is larger (huge blocks), then one window. A slot is reused only
 * once its block is released (acknowledged); a block not yet read is never sent, so the read in
 * progress never writes a slot that is out. The one exception is a send the kernel could not take
 * at once, which libuv keeps queued, still pointing at its slot: `busy()` (the transfer's socket
 * has sends queued) holds back every refill until the queue is empty.
 *
 * Reads are sequential and at most one at a time. The size comes from fstat when the file was
 * opened (tsize announced it, so bytes appended later are not sent); a file that shrinks while it
 * is sent ends early, at the first short read.
 */
import type { promises as fsp } from 'node:fs';
import type { BlockSource } from './blocks';
import { Opcode } from './packet';

/** A ring holds at most this much (a window of 64 blocks of 65464 bytes is all it then holds). */
const MAX_RING_BYTES = 4 * 1024 * 1024;

export interface FilePacketsOptions {
  windowsize: number;
  /** Data the ring holds at least, so lock-step transfers read ahead in large pieces (default 64 KiB). */
  minBytes?: number;
  /** True while a send that may point into the ring is still queued: no slot is overwritten then. */
  busy?: () => boolean;
}

export class FilePackets implements BlockSource {
  last: number;
  private size: number;
  private readonly slots: number;
  /** Whole packet of each slot (header + full payload), and its payload part, made once. */
  private readonly packets: Buffer[];
  private readonly payloads: Buffer[];
  /** Packet of the last block when it is shorter than blksize (made when its data arrives). */
  private lastPacket: Buffer | undefined;
  /** Blocks below this one are released: their slots may be refilled. */
  private releasedBelow = 1;
  /** Highest block whose data is in its slot (blocks releasedBelow…loadedTo are readable). */
  private loadedTo = 0;
  private reading: Promise<void> | undefined;
  private retryQueued = false;
  private failure: unknown;
  private closed = false;
  private readonly busy: (() => boolean) | undefined;

  constructor(
    private readonly handle: fsp.FileHandle,
    size: number,
    private readonly blksize: number,
    opts: FilePacketsOptions,
  ) {
    this.size = size;
    this.last = Math.floor(size / blksize) + 1;
    const window = Math.max(1, Math.floor(opts.windowsize));
    const stride = blksize + 4;
    // two windows and at least minBytes, but no more than 4 MiB unless one window is larger
    const want = Math.max(window, Math.min(Math.max(2 * window, Math.ceil((opts.minBytes ?? 64 * 1024) / blksize)), Math.floor(MAX_RING_BYTES / stride)));
    // never more slots than the file has blocks
    this.slots = Math.max(1, Math.min(want, this.last));
    this.busy = opts.busy;
    const ring = Buffer.allocUnsafe(this.slots * stride);
    this.packets = [];
    this.payloads = [];
    for (let i = 0; i < this.slots; i++) {
      const pkt = ring.subarray(i * stride, (i + 1) * stride);
      pkt[0] = 0;
      pkt[1] = Opcode.DATA;
      this.packets.push(pkt);
      this.payloads.push(pkt.subarray(4));
    }
  }

  /** The whole DATA packet of block n (header written) when its data is in memory, else undefined. */
  packet(n: number): Buffer | undefined {
    if (n < this.releasedBelow || n > this.loadedTo) {
      if (n > this.loadedTo && n <= this.last) this.refill();
      return undefined;
    }
    // read ahead once half the ring is free
    if (this.loadedTo - n < this.slots >> 1 && this.loadedTo < this.last) this.refill();
    return n === this.last && this.lastPacket !== undefined ? this.lastPacket : this.packets[n % this.slots];
  }

  peek(n: number): Buffer | undefined {
    return this.packet(n)?.subarray(4);
  }

  async load(n: number): Promise<void> {
    if (n >= this.releasedBelow + this.slots) throw new RangeError(`block ${n} is beyond the read-ahead ring (${this.slots} blocks from ${this.releasedBelow})`);
    // Bounded: each pass waits for one read, which loads more blocks or ends the file.
    while (this.failure === undefined && !this.closed && n <= this.last && n > this.loadedTo) {
      this.refill();
      if (this.reading) await this.reading;
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (this.failure !== undefined) throw this.failure;
  }

  release(n: number): void {
    if (n > this.releasedBelow) this.releasedBelow = n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.reading?.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
  }

  /** Starts reading the blocks after loadedTo into their free slots, unless a read is under way. */
  private refill(): void {
    if (this.reading !== undefined || this.closed || this.failure !== undefined) return;
    const from = this.loadedTo + 1;
    const to = Math.min(this.last, this.releasedBelow - 1 + this.slots);
    if (from > to) return;
    if (this.busy?.()) {
      // a queued send may still point into a slot we would fill: look again next turn
      if (!this.retryQueued) {
        this.retryQueued = true;
        setImmediate(() => {
          this.retryQueued = false;
          this.refill();
        });
      }
      return;
    }
    this.reading = this.read(from, to).then(
      () => {
        this.reading = undefined;
      },
      (err: unknown) => {
        this.reading = undefined;
        this.failure ??= err;
      },
    );
  }

  private async read(from: number, to: number): Promise<void> {
    const start = (from - 1) * this.blksize;
    const end = Math.min(this.size, to * this.blksize);
    const buffers: Buffer[] = [];
    for (let n = from; n <= to; n++) {
      const len = Math.min(this.blksize, end - (n - 1) * this.blksize);
      if (len <= 0) break;
      const payload = this.payloads[n % this.slots];
      buffers.push(len === this.blksize ? payload : payload.subarray(0, len));
    }
    const want = end - start;
    let got = 0;
    if (want > 0) {
      const { bytesRead } = await this.handle.readv(buffers, start);
      got = bytesRead;
      // Bounded: each pass reads more bytes or stops at the (new) end of the file.
      while (got < want && !this.closed) {
        const more = await this.handle.readv(remaining(buffers, got), start + got);
        if (more.bytesRead === 0) break;
        got += more.bytesRead;
      }
    }
    if (this.closed) return;
    if (got < want) {
      // The file is shorter than it was when opened: it ends here.
      this.size = start + got;
      this.last = Math.floor(this.size / this.blksize) + 1;
    }
    const loaded = Math.min(to, this.last);
    for (let n = from; n <= loaded; n++) {
      const pkt = this.packets[n % this.slots];
      pkt[2] = (n >>> 8) & 0xff;
      pkt[3] = n & 0xff;
    }
    if (loaded === this.last) {
      const len = this.size - (this.last - 1) * this.blksize;
      if (len < this.blksize) this.lastPacket = this.packets[this.last % this.slots].subarray(0, 4 + len);
    }
    this.loadedTo = loaded;
  }
}

/** The parts of `buffers` after the first `skip` bytes. */
function remaining(buffers: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  let left = skip;
  for (const b of buffers) {
    if (left >= b.length) {
      left -= b.length;
      continue;
    }
    out.push(left > 0 ? b.subarray(left) : b);
    left = 0;
  }
  return out;
}
