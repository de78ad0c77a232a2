/**
 * Follows the host's network while the server runs: the IPv4 addresses of its interfaces and the
 * interface that holds the default route. Homelab boot servers often get their own address from
 * DHCP and sit beside Docker bridges, VPNs and VLAN interfaces that come and go; an address read
 * once at start sends every machine to an address nobody has after a renewal.
 *
 * Polling `os.networkInterfaces()` and /proc/net/route every few seconds is enough (no native code,
 * no netlink): a boot client retries for longer than that. The reader and the clock are injected so
 * the decisions are tested as pure logic.
 */
import { EventEmitter } from 'node:events';
import { defaultRouteInterface, ipv4Interfaces, type Ipv4Interface } from './interfaces';

export interface NetworkSnapshot {
  /** Non-internal IPv4 addresses, one entry per address. */
  interfaces: Ipv4Interface[];
  /** Name of the interface with the IPv4 default route, if any. */
  defaultRoute?: string;
}

export type NetworkChangeKind = 'address-changed' | 'address-added' | 'address-removed' | 'pinned-missing' | 'pinned-restored';

export interface NetworkChange {
  kind: NetworkChangeKind;
  /** The address the change is about (the new advertised address for `address-changed`). */
  address: string;
  /** For `address-changed`: the address advertised before. */
  previous?: string;
  interface?: string;
  /** One sentence for the log, the status and the event. */
  message: string;
  /** ISO time of the change. */
  at: string;
}

export interface NetworkState {
  /** The address clients are told to use now. */
  advertised: string;
  /** Set by NETBOOT_SERVER_IP / the node's "Server IP": it is never changed by the watcher. */
  pinned: boolean;
  /** The interface that holds the advertised address (absent when the host does not have it). */
  interface?: string;
  /** Why this address: "default route via eth0", "pinned", ... */
  reason: string;
  /** The host's IPv4 addresses as last read. */
  addresses: Ipv4Interface[];
  /** Set while something is wrong that the user must fix (a pinned address the host no longer has). */
  problem?: string;
  /** The latest change, if any since start. */
  lastChange?: NetworkChange;
}

export interface NetworkWatcherOptions {
  /** The address chosen at start (pinned or picked). */
  serverIp: string;
  pinned: boolean;
  /** Follow this interface instead of the default-route one (NETBOOT_INTERFACE / the node's setting). */
  preferredInterface?: string;
  read?: () => NetworkSnapshot;
  clock?: () => number;
  /** Poll period for `start()`; default 3000 ms. */
  intervalMs?: number;
}

export function readNetwork(): NetworkSnapshot {
  return { interfaces: ipv4Interfaces(), defaultRoute: defaultRouteInterface() };
}

/**
 * The address to advertise for a snapshot, given the one advertised now. The current address is
 * kept while it still sits on the interface we follow (an interface with two addresses does not
 * flap), and while there is no interface to follow but the host still has it (a renewal that drops
 * the default route for a moment does not move the server). Undefined when the host has no address.
 */
export function chooseAddress(snap: NetworkSnapshot, current: string, preferredInterface?: string): { address: string; interface: string; reason: string } | undefined {
  const all = snap.interfaces;
  const follow = preferredInterface && all.some((i) => i.name === preferredInterface) ? preferredInterface : snap.defaultRoute && all.some((i) => i.name === snap.defaultRoute) ? snap.defaultRoute : undefined;
  const reason = (name: string) => (follow === preferredInterface && preferredInterface ? `interface ${name}` : follow ? `default route via ${name}` : `first interface ${name} (no default route)`);
  if (follow) {
    const on = all.filter((i) => i.name === follow);
    const keep = on.find((i) => i.address === current) ?? on[0];
    return { address: keep.address, interface: keep.name, reason: reason(keep.name) };
  }
  const still = all.find((i) => i.address === current);
  if (still) return { address: still.address, interface: still.name, reason: `interface ${still.name} (no default route)` };
  return all[0] ? { address: all[0].address, interface: all[0].name, reason: reason(all[0].name) } : undefined;
}

function key(i: Ipv4Interface): string {
  return `${i.name}/${i.address}/${i.netmask}`;
}

/**
 * Emits `change` (NetworkChange) once per change. `poll()` reads once and returns the changes (tests call it directly).
 */
