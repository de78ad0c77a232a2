/**
 * IP → MAC attribution. TFTP and HTTP only see an IP address; DHCP and check-ins tell us which MAC
 * held that address. Each claim lives for a window (default 10 min). When two MACs claimed the same
 * IP inside the window the answer is `{ ambiguous: true, macs }`: marked, never guessed, so that one
 * machine's bytes never land on another (the seed's "MAC cross-contamination").
 *
 * Confidence of a claim: DHCP ack, or a request from a client that already holds the address
 * (ciaddr) → high; a DHCP offer or a requested address (option 50) → medium; a check-in (its MAC is
 * self-reported) → medium; any other event that carried both an IP and a MAC → low. A claim older
 * than half the window drops one level.
 */
import type { AttributionSource, Confidence, NetbootEvent } from '../events/vocabulary';
import { isTransferEvent } from '../events/vocabulary';
import { transferKey } from './transfers';

export type AttributionResult =
  | { ambiguous?: false; mac: string; source: AttributionSource; confidence: Confidence; ageMs: number }
  | { ambiguous: true; macs: string[] };

export interface AttributionOptions {
  /** How long a claim counts (default 600 000 ms). */
  windowMs?: number;
  clock?: () => number;
  /** Upper bound on addresses tracked (default 4096); the stalest go first. */
  maxEntries?: number;
}

interface Claim {
  source: AttributionSource;
  confidence: Confidence;
  ts: number;
}

const RANK: Record<Confidence, number> = { high: 3, medium: 2, low: 1 };
const LOWER: Record<Confidence, Confidence> = { high: 'medium', medium: 'low', low: 'low' };

function usableIp(ip: string | undefined): ip is string {
  return !!ip && ip !== '0.0.0.0' && ip !== '255.255.255.255' && ip !== '::';
}

export class AttributionTable {
  readonly windowMs: number;
  private readonly clock: () => number;
  private readonly maxEntries: number;
  /** ip → mac → best live claim. */
  private readonly table = new Map<string, Map<string, Claim>>();
  /** Transfers attributed at their start keep that MAC to their end, however long they take. */
  private readonly transfers = new Map<string, { mac: string; source: AttributionSource; confidence: Confidence; ts: number }>();

  constructor(options: AttributionOptions = {}) {
    this.windowMs = options.windowMs ?? 600_000;
    this.clock = options.clock ?? Date.now;
    this.maxEntries = options.maxEntries ?? 4096;
  }

  /** Records that `mac` held `ip` at `ts`. */
  learn(ip: string, mac: string, source: AttributionSource, confidence: Confidence, ts = this.clock()): void {
    if (!usableIp(ip)) return;
    let macs = this.table.get(ip);
    if (!macs) {
      this.evict(ts);
      macs = new Map();
      this.table.set(ip, macs);
    }
    const old = macs.get(mac);
    const oldLive = old && ts - old.ts < this.windowMs;
    // keep the stronger claim while it is live; a fresh claim of the same strength refreshes it
    if (!old || !oldLive || RANK[confidence] >= RANK[old.confidence]) macs.set(mac, { source, confidence, ts });
    else old.ts = Math.max(old.ts, ts);
  }

  /** Learns from whatever an event says about who holds which address. */
  observe(e: NetbootEvent): void {
    if (!e.mac) return;
    switch (e.type) {
      case 'dhcp.ack':
        if (e.yiaddr) this.learn(e.yiaddr, e.mac, 'dhcp', 'high', e.ts);
        break;
      case 'dhcp.offer':
        if (e.yiaddr) this.learn(e.yiaddr, e.mac, 'dhcp', 'medium', e.ts);
        break;
      case 'dhcp.request':
        if (usableIp(e.ciaddr)) this.learn(e.ciaddr, e.mac, 'dhcp', 'high', e.ts);
        else if (e.requestedIp) this.learn(e.requestedIp, e.mac, 'dhcp', 'medium', e.ts);
        break;
      case 'dhcp.discover':
        // a relayed or broadcast discover's source address says nothing about the client
        break;
      case 'checkin':
      case 'enroll':
        if (e.ip) this.learn(e.ip, e.mac, 'checkin', 'medium', e.ts);
        break;
      case 'stage':
      case 'stall':
      case 'stall.cleared':
        break;
      default:
        if (e.ip && !e.attributed) this.learn(e.ip, e.mac, 'event', 'low', e.ts);
    }
  }

