/**
 * Address pool for full DHCP mode.
 *
 * - Leases are keyed by MAC. An address comes from, in order: the reservation (injected
 *   `reservation(mac)`, e.g. the inventory), the client's current lease, the requested address
 *   (option 50) when free, then the lowest never-used address of the range, then the
 *   longest-expired one.
 * - OFFERs hold an address for `offerTime` seconds; ACKs bind it for `leaseTime`; the injected
 *   clock decides expiry. Bound/released/declined changes are persisted through a `LeaseStore`.
 * - Conflict avoidance: by default **no ICMP probe is done**. A client that finds the address in
 *   use sends DECLINE; that address is quarantined for `declineTime` seconds and skipped. An
 *   optional injected `probe(ip) → Promise<boolean>` (true = in use) is consulted before a new
 *   address is offered; a positive probe quarantines the address like a DECLINE.
 * - Reservations are a function MAC → IP, so the pool cannot know which addresses are reserved for
 *   other clients: keep reserved addresses outside the dynamic range (they only need to be inside
 *   the subnet).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NetbootError } from '../core/errors';
import { Mac, normalizeMac } from '../core/mac';
import { intToIp, ipToInt, isIPv4 } from './packet';
import { LeaseDecision, LeaseGrant, NetworkOptions } from './responder';

export type LeaseState = 'offered' | 'bound' | 'released' | 'declined';

export interface Lease {
  mac: string;
  ip: string;
  state: LeaseState;
  /** ms since the epoch (per the injected clock). */
  expiresAt: number;
  hostname?: string;
}

export interface LeaseStore {
  load(): Promise<Lease[]>;
  save(leases: Lease[]): Promise<void>;
}

export class MemoryLeaseStore implements LeaseStore {
  private data: Lease[] = [];
  saves = 0;
  constructor(initial: Lease[] = []) {
    this.data = initial.map((l) => ({ ...l }));
  }
  async load(): Promise<Lease[]> {
    return this.data.map((l) => ({ ...l }));
  }
  async save(leases: Lease[]): Promise<void> {
    this.saves += 1;
    this.data = leases.map((l) => ({ ...l }));
  }
}

function isLease(x: unknown): x is Lease {
  if (typeof x !== 'object' || x === null) return false;
  const l = x as Record<string, unknown>;
  return typeof l.mac === 'string' && typeof l.ip === 'string' && isIPv4(l.ip) && typeof l.expiresAt === 'number' && ['offered', 'bound', 'released', 'declined'].includes(l.state as string);
}

/** JSON file, written to a temp file, fsynced, renamed over the old one, then the folder fsynced. */
export class JsonFileLeaseStore implements LeaseStore {
  constructor(readonly file: string) {}

  async load(): Promise<Lease[]> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw NetbootError.wrap(`reading leases from ${this.file}`, err);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new NetbootError('store_corrupt', `reading leases from ${this.file}: not JSON: ${(err as Error).message}`, { file: this.file }, { cause: err });
    }
    const list = (parsed as { leases?: unknown })?.leases;
    if (!Array.isArray(list)) throw new NetbootError('store_corrupt', `reading leases from ${this.file}: no "leases" array`, { file: this.file });
    return list.filter(isLease).map((l) => ({ mac: l.mac, ip: l.ip, state: l.state, expiresAt: l.expiresAt, ...(l.hostname ? { hostname: String(l.hostname) } : {}) }));
  }

  async save(leases: Lease[]): Promise<void> {
    const dir = path.dirname(this.file);
    const tmp = `${this.file}.${process.pid}.tmp`;
    const body = JSON.stringify({ version: 1, leases }, null, 1);
    try {
      await fsp.mkdir(dir, { recursive: true });
      const fh = await fsp.open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(body, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, this.file);
      const dh = await fsp.open(dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw new NetbootError('store_io', `saving leases to ${this.file}: ${(err as Error).message}`, { file: this.file }, { cause: err });
    }
  }
}

export interface LeasePoolConfig extends NetworkOptions {
  rangeStart: string;
  rangeEnd: string;
  /** Seconds; default 3600. */
  leaseTime?: number;
  /** Seconds an OFFER holds an address; default 60. */
  offerTime?: number;
  /** Seconds a declined address stays unused; default 600. */
  declineTime?: number;
  reservation?: (mac: Mac) => string | undefined | Promise<string | undefined>;
  probe?: (ip: string) => Promise<boolean>;
  store?: LeaseStore;
  clock?: () => number;
}

