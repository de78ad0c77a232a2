import type { VirtualFileAnswer } from '../policy/booter';
import { archCode, platformOf, previousName, type NetbootEvent } from '../events';
import { NetbootError } from '../core/errors';
import type { TftpRequest } from '../tftp';
import type { BootOverride, ClientFacts } from '../dhcp';
import { isIPv4 } from 'node:net';

/**
 * The msg contract of `netboot-listen`, as pure functions so it is table-tested without Node-RED.
 *
 * Output 1, boot events: `{ topic: '<type>', payload: <the event>, mac?, ip? }`, the event as the
 * vocabulary defines it (docs/events.md), e.g. topic `tftp.done` with `{ type, ts, path, ip, port,
 * bytes, durationMs, rateBps, retransmits, blksize, windowsize }`. `msg.mac` and `msg.payload.mac`
 * are the same, on every output.
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

/**
 * Which names a node sends: `current` (the vocabulary), or `previous` for flows written before the
 * vocabulary became one (one release): `tftp.request`, `tftp.aborted`, `log`, and a DHCP event's
 * `archCode` and `platform` beside `arch`.
 */
export type EventNames = 'current' | 'previous';

export function eventMessage(ev: NetbootEvent, names: EventNames = 'current'): ListenEventMsg {
  const payload: Record<string, unknown> = { ...ev };
  let topic: string = ev.type;
  if (names === 'previous') {
    topic = previousName(ev.type);
    const arch = (ev as { arch?: string }).arch;
    if (ev.type.startsWith('dhcp.') && arch) Object.assign(payload, { archCode: archCode(arch), platform: platformOf(arch) });
  }
  const msg: ListenEventMsg = { topic, payload };
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

/** The client's facts as DHCP sees them, with `arch` the vocabulary's name (`efi-x64`) and `archCode` its option 93 number. */
export type DhcpDecidePayload = Omit<ClientFacts, 'arch' | 'archName'> & { arch: string; archCode?: number };

export interface DhcpDecideMsg {
  topic: 'dhcp.decide';
  payload: DhcpDecidePayload | ClientFacts;
  mac: string;
  _netbootRequest: string;
}

/** With `previous` names, the payload is ClientFacts as before (`arch` the option 93 number, `archName` the name). */
export function dhcpDecideMessage(id: string, facts: ClientFacts, names: EventNames = 'current'): DhcpDecideMsg {
  if (names === 'previous') return { topic: 'dhcp.decide', payload: { ...facts }, mac: facts.mac, _netbootRequest: id };
  const { arch: code, archName, ...rest } = facts;
  return { topic: 'dhcp.decide', payload: { ...rest, arch: archName, ...(code !== undefined ? { archCode: code } : {}) }, mac: facts.mac, _netbootRequest: id };
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
  if (type.endsWith('.progress')) return withProgress;
  return true;
}
