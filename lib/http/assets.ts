import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import { promises as fsp, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';
import send from 'send';
import { FileCache, safeParts, type CachedFile } from './file-cache';
import { pumpFile } from './file-pump';
import { SharedBodies, writeBody } from './shared-bodies';

/**
 * Serves files from the boot-assets root over HTTP, counting the bytes sent to each client.
 *
 * A plain `GET` or `HEAD` (no Range, no conditional header: what iPXE, GRUB, UEFI HTTP boot and
 * curl send) is answered here: small files from memory, large ones streamed in 1 MiB reads into two
 * reused buffers (lib/http/file-pump.ts), nothing allocated or copied per chunk. Anything else (Range, If-None-Match, If-Modified-Since, If-Range, ...) goes to
 * `send`, which answers 206, 304, 412 and 416 as before. Both write the same headers (ETag,
 * Last-Modified, Accept-Ranges, Content-Type).
 *
 * A request never leaves the root: the path is checked part by part (no `..`, `.`, empty parts,
 * dot files, backslashes or NUL), then resolved with `realpath` and must still lie inside the
 * root's own real path, so a symlink pointing outside is refused too. Anything refused or
 * missing is a plain 404, so probing tells nothing. What `resolve` found is remembered for
 * `cacheMs` (see FileCache): a file changed on disk is seen at most that much later.
 *
 * Events: `http.start` {ip, path, requestId} when a file starts, `http.done` (AssetTransfer) when the
 * response ends or the client goes away.
 */
export interface AssetTransfer {
  ip: string;
  path: string;
  status: number;
  bytes: number;
  /** File size (the whole file, also for a Range request). */
  size?: number;
  /** True when the client closed the connection before the response finished. */
  aborted: boolean;
  durationMs: number;
  /** Tells concurrent requests of one path from one client apart. */
  requestId: string;
}

export interface AssetServerOptions {
  root: string;
  now?: () => number;
  /** A file for a path the root does not have (the boot programs of the distributions' packages). */
  fallback?: (rel: string) => Promise<string | undefined>;
  /** How long a file's check (real path, size, mtime, small files' bytes) holds, ms; 0 = every request. Default 1000. */
  cacheMs?: number;
  /** Files up to this size are answered from memory. Default 64 KiB. */
  memoryFileBytes?: number;
  /**
   * Larger files downloaded by several clients at once are read into one shared copy (see
   * SharedBodies): all copies together at most this many bytes. Default 128 MiB; 0 = always from disk.
   */
  sharedBytes?: number;
}

/** Request headers that make an answer other than a plain 200 possible: left to `send`. */
function isPlain(req: IncomingMessage): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const h = req.headers;
  return h.range === undefined && h['if-none-match'] === undefined && h['if-modified-since'] === undefined
    && h['if-match'] === undefined && h['if-unmodified-since'] === undefined;
}

export class AssetServer extends EventEmitter {
  readonly root: string;
  private readonly now: () => number;
  private readonly fallback?: (rel: string) => Promise<string | undefined>;
  private readonly perIp = new Map<string, { bytes: number; requests: number }>();
  private readonly files: FileCache;
  private readonly shared: SharedBodies;
  private seq = 0;

  constructor(opts: AssetServerOptions) {
    super();
    this.root = path.resolve(opts.root);
    this.now = opts.now ?? Date.now;
    this.fallback = opts.fallback;
    this.files = new FileCache({
      validMs: opts.cacheMs ?? 1000,
      maxBodyBytes: opts.memoryFileBytes ?? 64 * 1024,
      maxTotalBytes: 32 << 20,
      maxEntries: 4096,
      now: this.now,
      lookup: (parts) => this.lookup(parts),
    });
    this.shared = new SharedBodies({ maxBytes: opts.sharedBytes ?? 128 << 20, lingerMs: 2000 });
  }

  /** Something in the root changed (an import, a removal): every path is checked again. */
  forget(): void {
    this.files.clear();
    this.shared.clear();
  }

  /** Bytes and requests per client IP since start. */
  totals(): Record<string, { bytes: number; requests: number }> {
    return Object.fromEntries([...this.perIp].map(([ip, t]) => [ip, { ...t }]));
  }

  /** The real path of `rel` inside the root, or undefined when it is unsafe, outside, missing or not a file. */
  async resolve(rel: string): Promise<string | undefined> {
    const parts = safeParts(rel);
    return parts ? (await this.lookup(parts))?.real : undefined;
  }

