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
 * `appendFile` + `fsync`, and each append resolves once its line is on disk.
 *
 * What is kept is the newest `limit` events within `maxBytes`, in the file. Only the newest of them
 * (a window of at most WINDOW_EVENTS / WINDOW_BYTES) are held in memory: a query the window cannot
 * answer reads on backwards in the file. So opening a log of a million events parses its window and
 * nothing else, and its memory does not grow with the log. When the file holds twice what is kept
 * it is compacted by copying its kept tail (temp file, fsync, rename), in the background. A line
 * torn by a crash is cut off at open.
 */
/** Default cap on the bytes of events kept in the file (it is compacted at twice that). */
export const EVENT_LOG_MAX_BYTES = 256 << 20;
/** The newest events held in memory, at most this many and this many bytes of JSON. */
export const WINDOW_EVENTS = 20_000;
export const WINDOW_BYTES = 8 << 20;
/** Types whose bytes per machine are counted over the whole kept log (log upload quotas), not only the window. */
const METERED_TYPES = ['boot.log_upload'];
const CHUNK = 1 << 20;
/**
 * What one step of a backwards read takes from the file: its lines are handed over in one turn of
 * the event loop, so this bounds how long a background count of a big file holds up requests.
 */
const BACKWARDS_CHUNK = 256 << 10;
const NL = 0x0a;

export interface EventLogOptions {
  /** Bytes kept in the file (default EVENT_LOG_MAX_BYTES). */
  maxBytes?: number;
  /** The in-memory window (defaults WINDOW_EVENTS, WINDOW_BYTES). */
  windowEvents?: number;
  windowBytes?: number;
}

export class EventLog {
  readonly file: string;
  /** The window: the newest events, oldest first, with the byte size of each one's line. */
  private events: BootEvent[] = [];
  private sizes: number[] = [];
  private bytes = 0;
  /** File offset of the window's first line; everything before it is older (read on demand). */
  private windowStart = 0;
  /** Offset where the next appended line starts (written and queued lines). */
  private end = 0;
  /** Lines in the file, once counted (the background scan after open); -1 until then. */
  private lines = -1;
  private maxBytes: number;
  private readonly windowEvents: number;
  private readonly windowBytes: number;
  /** Events dropped by the byte cap since open (beyond what the count limit drops). */
  evicted = 0;
  private seq = 0;
  private limit: number;
  private handle?: fsp.FileHandle;
  private queue: Array<{ line: string; resolve: () => void; reject: (e: unknown) => void }> = [];
  private writing: Promise<void> | null = null;
  /** Reads of the file's older part and compaction take turns (compaction moves every offset). */
  private fileTurn: Promise<void> = Promise.resolve();
  private scanning: Promise<void> = Promise.resolve();
  /** The file's lines have been counted (compaction waits for it). */
  private scanned = true;
  /** Bytes of metered types per `mac type` over the kept log (complete once the scan after open is done). */
  private metered = new Map<string, number>();
  private closed = false;
  /** Lines that could not be parsed at open (a crash mid-append). */
  skipped = 0;

  private constructor(file: string, limit: number, opts: EventLogOptions) {
    this.file = file;
    this.limit = limit;
    this.maxBytes = opts.maxBytes ?? EVENT_LOG_MAX_BYTES;
    this.windowEvents = opts.windowEvents ?? WINDOW_EVENTS;
    this.windowBytes = opts.windowBytes ?? WINDOW_BYTES;
  }

  /** `opts` as a number is the byte cap (the older signature). */
  static async open(file: string, limit: number, opts: EventLogOptions | number = {}): Promise<EventLog> {
    const log = new EventLog(path.resolve(file), limit, typeof opts === 'number' ? { maxBytes: opts } : opts);
    await log.load();
    return log;
  }

  /** The window's byte cap is the log's: what the window drops for bytes is evicted from the log (and counted there). */
  private get windowCountsEvictions(): boolean {
    return this.maxBytes <= this.windowBytes;
  }

  private get windowMaxEvents(): number {
    return Math.min(this.limit, this.windowEvents);
  }

  private get windowMaxBytes(): number {
    return Math.min(this.maxBytes, this.windowBytes);
  }

