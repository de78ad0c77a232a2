import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPublicPath } from './public-gate';

/**
 * `npm start` serves the editor, the management API and the boot endpoints on one port, with both
 * Node-RED roots at "/". This picks the app for each request:
 *
 * - public paths (`/boot/…`, `/api/v1/…`, `/metrics`) go straight to the flow's app, never through
 *   the editor's (which answers every request with `Access-Control-Allow-Origin: *`);
 * - `/netboot/api/…` answers 503 with `Retry-After` until the flows have started (instead of 404
 *   while the routes do not exist yet); `/netboot/api/status` says `starting`;
 * - an error either app passes on (a malformed or oversized JSON body) becomes a JSON answer with
 *   its status (400 "body is not JSON", 413), never the 404 of the fallthrough.
 */
type App = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

/** An error from Express or body-parser as an HTTP answer. */
export function answerError(res: ServerResponse, err: unknown): void {
  const e = (err ?? {}) as { status?: number; statusCode?: number; type?: string; message?: string };
  const status = Number(e.status ?? e.statusCode ?? 500);
  if (e.type === 'entity.parse.failed') return json(res, 400, { error: { code: 'validation', message: 'body is not JSON' } });
  if (e.type === 'entity.too.large' || status === 413) return json(res, 413, { error: { code: 'payload_too_large', message: 'body is too large' } });
  if (status === 415) return json(res, 415, { error: { code: 'unsupported_media_type', message: e.message ?? 'unsupported content type' } });
  if (status >= 400 && status < 500) return json(res, status, { error: { code: 'bad_request', message: e.message ?? 'bad request' } });
  json(res, 500, { error: { code: 'internal', message: 'internal error' } });
}

export function createDispatcher(admin: App, node: App, ready: () => boolean): (req: IncomingMessage, res: ServerResponse) => void {
  const notFound = (res: ServerResponse) => {
    res.statusCode = 404;
    res.setHeader('Content-Type', 'text/plain');
    res.end('not found\n');
  };
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const last = (err?: unknown) => (err ? answerError(res, err) : notFound(res));
    if (isPublicPath(path)) return node(req, res, last);
    if ((path === '/netboot/api' || path.startsWith('/netboot/api/')) && !ready()) {
      const body = path === '/netboot/api/status'
        ? { status: 'starting' }
        : { error: { code: 'starting', message: 'the boot server is starting; retry in a moment' } };
      return json(res, 503, body, { 'Retry-After': '1' });
    }
    admin(req, res, (err) => (err ? answerError(res, err) : node(req, res, last)));
  };
}
