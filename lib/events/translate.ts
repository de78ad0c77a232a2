/**
 * The one place where what a server part emits becomes a vocabulary event (vocabulary.ts): the DHCP
 * server, the TFTP server, the HTTP asset server and the inventory's event log. Payload shapes are
 * described structurally (only the fields used), so this file depends on what the parts say, not on
 * their classes. `wire*` subscribes a publisher to a part and returns the function that unsubscribes.
 */
import type { DhcpEventType, NetbootEventInput, TftpEventType } from './vocabulary';
import { PREVIOUS_NAME } from './vocabulary';
import { macOfPathSegment } from '../core/mac';

interface Peer {
  address: string;
  port: number;
}

export interface DhcpPayloadLike {
  facts: {
    mac: string;
    xid?: number;
    archName?: string;
    clientClass?: string;
    isIpxe?: boolean;
    uuid?: string;
    pi?: { model: string; via: string; serial?: string } | null;
    requestedIp?: string;
    ciaddr?: string;
    relayed?: boolean;
  };
  rinfo?: Peer;
  via?: string;
  reply?: { yiaddr?: string; siaddr?: string; file?: string };
}

export interface DhcpNoticeLike {
  reason?: string;
  detail?: string;
  facts?: DhcpPayloadLike['facts'];
  error?: Error;
  rinfo?: Peer;
  /** A rogue report. */
  sourceIp?: string;
  serverId?: string;
}

export interface TftpPayloadLike {
  path?: string;
  client: Peer;
  direction?: 'read' | 'write';
  bytes?: number;
  bytesAcked?: number;
  size?: number | null;
  durationMs?: number;
  reason?: string;
  rateBps?: number;
  retransmits?: number;
  timeouts?: number;
  blksize?: number;
  windowsize?: number;
  options?: Record<string, string>;
  code?: number;
}

export interface HttpPayloadLike {
  ip?: string;
  path: string;
  requestId?: string;
  bytes?: number;
  size?: number | null;
  status?: number;
  durationMs?: number;
  aborted?: boolean;
}

/** A record of the inventory's event log (`appendEvent`'s result). */
export interface StoredEventLike {
  type: string;
  ts: string;
  mac?: string;
  ip?: string;
  site?: string;
  message?: string;
  data?: Record<string, unknown>;
}

