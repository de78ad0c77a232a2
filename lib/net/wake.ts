/**
 * Wake-on-LAN: the magic packet (6 × 0xFF, then the MAC 16 times, then an optional 4- or 6-byte
 * SecureOn password) sent as a UDP broadcast (port 9 by default) to the broadcast address of the
 * subnet the machine was last seen in, from this host's address in that subnet, so it leaves on the
 * right interface. A per-MAC token keeps a flow in a loop from flooding the network.
 */
import * as dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import { NetbootError } from '../core/errors';
import { normalizeMac } from '../core/mac';
import { directedBroadcast, interfaceFor, type Ipv4Interface } from './interfaces';

/** The magic packet for `mac`; `password` is a SecureOn password as 4 or 6 bytes (`aa:bb:cc:dd` or a MAC-like 6). */
export function magicPacket(mac: string, password?: string): Buffer {
  const target = Buffer.from(normalizeMac(mac).replace(/:/g, ''), 'hex');
  const parts = [Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => target)];
  if (password !== undefined && password !== '') {
    const hex = password.toLowerCase().replace(/[-:.]/g, '');
    if (!/^([0-9a-f]{8}|[0-9a-f]{12})$/.test(hex)) throw new NetbootError('validation', 'password: a SecureOn password is 4 or 6 bytes, e.g. 01:02:03:04:05:06', { field: 'password' });
    parts.push(Buffer.from(hex, 'hex'));
  }
  return Buffer.concat(parts);
}

/**
 * Where the packet goes for a machine last seen at `lastIp`: the broadcast address of the host's
 * subnet that holds it, sent from the host's address there. Without a known address (or none of the
 * host's subnets holds it): the subnet of `fallback` (the advertised server address).
 */
export function wakeRoute(lastIp: string | undefined, interfaces: readonly Ipv4Interface[], fallback: string): { from: string; to: string; interface?: string } {
  const iface = (lastIp && isIPv4(lastIp) ? interfaceFor(lastIp, interfaces) : undefined) ?? interfaces.find((i) => i.address === fallback) ?? interfaceFor(fallback, interfaces);
  if (!iface) return { from: '0.0.0.0', to: '255.255.255.255' };
  return { from: iface.address, to: directedBroadcast(iface), interface: iface.name };
}

export interface WakeOptions {
  mac: string;
  password?: string;
  /** Destination port (default 9, the discard port; 7 is the other common one). */
  port?: number;
  from: string;
  to: string;
  /** Test seam. */
  socketFactory?: () => dgram.Socket;
}

/** Sends one magic packet; resolves with the bytes sent. */
export async function sendWake(o: WakeOptions): Promise<Buffer> {
  const packet = magicPacket(o.mac, o.password);
  const socket = o.socketFactory?.() ?? dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: o.from === '0.0.0.0' ? undefined : o.from, port: 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.setBroadcast(true);
    await new Promise<void>((resolve, reject) => socket.send(packet, o.port ?? 9, o.to, (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    throw new NetbootError('bind_failed', `wake ${normalizeMac(o.mac)}: cannot send to ${o.to}:${o.port ?? 9} from ${o.from}: ${(err as Error).message}`, { mac: o.mac }, { cause: err });
  } finally {
    socket.close();
  }
  return packet;
}

/** At most one wake per MAC every `intervalMs` (default 5 s). */
export class WakeLimiter {
  private readonly last = new Map<string, number>();

  constructor(private readonly intervalMs = 5000, private readonly clock: () => number = Date.now) {}

  /** True (and counted) when this MAC may be woken now. */
  take(mac: string): boolean {
    const now = this.clock();
    const key = normalizeMac(mac);
    const at = this.last.get(key);
    if (at !== undefined && now - at < this.intervalMs) return false;
    this.last.set(key, now);
    if (this.last.size > 10_000) this.last.delete(this.last.keys().next().value!);
    return true;
  }
}
