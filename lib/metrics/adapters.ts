/**
 * Turns what the DHCP and TFTP servers emit into metrics events. The payload shapes are described
 * structurally (only the fields used), so this file depends on what the servers say, not on their
 * classes. `wire*` subscribes a hub to a server and returns the function that unsubscribes.
 */
import type { DhcpEventType, NetbootEventInput } from './events';
import { isMac, normalizeMac } from '../core/mac';

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
    pi?: unknown;
    requestedIp?: string;
    ciaddr?: string;
    relayed?: boolean;
  };
  rinfo?: Peer;
  reply?: { yiaddr?: string };
}

export interface TftpPayloadLike {
  path: string;
  client: Peer;
  direction?: 'read' | 'write';
  bytes?: number;
  bytesAcked?: number;
  size?: number;
  durationMs?: number;
  reason?: string;
}

/** Node's EventEmitter, or anything with the same on/off. */
export interface EmitterLike {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

interface Publisher {
  publish(event: NetbootEventInput): unknown;
}

const DHCP_TYPES: Record<string, DhcpEventType> = { discover: 'dhcp.discover', offer: 'dhcp.offer', request: 'dhcp.request', ack: 'dhcp.ack' };

function usable(ip: string | undefined): string | undefined {
  return ip && ip !== '0.0.0.0' && ip !== '255.255.255.255' ? ip : undefined;
}

/** A DHCP server event (`discover`, `offer`, `request`, `ack`) as a metrics event. */
export function fromDhcp(name: string, p: DhcpPayloadLike, ts?: number): NetbootEventInput | undefined {
  const type = DHCP_TYPES[name];
  if (!type) return undefined;
  const f = p.facts;
  const ev: NetbootEventInput = { type, ts, mac: f.mac, isIpxe: f.isIpxe === true, arch: f.archName, clientClass: f.clientClass, xid: f.xid, uuid: f.uuid, isPi: f.pi !== undefined && f.pi !== null };
  // a relayed packet comes from the relay, and a reply's destination is not the client's address
  if (!f.relayed && (name === 'discover' || name === 'request')) {
    const ip = usable(p.rinfo?.address);
    if (ip) ev.ip = ip;
  }
  if (usable(f.ciaddr)) ev.ciaddr = f.ciaddr;
  if (usable(f.requestedIp)) ev.requestedIp = f.requestedIp;
  if (usable(p.reply?.yiaddr)) ev.yiaddr = p.reply!.yiaddr;
  return ev;
}

/**
 * The MAC a TFTP path names, if any: the Raspberry Pi per-MAC directory (`aa-bb-cc-dd-ee-ff/…`) or
 * a PXELINUX config (`pxelinux.cfg/01-aa-bb-…`). Only separated forms count, so a 12-digit serial
 * directory is never mistaken for a MAC.
 */
export function macFromPath(path: string): string | undefined {
  for (const seg of path.split(/[\\/]+/)) {
    if (/[-:]/.test(seg) && isMac(seg)) return normalizeMac(seg);
  }
  return undefined;
}

const TFTP_TYPES: Record<string, 'tftp.start' | 'tftp.progress' | 'tftp.done' | 'tftp.abort' | 'tftp.probe' | 'tftp.notfound'> = {
  request: 'tftp.start', progress: 'tftp.progress', done: 'tftp.done', aborted: 'tftp.abort', probe: 'tftp.probe', notfound: 'tftp.notfound',
};

/** A TFTP server event (`request`, `progress`, `done`, `aborted`, `probe`, `notfound`) as a metrics event. */
export function fromTftp(name: string, p: TftpPayloadLike, ts?: number): NetbootEventInput | undefined {
  const type = TFTP_TYPES[name];
  if (!type) return undefined;
  const ev: NetbootEventInput = { type, ts, path: p.path, ip: p.client.address, port: p.client.port };
  const mac = macFromPath(p.path);
  if (mac) ev.mac = mac;
  const bytes = p.bytes ?? p.bytesAcked;
  if (bytes !== undefined) ev.bytes = bytes;
  if (p.size !== undefined && p.size !== null) ev.size = p.size;
  if (p.durationMs !== undefined) ev.durationMs = p.durationMs;
  if (p.direction) ev.direction = p.direction;
  if (p.reason) ev.reason = p.reason;
  return ev;
}

function wire<P>(server: EmitterLike, names: string[], convert: (name: string, p: P) => NetbootEventInput | undefined, hub: Publisher, onError?: (err: unknown) => void): () => void {
  const listeners = names.map((name) => {
    const fn = (...args: unknown[]): void => {
      try {
        const ev = convert(name, args[0] as P);
        if (ev) hub.publish(ev);
      } catch (err) {
        onError?.(err);
      }
    };
    server.on(name, fn);
    return [name, fn] as const;
  });
  return () => {
    for (const [name, fn] of listeners) server.off(name, fn);
  };
}

/** Publishes a DHCP server's client events on the hub. */
export function wireDhcp(server: EmitterLike, hub: Publisher, onError?: (err: unknown) => void): () => void {
  return wire<DhcpPayloadLike>(server, Object.keys(DHCP_TYPES), (n, p) => fromDhcp(n, p), hub, onError);
}

/** Publishes a TFTP server's transfer events on the hub. */
export function wireTftp(server: EmitterLike, hub: Publisher, onError?: (err: unknown) => void): () => void {
  return wire<TftpPayloadLike>(server, Object.keys(TFTP_TYPES), (n, p) => fromTftp(n, p), hub, onError);
}
