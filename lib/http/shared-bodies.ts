import * as fs from 'node:fs';
import type { ServerResponse } from 'node:http';

/**
 * One in-memory copy of a large file while many clients download it at once (a boot storm:
 * hundreds of machines fetching the same kernel and initrd).
 *
 * A large file is normally streamed from disk per download (file-pump.ts): a threadpool read
 * per 128 KiB per client in a storm, ~57 000 reads for 500 machines fetching 15 MiB each, whose
 * submissions and completions cost the event loop more than the socket writes. Once a second
 * download of the same file (same real path, size and mtime) starts while one is under way, the
 * file is read once, whole, into one buffer that every download of it then writes from, a piece
 * at a time in event-loop rounds (see writeBody), with nothing read or copied per client.
 *
 * Bounded: a copy is made only while all copies together stay within `maxBytes`; it is dropped
 * `lingerMs` after its last download ended (a download under way keeps its buffer even when the
 * copy is dropped). The copy belongs to one version of the file (real path, size, mtime as checked
 * by the file cache): a file changed on disk gets a new check and so a new copy, and the old one
 * goes once its downloads end; a file that changed while it was being read is not kept (the
 * downloads then stream it from disk as before).
 */
export interface SharedBodiesOptions {
  /** All copies together at most this many bytes; 0 turns copies off. */
  maxBytes: number;
  /** A copy no download uses is dropped after this many ms. */
  lingerMs: number;
}

/** The version of a file a copy belongs to. */
export interface FileVersion {
  real: string;
  size: number;
  mtimeMs: number;
}

const keyOf = (file: FileVersion): string => `${file.size}:${file.mtimeMs}:${file.real}`;

interface Entry {
  key: string;
  size: number;
  /** Downloads of this version under way (from the copy or from disk). */
  users: number;
  body?: Buffer;
  loading?: Promise<Buffer | undefined>;
  /** Holds a place in the byte budget (loading or loaded). */
  counted: boolean;
  dropTimer?: NodeJS.Timeout;
}

export class SharedBodies {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly opts: SharedBodiesOptions) {}

  /** Bytes held by copies (loaded or being read). */
  get heldBytes(): number {
    return this.bytes;
  }

  /**
   * A download of `file` starts: the shared copy when there is one (or one is being read, which
   * is waited for), else undefined (stream it from disk). Each call must be paired with release().
   */
  acquire(file: FileVersion): Buffer | undefined | Promise<Buffer | undefined> {
    const key = keyOf(file);
    let e = this.entries.get(key);
    if (!e) {
      e = { key, size: file.size, users: 0, counted: false };
      this.entries.set(key, e);
    }
    if (e.dropTimer) {
      clearTimeout(e.dropTimer);
      e.dropTimer = undefined;
    }
    e.users++;
    if (e.body) return e.body;
    if (e.loading) return e.loading;
    // the first download streams from disk; a second one at the same time makes the copy
    if (e.users < 2 || this.opts.maxBytes <= 0 || this.bytes + file.size > this.opts.maxBytes) return undefined;
    e.counted = true;
    this.bytes += file.size;
    const entry = e;
    e.loading = readWhole(file).then((body) => {
      entry.loading = undefined;
      if (body && this.entries.get(entry.key) === entry) entry.body = body;
      else this.uncount(entry);
      if (entry.users === 0) this.scheduleDrop(entry);
      return body;
    });
    return e.loading;
  }

  /** A download that acquire() started has ended. */
  release(file: FileVersion): void {
    const e = this.entries.get(keyOf(file));
    if (!e || e.users === 0) return;
    e.users--;
    if (e.users === 0 && !e.loading) this.scheduleDrop(e);
  }

  /** Drops every copy no download uses (the root changed). */
  clear(): void {
    for (const e of [...this.entries.values()]) if (e.users === 0 && !e.loading) this.drop(e);
  }

  private scheduleDrop(e: Entry): void {
    if (e.dropTimer) return;
    if (!e.body || this.opts.lingerMs <= 0) {
      this.drop(e);
      return;
    }
    e.dropTimer = setTimeout(() => {
      e.dropTimer = undefined;
      if (e.users === 0) this.drop(e);
    }, this.opts.lingerMs);
    e.dropTimer.unref();
  }

  private drop(e: Entry): void {
    if (e.dropTimer) clearTimeout(e.dropTimer);
    this.uncount(e);
    e.body = undefined;
    if (this.entries.get(e.key) === e) this.entries.delete(e.key);
  }

  private uncount(e: Entry): void {
    if (!e.counted) return;
    e.counted = false;
    this.bytes -= e.size;
  }
}

