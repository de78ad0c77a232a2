import type { IncomingMessage, ServerResponse } from 'node:http';
import { TokenBuckets, type RateLimitConfig } from '../dhcp/rate-limit';
import type { Allowlist } from '../net/allowlist';
import { normalizeMac } from '../core/mac';

/**
 * The front door of the public HTTP side (`/boot/…`, `/api/v1/…`, `/metrics`): it runs before any
 * route of the flow and before Node-RED's body parsers. In order:
 *
 *  1. no CORS: `Access-Control-*` headers are removed (a web page a LAN user opens must not read
 *     boot scripts or make anonymous writes as "simple" requests);
 *  2. the IP allowlist (optional): 403;
 *  3. a token bucket per client address: 429 with `Retry-After`;
 *  4. bodies: the content type is checked against the route's list (415), the declared length
 *     against its limit (413 before a byte is read), and the body is read with a running count that
 *     stops keeping it at the limit (413; the rest is read and thrown away for at most 10 s, so the
 *     client sees the answer), so memory never grows with the size of a refused body; JSON that
 *     does not parse is a 400 "body is not JSON". The parsed body is left on `req.body` (and
 *     `req._body`, so Node-RED's own parsers skip it).
 *
 * Every refusal is a JSON `{error: {code, message}}` and is reported through `onRefuse`.
 */
export interface BodyRule {
  method: string;
  path: RegExp;
  maxBytes: number;
  /** Media types accepted (lowercase, no parameters); `''` means no Content-Type header. */
  types: readonly string[];
  /** The body is a file, whatever its declared type: kept as bytes, never parsed. */
  raw?: boolean;
}

export const ENROLL_BODY_MAX = 64 * 1024;
export const LOG_BODY_MAX = 16 * 1024;
export const UPLOAD_BODY_MAX = 1024 * 1024;
/** Any other body on a public path. */
export const DEFAULT_BODY_MAX = 64 * 1024;

export const BODY_RULES: readonly BodyRule[] = [
  { method: 'POST', path: /^\/api\/v1\/enroll\/?$/, maxBytes: ENROLL_BODY_MAX, types: ['application/json'] },
  { method: 'POST', path: /^\/api\/v1\/boot\/log\/?$/, maxBytes: LOG_BODY_MAX, types: ['application/json', 'text/plain', 'application/x-www-form-urlencoded', ''] },
  // curl -T sends no type, PowerShell's Invoke-WebRequest -InFile a form type: the body is the file either way
  { method: 'PUT', path: /^\/api\/v1\/boot\/winpe\/logs\/upload\/?$/, maxBytes: UPLOAD_BODY_MAX, types: ['application/octet-stream', 'text/plain', 'application/x-www-form-urlencoded', ''], raw: true },
];
const DEFAULT_TYPES = ['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', ''];

/** Paths of the public side: boot endpoints, the public API, the token-protected Prometheus scrape. */
export function isPublicPath(url: string | undefined): boolean {
  const p = (url ?? '/').split('?')[0];
  return p.startsWith('/boot/') || p === '/boot' || p.startsWith('/api/v1/') || p === '/metrics';
}

export type RefusalReason = 'allowlist' | 'rate' | 'size' | 'type' | 'json';

export interface PublicGateOptions {
  /** Read per request; a new value starts new buckets. */
  rateLimit?: () => RateLimitConfig | false | undefined;
  allowlist?: () => Allowlist | undefined;
  rules?: readonly BodyRule[];
  clock?: () => number;
  onRefuse?: (reason: RefusalReason, ip: string, path: string) => void;
  /** Once a rendered script, config or API answer has gone out (assets and /metrics are not reported). */
  onFinish?: (fetch: PublicFetch) => void;
}

/** One answer of the public side, for the audit log. */
export interface PublicFetch {
  method: string;
  endpoint: string;
  outcome: number;
  ip: string;
  mac?: string;
  profile?: string;
  image?: string;
}

/** What a flow's node learnt while answering (the check-in node sets it on `msg.req`). */
export interface FetchNote {
  mac?: string;
  profile?: string;
  image?: string;
}

/** The MAC a request names in its query, if it is one. */
function queryMac(url: string | undefined): string | undefined {
  const q = (url ?? '').split('?')[1];
  if (!q) return undefined;
  const raw = new URLSearchParams(q).get('mac');
  if (!raw) return undefined;
  try {
    return normalizeMac(raw);
  } catch {
    return undefined;
  }
}

/** Defaults: a client may burst 120 requests and keep up 30 a second (a boot is about ten). */
export const DEFAULT_RATE_LIMIT: RateLimitConfig = { burst: 120, perSecond: 30 };

type Req = IncomingMessage & { body?: unknown; _body?: boolean; ip?: string };
type Next = (err?: unknown) => void;

function refuse(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify({ error: { code, message } }));
}

/** How long, and how much, a refused body is read and thrown away so the client sees the answer. */
const LINGER_MS = 10_000;
const LINGER_BYTES = 256 << 20;

/**
 * After an early refusal the client may still be sending: the rest is read and discarded (never
 * kept), so the client gets to read the answer instead of a reset; past LINGER_* the socket is cut.
 */