  /** Who held `ip` at `now`: one MAC with its source and confidence, ambiguous, or unknown. */
  attribute(ip: string, now = this.clock()): AttributionResult | undefined {
    const macs = this.table.get(ip);
    if (!macs) return undefined;
    const live: [string, Claim][] = [];
    for (const [mac, claim] of macs) {
      if (Math.abs(now - claim.ts) < this.windowMs) live.push([mac, claim]);
    }
    if (live.length === 0) return undefined;
    if (live.length > 1) return { ambiguous: true, macs: live.map(([mac]) => mac).sort() };
    const [mac, claim] = live[0];
    const ageMs = Math.max(0, now - claim.ts);
    const confidence = ageMs > this.windowMs / 2 ? LOWER[claim.confidence] : claim.confidence;
    return { mac, source: claim.source, confidence, ageMs };
  }

  /**
   * Returns the event with `mac` filled in from its IP when it had none, and `attributed` saying how
   * (or that the IP is ambiguous, in which case `mac` stays empty).
   */
  fill<E extends NetbootEvent>(e: E): E {
    if (e.mac || !e.ip) return e;
    const key = isTransferEvent(e) ? transferKey(e) : undefined;
    const terminal = key !== undefined && !e.type.endsWith('.start') && !e.type.endsWith('.progress');
    const known = key !== undefined ? this.transfers.get(key) : undefined;
    if (known) {
      if (terminal) this.transfers.delete(key!);
      else known.ts = Math.max(known.ts, e.ts);
      return { ...e, mac: known.mac, attributed: { source: known.source, confidence: known.confidence } };
    }
    const hit = this.attribute(e.ip, e.ts);
    if (!hit) return e;
    if (hit.ambiguous) return { ...e, attributed: { ambiguous: true, macs: hit.macs } };
    if (key !== undefined && !terminal) {
      if (this.transfers.size >= this.maxEntries) this.transfers.delete(this.transfers.keys().next().value!);
      this.transfers.set(key, { mac: hit.mac, source: hit.source, confidence: hit.confidence, ts: e.ts });
    }
    return { ...e, mac: hit.mac, attributed: { source: hit.source, confidence: hit.confidence } };
  }

  /** Drops claims that fell out of the window, and transfers with no news for as long. */
  prune(now = this.clock()): void {
    for (const [key, t] of this.transfers) if (now - t.ts >= this.windowMs) this.transfers.delete(key);
    for (const [ip, macs] of this.table) {
      for (const [mac, claim] of macs) if (now - claim.ts >= this.windowMs) macs.delete(mac);
      if (macs.size === 0) this.table.delete(ip);
    }
  }

  get size(): number {
    return this.table.size;
  }

  /** Every live entry, for the debug view. */
  entries(now = this.clock()): { ip: string; mac: string; source: AttributionSource; confidence: Confidence; ts: number }[] {
    const out: { ip: string; mac: string; source: AttributionSource; confidence: Confidence; ts: number }[] = [];
    for (const [ip, macs] of this.table) {
      for (const [mac, c] of macs) if (now - c.ts < this.windowMs) out.push({ ip, mac, ...c });
    }
    return out;
  }

  private evict(now: number): void {
    if (this.table.size < this.maxEntries) return;
    this.prune(now);
    while (this.table.size >= this.maxEntries) {
      let oldestIp: string | undefined;
      let oldestTs = Infinity;
      for (const [ip, macs] of this.table) {
        for (const c of macs.values()) {
          if (c.ts < oldestTs) {
            oldestTs = c.ts;
            oldestIp = ip;
          }
        }
      }
      if (oldestIp === undefined) break;
      this.table.delete(oldestIp);
    }
  }
}