  /**
   * Reads the window from the file's end in chunks, newest line first, and stops there; the rest of
   * the file is counted in the background (scan). A torn last line is cut off before appending.
   */
  private async load(): Promise<void> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.file, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.handle = await fsp.open(this.file, 'a', 0o600);
      this.lines = 0;
      return;
    }
    const kept: BootEvent[] = [];
    const sizes: number[] = [];
    let bytes = 0;
    let size = 0;
    try {
      size = (await fh.stat()).size;
      // a torn last line (a crash mid-append) would glue the next append onto it: cut it off
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        if (last[0] !== NL) {
          const clean = await lastNewlineBefore(fh, size);
          await fh.truncate(clean);
          await fh.sync();
          size = clean;
          this.skipped++;
        }
      }
      let windowStart = size;
      await readBackwards(fh, size, (line, offset) => {
        const e = parseEvent(line);
        if (!e) {
          this.skipped++;
          return true;
        }
        if (kept.length > 0 && bytes + line.length + 1 > this.windowMaxBytes) return false;
        kept.push(e);
        sizes.push(line.length + 1);
        bytes += line.length + 1;
        windowStart = offset;
        return kept.length < this.windowMaxEvents;
      });
      this.windowStart = windowStart;
    } finally {
      await fh.close();
    }
    this.events = kept.reverse();
    this.sizes = sizes.reverse();
    this.bytes = bytes;
    this.seq = kept.reduce((m, e) => Math.max(m, e.seq), 0);
    this.end = size;
    this.lines = 0; // counts appends until the scan adds the file's lines
    this.handle = await fsp.open(this.file, 'a', 0o600);
    this.scanning = this.scan(size);
    this.scanned = false;
    void this.scanning.finally(() => (this.scanned = true));
  }

  /**
   * In the background after open: counts the file's lines and the metered bytes of the kept events
   * older than the window, then compacts the file if it holds more than twice what is kept.
   */
  private async scan(upTo: number): Promise<void> {
    await this.turn(async () => {
      if (this.closed) return;
      const fh = await fsp.open(this.file, 'r');
      let lines = 0;
      const metered = new Map<string, number>();
      try {
        await readBackwards(fh, upTo, (line, offset) => {
          lines++;
          if (lines <= this.limit && upTo - offset <= this.maxBytes) addMetered(metered, line);
          return true;
        });
      } finally {
        await fh.close();
      }
      // what was appended since open is counted already
      for (const [k, v] of this.metered) bump(metered, k, v);
      this.metered = metered;
      this.lines += lines;
    });
    if (this.overCaps()) await this.exclusive(() => this.compact());
  }

  /** Resolves once the file has been counted after open (and compacted if it was over its caps). */
  counted(): Promise<void> {
    return this.scanning.catch(() => undefined);
  }

  private overCaps(): boolean {
    return this.lines > 2 * this.limit || this.end > 2 * this.maxBytes;
  }

  /** Adds events from an older inventory (schema 2 kept them inside the inventory file). */
  async importOld(events: BootEvent[]): Promise<void> {
    if (!events.length) return;
    const start = this.seq;
    const renumbered = events.map((e, i) => ({ ...e, seq: start + i + 1 }));
    await Promise.all(renumbered.map((e) => this.append(e)));
  }

  setLimit(limit: number): void {
    this.limit = limit;
    this.trimWindow();
  }

  /** Drops the `n` oldest events of the window (they stay in the file until compaction). */
  private drop(n: number, evicting: boolean): void {
    for (let i = 0; i < n; i++) {
      const size = this.sizes[i];
      this.bytes -= size;
      this.windowStart += size;
      if (evicting) this.evicted++;
    }
    this.events.splice(0, n);
    this.sizes.splice(0, n);
  }

  /** Keeps the window within its caps; the byte cap's drops are evictions when the window is the whole log. */
  private trimWindow(): void {
    const over = this.events.length - this.windowMaxEvents;
    if (over > 0) this.drop(over, false);
    let n = 0;
    let bytes = this.bytes;
    while (bytes > this.windowMaxBytes && n < this.events.length - 1) bytes -= this.sizes[n++];
    if (n > 0) this.drop(n, this.windowCountsEvictions);
  }

  /**
   * Bytes of the kept events of `mac` whose type is `type`: over the whole kept log for metered types
   * (log uploads per machine; events past the caps count until the next compaction), over the window
   * for the others.
   */
  bytesOf(mac: string, type: string): number {
    if (METERED_TYPES.includes(type)) return this.metered.get(`${mac} ${type}`) ?? 0;
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
    const size = Buffer.byteLength(line);
    this.events.push(rec);
    this.sizes.push(size);
    this.bytes += size;
    this.end += size;
    this.lines++;
    if (rec.mac && METERED_TYPES.includes(rec.type)) bump(this.metered, `${rec.mac} ${rec.type}`, size);
    // trim in batches: shifting a big array on every append showed in the profile
    if (this.events.length > this.windowMaxEvents + Math.max(64, this.windowMaxEvents >> 2) || this.bytes > this.windowMaxBytes) this.trimWindow();
    return this.enqueue(line).then(() => rec);
  }

  /**
   * The newest `limit` kept events that match, oldest first. The window answers first; when it has
   * too few, the file is read on backwards from the window's start, within the log's caps.
   */
  async list(query: { mac?: string; site?: string; afterSeq?: number; limit: number }): Promise<BootEvent[]> {
    const match = (e: BootEvent) => (!query.mac || e.mac === query.mac) && (!query.site || e.site === query.site);
    const hits: BootEvent[] = [];
    let done = false;
    let counted = 0;
    for (let i = this.events.length - 1; i >= 0 && hits.length < query.limit; i--) {
      const e = this.events[i];
      if (++counted > this.limit || (query.afterSeq !== undefined && e.seq <= query.afterSeq)) {
        done = true;
        break;
      }
      if (match(e)) hits.push(e);
    }
    const newest = structuredClone(hits);
    if (!done && hits.length < query.limit && this.windowStart > 0) {
      await this.turn(() => this.readOlder(query, match, newest, counted));
    }
    return newest.reverse();
  }

  /** Reads lines before the window, newest first, into `into` until it holds `query.limit` or the caps are reached. */
  private async readOlder(query: { mac?: string; site?: string; afterSeq?: number; limit: number }, match: (e: BootEvent) => boolean, into: BootEvent[], counted: number): Promise<void> {
    if (this.closed) return;
    const fh = await fsp.open(this.file, 'r');
    const needles = [query.mac, query.site].filter((x): x is string => !!x).map((x) => Buffer.from(JSON.stringify(x)));
    let lines = counted;
    try {
      await readBackwards(fh, this.windowStart, (line, offset) => {
        if (++lines > this.limit || this.end - offset > this.maxBytes) return false;
        // most lines are another machine's: look for its MAC in the bytes before parsing
        if (needles.some((n) => line.indexOf(n) < 0)) return true;
        const e = parseEvent(line);
        if (!e) return true;
        if (query.afterSeq !== undefined && e.seq <= query.afterSeq) return false;
        if (match(e)) into.push(e);
        return into.length < query.limit;
      });
    } finally {
      await fh.close();
    }
  }

  /** Runs `fn` when no other file read or compaction is under way. */
  private turn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.fileTurn.then(fn, fn);
    this.fileTurn = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Runs `fn` between appends (the write chain is idle and stays so) and between file reads. */
  private exclusive(fn: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      const go = () => {
        if (this.writing) {
          void this.writing.then(go, go);
          return;
        }
        const job = this.turn(fn);
        this.writing = job.finally(() => {
          this.writing = null;
          this.pump();
        });
        job.then(resolve, reject);
      };
      go();
    });
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
    let compact = false;
    this.writing = (async () => {
      await this.handle!.appendFile(batch.map((b) => b.line).join(''), 'utf8');
      await this.handle!.sync();
      compact = this.scanned && this.overCaps();
    })().then(
      () => batch.forEach((b) => b.resolve()),
      (err: unknown) => {
        const e = new NetbootError('store_io', `writing ${this.file}: ${(err as Error).message}`, { file: this.file, errno: (err as NodeJS.ErrnoException).code }, { cause: err });
        batch.forEach((b) => b.reject(e));
      },
    ).finally(() => {
      this.writing = null;
      if (compact) void this.exclusive(() => this.compact()).catch(() => undefined);
      else this.pump();
    });
  }

  /**
   * Keeps the file's newest `limit` lines within `maxBytes`: finds where they start, copies from there
   * to a temp file (bytes, no parsing), fsync, rename over the log, fsync the folder. Runs with the
   * write chain idle and no reads under way (exclusive), so every offset moves by the same cut.
   */
  private async compact(): Promise<void> {
    if (this.closed || !this.handle) return;
    const fh = await fsp.open(this.file, 'r');
    const tmp = `${this.file}.tmp`;
    let cut = 0;
    let kept = 0;
    let byBytes = false;
    const metered = new Map<string, number>();
    try {
      const size = (await fh.stat()).size;
      await readBackwards(fh, size, (line, offset) => {
        if (kept >= this.limit) return false;
        if (size - offset > this.maxBytes && kept > 0) {
          byBytes = true;
          return false;
        }
        kept++;
        cut = offset;
        addMetered(metered, line);
        return true;
      });
      // the byte cap's drops beyond what the count limit drops (when the window is the whole log, it counted them)
      if (byBytes && !this.windowCountsEvictions) this.evicted += Math.max(0, Math.min(this.lines - this.queue.length, this.limit) - kept);
      const out = await fsp.open(tmp, 'w', 0o600);
      try {
        const buf = Buffer.allocUnsafe(CHUNK);
        for (let pos = cut; pos < size;) {
          const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - pos), pos);
          if (bytesRead <= 0) break;
          await out.write(buf, 0, bytesRead);
          pos += bytesRead;
        }
        await out.sync();
      } finally {
        await out.close();
      }
    } finally {
      await fh.close();
    }
    // lines appended meanwhile wait in the queue: they count on top of what the file keeps
    for (const q of this.queue) addMetered(metered, Buffer.from(q.line.slice(0, -1)));
    await this.handle.close();
    try {
      await fsp.rename(tmp, this.file);
    } finally {
      // whether or not the rename happened, appends go on into the file under the log's name
      this.handle = await fsp.open(this.file, 'a', 0o600);
    }
    const dir = await fsp.open(path.dirname(this.file), 'r');
    try {
      await dir.sync().catch(() => undefined);
    } finally {
      await dir.close();
    }
    this.end -= cut;
    this.windowStart -= cut;
    // the window may have held lines past the caps (count limit lowered): they are gone now
    let n = 0;
    while (this.windowStart < 0 && n < this.events.length) this.windowStart += this.sizes[n++];
    if (n) {
      this.events.splice(0, n);
      for (const s of this.sizes.splice(0, n)) this.bytes -= s;
    }
    this.windowStart = Math.max(0, this.windowStart);
    this.lines = kept + this.queue.length;
    this.metered = metered;
  }

  async flush(): Promise<void> {
    while (this.writing || this.queue.length) await (this.writing ?? Promise.resolve());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.scanning.catch(() => undefined);
    await this.flush().catch(() => undefined);
    await this.fileTurn;
    this.closed = true;
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }
}

