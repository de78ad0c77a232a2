import { readFileSync } from 'node:fs';
import * as os from 'node:os';

export interface Ipv4Interface {
  name: string;
  address: string;
  netmask: string;
}

/** Name of the interface holding the IPv4 default route, from /proc/net/route (Linux). */
export function defaultRouteInterface(routeTable?: string): string | undefined {
  let text = routeTable;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/net/route', 'utf8');
    } catch {
      return undefined;
    }
  }
  let best: { iface: string; metric: number } | undefined;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[1] !== '00000000' || f[7] !== '00000000') continue;
    const metric = Number(f[6]);
    if (!best || metric < best.metric) best = { iface: f[0], metric };
  }
  return best?.iface;
}

export function ipv4Interfaces(): Ipv4Interface[] {
  const out: Ipv4Interface[] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) out.push({ name, address: a.address, netmask: a.netmask });
  }
  return out;
}

/**
 * The address to advertise when the user set none: the named interface's, else the default-route
 * interface's, else the first non-loopback IPv4 address, else 127.0.0.1.
 */
export function pickServerAddress(preferredInterface?: string): { address: string; interface?: string; reason: string } {
  const all = ipv4Interfaces();
  if (preferredInterface) {
    const hit = all.find((i) => i.name === preferredInterface);
    if (hit) return { address: hit.address, interface: hit.name, reason: `interface ${hit.name}` };
  }
  const route = defaultRouteInterface();
  const viaRoute = route ? all.find((i) => i.name === route) : undefined;
  if (viaRoute) return { address: viaRoute.address, interface: viaRoute.name, reason: `default route via ${viaRoute.name}` };
  if (all[0]) return { address: all[0].address, interface: all[0].name, reason: `first interface ${all[0].name} (no default route)` };
  return { address: '127.0.0.1', reason: 'no network interface found' };
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => ((n << 8) | Number(part)) >>> 0, 0);
}

/** The interface whose subnet holds `ip`, if any. */
export function interfaceFor<I extends Pick<Ipv4Interface, 'address' | 'netmask'>>(ip: string, interfaces: readonly I[]): I | undefined {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return undefined;
  const c = ipToInt(ip);
  return interfaces.find((i) => {
    const mask = ipToInt(i.netmask);
    return (c & mask) >>> 0 === (ipToInt(i.address) & mask) >>> 0;
  });
}

/** The broadcast address of an interface's subnet (10.0.0.255 for 10.0.0.5/24). */
export function directedBroadcast(iface: Pick<Ipv4Interface, 'address' | 'netmask'>): string {
  const m = ipToInt(iface.netmask);
  const n = ((ipToInt(iface.address) & m) | ~m) >>> 0;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
}

/**
 * The local address to answer `client` from when the listening socket is bound to 0.0.0.0:
 * loopback for a loopback client, else the address of the local interface whose subnet holds the
 * client, else `fallback` (the advertised server address, for clients behind a router or relay).
 * Many TFTP clients drop replies that come from another address than the one they asked.
 */
export function replyAddressFor(client: string, interfaces: Array<Pick<Ipv4Interface, 'address' | 'netmask'>>, fallback: string): string {
  if (client.startsWith('127.')) return '127.0.0.1';
  return interfaceFor(client, interfaces)?.address ?? fallback;
}
