/**
 * Random access to the blocks of one read transfer, so that the transfer can send a DATA packet
 * straight from the ACK handler, without an await, whenever the block is already in memory.
 *
 * Block numbers are absolute and 1-based (block n holds bytes (n-1)·blksize … n·blksize); the
 * last block is the first one shorter than blksize (0 bytes when the size is an exact multiple).
 * `peek` returns a view (never a copy, except for a block that straddles two file chunks) or
 * undefined when the block must be loaded first; `load` brings it in.
 *
 *  - MemoryBlocks: a Buffer (a rendered virtual file, a cached small file). Always in memory.
 *  - FileBlocks: a file read at explicit offsets in fixed-size chunks, with read-ahead, through a
 *    ChunkCache shared by all transfers of the server, so N clients fetching the same kernel read
 *    each chunk from disk once while it stays cached. The transfer holds only the chunks its window
 *    still needs.
 *  - StreamBlocks: any sequential ByteReader (netascii conversion); keeps the blocks of the window.
 */
import { promises as fsp, type Stats } from 'node:fs';
import type { ByteReader } from './source';

export interface BlockSource {
  /** Payload of block n when it is in memory now, else undefined. May start read-ahead. */
  peek(n: number): Buffer | undefined;
  /** Resolves once block n is in memory, or once it is known that the data ends before it. */
  load(n: number): Promise<void>;
  /** Number of the last block, once known. */
  readonly last: number | undefined;
  /** Blocks below n will not be asked for again. */
  release(n: number): void;
  close(): Promise<void>;
}

const EMPTY = Buffer.alloc(0);