  private async lookup(parts: string[]): Promise<{ real: string; stat: Stats; fallback?: boolean } | undefined> {
    let real: string;
    let fallback = false;
    try {
      const realRoot = await fsp.realpath(this.root);
      real = await fsp.realpath(path.join(realRoot, ...parts));
      if (!real.startsWith(realRoot + path.sep)) return undefined;
    } catch {
      // not in the root: a boot program from a distribution's package, read-only (the user's file wins)
      const alt = await this.fallback?.(parts.join('/'));
      if (!alt) return undefined;
      real = alt;
      fallback = true;
    }
    const stat = await fsp.stat(real).catch(() => undefined);
    return stat?.isFile() ? { real, stat, fallback } : undefined;
  }

  /** Answers one GET/HEAD request for `rel` (the path below the mount point, already URL-decoded). */
  async handle(req: IncomingMessage, res: ServerResponse, rel: string): Promise<void> {
    const started = this.now();
    const found = this.files.get(rel);
    const file = found instanceof Promise ? await found : found;
    const plain = isPlain(req);
    const large = file !== undefined && plain && !file.body && file.size > 0 && req.method === 'GET';
    // a large file several clients download at once: one shared copy in memory (when it fits)
    const sharing = large ? this.shared.acquire(file) : undefined;
    if (large) this.releaseOnClose(res, file);
    const body = sharing instanceof Promise ? await sharing : sharing;
    // a file streamed from disk is opened before any header goes out: gone since its check → 404
    const fd = large && !body
      ? await new Promise<number>((resolve) => fs.open(file.real, 'r', (err, opened) => resolve(err ? -1 : opened))) : undefined;
    if (!file || fd === -1) {
      if (fd === -1) this.files.forget(rel);
      res.statusCode = 404;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end('not found\n');
      return;
    }
    const ip = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const requestId = `h${++this.seq}`;
    const shown = `/${rel.replace(/^\/+/, '')}`;
    this.emit('http.start', { ip, path: shown, requestId });
    const counted = { bytes: 0, size: file.size as number | undefined, read: undefined as undefined | (() => number) };
    res.once('close', () => {
      const bytes = counted.read ? counted.read() : counted.bytes;
      const t = this.perIp.get(ip);
      if (t) {
        t.bytes += bytes;
        t.requests += 1;
      } else {
        this.perIp.set(ip, { bytes, requests: 1 });
      }
      const transfer: AssetTransfer = { ip, path: shown, status: res.statusCode, bytes, ...(counted.size !== undefined ? { size: counted.size } : {}), aborted: !res.writableFinished, durationMs: this.now() - started, requestId };
      this.emit('http.done', transfer);
    });
    if (plain) this.answer(req, res, file, counted, fd, body);
    else this.viaSend(req, res, file, counted);
  }

  /** Ends a download that SharedBodies.acquire() counted once its response is gone (or at once, if it already is). */
  private releaseOnClose(res: ServerResponse, file: CachedFile): void {
    const release = () => this.shared.release(file);
    if (res.destroyed || !res.socket || res.socket.destroyed) release();
    else res.once('close', release);
  }

  /** A plain 200: the file's bytes from memory, or streamed from disk in large reads. */
  private answer(req: IncomingMessage, res: ServerResponse, file: CachedFile, counted: { bytes: number; read?: () => number }, fd: number | undefined, shared: Buffer | undefined): void {
    res.writeHead(200, file.headers);
    if (req.method === 'HEAD' || file.size === 0) {
      res.end();
      return;
    }
    if (file.body) {
      counted.bytes = file.size;
      res.end(file.body);
      return;
    }
    if (shared) {
      counted.read = writeBody(shared, res);
      return;
    }
    // never more than the Content-Length already sent, even if the file grew since its check
    const pumped = pumpFile(fd!, file.size, res);
    counted.read = pumped.bytes;
  }

  /** Range and conditional requests: `send` (206, 304, 412, 416). */
  private viaSend(req: IncomingMessage, res: ServerResponse, file: CachedFile, counted: { bytes: number; size?: number; read?: () => number }): void {
    send(req, file.real, { dotfiles: 'allow', index: false, etag: true, lastModified: true, acceptRanges: true, maxAge: 0 })
      .on('file', (_path: string, stat: { size: number }) => { counted.size = stat.size; })
      .on('stream', (stream: NodeJS.ReadableStream & { bytesRead?: number }) => { counted.read = () => stream.bytesRead ?? 0; })
      .on('error', (err: Error & { status?: number }) => {
        res.statusCode = err.status ?? 500;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end(res.statusCode === 404 ? 'not found\n' : 'error\n');
      })
      .pipe(res);
  }
}
