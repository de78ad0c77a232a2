/**
 * What netboot-metrics sends, without Node-RED: every device's figures and the fleet summary on a
 * timer, a device at once when it changes stage or stalls, and the raw events. Thousands of devices
 * (a storm of distinct MACs) are sent `slice` at a time with the event loop free in between: one
 * synchronous pass over 5000 devices held DHCP answers back by 30 ms or more.
 */
import type { NetbootEvent } from '../events/vocabulary';
import type { DeviceMetricsSnapshot, FleetSummary } from './device-metrics';
import type { MetricsHub } from './hub';

/** Events that change what a device's figures say: that device is sent at once. */
export const DEVICE_CHANGES: ReadonlySet<string> = new Set(['stage', 'stall', 'stall.cleared']);

export interface FleetFeedOptions {
  /** The hub, once the server has one. */
  hub: () => MetricsHub | undefined;
  device(snapshot: DeviceMetricsSnapshot): void;
  fleet(summary: FleetSummary): void;
  event(e: NetbootEvent): void;
  /** Whether anyone takes device snapshots (output 1 wired); the summary is always made. */
  wantsDevices: () => boolean;
  wantsEvents: () => boolean;
  /** Also pass `*.progress` events on (default false: several per second per transfer). */
  progress?: boolean;
  /** Device snapshots per turn of the event loop (default 200). */
  slice?: number;
}

export class FleetFeed {
  private emitting?: NodeJS.Immediate;
  private closed = false;
  private readonly slice: number;

  constructor(private readonly o: FleetFeedOptions) {
    this.slice = Math.max(1, o.slice ?? 200);
  }

  /** One event from the bus: passed on, and its device sent when it changed. */
  onEvent(e: NetbootEvent): void {
    if (this.closed) return;
    if (e.type.endsWith('.progress') && !this.o.progress) return;
    if (this.o.wantsEvents()) this.o.event(e);
    if (DEVICE_CHANGES.has(e.type) && e.mac && this.o.wantsDevices()) {
      const d = this.o.hub()?.device(e.mac);
      if (d) this.o.device(d);
    }
  }

  /** Every device, then the fleet summary; a pass already running is not started twice. */
  emitAll(): void {
    const hub = this.o.hub();
    if (!hub || this.emitting || this.closed) return;
    if (!this.o.wantsDevices()) {
      this.o.fleet(hub.summary());
      return;
    }
    const macs = hub.devices.macs();
    let i = 0;
    const step = () => {
      this.emitting = undefined;
      if (this.closed) return;
      for (const end = Math.min(macs.length, i + this.slice); i < end; i++) {
        const d = hub.devices.get(macs[i]);
        if (d) this.o.device(d);
      }
      if (i < macs.length) this.emitting = setImmediate(step);
      else this.o.fleet(hub.summary());
    };
    step();
  }

  close(): void {
    this.closed = true;
    if (this.emitting) clearImmediate(this.emitting);
    this.emitting = undefined;
  }
}
