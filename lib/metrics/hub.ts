/**
 * One object that ties the metrics layer together: events go in through `publish()`, get a MAC from
 * the attribution table when they lack one, land on the bus, and from there feed the boot timeline,
 * the per-device figures, the Prometheus registry, the optional event log in the store and any SSE
 * clients. `tick()` moves time forward for stall detection; `start()` does it on an unref'd timer.
 */
import { copyFields } from '../core/copy-fields';
import { normalizeMac } from '../core/mac';
import { AttributionTable } from './attribution';
import { EventBus } from '../events/bus';
import { DeviceMetrics, type DeviceMetricsSnapshot, type FigureDebug, type FigureName, type FleetSummary } from './device-metrics';
import { STORED_BY_INVENTORY, groupOf, normalizeEvent, toBootEventRecord, type AttributionSource, type Confidence, type NetbootEvent, type NetbootEventInput } from '../events/vocabulary';
import { PrometheusMetrics } from './prometheus';
import { openEventStream, type SseOptions, type SseRequestLike, type SseResponseLike, type SseStream } from './sse';
import type { PathClassifier } from './stages';
import { BootTimeline, type MachineTimelineJSON } from './timeline';

export interface EventStoreLike {
  appendEvent(event: ReturnType<typeof toBootEventRecord>): Promise<unknown>;
}

export interface MetricsHubOptions {
  /** The bus to publish on (the boot server's); the hub makes its own when absent. */
  bus?: EventBus<NetbootEvent>;
  clock?: () => number;
  /** Events kept for SSE replay (default 1000). */
  bufferSize?: number;
  /** How long an IP → MAC claim counts (default 600 000 ms). */
  attributionWindowMs?: number;
  stallMs?: number;
  failAfterMs?: number;
  /** Boots kept per machine (default 10). */
  maxBoots?: number;
  rateWindowMs?: number;
  onlineMs?: number;
  offlineMs?: number;
  classify?: PathClassifier;
  /** Subscriber and store failures; never thrown into the publisher. */
  onError?: (err: unknown) => void;
  /** Persists events to the inventory's event log (`appendEvent`). */
  store?: EventStoreLike;
  /** The boot server's site name, written on every event published without one. */
  site?: string;
  /** Which events go to the store (default: all but progress, probes and debug logs). */
  persist?: (event: NetbootEvent) => boolean;
}

export interface MetricsDebugView {
  devices: Record<string, Record<FigureName, FigureDebug>>;
  attribution: { ip: string; mac: string; source: AttributionSource; confidence: Confidence; ts: number }[];
}

export function defaultPersist(e: NetbootEvent): boolean {
  // protocol detail is not kept; record events and boot logs are written by the inventory itself
  const group = groupOf(e.type);
  // record events the inventory writes itself are not stored twice; secureboot.suspected is stored here
  if (group === 'protocol' || group === 'server' || STORED_BY_INVENTORY.has(e.type)) return false;
  if (e.type === 'tftp.progress' || e.type === 'http.progress' || e.type === 'tftp.probe') return false;
  if (e.type === 'boot.log' && e.level === 'debug') return false;
  return true;
}

