import type { ServerBootEvent, VirtualFileAnswer } from './boot-server';
import { NetbootError } from '../core/errors';
import type { TftpRequest } from '../tftp';
import type { BootOverride, ClientFacts } from '../dhcp';
import { isIPv4 } from 'node:net';

/**
 * The msg contract of `netboot-listen`, as pure functions so it is table-tested without Node-RED.
 *
 * Output 1, boot events: `{ topic: '<type>', payload: { ...facts }, ip?, mac? }`, e.g. topic
 * `tftp.done` with `{ path, bytes, durationMs, rateBps, retransmits, blksize, windowsize }`.
 * Output 2, file requests: `{ topic: 'tftp.file', payload: { path, rawPath, client, mode, options },
 * _netbootRequest: '<id>' }`. The flow answers by sending that msg (or any msg with the same
 * `_netbootRequest`) back into the node with one of:
 *   - `msg.payload` a Buffer or string: the file's content;
 *   - otherwise `msg.filename`: a path under the boot-assets root to serve instead;
 *   - neither: file not found.
 */
export interface ListenEventMsg {
  topic: string;
  payload: Record<string, unknown>;
  ip?: string;
  mac?: string;
}

export interface FileRequestMsg {
  topic: 'tftp.file';
  payload: { path: string; rawPath: string; client: { address: string; port: number }; mode: string; options: Record<string, string> };
  _netbootRequest: string;
}

export function eventMessage(ev: ServerBootEvent): ListenEventMsg {
  const msg: ListenEventMsg = { topic: ev.type, payload: { ...ev.data, ts: ev.ts } };
  if (ev.ip) msg.ip = ev.ip;
  if (ev.mac) msg.mac = ev.mac;
  return msg;
}

export function fileRequestMessage(id: string, req: TftpRequest): FileRequestMsg {
  return {
    topic: 'tftp.file',
    payload: { path: req.path, rawPath: req.rawPath, client: { ...req.client }, mode: req.mode, options: { ...req.options } },
    _netbootRequest: id,
  };
}

/** Reads the flow's answer; throws a `validation` error naming the property for a bad one. */
export function readFileAnswer(msg: { payload?: unknown; filename?: unknown }): VirtualFileAnswer {
  // content wins: a renderer (netboot-pi) leaves msg.filename set to the path it rendered
  const p = msg.payload;
  if (Buffer.isBuffer(p)) return { kind: 'data', data: p };
  if (typeof p === 'string') return { kind: 'data', data: Buffer.from(p, 'utf8') };
  if (p instanceof Uint8Array) return { kind: 'data', data: Buffer.from(p) };
  if (msg.filename !== undefined && msg.filename !== null && msg.filename !== '') {
    if (typeof msg.filename !== 'string') throw new NetbootError('validation', 'msg.filename must be a path (string) under the boot-assets root', { field: 'filename' });
    return { kind: 'file', path: msg.filename };
  }
  if (p === undefined || p === null || (typeof p === 'object' && !Array.isArray(p))) return { kind: 'none' };
  throw new NetbootError('validation', `msg.payload must be a Buffer or a string for a file answer, got ${typeof p}`, { field: 'payload' });
}

export interface DhcpDecideMsg {
  topic: 'dhcp.decide';
  payload: ClientFacts;
  _netbootRequest: string;
}

export function dhcpDecideMessage(id: string, facts: ClientFacts): DhcpDecideMsg {
  return { topic: 'dhcp.decide', payload: { ...facts }, _netbootRequest: id };
}

/**
 * The flow's DHCP answer: `msg.payload` null/undefined for the default, or
 * `{ filename?, nextServer?, httpUrl?, skip? }` to override it for this machine.
 */
export function readDhcpAnswer(msg: { payload?: unknown }): BootOverride | undefined {
  const p = msg.payload;
  if (p === undefined || p === null) return undefined;
  if (typeof p !== 'object' || Array.isArray(p)) throw new NetbootError('validation', 'msg.payload must be an object {filename, nextServer, httpUrl, skip} or null for a DHCP answer', { field: 'payload' });
  const o = p as Record<string, unknown>;
  const out: BootOverride = {};
  for (const key of ['filename', 'nextServer', 'httpUrl'] as const) {
    const v = o[key];
    if (v === undefined || v === null || v === '') continue;
    // eslint-disable-next-line no-control-regex -- control characters are exactly what we refuse
    if (typeof v !== 'string' || v.length > 255 || /[\s\x00-\x1f]/.test(v)) throw new NetbootError('validation', `msg.payload.${key} must be text without spaces, at most 255 characters`, { field: `payload.${key}` });
    out[key] = v;
  }
  if (out.nextServer !== undefined && !isIPv4(out.nextServer)) throw new NetbootError('validation', 'msg.payload.nextServer must be an IPv4 address', { field: 'payload.nextServer' });
  if (o.skip === true) out.skip = true;
  return out;
}

/** Events worth a message by default; progress only when asked for (it can be several per second). */
export function wantEvent(type: string, withProgress: boolean): boolean {
  if (type === 'tftp.progress') return withProgress;
  return true;
}