export class NetworkWatcher extends EventEmitter {
  private readonly opts: NetworkWatcherOptions;
  private readonly read: () => NetworkSnapshot;
  private readonly clock: () => number;
  private current: NetworkState;
  private timer?: NodeJS.Timeout;

  constructor(opts: NetworkWatcherOptions) {
    super();
    this.opts = opts;
    this.read = opts.read ?? readNetwork;
    this.clock = opts.clock ?? Date.now;
    const snap = this.safeRead() ?? { interfaces: [] };
    const on = snap.interfaces.find((i) => i.address === opts.serverIp);
    this.current = {
      advertised: opts.serverIp,
      pinned: opts.pinned,
      interface: on?.name,
      reason: opts.pinned ? 'pinned' : chooseAddress(snap, opts.serverIp, opts.preferredInterface)?.reason ?? 'no network interface found',
      addresses: snap.interfaces,
    };
    // a pinned address the host does not have at start is reported like one that vanished later
    if (opts.pinned && !on && !opts.serverIp.startsWith('127.') && opts.serverIp !== '0.0.0.0') this.current.problem = this.missingMessage(opts.serverIp, snap);
  }

  get state(): NetworkState {
    return { ...this.current, addresses: this.current.addresses.map((a) => ({ ...a })) };
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.poll(), this.opts.intervalMs ?? 3000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private safeRead(): NetworkSnapshot | undefined {
    try {
      return this.read();
    } catch {
      return undefined;
    }
  }

  private missingMessage(address: string, snap: NetworkSnapshot): string {
    const have = snap.interfaces.map((i) => `${i.address} (${i.name})`).join(', ') || 'none';
    return `the pinned server address ${address} is not on this host any more (it has ${have}): DHCP answers send machines to an address nobody has. ` +
      'Fix: set NETBOOT_SERVER_IP (or the netboot-server node\'s Server IP) to one of the host\'s addresses, or clear it to follow the default route';
  }

  poll(): NetworkChange[] {
    const snap = this.safeRead();
    if (!snap) return [];
    const at = new Date(this.clock()).toISOString();
    const changes: NetworkChange[] = [];
    const before = new Map(this.current.addresses.map((i) => [key(i), i]));
    const now = new Map(snap.interfaces.map((i) => [key(i), i]));
    for (const [k, i] of now) {
      if (!before.has(k)) changes.push({ kind: 'address-added', address: i.address, interface: i.name, at, message: `address ${i.address}/${maskBits(i.netmask)} added on ${i.name}` });
    }
    for (const [k, i] of before) {
      if (!now.has(k)) changes.push({ kind: 'address-removed', address: i.address, interface: i.name, at, message: `address ${i.address} removed from ${i.name}` });
    }
    const next: NetworkState = { ...this.current, addresses: snap.interfaces };
    if (this.opts.pinned) {
      const on = snap.interfaces.find((i) => i.address === this.current.advertised);
      next.interface = on?.name;
      const local = this.current.advertised.startsWith('127.') || this.current.advertised === '0.0.0.0';
      if (!on && !local && !this.current.problem) {
        next.problem = this.missingMessage(this.current.advertised, snap);
        changes.push({ kind: 'pinned-missing', address: this.current.advertised, at, message: next.problem });
      } else if (on && this.current.problem) {
        delete next.problem;
        changes.push({ kind: 'pinned-restored', address: on.address, interface: on.name, at, message: `the pinned server address ${on.address} is back on ${on.name}` });
      }
    } else {
      const pick = chooseAddress(snap, this.current.advertised, this.opts.preferredInterface);
      if (pick) {
        next.interface = pick.interface;
        next.reason = pick.reason;
        if (pick.address !== this.current.advertised) {
          next.advertised = pick.address;
          changes.push({
            kind: 'address-changed', address: pick.address, previous: this.current.advertised, interface: pick.interface, at,
            message: `server address changed from ${this.current.advertised} to ${pick.address} (${pick.reason}): DHCP answers, boot URLs and scripts use it from the next request`,
          });
        }
      } else {
        next.interface = undefined;
      }
    }
    if (changes.length) next.lastChange = changes.find((c) => c.kind !== 'address-added' && c.kind !== 'address-removed') ?? changes[changes.length - 1];
    this.current = next;
    for (const c of changes) this.emit('change', c);
    return changes;
  }
}

function maskBits(netmask: string): number {
  return netmask.split('.').reduce((n, part) => n + (Number(part) >>> 0).toString(2).replace(/0/g, '').length, 0);
}
