/**
 * The pure half of the boot script's fast path (nodes/shared/menu-chain.ts wires it into
 * Node-RED): which flows hold the plain menu chain, and the answer `http response` would give.
 */

/** What the answer is made from: a message's payload, headers and status code. */
export interface AnswerMessage {
  payload?: unknown;
  headers?: unknown;
  statusCode?: unknown;
}

/** A node of the flow as the runtime's active configuration has it. */
export interface FlowNodeDef {
  id: string;
  type: string;
  z?: string;
  d?: boolean;
  wires?: string[][];
  url?: string;
  method?: string;
  upload?: boolean;
  statusCode?: string | number;
  headers?: Record<string, unknown>;
  scope?: string[] | string | null;
}

/** One plain chain: the `http in` node in front of a check-in node, and the ipxe and response nodes behind it. */
export interface MenuChain {
  httpIn: FlowNodeDef & { url: string };
  ipxe: string;
  response: string;
}

const only = (wires: string[] | undefined, id: string) => wires?.length === 1 && wires[0] === id;

/**
 * The plain chains through check-in node `checkinId`, from the flow's node definitions: an enabled
 * `http in` GET whose one output goes only to the check-in node; every output of the check-in node
 * going only to one netboot-ipxe node; that node's one output going only to an `http response` with
 * no status code or headers of its own; all four in one tab and none watched by a Complete node.
 * The check-in node may have other inputs (the reference flow's `/boot/:profile.ipxe` reaches it
 * through a change node): they do not touch a request of this URL.
 */
export function plainMenuChains(defs: readonly FlowNodeDef[], checkinId: string): MenuChain[] {
  const byId = new Map(defs.map((d) => [d.id, d]));
  const checkin = byId.get(checkinId);
  if (!checkin || checkin.d || checkin.type !== 'netboot-checkin') return [];
  const outs = checkin.wires ?? [];
  const ipxeId = outs[0]?.[0];
  if (outs.length !== 3 || !ipxeId || !outs.every((w) => only(w, ipxeId))) return [];
  const ipxe = byId.get(ipxeId);
  if (!ipxe || ipxe.d || ipxe.type !== 'netboot-ipxe' || ipxe.z !== checkin.z) return [];
  const responseId = ipxe.wires?.[0]?.[0];
  if ((ipxe.wires ?? []).length !== 1 || !responseId || !only(ipxe.wires?.[0], responseId)) return [];
  const response = byId.get(responseId);
  if (!response || response.d || response.type !== 'http response' || response.z !== checkin.z) return [];
  if (String(response.statusCode ?? '').trim() !== '' || Object.keys(response.headers ?? {}).length > 0) return [];
  const watched = (id: string) => defs.some((d) => d.type === 'complete' && !d.d && Array.isArray(d.scope) && d.scope.includes(id));
  if ([checkinId, ipxeId, responseId].some(watched)) return [];
  return defs
    .filter((d): d is FlowNodeDef & { url: string } => d.type === 'http in' && !d.d && d.z === checkin.z && String(d.method) === 'get'
      && typeof d.url === 'string' && d.url !== '' && (d.wires ?? []).length === 1 && only(d.wires?.[0], checkinId) && !watched(d.id))
    .map((httpIn) => ({ httpIn, ipxe: ipxeId, response: responseId }));
}

export interface ExpressReq { query?: unknown; headers?: unknown; method?: string }
export interface ExpressRes {
  app?: { get(setting: string): unknown };
  statusCode: number;
  setHeader(name: string, value: string | number): void;
  end(body: string | Buffer): void;
  get(field: string): string | undefined;
  set(field: string | Record<string, unknown>, value?: unknown): ExpressRes;
  status(code: number): ExpressRes;
  send(body: unknown): void;
  jsonp(body: unknown): void;
}

const TEXT = 'text/plain; charset=utf-8';

/**
 * The common answer (a 200 text script, GET without a conditional header), written by hand: the
 * headers Express's `res.send` would set, in its order and with its own ETag function, then the
 * body in one write. The profile had Express's send/status/set/charset chain at about a tenth of
 * a menu's time. Anything else goes through `respond`.
 */
export function respondPlain(req: ExpressReq, res: ExpressRes, msg: AnswerMessage): boolean {
  const headers = msg.headers as Record<string, unknown> | undefined;
  const etagOf = res.app?.get('etag fn');
  const { payload } = msg;
  if (typeof payload !== 'string' || msg.statusCode !== undefined || req.method !== 'GET' || typeof etagOf !== 'function') return false;
  if (!headers || headers['content-type'] !== TEXT || Object.keys(headers).some((h) => h !== 'content-type' && h !== 'cache-control')) return false;
  const asked = req.headers as Record<string, unknown> | undefined;
  if (asked?.['if-none-match'] !== undefined || asked?.['if-modified-since'] !== undefined) return false;
  const body = Buffer.from(payload);
  res.setHeader('Content-Type', TEXT);
  if (typeof headers['cache-control'] === 'string') res.setHeader('Cache-Control', headers['cache-control']);
  res.setHeader('Content-Length', body.length);
  const etag = (etagOf as (b: Buffer) => string | undefined)(body);
  if (etag) res.setHeader('ETag', etag);
  res.statusCode = 200;
  res.end(body);
  return true;
}

/** The `http response` node's answer for a msg it gets, for the response node the chain check allows (no status code or headers of its own). */
export function respond(res: ExpressRes, msg: AnswerMessage): void {
  const headers = msg.headers && typeof msg.headers === 'object' ? (msg.headers as Record<string, unknown>) : {};
  if (Object.keys(headers).length > 0) res.set(headers);
  const statusCode = Number.parseInt(String(msg.statusCode)) || 200;
  const { payload } = msg;
  if (typeof payload === 'object' && payload !== null && !Buffer.isBuffer(payload)) {
    res.status(statusCode).jsonp(payload);
    return;
  }
  if (res.get('content-length') == null) {
    const len = payload == null ? 0 : Buffer.isBuffer(payload) ? payload.length : Buffer.byteLength(String(payload));
    res.set('content-length', len);
  }
  res.status(statusCode).send(typeof payload === 'number' ? String(payload) : payload);
}

