import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/**
 * The audit log: who fetched which rendered config or script, and every management change.
 * One JSON object per line in `<data>/audit.jsonl`, only ever appended; past `maxBytes` the file is
 * rotated (`audit.jsonl.1` … `.keep`, the oldest dropped). The last `memory` records stay in memory
 * for `GET /netboot/api/audit`. Writes are batched and never block the request that caused them.
 *
 * Secrets never enter it: fetches carry the MAC, IP, path (no query string), profile/image ids and
 * the status; changes carry the user, route, status and a before/after summary in which values of
 * secret-looking fields are never written (see `summarizeChange`).
 */
export interface AuditRecord {
  seq: number;
  ts: string;
  kind: 'fetch' | 'change';
  method: string;
  /** The path, without its query string. */
  endpoint: string;
  /** HTTP status of the answer. */
  outcome: number;
  ip?: string;
  mac?: string;
  profile?: string;
  image?: string;
  /** The admin user of a change. */
  user?: string;
  summary?: ChangeSummary;
}

export interface ChangeSummary {
  id?: string;
  /** Changed top-level fields: before and after for short plain values, else only the name. */
  fields: Record<string, { before?: unknown; after?: unknown } | null>;
}

export interface AuditQuery {
  kind?: 'fetch' | 'change';
  mac?: string;
  user?: string;
  /** ISO time: records at or after it. */
  since?: string;
  afterSeq?: number;
  limit?: number;
}

export interface AuditLogOptions {
  maxBytes?: number;
  keep?: number;
  memory?: number;
  onError?: (err: unknown) => void;
}

const SECRET_KEY = /secret|password|passwd|token|chap|credential|key$/i;

export class AuditLog {
  readonly file: string;
  private readonly maxBytes: number;
  private readonly keep: number;
  private readonly memory: number;
  private readonly onError: (err: unknown) => void;
  private records: AuditRecord[] = [];
  private seq = 0;
  private size = 0;
  private queue: string[] = [];
  private writing: Promise<void> | null = null;
  private closed = false;

  private constructor(file: string, opts: AuditLogOptions) {
    this.file = file;
    this.maxBytes = opts.maxBytes ?? 16 << 20;
    this.keep = opts.keep ?? 3;
    this.memory = opts.memory ?? 5000;
    this.onError = opts.onError ?? (() => undefined);
  }

  static async open(file: string, opts: AuditLogOptions = {}): Promise<AuditLog> {
    const log = new AuditLog(path.resolve(file), opts);
    let text = '';
    try {
      text = await fsp.readFile(log.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    log.size = Buffer.byteLength(text);
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as AuditRecord;
        if (typeof r.seq === 'number') log.records.push(r);
      } catch {
        // a line torn by a crash: skipped, the file is append-only and never rewritten
      }
    }
    log.records = log.records.slice(-log.memory);
    log.seq = log.records.at(-1)?.seq ?? 0;
    return log;
  }

  append(rec: Omit<AuditRecord, 'seq' | 'ts'> & { ts?: string }): AuditRecord | undefined {
    if (this.closed) return undefined;
    const full: AuditRecord = { seq: ++this.seq, ts: rec.ts ?? new Date().toISOString(), ...rec } as AuditRecord;
    this.records.push(full);
    if (this.records.length > this.memory + 256) this.records.splice(0, this.records.length - this.memory);
    this.queue.push(`${JSON.stringify(full)}\n`);
    this.pump();
    return full;
  }

  list(q: AuditQuery = {}): AuditRecord[] {
    const limit = Math.max(1, Math.min(1000, q.limit ?? 100));
    const out: AuditRecord[] = [];
    for (let i = this.records.length - 1; i >= 0 && out.length < limit; i--) {
      const r = this.records[i];
      if (q.kind && r.kind !== q.kind) continue;
      if (q.mac && r.mac !== q.mac) continue;
      if (q.user && r.user !== q.user) continue;
      if (q.since && r.ts < q.since) continue;
      if (q.afterSeq !== undefined && r.seq <= q.afterSeq) break;
      out.push(r);
    }
    return out.reverse();
  }

  private pump(): void {
    if (this.writing || this.queue.length === 0) return;
    const lines = this.queue.splice(0);
    this.writing = (async () => {
      // as many lines as fit go out together; a line that would pass maxBytes rotates first
      let chunk = '';
      let chunkBytes = 0;
      for (const line of lines) {
        const bytes = Buffer.byteLength(line);
        if (this.size + chunkBytes + bytes > this.maxBytes && this.size + chunkBytes > 0) {
          if (chunk) await fsp.appendFile(this.file, chunk, { encoding: 'utf8', mode: 0o600 });
          this.size += chunkBytes;
          chunk = '';
          chunkBytes = 0;
          await this.rotate();
        }
        chunk += line;
        chunkBytes += bytes;
      }
      if (chunk) await fsp.appendFile(this.file, chunk, { encoding: 'utf8', mode: 0o600 });
      this.size += chunkBytes;
    })().catch(this.onError).finally(() => {
      this.writing = null;
      this.pump();
    });
  }

  private async rotate(): Promise<void> {
    await fsp.rm(`${this.file}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) await fsp.rename(`${this.file}.${i}`, `${this.file}.${i + 1}`).catch(() => undefined);
    await fsp.rename(this.file, `${this.file}.1`);
    this.size = 0;
  }

  async flush(): Promise<void> {
    while (this.writing || this.queue.length) await (this.writing ?? Promise.resolve(this.pump()));
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }
}

function plain(v: unknown): boolean {
  return v === null || typeof v === 'number' || typeof v === 'boolean' || (typeof v === 'string' && v.length <= 120);
}

/**
 * What a change did, field by field: before and after for short plain values, only the field's
 * name for objects, long text and anything that looks like a secret.
 */
export function summarizeChange(before: unknown, after: unknown, id?: string): ChangeSummary {
  const b = (before && typeof before === 'object' ? before : {}) as Record<string, unknown>;
  const a = (after && typeof after === 'object' ? after : {}) as Record<string, unknown>;
  const fields: ChangeSummary['fields'] = {};
  for (const key of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (key === 'updatedAt' || key === 'createdAt') continue;
    if (JSON.stringify(b[key]) === JSON.stringify(a[key])) continue;
    if (SECRET_KEY.test(key) || !plain(b[key] ?? null) || !plain(a[key] ?? null)) {
      fields[key] = null;
      continue;
    }
    fields[key] = { ...(key in b ? { before: b[key] } : {}), ...(key in a ? { after: a[key] } : {}) };
  }
  return { ...(id ? { id } : {}), fields };
}