export class MetricsHub {
  readonly bus: EventBus<NetbootEvent>;
  readonly attribution: AttributionTable;
  readonly timeline: BootTimeline;
  readonly devices: DeviceMetrics;
  readonly prometheus: PrometheusMetrics;
  private readonly clock: () => number;
  private readonly site?: string;
  private readonly onError: (err: unknown) => void;
  private readonly streams = new Set<SseStream>();
  private timer?: ReturnType<typeof setInterval>;
  private closed = false;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(options: MetricsHubOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.site = options.site;
    this.onError = options.onError ?? (() => undefined);
    this.bus = options.bus ?? new EventBus<NetbootEvent>({ capacity: options.bufferSize ?? 1000, onError: (err) => this.onError(err) });
    this.attribution = new AttributionTable({ windowMs: options.attributionWindowMs, clock: this.clock });
    this.timeline = new BootTimeline({
      stallMs: options.stallMs, failAfterMs: options.failAfterMs, maxBoots: options.maxBoots, clock: this.clock, classify: options.classify,
      emit: (ev) => {
        if (this.site && ev.site === undefined) {
          const sited = copyFields(ev);
          sited.site = this.site;
          this.bus.publish(sited);
        } else this.bus.publish(ev);
      },
    });
    this.devices = new DeviceMetrics({ rateWindowMs: options.rateWindowMs, onlineMs: options.onlineMs, offlineMs: options.offlineMs, clock: this.clock, timeline: this.timeline });
    this.prometheus = new PrometheusMetrics({ fleet: () => this.devices.summary() });

    // order matters only for reading: the timeline first, so device figures see the new stage;
    // protocol detail (ignored packets, option negotiation) is no machine's activity
    const machineEvent = (e: NetbootEvent) => { const g = groupOf(e.type); return g !== 'protocol' && g !== 'server'; };
    this.unsubscribe.push(
      this.bus.subscribe((e) => this.timeline.observe(e), machineEvent),
      this.bus.subscribe((e) => this.devices.observe(e), (e) => machineEvent(e) && groupOf(e.type) !== 'record'),
      this.bus.subscribe((e) => this.prometheus.observe(e)),
    );
    const store = options.store;
    if (store) {
      const persist = options.persist ?? defaultPersist;
      this.unsubscribe.push(this.bus.subscribe((e) => {
        if (!persist(e)) return;
        store.appendEvent(toBootEventRecord(e)).catch((err: unknown) => this.onError(err));
      }));
    }
  }

  /**
   * Validates an event (throws `NetbootError` on bad input), fills its MAC from the IP when it has
   * none, and publishes it. Returns the stored event and its sequence number; nothing after close.
   */
  publish(input: NetbootEventInput | NetbootEvent): { seq: number; event: NetbootEvent } | undefined {
    if (this.closed) return undefined;
    const raw = normalizeEvent(input, this.clock());
    if (this.site && raw.site === undefined) raw.site = this.site;
    this.attribution.observe(raw);
    const event = this.attribution.fill(raw);
    const seq = this.bus.publish(event);
    return { seq, event };
  }

  /** Raises due stalls and drops stale state; call periodically (or use `start`). */
  tick(now = this.clock()): void {
    if (this.closed) return;
    this.timeline.tick(now);
    this.devices.prune(now);
    this.prometheus.prune(now);
    this.attribution.prune(now);
  }

  /** Calls `tick()` every `intervalMs` on a timer that does not keep the process alive. */
  start(intervalMs = 5000): void {
    if (this.closed || this.timer) return;
    this.timer = setInterval(() => {
      try {
        this.tick();
      } catch (err) {
        this.onError(err);
      }
    }, intervalMs);
    this.timer.unref?.();
  }

  /** `/netboot/api/devices/<mac>/timeline`; throws `invalid_mac` for a bad MAC. */
  timelineOf(mac: string): MachineTimelineJSON | undefined {
    return this.timeline.toJSON(normalizeMac(mac), this.clock());
  }

  device(mac: string): DeviceMetricsSnapshot | undefined {
    return this.devices.get(normalizeMac(mac), this.clock());
  }

  allDevices(): DeviceMetricsSnapshot[] {
    return this.devices.all(this.clock());
  }

  summary(): FleetSummary {
    return this.devices.summary();
  }

  /** `/netboot/api/metrics/debug`: per MAC and figure, source / confidence / ambiguity, plus the live IP table. */
  debugView(): MetricsDebugView {
    return { devices: this.devices.debugView(), attribution: this.attribution.entries(this.clock()) };
  }

  /** Prometheus text exposition and its content type. */
  async metrics(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.prometheus.contentType, text: await this.prometheus.metrics() };
  }

  /** Serves the event stream (`/netboot/api/events`) on a response; closed with the hub. */
  stream(req: SseRequestLike, res: SseResponseLike, options: SseOptions<NetbootEvent> = {}): SseStream {
    const s = openEventStream(this.bus, req, res, options);
    if (this.closed) {
      s.close();
      return s;
    }
    this.streams.add(s);
    res.on('close', () => this.streams.delete(s));
    return s;
  }

  /** Stops the timer, ends every SSE stream and drops subscribers. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const s of this.streams) s.close();
    this.streams.clear();
    // the bus may outlive the hub (the boot server's): drop only what the hub subscribed
    for (const off of this.unsubscribe.splice(0)) off();
  }
}
