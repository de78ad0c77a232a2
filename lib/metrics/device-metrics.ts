/**
 * Per-device figures for the metrics node and the dashboard: connection state, bytes we served a
 * machine (TFTP + HTTP) and what it uploaded, iSCSI disk I/O, install progress, boot stage and stall
 * state, with warnings. Every figure says where it came from and how sure the MAC attribution behind
 * it is (`debugView()`), because an IP shared by two machines must show up as ambiguous rather than
 * as one machine's numbers on another.
 *
 * Warnings are stable codes with a detail (`stalled:kernel`, `ambiguous-ip:10.0.0.9`,
 * `tftp-abort:undionly.kpxe`), for the UI to translate.
 */
import { LruMap } from './lru';
import type { Confidence, NetbootEvent, StageName } from '../events/vocabulary';
import { isDerivedEvent, isTransferEvent } from '../events/vocabulary';
import type { BootTimeline } from './timeline';
import { parseProgress } from './timeline';
import { TransferTracker } from './transfers';
import { SlidingWindow } from './window';

export type ConnectionState = 'online' | 'idle' | 'offline';
/** `direct`: the event carried the MAC itself. */
export type FigureConfidence = 'direct' | Confidence;
export type FigureName = 'connection' | 'network' | 'disk' | 'installProgress' | 'stage';

export interface DeviceMetricsSnapshot {
  mac: string;
  ts: number;
  connection: ConnectionState;
  lastSeen: number;
  network: { rxBytes: number; txBytes: number; rxRate: number; txRate: number };
  disk: { readBytes: number; writeBytes: number } | null;
  installProgress: number | null;
  stage: StageName | null;
  outcome: 'active' | 'done' | 'failed' | null;
  stalled: boolean;
  warnings: string[];
  sources: Record<FigureName, string>;
  /** The weakest attribution behind any figure, and whether ambiguous traffic may belong here. */
  attribution: { confidence: FigureConfidence; ambiguous: boolean };
}

export interface FleetSummary {
  devices: number;
  booting: number;
  stalled: number;
  ready: number;
  failed: number;
  /** Bytes served over TFTP and HTTP to anyone, attributed or not. */
  bytesServed: number;
}

export interface FigureDebug {
  source: string;
  confidence: FigureConfidence | null;
  ambiguous: boolean;
  /** How many contributing events had each confidence. */
  counts: Record<FigureConfidence, number>;
}

export interface DeviceMetricsOptions {
  /** Sliding window for rates (default 10 000 ms). */
  rateWindowMs?: number;
  /** Seen within this → online (default 60 000 ms). */
  onlineMs?: number;
  /** Seen within this → idle, else offline (default 600 000 ms). */
  offlineMs?: number;
  clock?: () => number;
  /** Stage, stall and per-boot progress come from here when given. */
  timeline?: BootTimeline;
  /** Devices kept; the least recently seen go first (default 5000). */
  maxDevices?: number;
}

interface Figure {
  /** Where the figure came from: one bit per entry of SOURCE_ORDER. */
  sources: number;
  counts: Record<FigureConfidence, number>;
  ambiguous: number;
}

/**
 * What is kept per machine. A machine that only asked for a boot answer has its MAC, times and one
 * figure; the windows, sets and maps come with the first event that needs them (a DHCP storm of new
 * machines otherwise kept a dozen empty collections each, and the young-generation GC copied them).
 */
interface Device {
  mac: string;
  lastSeen: number;
  rxBytes: number;
  txBytes: number;
  rx?: SlidingWindow;
  tx?: SlidingWindow;
  sessions?: Set<string>;
  disk?: Map<string, { readBytes: number; writeBytes: number }>;
  logProgress?: number;
  figures: Partial<Record<FigureName, Figure>>;
  /** Recent warnings from events, newest last. */
  warnings?: string[];
  ambiguousIps?: Set<string>;
}