const MAX_RANGE = 65536;
const MAX_PROBES = 3;

export class LeasePool {
  readonly network: NetworkOptions;
  private readonly start: number;
  private readonly end: number;
  private readonly mask: number;
  private readonly subnet: number;
  private readonly leaseTime: number;
  private readonly offerTime: number;
  private readonly declineTime: number;
  private readonly clock: () => number;
  private readonly store: LeaseStore;
  /** ip → lease (one lease per address; a MAC may appear once). */
  private byIp = new Map<string, Lease>();
  private saving: Promise<void> = Promise.resolve();

  private constructor(private readonly config: LeasePoolConfig) {
    for (const [k, v] of [['rangeStart', config.rangeStart], ['rangeEnd', config.rangeEnd], ['netmask', config.netmask]] as const) {
      if (!isIPv4(v)) throw new NetbootError('validation', `lease pool: ${k} "${v}" is not an IPv4 address`, { field: k });
    }
    this.start = ipToInt(config.rangeStart);
    this.end = ipToInt(config.rangeEnd);
    this.mask = ipToInt(config.netmask);
    this.subnet = (this.start & this.mask) >>> 0;
    if (this.end < this.start) throw new NetbootError('validation', `lease pool: rangeEnd ${config.rangeEnd} is before rangeStart ${config.rangeStart}`);
    if (this.end - this.start + 1 > MAX_RANGE) throw new NetbootError('validation', `lease pool: range has ${this.end - this.start + 1} addresses, at most ${MAX_RANGE}`);
    if (((this.end & this.mask) >>> 0) !== this.subnet) throw new NetbootError('validation', `lease pool: ${config.rangeStart}-${config.rangeEnd} is not inside one ${config.netmask} subnet`);
    this.network = { netmask: config.netmask, router: config.router, dns: config.dns, domain: config.domain };
    this.leaseTime = config.leaseTime ?? 3600;
    this.offerTime = config.offerTime ?? 60;
    this.declineTime = config.declineTime ?? 600;
    this.clock = config.clock ?? Date.now;
    this.store = config.store ?? new MemoryLeaseStore();
  }

  static async open(config: LeasePoolConfig): Promise<LeasePool> {
    const pool = new LeasePool(config);
    const leases = await pool.store.load();
    for (const l of leases) {
      if (pool.inSubnet(l.ip)) pool.byIp.set(l.ip, { ...l });
    }
    return pool;
  }

  inSubnet(ip: string): boolean {
    return isIPv4(ip) && ((ipToInt(ip) & this.mask) >>> 0) === this.subnet;
  }

  private inRange(ip: string): boolean {
    if (!isIPv4(ip)) return false;
    const n = ipToInt(ip);
    return n >= this.start && n <= this.end;
  }

  leases(): Lease[] {
    return [...this.byIp.values()].map((l) => ({ ...l }));
  }

  private grant(ip: string): LeaseGrant {
    return { ip, leaseTime: this.leaseTime, ...this.network };
  }

  private active(l: Lease | undefined, now: number): boolean {
    return l !== undefined && l.expiresAt > now && (l.state === 'bound' || l.state === 'offered' || l.state === 'declined');
  }

  private leaseOf(mac: string): Lease | undefined {
    for (const l of this.byIp.values()) if (l.mac === mac && l.state !== 'declined') return l;
    return undefined;
  }

  /** Free for `mac` at `now`: not held by another client and not quarantined. */
  private freeFor(ip: string, mac: string, now: number): boolean {
    const l = this.byIp.get(ip);
    if (!l) return true;
    if (l.state === 'declined') return l.expiresAt <= now;
    return l.mac === mac || !this.active(l, now);
  }

  private async reserved(mac: Mac): Promise<string | undefined> {
    if (!this.config.reservation) return undefined;
    const ip = await this.config.reservation(mac);
    return ip && this.inSubnet(ip) ? ip : undefined;
  }