/** Node's EventEmitter, or anything with the same on/off. */
export interface EmitterLike {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

export interface Publisher {
  publish(event: NetbootEventInput): unknown;
}

const DHCP_TYPES: Record<string, DhcpEventType> = {
  discover: 'dhcp.discover', offer: 'dhcp.offer', request: 'dhcp.request', ack: 'dhcp.ack',
  nak: 'dhcp.nak', release: 'dhcp.release', decline: 'dhcp.decline', inform: 'dhcp.inform',
};
const DHCP_NOTICES: Record<string, 'dhcp.ignored' | 'dhcp.malformed' | 'dhcp.rogue'> = { ignored: 'dhcp.ignored', malformed: 'dhcp.malformed', rogue: 'dhcp.rogue' };

function usable(ip: string | undefined): string | undefined {
  return ip && ip !== '0.0.0.0' && ip !== '255.255.255.255' ? ip : undefined;
}

/** A DHCP server event (`discover`, `offer`, ..., `ignored`, `malformed`, `rogue`) as a vocabulary event. */
export function fromDhcp(name: string, p: DhcpPayloadLike & DhcpNoticeLike, ts?: number): NetbootEventInput | undefined {
  const notice = DHCP_NOTICES[name];
  if (notice) {
    const ev: NetbootEventInput = { type: notice, ts };
    if (p.facts?.mac) ev.mac = p.facts.mac;
    if (name === 'rogue') {
      const { sourceIp, serverId, ...offers } = p as unknown as Record<string, unknown>;
      ev.server = String(serverId ?? sourceIp ?? '');
      ev.offers = offers;
      if (typeof sourceIp === 'string') ev.ip = sourceIp;
    } else {
      const reason = p.reason ?? p.error?.message;
      if (reason) ev.reason = reason;
      if (p.detail) ev.detail = p.detail;
      if (p.rinfo?.address && name === 'malformed') ev.ip = p.rinfo.address;
    }
    return ev;
  }
  const type = DHCP_TYPES[name];
  if (!type) return undefined;
  const f = p.facts;
  const ev: NetbootEventInput = { type, ts, mac: f.mac, isIpxe: f.isIpxe === true, arch: f.archName, clientClass: f.clientClass, xid: f.xid, uuid: f.uuid, isPi: f.pi !== undefined && f.pi !== null };
  if (f.pi) ev.pi = { model: f.pi.model, via: f.pi.via, ...(f.pi.serial ? { serial: f.pi.serial } : {}) };
  if (p.via) ev.via = p.via;
  // a relayed packet comes from the relay, and a reply's destination is not the client's address
  if (!f.relayed && p.rinfo && !p.reply) {
    const ip = usable(p.rinfo.address);
    if (ip) ev.ip = ip;
  }
  if (usable(f.ciaddr)) ev.ciaddr = f.ciaddr;
  if (usable(f.requestedIp)) ev.requestedIp = f.requestedIp;
  if (p.reply) {
    if (usable(p.reply.yiaddr)) ev.yiaddr = p.reply.yiaddr;
    if (p.reply.file) ev.file = p.reply.file;
    if (usable(p.reply.siaddr)) ev.siaddr = p.reply.siaddr;
  }
  return ev;
}

/**
 * The MAC a TFTP path names, if any: the Raspberry Pi per-MAC directory (`aa-bb-cc-dd-ee-ff/…`) or
 * a PXELINUX config (`pxelinux.cfg/01-aa-bb-…`). Only separated forms count, so a 12-digit serial
 * directory is never mistaken for a MAC.
 */
export function macFromPath(path: string): string | undefined {
  for (const seg of path.split(/[\\/]+/)) {
    const mac = macOfPathSegment(seg);
    if (mac) return mac;
  }
  return undefined;
}

const TFTP_TYPES: Record<string, TftpEventType> = {
  request: 'tftp.start', oack: 'tftp.oack', progress: 'tftp.progress', done: 'tftp.done', aborted: 'tftp.abort',
  probe: 'tftp.probe', notfound: 'tftp.notfound', refused: 'tftp.refused', malformed: 'tftp.malformed',
};
const TFTP_COUNTS = ['durationMs', 'rateBps', 'retransmits', 'timeouts', 'blksize', 'windowsize', 'code'] as const;

/** A TFTP server event (`request`, `oack`, `progress`, `done`, `aborted`, ...) as a vocabulary event. */
export function fromTftp(name: string, p: TftpPayloadLike, ts?: number): NetbootEventInput | undefined {
  const type = TFTP_TYPES[name];
  if (!type) return undefined;
  const path = p.path ?? '';
  const ev: NetbootEventInput = { type, ts, path, ip: p.client.address, port: p.client.port };
  const mac = macFromPath(path);
  if (mac) ev.mac = mac;
  const bytes = p.bytes ?? p.bytesAcked;
  if (bytes !== undefined) ev.bytes = bytes;
  if (p.size !== undefined && p.size !== null) ev.size = p.size;
  for (const k of TFTP_COUNTS) if (p[k] !== undefined) ev[k] = p[k];
  if (p.direction) ev.direction = p.direction;
  if (p.reason) ev.reason = p.reason;
  if (p.options && Object.keys(p.options).length > 0) ev.options = { ...p.options };
  return ev;
}

/** An HTTP asset server event (`http.start`, `http.done`) as a vocabulary event. */
export function fromHttp(name: string, p: HttpPayloadLike, ts?: number): NetbootEventInput | undefined {
  if (name !== 'http.start' && name !== 'http.done') return undefined;
  const ev: NetbootEventInput = { type: name, ts, path: p.path };
  if (p.ip) ev.ip = p.ip.replace(/^::ffff:/, '');
  if (p.requestId) ev.requestId = p.requestId;
  if (name === 'http.done') {
    if (p.bytes !== undefined) ev.bytes = p.bytes;
    if (p.size !== undefined && p.size !== null) ev.size = p.size;
    if (p.status !== undefined) ev.status = p.status;
    if (p.durationMs !== undefined) ev.durationMs = p.durationMs;
  }
  return ev;
}

/**
 * A record the inventory wrote (enrolments, boot logs, record events) as a vocabulary event, or
 * undefined for the kinds the bus itself wrote (they were on the bus before they were stored).
 * An uploaded log's text stays in the store: the event names the file and its size only.
 */
export function fromStored(rec: StoredEventLike): NetbootEventInput | undefined {
  const ts = Date.parse(rec.ts);
  const base = { ts: Number.isFinite(ts) ? ts : undefined, ...(rec.mac ? { mac: rec.mac } : {}), ...(rec.ip ? { ip: rec.ip } : {}), ...(rec.site ? { site: rec.site } : {}) };
  const data = rec.data ?? {};
  switch (rec.type) {
    case 'boot.log': {
      const progress = typeof data.progress === 'number' ? ` progress=${data.progress}` : '';
      return { ...base, type: 'boot.log', level: 'info', line: `${rec.message ?? ''}${progress}` };
    }
    case 'boot.log_upload':
      return { ...base, type: 'boot.log_upload', line: rec.message ?? '', ...(typeof data.name === 'string' ? { name: data.name } : {}), ...(typeof data.bytes === 'number' ? { bytes: data.bytes } : {}) };
    case 'enroll':
      return { ...base, type: 'enroll', ...(rec.message ? { message: rec.message } : {}) };
    case 'build.start': case 'build.success': case 'build.failed': case 'build.cancelled':
      return rec.mac && typeof data.build === 'string'
        ? { ...base, mac: rec.mac, type: rec.type, build: data.build, ...(typeof data.recipe === 'string' ? { recipe: data.recipe } : {}), ...(rec.message ? { message: rec.message } : {}), ...(typeof data.durationMs === 'number' ? { durationMs: data.durationMs } : {}) }
        : undefined;
    case 'config.installed':
      return rec.mac ? { ...base, mac: rec.mac, type: 'config.installed', ...(rec.message ? { message: rec.message } : {}) } : undefined;
    case 'facts.changed':
    case 'enroll.conflict':
    case 'device.evicted':
    case 'wake':
    case 'wake.timeout':
    case 'session.start':
    case 'session.stop':
    case 'session.failed': {
      if (!rec.mac) return undefined;
      const ev: NetbootEventInput = { ...base, mac: rec.mac, type: rec.type, ...(rec.message ? { message: rec.message } : {}) };
      if (rec.type === 'facts.changed' && typeof data.field === 'string') ev.changes = { [data.field]: { from: data.from, to: data.to } };
      if (rec.type === 'wake') {
        if (typeof data.to === 'string') ev.to = data.to;
        if (typeof data.by === 'string') ev.by = data.by;
      }
      if (rec.type === 'wake.timeout' && typeof data.waitedMs === 'number') ev.waitedMs = data.waitedMs;
      if (rec.type.startsWith('session.')) {
        for (const k of ['session', 'mode', 'image'] as const) if (typeof data[k] === 'string') ev[k] = data[k];
        for (const k of ['readBytes', 'writeBytes', 'durationMs'] as const) if (typeof data[k] === 'number') ev[k] = data[k];
      }
      if (rec.type === 'enroll.conflict') {
        if (typeof data.from === 'string') ev.from = data.from;
        if (Array.isArray(data.fields)) ev.fields = data.fields.map(String);
      }
      return ev;
    }
    default:
      return undefined;
  }
}

/** The type a flow set to the previous names still tests for (`tftp.request` for `tftp.start`). */
export function previousName(type: string): string {
  return (PREVIOUS_NAME as Record<string, string>)[type] ?? type;
}

function wire<P>(source: EmitterLike, names: string[], convert: (name: string, p: P) => NetbootEventInput | undefined, to: Publisher, onError?: (err: unknown) => void): () => void {
  const listeners = names.map((name) => {
    const fn = (...args: unknown[]): void => {
      try {
        const ev = convert(name, args[0] as P);
        if (ev) to.publish(ev);
      } catch (err) {
        onError?.(err);
      }
    };
    source.on(name, fn);
    return [name, fn] as const;
  });
  return () => {
    for (const [name, fn] of listeners) source.off(name, fn);
  };
}

/** Publishes a DHCP server's events. */
export function wireDhcp(server: EmitterLike, to: Publisher, onError?: (err: unknown) => void): () => void {
  return wire<DhcpPayloadLike & DhcpNoticeLike>(server, [...Object.keys(DHCP_TYPES), ...Object.keys(DHCP_NOTICES)], (n, p) => fromDhcp(n, p), to, onError);
}

/** Publishes a TFTP server's transfer events. */
export function wireTftp(server: EmitterLike, to: Publisher, onError?: (err: unknown) => void): () => void {
  return wire<TftpPayloadLike>(server, Object.keys(TFTP_TYPES), (n, p) => fromTftp(n, p), to, onError);
}

/** Publishes an HTTP asset server's transfer events. */
export function wireHttp(server: EmitterLike, to: Publisher, onError?: (err: unknown) => void): () => void {
  return wire<HttpPayloadLike>(server, ['http.start', 'http.done'], (n, p) => fromHttp(n, p), to, onError);
}