function drain(req: IncomingMessage): void {
  let seen = 0;
  const cut = setTimeout(() => req.destroy(), LINGER_MS);
  cut.unref();
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > LINGER_BYTES) req.destroy();
  });
  req.once('end', () => clearTimeout(cut));
  req.once('close', () => clearTimeout(cut));
  req.resume();
}

function stripCors(res: ServerResponse): void {
  for (const name of res.getHeaderNames()) if (name.startsWith('access-control-')) res.removeHeader(name);
}

function path0(url: string | undefined): string {
  return (url ?? '/').split('?')[0];
}

export function clientAddress(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

function mediaType(req: IncomingMessage): string {
  return String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** Parses a read body by its media type, as Node-RED's `http in` would. */
export function parseBody(type: string, raw: Buffer): { ok: true; body: unknown } | { ok: false; message: string } {
  if (type === 'application/json' || type.endsWith('+json')) {
    try {
      return { ok: true, body: JSON.parse(raw.toString('utf8')) };
    } catch {
      return { ok: false, message: 'body is not JSON' };
    }
  }
  if (type === 'application/x-www-form-urlencoded') return { ok: true, body: Object.fromEntries(new URLSearchParams(raw.toString('utf8'))) };
  if (type === '' || type.startsWith('text/')) return { ok: true, body: raw.toString('utf8') };
  return { ok: true, body: raw };
}

export function createPublicGate(opts: PublicGateOptions = {}): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  const rules = opts.rules ?? BODY_RULES;
  let limits: { from?: RateLimitConfig | false; buckets?: TokenBuckets } = {};
  const bucketsNow = () => {
    const from = opts.rateLimit?.() ?? DEFAULT_RATE_LIMIT;
    if (limits.from !== from) limits = { from, buckets: from === false ? undefined : new TokenBuckets(from, opts.clock, 16_384) };
    return limits.buckets;
  };
  return (request, res, next) => {
    const req = request as Req;
    // the path and the address once per request (this runs for every boot file and script)
    const path = path0(req.url);
    if (!isPublicPath(path)) return next();
    stripCors(res);
    const asset = path.startsWith('/boot/assets/');
    const ip = clientAddress(req);
    if (opts.onFinish && !asset && path !== '/metrics') {
      res.once('finish', () => {
        const note = (req as Req & { netbootAudit?: FetchNote }).netbootAudit ?? {};
        const mac = note.mac ?? queryMac(req.url);
        opts.onFinish!({
          method: req.method ?? 'GET', endpoint: path, outcome: res.statusCode, ip,
          ...(mac ? { mac } : {}), ...(note.profile ? { profile: note.profile } : {}), ...(note.image ? { image: note.image } : {}),
        });
      });
    }
    // rendered scripts carry secrets (iSCSI CHAP): never cached; static assets set their own caching
    if (!asset) res.setHeader('Cache-Control', 'no-store');
    const allow = opts.allowlist?.();
    if (allow && !allow.allows(ip)) {
      opts.onRefuse?.('allowlist', ip, path);
      return refuse(res, 403, 'forbidden', 'this address may not use the boot server (see the allowlist in the netboot-server settings)', { Connection: 'close' });
    }
    const buckets = bucketsNow();
    if (buckets && !buckets.take(ip)) {
      opts.onRefuse?.('rate', ip, path);
      return refuse(res, 429, 'rate_limited', 'too many requests from this address; retry in a second', { 'Retry-After': '1' });
    }
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    const rule = rules.find((r) => r.method === req.method && r.path.test(path));
    const max = rule?.maxBytes ?? DEFAULT_BODY_MAX;
    const type = mediaType(req);
    const types = rule?.types ?? DEFAULT_TYPES;
    if (!hasBody(req)) {
      // nothing to read, but a Content-Type Node-RED's parsers cannot parse must not become a 500
      if (type && !types.includes(type)) {
        opts.onRefuse?.('type', ip, path);
        return refuse(res, 415, 'unsupported_media_type', `Content-Type ${type} is not accepted here; send ${types.filter(Boolean).join(' or ')}`);
      }
      req.body = type === 'application/json' || type === 'application/x-www-form-urlencoded' ? {} : '';
      req._body = true;
      return next();
    }
    // a refusal before the body is read: the rest is discarded as it arrives, never buffered
    if (!types.includes(type)) {
      opts.onRefuse?.('type', ip, path);
      drain(req);
      return refuse(res, 415, 'unsupported_media_type', `Content-Type ${type || '(none)'} is not accepted here; send ${types.filter(Boolean).join(' or ')}`);
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > max) {
      opts.onRefuse?.('size', ip, path);
      drain(req);
      return refuse(res, 413, 'payload_too_large', `body is ${declared} bytes (limit ${max})`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        req.off('data', onData);
        drain(req);
        opts.onRefuse?.('size', ip, path);
        refuse(res, 413, 'payload_too_large', `body is over ${max} bytes`);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('error', () => undefined);
    req.once('end', () => {
      if (over) return;
      const bytes = Buffer.concat(chunks, size);
      const parsed = rule?.raw ? { ok: true as const, body: bytes } : parseBody(type, bytes);
      if (!parsed.ok) {
        opts.onRefuse?.('json', ip, path);
        return refuse(res, 400, 'validation', parsed.message);
      }
      req.body = parsed.body;
      req._body = true;
      next();
    });
  };
}
