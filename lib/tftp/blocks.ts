/**
 * Random access to the blocks of one read transfer, so that the transfer can send a DATA packet
 * straight from the ACK handler, without an await, whenever the block is already in memory.
 *
 * Block numbers are absolute and 1-based (block n holds bytes (n-1)·blksize … n·blksize); the
 * last block is the first one shorter than blksize (0 bytes when the size is an exact multiple).
 * `peek` returns a view (never a copy) or undefined when the block must be loaded first; `load`
 * brings it in.
 *
 *  - MemoryBlocks: a Buffer (a rendered virtual file, a cached small file). Always in memory.
 *  - FilePackets (packets.ts): a regular file, read ahead in large pieces straight into ready DATA
 *    packets; the page cache shares a kernel fetched by many clients.
 *  - StreamBlocks: any sequential ByteReader (netascii conversion); keeps the blocks of the window.
 */
import { promises as fsp, type Stats } from 'node:fs';
import type { ByteReader } from './source';

export interface BlockSource {
  /** Payload of block n when it is in memory now, else undefined. May start read-ahead. */
  peek(n: number): Buffer | undefined;
  /**
   * When the source keeps its blocks as ready DATA packets (packets.ts): the whole packet of block
   * n, header included, to send as it is; undefined when the block is not in memory now.
   */
  packet?(n: number): Buffer | undefined;
  /** Resolves once block n is in memory, or once it is known that the data ends before it. */
  load(n: number): Promise<void>;
  /** Number of the last block, once known. */
  readonly last: number | undefined;
  /** Blocks below n will not be asked for again. */
  release(n: number): void;
  close(): Promise<void>;
}

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
