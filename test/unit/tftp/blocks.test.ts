/** Block sources of a read transfer: boundaries, read-ahead chunks shared between transfers, shrinking files. */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkCache, fileKey, FileBlocks, MemoryBlocks, openRegularFile, StreamBlocks, type BlockSource } from '../../../lib/tftp/blocks';
import { BufferReader } from '../../../lib/tftp/source';

/** Reads every block in order the way a transfer does (peek, else load), returns them joined. */
async function drain(src: BlockSource, pace = false): Promise<{ data: Buffer; blocks: number; loads: number }> {
  const parts: Buffer[] = [];
  let loads = 0;
  for (let n = 1; n < 1_000_000; n++) {
    if (src.last !== undefined && n > src.last) break;
    let b = src.peek(n);
    if (b === undefined) {
      loads++;
      await src.load(n);
      if (src.last !== undefined && n > src.last) break;
      b = src.peek(n);
    }
    if (b === undefined) throw new Error(`block ${n} not available after load`);
    parts.push(Buffer.from(b));
    src.release(n);
    // like a transfer, which waits for ACKs between blocks: give reads in progress time to finish
    if (pace) await new Promise((res) => setTimeout(res, 1));
  }
  return { data: Buffer.concat(parts), blocks: parts.length, loads };
}

describe('MemoryBlocks', () => {
  it('cuts at blksize and ends with a short block, an empty one for an exact multiple', () => {
    const data = randomBytes(2500);
    const m = new MemoryBlocks(data, 1000);
    expect(m.last).toBe(3);
    expect(m.peek(3)!.length).toBe(500);
    expect(m.peek(4)).toBeUndefined();
    const exact = new MemoryBlocks(randomBytes(2000), 1000);
    expect(exact.last).toBe(3);
    expect(exact.peek(3)!.length).toBe(0);
    expect(new MemoryBlocks(Buffer.alloc(0), 512).last).toBe(1);
  });
});

describe('FileBlocks', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'netboot-tftp-blocks-'));
  });
  afterAll(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  async function open(name: string, data: Buffer, cache: ChunkCache, blksize: number, ahead = 2 * blksize): Promise<FileBlocks> {
    const file = path.join(dir, name);
    await fsp.writeFile(file, data);
    const { handle, stat } = await openRegularFile(file);
    return new FileBlocks(handle, stat.size, blksize, cache, fileKey(stat), ahead);
  }

  it('serves every byte, blocks straddling two chunks included, at sizes around the chunk size', async () => {
    for (const [size, blksize] of [[0, 512], [1000, 1000], [4096 * 3, 1000], [4096 * 3 + 7, 1468], [50_000, 512], [20_000, 65464]]) {
      const data = randomBytes(size);
      const src = await open(`s${size}-${blksize}`, data, new ChunkCache({ chunkBytes: 4096 }), blksize);
      const got = await drain(src);
      await src.close();
      expect(got.data.equals(data)).toBe(true);
      expect(got.blocks).toBe(Math.floor(size / blksize) + 1);
    }
  });

  it('reads ahead, and a second transfer of the same file reads nothing from disk while it is cached', async () => {
    const data = randomBytes(200_000);
    const cache = new ChunkCache({ chunkBytes: 4096, maxBytes: 1 << 20 });
    const a = await open('shared', data, cache, 1468, 16384);
    const first = await drain(a, true);
    await a.close();
    const chunks = Math.ceil(data.length / 4096);
    expect(cache.counters.reads).toBe(chunks);
    // read-ahead: far fewer waits than chunks
    expect(first.loads).toBeLessThan(chunks / 2);
    const { handle, stat } = await openRegularFile(path.join(dir, 'shared'));
    const b = new FileBlocks(handle, stat.size, 512, cache, fileKey(stat));
    const second = await drain(b);
    await b.close();
    expect(second.data.equals(data)).toBe(true);
    expect(second.loads).toBe(0);
    expect(cache.counters.reads).toBe(chunks);
  });

  it('two transfers started together share the reads in progress even with no cache room', async () => {
    const data = randomBytes(100_000);
    const cache = new ChunkCache({ chunkBytes: 8192, maxBytes: 0 });
    const x = await open('together', data, cache, 1024);
    const { handle, stat } = await openRegularFile(path.join(dir, 'together'));
    const y = new FileBlocks(handle, stat.size, 1024, cache, fileKey(stat));
    const [gx, gy] = await Promise.all([drain(x), drain(y)]);
    await Promise.all([x.close(), y.close()]);
    expect(gx.data.equals(data) && gy.data.equals(data)).toBe(true);
    expect(cache.counters.reads).toBeLessThan(2 * Math.ceil(data.length / 8192));
  });

  it('a file that shrinks after it was opened ends early instead of hanging', async () => {
    const data = randomBytes(40_000);
    const src = await open('shrinks', data, new ChunkCache({ chunkBytes: 4096 }), 1000);
    await fsp.truncate(path.join(dir, 'shrinks'), 10_500);
    const got = await drain(src);
    await src.close();
    expect(got.data.equals(data.subarray(0, 10_500))).toBe(true);
    expect(src.last).toBe(11);
  });

  it('a changed file has a new key, so old chunks are never served for it', async () => {
    const file = path.join(dir, 'changes');
    await fsp.writeFile(file, Buffer.alloc(5000, 1));
    const k1 = fileKey((await openRegularFile(file).then(async (o) => (await o.handle.close(), o))).stat);
    await new Promise((r) => setTimeout(r, 20));
    await fsp.writeFile(file, Buffer.alloc(5000, 2));
    const k2 = fileKey((await openRegularFile(file).then(async (o) => (await o.handle.close(), o))).stat);
    expect(k2).not.toBe(k1);
  });
});

describe('StreamBlocks', () => {
  it('cuts a sequential reader into blocks and keeps only unreleased ones', async () => {
    const data = randomBytes(10_000);
    const src = new StreamBlocks(new BufferReader(data), 1000);
    expect(src.peek(1)).toBeUndefined();
    await src.load(3);
    expect(src.peek(3)!.equals(data.subarray(2000, 3000))).toBe(true);
    src.release(3);
    expect(src.peek(2)).toBeUndefined();
    expect(src.peek(3)).toBeDefined();
    const rest: Buffer[] = [];
    for (let n = 3; n <= 11; n++) {
      if (src.peek(n) === undefined) await src.load(n);
      rest.push(src.peek(n)!);
    }
    expect(Buffer.concat(rest).equals(data.subarray(2000))).toBe(true);
    expect(src.last).toBe(11);
    expect(src.peek(11)!.length).toBe(0);
  });
});