const ORDER: FigureConfidence[] = ['low', 'medium', 'high', 'direct'];
const FIGURES: FigureName[] = ['connection', 'network', 'disk', 'installProgress', 'stage'];
const MAX_WARNINGS = 10;

function newFigure(): Figure {
  return { sources: 0, counts: { direct: 0, high: 0, medium: 0, low: 0 }, ambiguous: 0 };
}

/** What an absent figure reads as (never written). */
const NO_FIGURE: Figure = Object.freeze({ sources: 0, counts: Object.freeze({ direct: 0, high: 0, medium: 0, low: 0 }), ambiguous: 0 });

function figure(d: Device, name: FigureName): Figure {
  return d.figures[name] ?? NO_FIGURE;
}

function figureToWrite(d: Device, name: FigureName): Figure {
  return (d.figures[name] ??= newFigure());
}

function weakest(f: Figure): FigureConfidence | null {
  for (const c of ORDER) if (f.counts[c] > 0) return c;
  return null;
}

const SOURCE_ORDER = ['tftp', 'http', 'iscsi', 'log', 'transfer', 'events', 'timeline'] as const;
type Source = (typeof SOURCE_ORDER)[number];
function sourceOf(f: Figure): string {
  if (f.sources === 0) return 'none';
  return SOURCE_ORDER.filter((_, i) => (f.sources & (1 << i)) !== 0).join('+');
}

export class DeviceMetrics {
  private readonly rateWindowMs: number;
  private readonly onlineMs: number;
  private readonly offlineMs: number;
  private readonly clock: () => number;
  private readonly timeline?: BootTimeline;
  private readonly maxDevices: number;
  private readonly devices: LruMap<string, Device>;
  private readonly transfers = new TransferTracker();
  private readonly dirty = new Set<string>();
  private bytesServed = 0;

  constructor(options: DeviceMetricsOptions = {}) {
    this.rateWindowMs = options.rateWindowMs ?? 10_000;
    this.onlineMs = options.onlineMs ?? 60_000;
    this.offlineMs = options.offlineMs ?? 600_000;
    this.clock = options.clock ?? Date.now;
    this.timeline = options.timeline;
    this.maxDevices = Math.max(1, options.maxDevices ?? 5000);
    this.devices = new LruMap<string, Device>(this.maxDevices);
  }

  observe(e: NetbootEvent): void {
    if (isDerivedEvent(e)) {
      if (this.devices.has(e.mac)) this.dirty.add(e.mac);
      return;
    }
    const delta = isTransferEvent(e) ? this.transfers.observe(e) : 0;
    const upload = isTransferEvent(e) && e.direction === 'write';
    if (!upload) this.bytesServed += delta;

    if (!e.mac) {
      if (e.attributed?.ambiguous && e.ip) {
        for (const mac of e.attributed.macs) {
          const d = this.device(mac, e.ts);
          (d.ambiguousIps ??= new Set()).add(e.ip);
          const fig = figureToWrite(d, isTransferEvent(e) ? 'network' : e.type.startsWith('iscsi.') ? 'disk' : 'connection');
          fig.ambiguous++;
          this.dirty.add(mac);
        }
      }
      return;
    }
    const d = this.device(e.mac, e.ts);
    const conf: FigureConfidence = e.attributed && !e.attributed.ambiguous ? e.attributed.confidence : 'direct';
    d.lastSeen = Math.max(d.lastSeen, e.ts);
    note(figureToWrite(d, 'connection'), 'events', conf);
    this.dirty.add(d.mac);

    if (isTransferEvent(e)) {
      const proto: Source = e.type.startsWith('tftp') ? 'tftp' : 'http';
      if (upload) {
        d.rxBytes += delta;
        (d.rx ??= new SlidingWindow(this.rateWindowMs)).add(e.ts, delta);
      } else {
        d.txBytes += delta;
        (d.tx ??= new SlidingWindow(this.rateWindowMs)).add(e.ts, delta);
      }
      note(figureToWrite(d, 'network'), proto, conf);
      if (e.type === 'tftp.abort') this.warn(d, `tftp-abort:${e.path}`);
      if (e.type === 'http.done' && e.status !== undefined && e.status >= 400 && e.status !== 404) this.warn(d, `http-error:${e.status}:${e.path}`);
      return;
    }
    switch (e.type) {
      case 'iscsi.login':
      case 'iscsi.logout':
      case 'iscsi.stats': {
        if (e.type === 'iscsi.login') (d.sessions ??= new Set()).add(e.target);
        if (e.type === 'iscsi.logout') d.sessions?.delete(e.target);
        const disk = (d.disk ??= new Map());
        if (e.readBytes !== undefined || e.writeBytes !== undefined) {
          const prev = disk.get(e.target) ?? { readBytes: 0, writeBytes: 0 };
          disk.set(e.target, { readBytes: e.readBytes ?? prev.readBytes, writeBytes: e.writeBytes ?? prev.writeBytes });
        } else if (!disk.has(e.target)) disk.set(e.target, { readBytes: 0, writeBytes: 0 });
        note(figureToWrite(d, 'disk'), 'iscsi', conf);
        break;
      }
      case 'boot.log': {
        const p = parseProgress(e.line);
        if (p !== undefined) {
          d.logProgress = p;
          note(figureToWrite(d, 'installProgress'), 'log', conf);
        }
        if (e.level === 'error') this.warn(d, `log-error:${e.line.slice(0, 80)}`);
        break;
      }
      case 'checkin':
      case 'dhcp.discover':
        if (e.type === 'checkin' && e.action && /^(failed|fail|error)$/i.test(e.action)) this.warn(d, `checkin-failed:${e.action}`);
        // a new boot forgets the previous install's progress
        if (e.type === 'dhcp.discover' && !e.isIpxe) d.logProgress = undefined;
        break;
      default:
        break;
    }
  }