  private put(l: Lease): void {
    for (const [ip, other] of this.byIp) if (other.mac === l.mac && ip !== l.ip && other.state !== 'declined') this.byIp.delete(ip);
    this.byIp.set(l.ip, l);
  }

  private persist(): Promise<void> {
    const snapshot = this.leases();
    this.saving = this.saving.catch(() => undefined).then(() => this.store.save(snapshot));
    return this.saving;
  }

  private async pick(mac: Mac, requested: string | undefined, now: number): Promise<string | undefined> {
    const reserved = await this.reserved(mac);
    if (reserved) return this.freeFor(reserved, mac, now) ? reserved : undefined;
    const own = this.leaseOf(mac);
    if (own && this.inRange(own.ip) && this.freeFor(own.ip, mac, now)) return own.ip;
    if (requested && this.inRange(requested) && this.freeFor(requested, mac, now)) return requested;
    let oldest: Lease | undefined;
    let probes = 0;
    for (let n = this.start; n <= this.end; n++) {
      const ip = intToIp(n);
      const l = this.byIp.get(ip);
      if (!l) {
        if (this.config.probe && probes < MAX_PROBES) {
          probes += 1;
          if (await this.config.probe(ip)) {
            this.byIp.set(ip, { mac: '', ip, state: 'declined', expiresAt: now + this.declineTime * 1000 });
            continue;
          }
        }
        return ip;
      }
      if (this.freeFor(ip, mac, now) && (!oldest || l.expiresAt < oldest.expiresAt)) oldest = l;
    }
    return oldest?.ip;
  }

  async offer(macIn: string, requested?: string): Promise<LeaseDecision> {
    const mac = normalizeMac(macIn);
    const now = this.clock();
    const ip = await this.pick(mac, requested, now);
    if (!ip) return { kind: 'none', reason: 'pool exhausted' };
    const existing = this.byIp.get(ip);
    if (!(existing && existing.mac === mac && existing.state === 'bound' && existing.expiresAt > now)) {
      this.put({ mac, ip, state: 'offered', expiresAt: now + this.offerTime * 1000 });
    }
    return { kind: 'offer', grant: this.grant(ip) };
  }

  /**
   * REQUEST handling. `ip` is option 50 (SELECTING / INIT-REBOOT) or ciaddr (RENEWING/REBINDING).
   * Wrong subnet, another client's address, a quarantined address or a different reservation → NAK.
   */
  async request(macIn: string, ip: string | undefined, hostname?: string): Promise<LeaseDecision> {
    const mac = normalizeMac(macIn);
    const now = this.clock();
    if (!ip || !isIPv4(ip)) return { kind: 'none', reason: 'no requested address' };
    if (!this.inSubnet(ip)) return { kind: 'nak', message: `${ip} is not on this network` };
    const reserved = await this.reserved(mac);
    if (reserved && reserved !== ip) return { kind: 'nak', message: `${ip} is not reserved for this client` };
    if (!reserved && !this.inRange(ip)) return { kind: 'nak', message: `${ip} is outside the pool` };
    if (!this.freeFor(ip, mac, now)) return { kind: 'nak', message: `${ip} is in use` };
    this.put({ mac, ip, state: 'bound', expiresAt: now + this.leaseTime * 1000, ...(hostname ? { hostname: hostname.slice(0, 64) } : {}) });
    await this.persist();
    return { kind: 'ack', grant: this.grant(ip) };
  }

  async release(macIn: string, ip: string): Promise<boolean> {
    const mac = normalizeMac(macIn);
    const l = this.byIp.get(ip);
    if (!l || l.mac !== mac || l.state === 'declined') return false;
    l.state = 'released';
    l.expiresAt = this.clock();
    await this.persist();
    return true;
  }

  async decline(macIn: string, ip: string | undefined): Promise<boolean> {
    const mac = normalizeMac(macIn);
    if (!ip || !this.inSubnet(ip)) return false;
    const l = this.byIp.get(ip);
    if (l && l.mac !== mac && this.active(l, this.clock()) && l.state !== 'declined') return false;
    this.byIp.set(ip, { mac: '', ip, state: 'declined', expiresAt: this.clock() + this.declineTime * 1000 });
    await this.persist();
    return true;
  }

  /** Network options for an INFORM. */
  inform(): LeaseDecision {
    return { kind: 'inform', network: this.network };
  }
}
