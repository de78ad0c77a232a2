/**
 * HEAD/GET as a boot firmware does them: one request, no cookies, redirects not followed (EDK2 and
 * iPXE follow a few; the probe reports them instead). The body is hashed as it streams; it is kept
 * only when small (scripts). Never throws: failures are in `error`.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { HttpObservation } from './types';

export interface HttpFetchOptions {
  method: 'HEAD' | 'GET';
  url: string;
  role: HttpObservation['role'];
  /** Give up when nothing arrives for this long (default 3000 ms). */
  timeoutMs?: number;
  /** Keep the body as text up to this size (default 1 MiB). */
  keepUpTo?: number;
  /** Local address for the connection (the `--interface` address). */
  localAddress?: string;
  userAgent?: string;
}

export function httpFetch(opts: HttpFetchOptions): Promise<HttpObservation> {
  const started = performance.now();
  const keepUpTo = opts.keepUpTo ?? 1024 * 1024;
  const base: HttpObservation = { url: opts.url, method: opts.method, role: opts.role, bytes: 0, durationMs: 0 };
  return new Promise((resolve) => {
    let settled = false;
    const done = (extra: Partial<HttpObservation>): void => {
      if (settled) return;
      settled = true;
      resolve({ ...base, ...extra, durationMs: Math.round(performance.now() - started) });
    };
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      done({ error: `not a valid URL: ${opts.url.slice(0, 200)}` });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      done({ error: `unsupported scheme ${url.protocol} (want http: or https:)` });
      return;
    }
    const lib = url.protocol === 'https:' ? https : http;
    let req: http.ClientRequest;
    try {
      req = lib.request(url, {
        method: opts.method,
        localAddress: opts.localAddress,
        headers: { 'user-agent': opts.userAgent ?? 'netboot-probe', accept: '*/*' },
        timeout: opts.timeoutMs ?? 3000,
      });
    } catch (err) {
      done({ error: (err as Error).message });
      return;
    }
    req.on('timeout', () => {
      req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 3000} ms`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code && !err.message.includes(err.code) ? `${err.message} (${err.code})` : err.message }));
    req.on('response', (res) => {
      const lengthHeader = res.headers['content-length'];
      const contentLength = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
      const head = { status: res.statusCode, contentLength, contentType: res.headers['content-type'] };
      const hash = createHash('sha256');
      const kept: Buffer[] = [];
      let bytes = 0;
      let keep = opts.method === 'GET';
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        if (keep) {
          if (bytes > keepUpTo) {
            keep = false;
            kept.length = 0;
          } else kept.push(chunk);
        }
      });
      res.on('end', () => {
        done({
          ...head,
          bytes,
          sha256: opts.method === 'GET' ? hash.digest('hex') : undefined,
          text: keep ? Buffer.concat(kept).toString('latin1') : undefined,
          error: res.complete ? undefined : 'connection closed before the body was complete',
        });
      });
      res.on('error', (err) => done({ ...head, bytes, error: err.message }));
    });
    req.end();
  });
}