  private warn(d: Device, code: string): void {
    const warnings = (d.warnings ?? []).filter((w) => w !== code);
    warnings.push(code);
    if (warnings.length > MAX_WARNINGS) warnings.splice(0, warnings.length - MAX_WARNINGS);
    d.warnings = warnings;
  }

  private device(mac: string, ts: number): Device {
    // least-recently-seen order: a flood of new MACs evicts the oldest in O(1)
    return this.devices.touch(mac, () => ({
      mac, lastSeen: ts, rxBytes: 0, txBytes: 0, rx: undefined, tx: undefined, sessions: undefined, disk: undefined, logProgress: undefined,
      figures: {}, warnings: undefined, ambiguousIps: undefined,
    }));
  }

  macs(): string[] {
    return [...this.devices.keys()];
  }

  /** MACs whose figures changed since the last call (for "emit on change"). */
  takeChanged(): string[] {
    const out = [...this.dirty];
    this.dirty.clear();
    return out;
  }

  get(mac: string, now = this.clock()): DeviceMetricsSnapshot | undefined {
    const d = this.devices.get(mac);
    if (!d) return undefined;
    const current = this.timeline?.current(mac) ?? null;
    const progress = this.progressOf(d, current?.stage ?? null, current?.outcome ?? null);
    const age = now - d.lastSeen;
    const connection: ConnectionState = (d.sessions?.size ?? 0) > 0 || age < this.onlineMs ? 'online' : age < this.offlineMs ? 'idle' : 'offline';
    let disk: DeviceMetricsSnapshot['disk'] = null;
    if (d.disk && d.disk.size > 0) {
      disk = { readBytes: 0, writeBytes: 0 };
      for (const v of d.disk.values()) {
        disk.readBytes += v.readBytes;
        disk.writeBytes += v.writeBytes;
      }
    }
    const stageFigure = this.timeline && current ? 'timeline' : 'none';
    const warnings = [...(d.warnings ?? [])];
    if (current?.stalled) warnings.push(`stalled:${current.stage}`);
    for (const ip of d.ambiguousIps ?? []) warnings.push(`ambiguous-ip:${ip}`);
    const conf = this.overallConfidence(d);
    if (conf === 'low') warnings.push('low-confidence-attribution');
    const sources = Object.fromEntries(FIGURES.map((f) => [f, sourceOf(figure(d, f))])) as Record<FigureName, string>;
    sources.installProgress = progress.source;
    sources.stage = stageFigure;
    return {
      mac,
      ts: now,
      connection,
      lastSeen: d.lastSeen,
      network: { rxBytes: d.rxBytes, txBytes: d.txBytes, rxRate: Math.round(d.rx?.rate(now) ?? 0), txRate: Math.round(d.tx?.rate(now) ?? 0) },
      disk,
      installProgress: progress.value,
      stage: current?.stage ?? null,
      outcome: current?.outcome ?? null,
      stalled: current?.stalled ?? false,
      warnings,
      sources,
      attribution: { confidence: conf, ambiguous: FIGURES.some((f) => figure(d, f).ambiguous > 0) },
    };
  }

