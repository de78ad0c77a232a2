import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NetbootError } from '../core/errors';
import type { BootEvent } from './schema';
import { copyFields } from '../core/copy-fields';

/**
 * The boot-event log: one JSON object per line in its own file, appended, never rewritten per
 * event. Keeping events inside the inventory file meant rewriting the whole inventory (and
 * fsync'ing it) for every DHCP, TFTP and HTTP event; under load that was the server's top cost.
 *
 * Appends are batched: lines that arrive while a write is in flight go out together in the next
 * `appendFile` + `fsync`, and each append resolves once its line is on disk. The last `limit`
 * events stay in memory for queries; when the file holds twice that many lines it is compacted
 * (temp file, fsync, rename). A line torn by a crash is skipped at open and the file compacted.
 */
/** Default cap on the bytes of events kept (memory) and twice that in the file before it is compacted. */
export const EVENT_LOG_MAX_BYTES = 64 << 20;

export class EventLog {
  readonly file: string;
  private events: BootEvent[] = [];
  /** JSON size of each kept event, parallel to `events`, and their sum. */
  private sizes: number[] = [];
  private bytes = 0;
  /** Bytes appended to the file since it was last compacted. */
  private fileBytes = 0;
  private maxBytes = EVENT_LOG_MAX_BYTES;
  /** Events dropped by the byte cap since open (beyond what the count limit drops). */
  evicted = 0;
  private seq = 0;
  private lines = 0;
  private limit: number;
  private handle?: fsp.FileHandle;
  private queue: Array<{ line: string; resolve: () => void; reject: (e: unknown) => void }> = [];
  private writing: Promise<void> | null = null;
  private closed = false;
  /** Lines that could not be parsed at open (a crash mid-append). */
  skipped = 0;

  private constructor(file: string, limit: number) {
    this.file = file;
    this.limit = limit;
  }

  static async open(file: string, limit: number, maxBytes = EVENT_LOG_MAX_BYTES): Promise<EventLog> {
    const log = new EventLog(path.resolve(file), limit);
    log.maxBytes = maxBytes;
    await log.load();
    return log;
  }

