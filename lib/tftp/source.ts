/**
 * Data sources for a read transfer, sequential byte readers and netascii conversion.
 *
 * A resolver answers with a `TftpSource`: a file on disk (read on demand at offsets, never loaded
 * whole) or a Buffer (a virtual file rendered in memory). The transfer reads them through a
 * BlockSource (blocks.ts): a file in shared read-ahead chunks, a Buffer as views. The sequential
 * readers here serve netascii, whose conversion changes the length as it goes.
 */
import { promises as fsp } from 'node:fs';

export type TftpSource =
  | { kind: 'file'; /** absolute path */ path: string; size: number }
  | { kind: 'buffer'; data: Buffer };

export interface ByteReader {
  /** Resolves with exactly `n` bytes, or fewer only at the end of the data. */
  read(n: number): Promise<Buffer>;
  close(): Promise<void>;
}

export class BufferReader implements ByteReader {
  private pos = 0;
  constructor(private readonly data: Buffer) {}
  async read(n: number): Promise<Buffer> {
    const out = this.data.subarray(this.pos, Math.min(this.data.length, this.pos + n));
    this.pos += out.length;
    return out;
  }
  async close(): Promise<void> {
    // nothing to release
  }
}

/** Reads a file handle sequentially with a bounded read-ahead chunk. */
export class FileReader implements ByteReader {
  private chunk: Buffer = Buffer.alloc(0);
  private chunkPos = 0;
  private filePos = 0;
  private eof = false;
  private closed = false;

  constructor(private readonly handle: fsp.FileHandle, private readonly chunkSize: number) {}

  static async open(path: string, chunkSize: number): Promise<{ reader: FileReader; size: number }> {
    const handle = await fsp.open(path, 'r');
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new Error('not a regular file');
      return { reader: new FileReader(handle, chunkSize), size: st.size };
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  async read(n: number): Promise<Buffer> {
    let avail = this.chunk.length - this.chunkPos;
    if (avail >= n) {
      const out = this.chunk.subarray(this.chunkPos, this.chunkPos + n);
      this.chunkPos += n;
      return out;
    }
    if (this.closed) throw new Error('reader closed');
    const want = Math.max(this.chunkSize, n);
    const next = Buffer.allocUnsafe(want);
    this.chunk.copy(next, 0, this.chunkPos);
    let filled = avail;
    // Bounded: each pass either fills more bytes or hits EOF.
    while (!this.eof && filled < want) {
      const { bytesRead } = await this.handle.read(next, filled, want - filled, this.filePos);
      if (bytesRead === 0) {
        this.eof = true;
        break;
      }
      filled += bytesRead;
      this.filePos += bytesRead;
      if (filled >= n) break;
    }
    this.chunk = next.subarray(0, filled);
    this.chunkPos = 0;
    avail = filled;
    const take = Math.min(n, avail);
    this.chunkPos = take;
    return this.chunk.subarray(0, take);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.chunk = Buffer.alloc(0);
    await this.handle.close().catch(() => undefined);
  }
}

/** netascii: LF → CR LF, CR → CR NUL (RFC 764 / RFC 1350). Stateless per byte. */
export function toNetascii(input: Buffer): Buffer {
  let extra = 0;
  for (let i = 0; i < input.length; i++) {
    const b = input[i];
    if (b === 0x0a || b === 0x0d) extra++;
  }
  if (extra === 0) return input;
  const out = Buffer.allocUnsafe(input.length + extra);
  let o = 0;
  for (let i = 0; i < input.length; i++) {
    const b = input[i];
    if (b === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else if (b === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x00;
    } else {
      out[o++] = b;
    }
  }
  return out;
}

/** netascii → local: CR LF → LF, CR NUL → CR. `pendingCr` carries a CR split across calls. */
export function fromNetascii(input: Buffer, state: { pendingCr: boolean }): Buffer {
  const out = Buffer.allocUnsafe(input.length + 1);
  let o = 0;
  for (let i = 0; i < input.length; i++) {
    const b = input[i];
    if (state.pendingCr) {
      state.pendingCr = false;
      if (b === 0x0a) { out[o++] = 0x0a; continue; }
      out[o++] = 0x0d;
      if (b === 0x00) continue;
    }
    if (b === 0x0d) state.pendingCr = true;
    else out[o++] = b;
  }
  return out.subarray(0, o);
}

/** Wraps a reader and converts its bytes to netascii. */
export class NetasciiReader implements ByteReader {
  private pending: Buffer = Buffer.alloc(0);
  private eof = false;
  constructor(private readonly inner: ByteReader, private readonly chunk = 16384) {}

  async read(n: number): Promise<Buffer> {
    // Bounded: each pass adds at least one byte or reaches EOF.
    while (this.pending.length < n && !this.eof) {
      const raw = await this.inner.read(this.chunk);
      if (raw.length < this.chunk) this.eof = true;
      if (raw.length > 0) this.pending = Buffer.concat([this.pending, toNetascii(raw)]);
    }
    const out = this.pending.subarray(0, Math.min(n, this.pending.length));
    this.pending = this.pending.subarray(out.length);
    return out;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
