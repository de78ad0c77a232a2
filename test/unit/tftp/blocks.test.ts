/** Block sources of a read transfer: boundaries, a file read ahead into ready DATA packets, shrinking files. */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBlocks, openRegularFile, StreamBlocks, type BlockSource } from '../../../lib/tftp/blocks';
import { FilePackets } from '../../../lib/tftp/packets';
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

describe('FilePackets', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'netboot-tftp-blocks-'));
  });
  afterAll(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  async function open(name: string, data: Buffer, blksize: number, windowsize = 1, minBytes?: number): Promise<FilePackets> {
    const file = path.join(dir, name);
    await fsp.writeFile(file, data);
    const { handle, stat } = await openRegularFile(file);
    return new FilePackets(handle, stat.size, blksize, { windowsize, minBytes });
  }

  it('serves every byte as ready DATA packets (header and block number included), around the ring size', async () => {
    for (const [size, blksize, w] of [[0, 512, 1], [1000, 1000, 1], [4096 * 3, 1000, 2], [4096 * 3 + 7, 1468, 4], [50_000, 512, 1], [20_000, 65464, 1], [70_000 * 512, 512, 8]]) {
      const data = randomBytes(size);
      const src = await open(`s${size}-${blksize}`, data, blksize, w, 4096);
      const got = await drain(src);
      expect(got.data.equals(data)).toBe(true);
      expect(got.blocks).toBe(Math.floor(size / blksize) + 1);
      await src.close();
    }
    // the packets themselves: opcode 3, the 16-bit block number, the payload
    const data = randomBytes(3000);
    const src = await open('pk', data, 1000, 2, 1000);
    await src.load(1);
    const p1 = src.packet(1)!;
    expect([...p1.subarray(0, 4)]).toEqual([0, 3, 0, 1]);
    expect(p1.subarray(4).equals(data.subarray(0, 1000))).toBe(true);
    src.release(3);
    await src.load(4);
    expect(src.packet(4)!.length).toBe(4);
    expect([...src.packet(4)!]).toEqual([0, 3, 0, 4]);
    await src.close();
  });

  it('reads ahead in large pieces: one read for many blocks, and a lock-step reader seldom waits', async () => {
    const data = randomBytes(200_000);
    const src = await open('ahead', data, 512, 1, 64 * 1024);
    const got = await drain(src, true);
    await src.close();
    expect(got.data.equals(data)).toBe(true);
    // 392 blocks, 128 per ring: the reader waits for the first read and seldom after
    expect(got.loads).toBeLessThan(10);
  });

  it('never refills while a queued send may point into the ring', async () => {
    const data = randomBytes(10_000);
    let busy = true;
    const file = path.join(dir, 'busy');
    await fsp.writeFile(file, data);
    const { handle, stat } = await openRegularFile(file);
    const src = new FilePackets(handle, stat.size, 1000, { windowsize: 1, minBytes: 1000, busy: () => busy });
    const loading = src.load(1);
    await new Promise((r) => setTimeout(r, 30));
    expect(src.packet(1)).toBeUndefined();
    busy = false;
    await loading;
    expect(src.packet(1)!.subarray(4).equals(data.subarray(0, 1000))).toBe(true);
    await src.close();
  });

  it('a file that shrinks after it was opened ends early instead of hanging', async () => {
    const data = randomBytes(40_000);
    const src = await open('shrinks', data, 1000, 1, 4000);
    await fsp.truncate(path.join(dir, 'shrinks'), 10_500);
    const got = await drain(src);
    await src.close();
    expect(got.data.equals(data.subarray(0, 10_500))).toBe(true);
    expect(src.last).toBe(11);
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