  /**
   * Reads the file newest line first, in chunks from its end, parsing only the lines that will be
   * kept (the count limit, then the byte cap) and only counting the older ones: a log far over its
   * caps (a limit lowered, a big import) costs its kept part to open, not a string of the whole file
   * and a parse of every line.
   */
  private async load(): Promise<void> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.handle = await fsp.open(this.file, 'a', 0o600);
      return;
    }
    const kept: BootEvent[] = [];
    const sizes: number[] = [];
    let bytes = 0;
    let full = false;
    let total = 0;
    let capped = 0;
    let endsClean = true;
    const line = (seg: Buffer) => {
      if (seg.length === 0) return;
      if (full) {
        total++;
        return;
      }
      const text = seg.toString('utf8');
      if (!text.trim()) return;
      total++;
      let e: BootEvent;
      try {
        e = JSON.parse(text) as BootEvent;
      } catch {
        this.skipped++;
        return;
      }
      if (typeof e.seq !== 'number' || typeof e.type !== 'string') {
        this.skipped++;
        return;
      }
      const size = text.length + 1;
      if (kept.length > 0 && bytes + size > this.maxBytes) {
        // over the byte cap: this one and the older ones within the count limit are evicted
        capped = this.limit - kept.length;
        full = true;
        return;
      }
      kept.push(e);
      sizes.push(size);
      bytes += size;
      if (kept.length >= this.limit) full = true;
    };
    let size = 0;
    try {
      size = (await fh.stat()).size;
      const CHUNK = 1 << 20;
      let pos = size;
      let carry: Buffer = Buffer.alloc(0);
      while (pos > 0) {
        const n = Math.min(CHUNK, pos);
        pos -= n;
        const chunk = Buffer.allocUnsafe(n);
        await fh.read(chunk, 0, n, pos);
        if (pos + n === size) endsClean = chunk[n - 1] === 0x0a;
        const data = carry.length ? Buffer.concat([chunk, carry]) : chunk;
        let end = data.length;
        for (let i = data.length - 1; i >= 0; i--) {
          if (data[i] !== 0x0a) continue;
          line(data.subarray(i + 1, end));
          end = i;
        }
        // the part before the chunk's first newline continues in the next (older) chunk
        carry = Buffer.from(data.subarray(0, end));
      }
      line(carry);
    } finally {
      await fh.close();
    }
    this.events = kept.reverse();
    this.sizes = sizes.reverse();
    this.bytes = bytes;
    this.evicted += Math.min(capped, Math.max(0, total - this.skipped - kept.length));
    this.seq = kept.reduce((m, e) => Math.max(m, e.seq), 0);
    this.lines = total;
    this.fileBytes = size;
    // a torn last line would glue the next append onto it: rewrite the file clean first
    if (this.skipped > 0 || !endsClean || this.lines > 2 * this.limit || this.fileBytes > 2 * this.maxBytes) await this.compact();
    this.handle = await fsp.open(this.file, 'a', 0o600);
  }

  /** Adds events from an older inventory (schema 2 kept them inside the inventory file). */
  async importOld(events: BootEvent[]): Promise<void> {
    if (!events.length) return;
    const start = this.seq;
    const renumbered = events.map((e, i) => ({ ...e, seq: start + i + 1 }));
    this.seq += renumbered.length;
    this.events = [...this.events, ...renumbered].slice(-this.limit);
    this.sizes = this.events.map((e) => JSON.stringify(e).length + 1);
    this.bytes = this.sizes.reduce((a, b) => a + b, 0);
    this.capBytes();
    await Promise.all(renumbered.map((e) => this.enqueue(`${JSON.stringify(e)}\n`)));
  }

  setLimit(limit: number): void {
    this.limit = limit;
    if (this.events.length > limit) this.drop(this.events.length - limit);
  }

  /** Drops the `n` oldest events kept in memory. */
  private drop(n: number): void {
    this.events.splice(0, n);
    for (const size of this.sizes.splice(0, n)) this.bytes -= size;
  }

  /** The byte cap: the oldest events go first; each one dropped for it is counted in `evicted`. */
  private capBytes(): void {
    let n = 0;
    let bytes = this.bytes;
    while (bytes > this.maxBytes && n < this.events.length - 1) bytes -= this.sizes[n++];
    if (n > 0) {
      this.drop(n);
      this.evicted += n;
    }
  }

  /** Bytes of the events kept for `mac` whose type is `type` (log uploads per machine). */
  bytesOf(mac: string, type: string): number {
    let sum = 0;
    for (let i = 0; i < this.events.length; i++) if (this.events[i].mac === mac && this.events[i].type === type) sum += this.sizes[i];
    return sum;
  }

  append(event: Omit<BootEvent, 'seq'>): Promise<BootEvent> {
    if (this.closed) return Promise.reject(new NetbootError('store_io', `event log ${this.file} is closed`));
    this.seq += 1;
    const rec = copyFields(event) as BootEvent;
    rec.seq = this.seq;
    const line = `${JSON.stringify(rec)}\n`;
    this.events.push(rec);
    this.sizes.push(line.length);
    this.bytes += line.length;
    // trim in batches: shifting a 5000-element array on every append showed in the profile
    if (this.events.length > this.limit + Math.max(64, this.limit >> 2)) this.drop(this.events.length - this.limit);
    if (this.bytes > this.maxBytes) this.capBytes();
    return this.enqueue(line).then(() => rec);
  }

  list(query: { mac?: string; site?: string; afterSeq?: number; limit: number }): BootEvent[] {
    const hits = this.events.slice(-this.limit).filter((e) => (!query.mac || e.mac === query.mac) && (!query.site || e.site === query.site) && (query.afterSeq === undefined || e.seq > query.afterSeq));
    return structuredClone(hits.slice(-query.limit));
  }

  private enqueue(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ line, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.writing || this.queue.length === 0 || !this.handle) return;
    const batch = this.queue.splice(0);
    this.writing = (async () => {
      await this.handle!.appendFile(batch.map((b) => b.line).join(''), 'utf8');
      await this.handle!.sync();
      this.lines += batch.length;
      for (const b of batch) this.fileBytes += b.line.length;
      if (this.lines > 2 * this.limit || this.fileBytes > 2 * this.maxBytes) {
        await this.handle!.close();
        await this.compact();
        this.handle = await fsp.open(this.file, 'a', 0o600);
      }
    })().then(
      () => batch.forEach((b) => b.resolve()),
      (err: unknown) => {
        const e = new NetbootError('store_io', `writing ${this.file}: ${(err as Error).message}`, { file: this.file, errno: (err as NodeJS.ErrnoException).code }, { cause: err });
        batch.forEach((b) => b.reject(e));
      },
    ).finally(() => {
      this.writing = null;
      this.pump();
    });
  }

  /** Rewrites the file with the events kept in memory: temp file, fsync, rename, fsync the folder. */
  private async compact(): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const fh = await fsp.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(this.events.slice(-this.limit).map((e) => `${JSON.stringify(e)}\n`).join(''), 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, this.file);
    const dir = await fsp.open(path.dirname(this.file), 'r');
    try {
      await dir.sync().catch(() => undefined);
    } finally {
      await dir.close();
    }
    this.lines = Math.min(this.events.length, this.limit);
    this.fileBytes = this.bytes;
  }

  async flush(): Promise<void> {
    while (this.writing || this.queue.length) await (this.writing ?? Promise.resolve());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush().catch(() => undefined);
    this.closed = true;
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }
}