/** The file's bytes when it is still the version checked (same size and mtime before and after the read), else undefined. */
async function readWhole(file: FileVersion): Promise<Buffer | undefined> {
  const fsp = fs.promises;
  const handle = await fsp.open(file.real, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const same = (st: fs.Stats) => st.isFile() && st.size === file.size && st.mtimeMs === file.mtimeMs;
    if (!same(await handle.stat())) return undefined;
    const body = Buffer.allocUnsafeSlow(file.size);
    let got = 0;
    // Bounded: each pass reads more bytes or stops at the end of the file.
    while (got < file.size) {
      const { bytesRead } = await handle.read(body, got, file.size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got !== file.size || !same(await handle.stat())) return undefined;
    return body;
  } catch {
    return undefined;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Bulk bytes are handed to sockets in rounds of the event loop. libuv accepts one TCP connection
 * per listener per round, and a socket write copies into the kernel at once what the socket buffer
 * takes (megabytes on loopback), so when hundreds of downloads are written as fast as their
 * clients read, a round is long and the menu requests of the machines still deciding wait in the
 * listen queue behind them (a 500-machine storm drained it at ~100 connections a second). Here
 * each download writes PIECE bytes at a time, the next piece once the last was taken; all
 * downloads together start at most ROUND_BYTES in one round, and those that would exceed it wait
 * for the next round (after its poll phase, so one more connection is accepted and the requests,
 * TFTP and DHCP that arrived are served first). The bytes per second stay what the clients take
 * when nothing else waits: a round with no other work is short.
 */
const PIECE = 512 << 10;
const ROUND_BYTES = 4 << 20;

interface Download {
  body: Buffer;
  res: ServerResponse;
  /** Next byte to hand over, and bytes the socket has taken. */
  pos: number;
  written: number;
}

const ready: Download[] = [];
let roundQueued = false;

function queueRound(): void {
  if (roundQueued) return;
  roundQueued = true;
  setImmediate(runRound);
}

function runRound(): void {
  roundQueued = false;
  let budget = ROUND_BYTES;
  // Bounded: each pass hands over one piece (budget) or leaves the loop.
  while (ready.length > 0 && budget > 0) {
    const d = ready.shift()!;
    budget -= writePiece(d);
  }
  // queued from the check phase, the rest runs after the next poll phase (a write's completion
  // comes back through process.nextTick, after this, and also waits for the next round)
  if (ready.length > 0) queueRound();
}

/** Hands the next piece of `d` to its socket; the bytes it handed over. */
function writePiece(d: Download): number {
  if (d.res.destroyed) return 0;
  const end = Math.min(d.body.length, d.pos + PIECE);
  const piece = d.body.subarray(d.pos, end);
  d.pos = end;
  const last = end >= d.body.length;
  const done = (err?: Error | null) => {
    if (err) return;
    d.written += piece.length;
    if (!last) {
      ready.push(d);
      queueRound();
    }
  };
  if (last) d.res.end(piece, done as () => void);
  else d.res.write(piece, done);
  return piece.length;
}

/**
 * Writes `body` as the answer (headers already set), a piece at a time in the rounds described
 * above. Returns the count of bytes the socket has taken so far.
 */
export function writeBody(body: Buffer, res: ServerResponse): () => number {
  const d: Download = { body, res, pos: 0, written: 0 };
  ready.push(d);
  queueRound();
  return () => d.written;
}
