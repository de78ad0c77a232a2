import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';
import send from 'send';

/**
 * Serves files from the boot-assets root over HTTP with `send` (Range, HEAD, ETag,
 * Last-Modified, conditional GET), counting the bytes sent to each client.
 *
 * A request never leaves the root: the path is checked part by part (no `..`, `.`, empty parts,
 * dot files, backslashes or NUL), then resolved with `realpath` and must still lie inside the
 * root's own real path, so a symlink pointing outside is refused too. Anything refused or
 * missing is a plain 404, so probing tells nothing.
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
}

const MAX_PATH = 1024;

export class AssetServer extends EventEmitter {
  readonly root: string;
  private readonly now: () => number;
  private readonly fallback?: (rel: string) => Promise<string | undefined>;
  private readonly perIp = new Map<string, { bytes: number; requests: number }>();
  private seq = 0;

  constructor(opts: AssetServerOptions) {
    super();
    this.root = path.resolve(opts.root);
    this.now = opts.now ?? Date.now;
    this.fallback = opts.fallback;
  }

  /** Bytes and requests per client IP since start. */
  totals(): Record<string, { bytes: number; requests: number }> {
    return Object.fromEntries([...this.perIp].map(([ip, t]) => [ip, { ...t }]));
  }

  /** The real path of `rel` inside the root, or undefined when it is unsafe, outside, missing or not a file. */
  async resolve(rel: string): Promise<string | undefined> {
    if (typeof rel !== 'string' || rel.length === 0 || rel.length > MAX_PATH || /[\0\\]/.test(rel)) return undefined;
    const parts = rel.replace(/^\/+/, '').split('/');
    if (parts.some((p) => p === '' || p === '.' || p === '..' || p.startsWith('.'))) return undefined;
    try {
      const realRoot = await fsp.realpath(this.root);
      const real = await fsp.realpath(path.join(realRoot, ...parts));
      if (!real.startsWith(realRoot + path.sep)) return undefined;
      const st = await fsp.stat(real);
      return st.isFile() ? real : undefined;
    } catch {
      // not in the root: a boot program from a distribution's package, read-only (the user's file wins)
      return this.fallback?.(parts.join('/'));
    }
  }

  /** Answers one GET/HEAD request for `rel` (the path below the mount point, already URL-decoded). */
  async handle(req: IncomingMessage, res: ServerResponse, rel: string): Promise<void> {
    const ip = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const started = this.now();
    const file = await this.resolve(rel);
    if (!file) {
      res.statusCode = 404;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end('not found\n');
      return;
    }
    let bytes = 0;
    let size: number | undefined;
    let reported = false;
    const requestId = `h${++this.seq}`;
    const shown = `/${rel.replace(/^\/+/, '')}`;
    const finish = () => {
      if (reported) return;
      reported = true;
      const t = this.perIp.get(ip) ?? { bytes: 0, requests: 0 };
      t.bytes += bytes;
      t.requests += 1;
      this.perIp.set(ip, t);
      const transfer: AssetTransfer = { ip, path: shown, status: res.statusCode, bytes, ...(size !== undefined ? { size } : {}), aborted: !res.writableFinished, durationMs: this.now() - started, requestId };
      this.emit('http.done', transfer);
    };
    res.once('close', finish);
    this.emit('http.start', { ip, path: shown, requestId });
    send(req, file, { dotfiles: 'allow', index: false, etag: true, lastModified: true, acceptRanges: true, maxAge: 0 })
      .on('file', (_path: string, stat: { size: number }) => { size = stat.size; })
      .on('stream', (stream: NodeJS.ReadableStream) => stream.on('data', (chunk: Buffer) => { bytes += chunk.length; }))
      .on('error', (err: Error & { status?: number }) => {
        res.statusCode = err.status ?? 500;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end(res.statusCode === 404 ? 'not found\n' : 'error\n');
      })
      .pipe(res);
  }
}
