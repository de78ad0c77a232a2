import { NetbootError } from '../core/errors';
import { deviceMac, normalizeMac } from '../core/mac';
import type { BootEvent, Device, DeviceCreate, DeviceFields } from './schema';
import type { CheckInFacts, StoreChange, StoreHealth } from './types';

/**
 * What every inventory backend does the same way, whatever holds the records: its listeners, and
 * how a device record is made, patched and touched from validated input. The backends differ only in
 * where they look records up and how a change becomes durable.
 */

/** The `mac` field of a request: a new device's MAC must be one a device can have. */
export function macField(value: unknown, isNew = false): string {
  try {
    return isNew ? deviceMac(value) : normalizeMac(value);
  } catch (err) {
    throw new NetbootError('validation', `field "mac": ${(err as Error).message}`, { field: 'mac' });
  }
}

/** A device id as a lookup key: its MAC normalised, or undefined when it is no MAC (nothing to find). */
export function lookupMac(id: unknown): string | undefined {
  try {
    return normalizeMac(id);
  } catch {
    return undefined;
  }
}

/** A device's other MACs, normalised, without its primary one and without repeats. */
export function otherMacs(primary: string, others: string[] | undefined): string[] {
  const set = new Set<string>();
  for (const [i, m] of (others ?? []).entries()) {
    let mac: string;
    try {
      mac = deviceMac(m);
    } catch (err) {
      throw new NetbootError('validation', `field "macs.${i}": ${(err as Error).message}`, { field: `macs.${i}` });
    }
    if (mac !== primary) set.add(mac);
  }
  return [...set];
}

export function dropUndefined(obj: object): void {
  for (const [k, v] of Object.entries(obj)) if (v === undefined) delete (obj as Record<string, unknown>)[k];
}

/** A new device record from validated input. */
export function newDevice(input: DeviceCreate, mac: string, macs: string[], ts: string): Device {
  const { mac: _m, macs: _ms, ...rest } = input;
  const { site, ...fields } = rest;
  const dev: Device = { ...fields, ...(site ? { site } : {}), mac, macs, labels: input.labels ?? {}, status: input.status ?? 'enrolled', serial: input.serial?.toLowerCase(), uuid: input.uuid?.toLowerCase(), firstSeen: ts, createdAt: ts, updatedAt: ts };
  dropUndefined(dev);
  return dev;
}

/** Applies a validated patch to `dev` in place. */
export function patchDevice(dev: Device, patch: DeviceFields, macs: string[], ts: string): void {
  Object.assign(dev, patch, { macs, updatedAt: ts });
  if (patch.serial) dev.serial = patch.serial.toLowerCase();
  if (patch.uuid) dev.uuid = patch.uuid.toLowerCase();
  if (patch.site === null) delete dev.site;
  dropUndefined(dev);
}

/** A sighting: last seen, address, confirmed facts from a trusted source, and what it reported (kept apart). */
export function touchDevice(dev: Device, facts: CheckInFacts, ts: string): void {
  dev.lastSeen = ts;
  if (facts.site) dev.lastSite = facts.site;
  if (facts.ip) dev.lastIp = facts.ip;
  if (facts.arch) dev.arch = facts.arch;
  if (facts.firmware) dev.firmware = facts.firmware;
  if (facts.hostname && !dev.hostname) dev.hostname = facts.hostname;
  if (facts.reported) {
    const next = { ...(dev.reported ?? {}), ...facts.reported, at: ts };
    dropUndefined(next);
    dev.reported = next;
  }
}

/** A store's change and event listeners; a throwing listener is logged and never breaks the store. */
export class StoreListeners {
  private readonly changes = new Set<(change: StoreChange, id?: string) => void>();
  private readonly health = new Set<(health: StoreHealth) => void>();
  private readonly events = new Set<(event: BootEvent) => void>();

  constructor(private readonly log?: { warn(msg: string): void; error(msg: string): void }) {}

  onChange(listener: (change: StoreChange, id?: string) => void): () => void {
    this.changes.add(listener);
    return () => this.changes.delete(listener);
  }

  onHealth(listener: (health: StoreHealth) => void): () => void {
    this.health.add(listener);
    return () => this.health.delete(listener);
  }

  healthChanged(health: StoreHealth): void {
    for (const l of this.health) {
      try {
        l(health);
      } catch (err) {
        this.log?.error(`inventory health listener: ${(err as Error).message}`);
      }
    }
  }

  onEvent(listener: (event: BootEvent) => void): () => void {
    this.events.add(listener);
    return () => this.events.delete(listener);
  }

  /** `id`: the one record that changed (a device's MAC, a record's id), when it was one. */
  changed(change: StoreChange, id?: string): void {
    for (const l of this.changes) {
      try {
        l(change, id);
      } catch (err) {
        this.log?.error(`inventory change listener: ${(err as Error).message}`);
      }
    }
  }

  appended(event: BootEvent): void {
    for (const l of this.events) {
      try {
        l(event);
      } catch (err) {
        this.log?.warn(`event listener: ${(err as Error).message}`);
      }
    }
  }
}
