import { promises as fsp } from 'node:fs';
import type { InventoryData } from './schema';
import type { StoreChange } from './types';

/**
 * The JSON store's journal: the records each acknowledged change left behind, one line each, appended
 * beside the inventory file and fdatasync'ed before the change is acknowledged. A line holds the
 * record's whole state after the change (or null once removed), so replaying lines in order over the
 * last whole-file write gives the inventory as acknowledged. The file written whole says which line it
 * includes (`journalSeq`); older lines are skipped at open, so a crash between writing the file and
 * emptying the journal replays nothing twice.
 *
 * A change to one device in a 10 000-device inventory costs a few hundred bytes and one fdatasync
 * instead of rewriting (and fsync'ing) megabytes. The store writes the file whole again when the
 * journal outgrows it (wantsSnapshot), which also bounds what an open has to replay.
 */
export interface JournalKey {
  /** A collection (its record `id`, or for devices the `mac`), settings, or a machine's kept boots. */
  c: Exclude<StoreChange, 'all'> | 'boots';
  /** The record (its id, a device's MAC, or the MAC whose boots these are); absent for settings. */
  id?: string;
}

interface Line extends JournalKey {
  seq: number;
  v: unknown;
}

type Logger = { warn(msg: string): void } | undefined;

/** Below this, a journal is never worth a whole-file write. */
export const MIN_SNAPSHOT_BYTES = 4 << 20;

export class Journal {
  /** The last line's number (or the whole file's `journalSeq`). */
  seq: number;
  /** Bytes in the journal file. */
  bytes = 0;
  private pending: Line[] = [];
  private handle?: fsp.FileHandle;

  private constructor(readonly file: string, seq: number, private readonly minSnapshotBytes: number) {
    this.seq = seq;
  }

  /**
   * Reads the journal: the lines after `snapshotSeq` are kept for replay. A last line cut by a crash
   * (no newline at its end) was never acknowledged: it is cut off. A complete line that does not
   * parse cannot come from a crash (lines are appended in order); it is skipped with a warning.
   */
  static async open(file: string, snapshotSeq: number, log?: Logger, minSnapshotBytes = MIN_SNAPSHOT_BYTES): Promise<Journal> {
    const j = new Journal(file, snapshotSeq, minSnapshotBytes);
    let text = '';
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const lastNl = text.lastIndexOf('\n');
    if (lastNl < text.length - 1) {
      const fh = await fsp.open(file, 'r+');
      try {
        await fh.truncate(Buffer.byteLength(text.slice(0, lastNl + 1)));
        await fh.sync();
      } finally {
        await fh.close();
      }
      log?.warn(`inventory journal ${file}: cut off an unfinished last line (a crash mid-write; that change was never acknowledged)`);
      text = text.slice(0, lastNl + 1);
    }
    j.bytes = Buffer.byteLength(text);
    const bad = j.read(text, snapshotSeq);
    if (bad) log?.warn(`inventory journal ${file}: skipped ${bad} unreadable line(s)`);
    j.handle = await fsp.open(file, 'a', 0o600);
    return j;
  }

  /**
   * The inventory as acknowledged, from the text of a file written whole and of its journal, without
   * opening anything (for tools and tests that look at a live server's files).
   */
  static applyText(data: InventoryData, journalText: string): InventoryData {
    const j = new Journal('', data.journalSeq ?? 0, MIN_SNAPSHOT_BYTES);
    // a last line without its newline is not acknowledged yet
    j.read(journalText.slice(0, journalText.lastIndexOf('\n') + 1), data.journalSeq ?? 0);
    j.replay(data);
    return data;
  }

  /** Keeps the lines after `snapshotSeq` for replay and notes the last number; returns the unreadable lines' count. */
  private read(text: string, snapshotSeq: number): number {
    let bad = 0;
    for (const raw of text.split('\n')) {
      if (!raw) continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        bad++;
        continue;
      }
      if (typeof line.seq !== 'number' || typeof line.c !== 'string') {
        bad++;
        continue;
      }
      if (line.seq > snapshotSeq) this.pending.push(line);
      if (line.seq > this.seq) this.seq = line.seq;
    }
    return bad;
  }

  /** Applies the lines read at open to `data` (the file as last written whole); returns how many. */
  replay(data: InventoryData): number {
    const lines = this.pending;
    this.pending = [];
    if (!lines.length) return 0;
    const maps = new Map<string, Map<string, unknown>>();
    const keyOf = (c: string) => (c === 'devices' ? 'mac' : 'id');
    const mapOf = (c: string): Map<string, unknown> => {
      let m = maps.get(c);
      if (!m) {
        const list = (c === 'boots' ? [] : ((data as unknown as Record<string, unknown[] | undefined>)[c] ?? [])) as Array<Record<string, string>>;
        m = new Map(list.map((r) => [r[keyOf(c)], r]));
        maps.set(c, m);
      }
      return m;
    };
    let boots: Map<string, unknown[]> | undefined;
    for (const line of lines) {
      if (line.c === 'settings') {
        data.settings = (line.v ?? {}) as InventoryData['settings'];
      } else if (line.c === 'boots') {
        if (!boots) {
          boots = new Map();
          for (const b of data.boots) boots.set(b.mac, [...(boots.get(b.mac) ?? []), b]);
        }
        boots.set(line.id ?? '', Array.isArray(line.v) ? line.v : []);
      } else if (line.v === null) {
        mapOf(line.c).delete(line.id ?? '');
      } else {
        mapOf(line.c).set(line.id ?? '', line.v);
      }
    }
    for (const [c, m] of maps) (data as unknown as Record<string, unknown[]>)[c] = [...m.values()];
    if (boots) data.boots = [...boots.values()].flat() as InventoryData['boots'];
    return lines.length;
  }

  /** The line for `key`: the record's state in `data` now (null when it is gone). */
  entry(data: InventoryData, key: JournalKey): Omit<Line, 'seq'> {
    if (key.c === 'settings') return { c: 'settings', v: data.settings };
    if (key.c === 'boots') return { c: 'boots', id: key.id, v: data.boots.filter((b) => b.mac === key.id) };
    const list = ((data as unknown as Record<string, unknown[] | undefined>)[key.c] ?? []) as Array<Record<string, unknown>>;
    const field = key.c === 'devices' ? 'mac' : 'id';
    return { c: key.c, id: key.id, v: list.find((r) => r[field] === key.id) ?? null };
  }

  /** Appends the lines and waits for fdatasync; only then are their changes acknowledged. */
  async append(entries: Array<Omit<Line, 'seq'>>): Promise<void> {
    if (!this.handle) throw new Error(`inventory journal ${this.file} is closed`);
    let seq = this.seq;
    const text = entries.map((e) => `${JSON.stringify({ seq: ++seq, ...e })}\n`).join('');
    await this.handle.appendFile(text, 'utf8');
    await this.handle.datasync();
    this.seq = seq;
    this.bytes += Buffer.byteLength(text);
  }

  /** Whether the journal has outgrown the file written whole (`fileBytes`): time to write it again. */
  wantsSnapshot(fileBytes: number): boolean {
    return this.bytes > Math.max(this.minSnapshotBytes, fileBytes);
  }

  /** Empties the journal, once the file written whole holds everything in it. */
  async reset(): Promise<void> {
    if (!this.handle || this.bytes === 0) return;
    await this.handle.truncate(0);
    await this.handle.sync();
    this.bytes = 0;
  }

  async close(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }
}