  all(now = this.clock()): DeviceMetricsSnapshot[] {
    return this.macs().map((mac) => this.get(mac, now)!);
  }

  private progressOf(d: Device, stage: StageName | null, outcome: string | null): { value: number | null; source: string } {
    const fromLog = this.timeline ? this.timeline.installProgress(d.mac) : d.logProgress;
    if (fromLog !== undefined) return { value: fromLog, source: 'log' };
    if (stage === 'kernel' && outcome === 'active') {
      let best: { bytes: number; size: number } | undefined;
      for (const t of this.transfers.inFlight()) {
        if (t.mac === d.mac && t.size && t.size > 0 && (!best || t.size > best.size)) best = { bytes: t.bytes, size: t.size };
      }
      if (best) return { value: Math.min(100, Math.round((best.bytes / best.size) * 1000) / 10), source: 'transfer' };
    }
    return { value: null, source: 'none' };
  }

  private overallConfidence(d: Device): FigureConfidence {
    let worst: FigureConfidence = 'direct';
    for (const f of FIGURES) {
      const w = weakest(figure(d, f));
      if (w && ORDER.indexOf(w) < ORDER.indexOf(worst)) worst = w;
    }
    return worst;
  }

  summary(): FleetSummary {
    const s: FleetSummary = { devices: this.devices.size, booting: 0, stalled: 0, ready: 0, failed: 0, bytesServed: this.bytesServed };
    for (const mac of this.devices.keys()) {
      const c = this.timeline?.current(mac);
      if (!c) continue;
      if (c.outcome === 'failed') s.failed++;
      else if (c.outcome === 'done') s.ready++;
      else if (c.stalled) s.stalled++;
      else {
        const p = this.timeline?.installProgress(mac);
        if ((c.stage === 'os' || c.stage === 'iscsi') && (p === undefined || p >= 100)) s.ready++;
        else s.booting++;
      }
    }
    return s;
  }

  /** Per MAC, per figure: where it came from, how sure the attribution is, and whether ambiguous traffic was withheld. */
  debugView(): Record<string, Record<FigureName, FigureDebug>> {
    const out: Record<string, Record<FigureName, FigureDebug>> = {};
    for (const d of this.devices.values()) {
      const row = {} as Record<FigureName, FigureDebug>;
      for (const f of FIGURES) {
        const fig = figure(d, f);
        row[f] = { source: sourceOf(fig), confidence: weakest(fig), ambiguous: fig.ambiguous > 0, counts: { ...fig.counts } };
      }
      if (this.timeline?.current(d.mac)) row.stage = { ...row.stage, source: 'timeline', confidence: row.connection.confidence };
      out[d.mac] = row;
    }
    return out;
  }

  /** Drops per-device transfer state with no news for a long time (its end event was lost). */
  prune(now = this.clock()): void {
    this.transfers.prune(now, Math.max(this.offlineMs, 600_000));
  }
}

function note(f: Figure, source: Source, conf: FigureConfidence): void {
  f.sources |= 1 << SOURCE_ORDER.indexOf(source);
  f.counts[conf]++;
}
