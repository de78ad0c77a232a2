import { promises as fsp, type Stats } from 'node:fs';
import type { OutgoingHttpHeaders } from 'node:http';
import * as path from 'node:path';
import { contentType } from 'mime-types';

/**
 * What the asset server knows about one file, kept for a short while (like nginx's
 * `open_file_cache`): a request within `validMs` of the last check costs no file-system call at all;
 * a small file's bytes are kept too, so it is answered from memory.
 *
 * A request path is checked before it is looked up (see `safeParts`), and what is kept is the real
 * path that `resolve` found inside the root, so the cache never changes what may be served, only how
 * often the disk is asked. A file that changes on disk is seen at most `validMs` later; its new bytes
 * are never mixed with the old ones (the size and mtime are compared at each check, and a changed
 * file is read again whole).
 */
export interface CachedFile {
  /** Real path inside the root (or a fallback file). */
  real: string;
  size: number;
  mtimeMs: number;
  /** The headers of a plain 200 answer (the same ones `send` writes). */
  headers: OutgoingHttpHeaders;
  /** The whole file, for files up to `maxBodyBytes`. */
  body?: Buffer;
  checkedAt: number;
}

export interface FileCacheOptions {
  /** How long a check holds, in ms; 0 checks on every request. */
  validMs: number;
  /** Files up to this size are kept in memory. */
  maxBodyBytes: number;
  /** At most this many bytes of bodies in memory. */
  maxTotalBytes: number;
  /** At most this many files remembered. */
  maxEntries: number;
  now: () => number;
  /** The real path and stat of a checked relative path, or undefined (missing, outside, not a file). */
  lookup: (parts: string[]) => Promise<{ real: string; stat: Stats; fallback?: boolean } | undefined>;
}

const MAX_PATH = 1024;

/** The parts of a request path below the root, or undefined when it is unsafe (`..`, `.`, empty parts, dot files, `\`, NUL). */
export function safeParts(rel: string): string[] | undefined {
  if (typeof rel !== 'string' || rel.length === 0 || rel.length > MAX_PATH || /[\0\\]/.test(rel)) return undefined;
  const parts = rel.replace(/^\/+/, '').split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..' || p.startsWith('.'))) return undefined;
  return parts;
}

/** The weak ETag `send` (and the `etag` package) gives a file: size and mtime in hex. */
export function weakEtag(size: number, mtimeMs: number): string {
  return `W/"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
}

export function plainHeaders(real: string, size: number, mtime: Date): OutgoingHttpHeaders {
  return {
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'public, max-age=0',
    'Last-Modified': mtime.toUTCString(),
    ETag: weakEtag(size, mtime.getTime()),
    'Content-Type': contentType(path.extname(real)) || 'application/octet-stream',
    'Content-Length': String(size),
  };
}

export class FileCache {
  private readonly entries = new Map<string, CachedFile>();
  private readonly pending = new Map<string, Promise<CachedFile | undefined>>();
  private bodyBytes = 0;

  constructor(private readonly opts: FileCacheOptions) {}

  /** The file for a request path (already URL-decoded), or undefined when it may not or cannot be served. */
  get(rel: string): CachedFile | undefined | Promise<CachedFile | undefined> {
    const hit = this.entries.get(rel);
    if (hit && this.opts.now() - hit.checkedAt < this.opts.validMs) return hit;
    const parts = safeParts(rel);
    if (!parts) return undefined;
    let wait = this.pending.get(rel);
    if (!wait) {
      wait = this.check(rel, parts, hit).finally(() => this.pending.delete(rel));
      this.pending.set(rel, wait);
    }
    return wait;
  }

  /** Forgets one path (it was found gone). */
  forget(rel: string): void {
    this.drop(rel);
  }

  /** Forgets everything (the root changed). */
  clear(): void {
    this.entries.clear();
    this.bodyBytes = 0;
  }

  private async check(rel: string, parts: string[], old: CachedFile | undefined): Promise<CachedFile | undefined> {
    const found = await this.opts.lookup(parts);
    if (!found) {
      this.drop(rel);
      return undefined;
    }
    const { real, stat } = found;
    // a distribution's file stands in for one the root lacks: asked again each time, so a file the
    // user puts into the root wins at once (these are fetched once per boot, never in a hurry)
    const keep = this.opts.validMs > 0 && !found.fallback;
    const checkedAt = this.opts.now();
    if (old && old.real === real && old.size === stat.size && old.mtimeMs === stat.mtimeMs) {
      old.checkedAt = checkedAt;
      return old;
    }
    this.drop(rel);
    const entry: CachedFile = { real, size: stat.size, mtimeMs: stat.mtimeMs, headers: plainHeaders(real, stat.size, stat.mtime), checkedAt };
    if (keep && stat.size <= this.opts.maxBodyBytes) {
      const body = await fsp.readFile(real).catch(() => undefined);
      // changed while being read: serve it by streaming this time, keep no bytes
      if (body && body.length === stat.size) {
        entry.body = body;
        this.bodyBytes += body.length;
      }
    }
    if (keep) {
      this.entries.set(rel, entry);
      this.trim();
    }
    return entry;
  }

  private drop(rel: string): void {
    const e = this.entries.get(rel);
    if (!e) return;
    if (e.body) this.bodyBytes -= e.body.length;
    this.entries.delete(rel);
  }

  /** Oldest first, until both limits hold. */
  private trim(): void {
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.opts.maxEntries && this.bodyBytes <= this.opts.maxTotalBytes) return;
      this.drop(key);
    }
  }
}