export class MemoryBlocks implements BlockSource {
  readonly last: number;
  constructor(private readonly data: Buffer, private readonly blksize: number) {
    this.last = Math.floor(data.length / blksize) + 1;
  }
  peek(n: number): Buffer | undefined {
    if (n < 1 || n > this.last) return undefined;
    const off = (n - 1) * this.blksize;
    return this.data.subarray(off, Math.min(this.data.length, off + this.blksize));
  }
  load(): Promise<void> {
    return Promise.resolve();
  }
  release(): void {
    // nothing to free: the buffer belongs to the caller
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Opens a regular file for reading and returns its handle with its fstat. */
export async function openRegularFile(path: string): Promise<{ handle: fsp.FileHandle; stat: Stats }> {
  const handle = await fsp.open(path, 'r');
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error('not a regular file');
    return { handle, stat };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

/** Identity of a file's contents: a changed file (size, mtime, ctime, inode) never hits old chunks. */
export function fileKey(st: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/**
 * Chunks of files recently read, shared by all transfers: least recently used first out, bounded
 * in bytes (chunks a transfer still holds stay alive through that transfer, outside the bound).
 * Concurrent loads of the same chunk share one read.
 */
export class ChunkCache {
  readonly chunkBytes: number;
  private readonly maxBytes: number;
  private readonly entries = new Map<string, Buffer>();
  private readonly loading = new Map<string, Promise<Buffer>>();
  private bytes = 0;
  /** Reads that went to the disk, and chunk requests answered from memory (for tests and stats). */
  readonly counters = { reads: 0, hits: 0 };

  constructor(opts: { maxBytes?: number; chunkBytes?: number } = {}) {
    this.maxBytes = Math.max(0, opts.maxBytes ?? 16 * 1024 * 1024);
    this.chunkBytes = Math.max(4096, opts.chunkBytes ?? 64 * 1024);
  }

  /** The chunk when it is in memory (refreshing its place), else undefined. */
  get(key: string): Buffer | undefined {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      this.counters.hits++;
    }
    return hit;
  }

  /** Loads a chunk with `read` unless it is cached or already being read. */
  load(key: string, read: () => Promise<Buffer>): Promise<Buffer> {
    const hit = this.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    const pending = this.loading.get(key);
    if (pending !== undefined) return pending;
    this.counters.reads++;
    const p = read().then(
      (buf) => {
        this.loading.delete(key);
        this.put(key, buf);
        return buf;
      },
      (err: unknown) => {
        this.loading.delete(key);
        throw err;
      },
    );
    this.loading.set(key, p);
    return p;
  }

  private put(key: string, buf: Buffer): void {
    if (buf.length > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old !== undefined) this.bytes -= old.length;
    this.entries.set(key, buf);
    this.bytes += buf.length;
    // Bounded: each pass removes one entry.
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= v.length;
    }
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}

/**
 * Blocks of a regular file of known size (from fstat when it was opened; tsize announced that
 * size, so bytes appended later are not sent). A file that shrinks while it is sent ends early.
 */
export class FileBlocks implements BlockSource {
  last: number;
  private size: number;
  private readonly chunkBytes: number;
  /** Chunks this transfer may still need, by chunk index. */
  private readonly held = new Map<number, Buffer>();
  private readonly pending = new Map<number, Promise<void>>();
  /** Highest chunk index read-ahead was started for. */
  private aheadTo = -1;
  /** Chunks below this index were released. */
  private releasedBelow = 0;
  private readonly aheadBytes: number;
  private failure: unknown;
  private closed = false;

  constructor(
    private readonly handle: fsp.FileHandle,
    size: number,
    private readonly blksize: number,
    private readonly cache: ChunkCache,
    private readonly key: string,
    /** Bytes to keep loaded ahead of the block being sent (typically a window or two). */
    aheadBytes = 0,
  ) {
    this.size = size;
    this.chunkBytes = cache.chunkBytes;
    this.last = Math.floor(size / blksize) + 1;
    this.aheadBytes = Math.max(this.chunkBytes, Math.min(aheadBytes, 4 * 1024 * 1024));
  }

  peek(n: number): Buffer | undefined {
    if (n < 1 || n > this.last) return undefined;
    const off = (n - 1) * this.blksize;
    const end = Math.min(this.size, off + this.blksize);
    if (end <= off) return EMPTY;
    const c0 = Math.floor(off / this.chunkBytes);
    const first = this.chunk(c0);
    if (first === undefined) return undefined;
    this.readAhead(off);
    const base0 = c0 * this.chunkBytes;
    if (end - base0 <= first.length) return first.subarray(off - base0, end - base0);
    // The block straddles chunks (blksize does not divide the chunk size): copy it together.
    const parts = [first.subarray(off - base0)];
    let have = parts[0].length;
    // Bounded: one chunk per pass, up to the chunk holding the block's end.
    for (let c = c0 + 1; have < end - off; c++) {
      const chunk = this.chunk(c);
      if (chunk === undefined) return undefined;
      if (chunk.length === 0) break;
      const piece = chunk.subarray(0, Math.min(chunk.length, end - off - have));
      parts.push(piece);
      have += piece.length;
    }
    return Buffer.concat(parts, have);
  }

  async load(n: number): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (n < 1 || n > this.last) return;
    const off = (n - 1) * this.blksize;
    const end = Math.min(this.size, off + this.blksize);
    if (end <= off) return;
    const c0 = Math.floor(off / this.chunkBytes);
    const c1 = Math.floor((end - 1) / this.chunkBytes);
    const loads: Array<Promise<void>> = [];
    for (let c = c0; c <= c1; c++) loads.push(this.fetch(c));
    await Promise.all(loads);
    if (this.failure !== undefined) throw this.failure;
  }

  release(n: number): void {
    const below = Math.floor(((n - 1) * this.blksize) / this.chunkBytes);
    if (below <= this.releasedBelow) return;
    this.releasedBelow = below;
    for (const c of this.held.keys()) if (c < below) this.held.delete(c);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.held.clear();
    await this.handle.close().catch(() => undefined);
  }

  private chunk(c: number): Buffer | undefined {
    const mine = this.held.get(c);
    if (mine !== undefined) return mine;
    const shared = this.cache.get(`${this.key}:${c}`);
    if (shared !== undefined) this.adopt(c, shared);
    return shared;
  }

  private readAhead(off: number): void {
    const to = Math.floor(Math.min(this.size - 1, off + this.aheadBytes) / this.chunkBytes);
    if (to <= this.aheadTo) return;
    const from = Math.max(this.aheadTo + 1, Math.floor(off / this.chunkBytes));
    this.aheadTo = to;
    for (let c = from; c <= to; c++) {
      if (!this.held.has(c)) void this.fetch(c).catch(() => undefined);
    }
  }

  private fetch(c: number): Promise<void> {
    if (this.held.has(c)) return Promise.resolve();
    let p = this.pending.get(c);
    if (p !== undefined) return p;
    // A shared read can fail because the transfer that started it closed its handle mid-read:
    // then read the chunk once more with our own handle.
    p = this.cache.load(`${this.key}:${c}`, () => this.read(c)).catch(() => this.read(c)).then(
      (buf) => {
        this.pending.delete(c);
        if (!this.closed) this.adopt(c, buf);
      },
      (err: unknown) => {
        this.pending.delete(c);
        this.failure ??= err;
      },
    );
    this.pending.set(c, p);
    return p;
  }

  private adopt(c: number, buf: Buffer): void {
    this.held.set(c, buf);
    const start = c * this.chunkBytes;
    const want = Math.min(this.chunkBytes, this.size - start);
    if (buf.length < want) {
      // The file is shorter than it was when opened: it ends inside this chunk.
      this.size = start + buf.length;
      this.last = Math.floor(this.size / this.blksize) + 1;
    }
  }

  private async read(c: number): Promise<Buffer> {
    if (this.closed) throw new Error('reader closed');
    const start = c * this.chunkBytes;
    const want = Math.max(0, Math.min(this.chunkBytes, this.size - start));
    const buf = Buffer.allocUnsafe(want);
    let filled = 0;
    // Bounded: each pass reads more bytes or stops at the end of the file.
    while (filled < want) {
      const { bytesRead } = await this.handle.read(buf, filled, want - filled, start + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === want ? buf : buf.subarray(0, filled);
  }
}

/** Blocks from a sequential reader (netascii); holds the blocks from the oldest unreleased one. */
export class StreamBlocks implements BlockSource {
  last: number | undefined;
  private first = 1;
  private blocks: Buffer[] = [];
  private reading: Promise<void> | undefined;

  constructor(private readonly reader: ByteReader, private readonly blksize: number) {}

  peek(n: number): Buffer | undefined {
    return n >= this.first ? this.blocks[n - this.first] : undefined;
  }

  load(n: number): Promise<void> {
    this.reading ??= this.readUpTo(n).finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async readUpTo(n: number): Promise<void> {
    // Bounded: one block per pass, until block n or the end of the data.
    while (this.last === undefined && this.first + this.blocks.length <= n) {
      const data = await this.reader.read(this.blksize);
      this.blocks.push(data);
      if (data.length < this.blksize) this.last = this.first + this.blocks.length - 1;
    }
  }

  release(n: number): void {
    if (n <= this.first) return;
    const drop = Math.min(this.blocks.length, n - this.first);
    this.blocks = this.blocks.slice(drop);
    this.first += drop;
  }

  close(): Promise<void> {
    this.blocks = [];
    return this.reader.close();
  }
}
