import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { NetbootError } from '../core/errors';

/**
 * The optional list of addresses and networks allowed to use the public side (boot endpoints,
 * TFTP, DHCP answers): `10.0.0.0/24, 192.168.1.7, fd00::/64`. An empty list allows everyone.
 * Built on Node's own `net.BlockList`, which matches IPv4-mapped IPv6 addresses as well.
 */
export interface Allowlist {
  readonly entries: readonly string[];
  allows(address: string): boolean;
}

export function parseAllowlist(input: string | readonly string[] | undefined): Allowlist | undefined {
  const items = (typeof input === 'string' ? input.split(/[\s,]+/) : [...(input ?? [])]).map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) return undefined;
  const list = new BlockList();
  for (const item of items) {
    const [addr, bits, extra] = item.split('/');
    const family = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
    const prefix = bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits);
    if (!family || extra !== undefined || !/^\d{1,3}$/.test(String(prefix)) || prefix > (family === 'ipv4' ? 32 : 128)) {
      throw new NetbootError('validation', `allowlist: "${item}" is not an address or CIDR network (like 10.0.0.0/24 or fd00::/64)`, { field: 'allowlist' });
    }
    list.addSubnet(addr, prefix, family);
  }
  return {
    entries: items,
    allows(address: string): boolean {
      const a = address.replace(/^::ffff:/, '');
      if (isIPv4(a)) return list.check(a, 'ipv4');
      if (isIPv6(a)) return list.check(a, 'ipv6');
      return false;
    },
  };
}

/** Calls `log` at most once per source and window (default a minute), with the count refused since. */
export function oncePerSource(log: (source: string, refusedSince: number) => void, windowMs = 60_000, clock: () => number = Date.now, maxKeys = 4096): (source: string) => void {
  const seen = new Map<string, { at: number; count: number }>();
  return (source) => {
    const now = clock();
    const s = seen.get(source);
    if (s && now - s.at < windowMs) {
      s.count += 1;
      return;
    }
    if (!s && seen.size >= maxKeys) seen.delete(seen.keys().next().value as string);
    seen.set(source, { at: now, count: 1 });
    log(source, s ? s.count : 1);
  };
}