function parseEvent(line: Buffer): BootEvent | undefined {
  if (line.length === 0) return undefined;
  try {
    const e = JSON.parse(line.toString('utf8')) as BootEvent;
    return typeof e.seq === 'number' && typeof e.type === 'string' ? e : undefined;
  } catch {
    return undefined;
  }
}

function bump(map: Map<string, number>, key: string, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

const meteredNeedles = METERED_TYPES.map((t) => [t, Buffer.from(`"type":${JSON.stringify(t)}`)] as const);

/** Adds a line's bytes to `map` when it is an event of a metered type. */
function addMetered(map: Map<string, number>, line: Buffer): void {
  for (const [, needle] of meteredNeedles) {
    if (line.indexOf(needle) < 0) continue;
    const e = parseEvent(line);
    if (e?.mac && METERED_TYPES.includes(e.type)) bump(map, `${e.mac} ${e.type}`, line.length + 1);
  }
}

/**
 * Calls `each(line, offset)` for every complete line that ends before `upTo`, newest first, reading
 * in chunks from there backwards; `each` returns false to stop. Empty lines are skipped. A line
 * longer than a chunk is carried across chunks and handed over whole.
 */
async function readBackwards(fh: fsp.FileHandle, upTo: number, each: (line: Buffer, offset: number) => boolean): Promise<void> {
  let pos = upTo;
  let carry: Buffer = Buffer.alloc(0);
  while (pos > 0) {
    const n = Math.min(BACKWARDS_CHUNK, pos);
    pos -= n;
    const chunk = Buffer.allocUnsafe(n);
    await fh.read(chunk, 0, n, pos);
    const data = carry.length ? Buffer.concat([chunk, carry]) : chunk;
    // data[end] is a newline (or the end); a line runs from just after the previous newline to it
    let end = data.length;
    for (let i = data.lastIndexOf(NL, end - 1); i >= 0; i = i > 0 ? data.lastIndexOf(NL, i - 1) : -1) {
      if (i + 1 < end && !each(data.subarray(i + 1, end), pos + i + 1)) return;
      end = i;
    }
    carry = Buffer.from(data.subarray(0, end));
  }
  if (carry.length) each(carry, 0);
}

/** The offset just after the last newline before `size` (0 when there is none). */
async function lastNewlineBefore(fh: fsp.FileHandle, size: number): Promise<number> {
  let pos = size;
  const chunk = Buffer.allocUnsafe(CHUNK);
  while (pos > 0) {
    const n = Math.min(CHUNK, pos);
    pos -= n;
    await fh.read(chunk, 0, n, pos);
    const i = chunk.subarray(0, n).lastIndexOf(NL);
    if (i >= 0) return pos + i + 1;
  }
  return 0;
}
