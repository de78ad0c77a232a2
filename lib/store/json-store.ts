import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Low } from 'lowdb';
import { NetbootError } from '../core/errors';
import { copyFields } from '../core/copy-fields';
import { normalizeMac } from '../core/mac';
import { DurableJsonFile } from './durable-file';
import { lookupMac, macField, newDevice, otherMacs, patchDevice, StoreListeners, touchDevice } from './device-rules';
import { EventLog } from './event-log';
import { Journal, type JournalKey } from './journal';
import { migrate } from './migrate';
import {
  assertValid, DEFAULT_SETTINGS, DeviceCreate, DeviceFields, emptyInventory, GroupCreate, GroupFields, ImageCreate, ImageFields,
  ProfileCreate, ProfileFields, Settings, ConfigCreate, ConfigFields,
  type BootEvent, type Build, type ConfigDoc, type Device, type Group, type Image, type InventoryData, type Profile, type Session, type StoredBoot,
} from './schema';
import type {
  BuildInput, CheckInFacts, Collection, ConfigInput, GroupInput, ImageInput, InventoryExport, InventoryStore, ListQuery, MachineKeys, Page, ProfileInput, SessionInput, StoreChange, StoreHealth,
} from './types';
import { Type } from '@sinclair/typebox';

export interface JsonStoreOptions {
  /** Injected clock (ISO strings in records come from it). */
  now?: () => Date;
  /** Where a note about a quarantined corrupt file goes. */
  log?: { info?(msg: string): void; warn(msg: string): void; error(msg: string): void };
  /** The site name of the boot server, written on every event it appends that has none. */
  site?: string;
  /** The journal is written into the file whole once it is past this many bytes and the file's size (default 4 MiB). */
  journalBytes?: number;
}

export interface OpenReport {
  /** Set when the file could not be parsed: where it was moved. The store then starts empty. */
  quarantined?: string;
  /** Set when a temp file from an interrupted write was removed. */
  removedLeftover?: boolean;
  /** Set when the file was migrated from an older schema version. */
  migratedFrom?: number;
}

const MAX_LIMIT = 1000;
/** Sightings (check-ins) reach the disk within this long (see writeSightingsSoon). */
const SIGHTING_WRITE_MS = 500;
const DEFAULT_LIMIT = 100;

/**
 * The JSON-file inventory: lowdb holds the document in memory; every mutation is applied in memory,
 * then the records it changed are appended to a journal beside the file (`inventory.journal.jsonl`,
 * one line per record, fsync'ed). From time to time the whole document is written again with
 * `DurableJsonFile` (temp file, fsync, rename) and the journal emptied (see journal.ts). Writes are
 * coalesced: mutations that arrive while a write is in flight go out together in the next one, and
 * each mutation's promise resolves only after a write that contains it has reached the disk. That
 * resolution is the acknowledgement. One change costs its record's line, not the whole file.
 */
export class JsonInventoryStore implements InventoryStore {
  readonly file: string;
  report: OpenReport = {};
  private db!: Low<InventoryData>;
  private readonly adapter: DurableJsonFile<InventoryData>;
  private readonly now: () => Date;
  private readonly log?: JsonStoreOptions['log'];
  private writing: Promise<void> | null = null;
  private waiting: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private closed = false;
  private eventLog!: EventLog;
  private readonly openedAt = new Date().toISOString();
  private sightingTimer?: NodeJS.Timeout;
  private readonly site?: string;
  private journal!: Journal;
  /** Records changed in memory and not yet in a write; a whole-file write is due when `snapshotDue`. */
  private dirty = new Map<string, JournalKey>();
  private snapshotDue = false;
  private readonly journalBytes?: number;

  readonly devices: InventoryStore['devices'];
  readonly images: Collection<Image, ImageInput, Partial<ImageInput>>;
  readonly profiles: Collection<Profile, ProfileInput, Partial<ProfileInput>>;
  readonly groups: Collection<Group, GroupInput, Partial<GroupInput>>;
  readonly sessions: Collection<Session, SessionInput, Partial<SessionInput>>;
  readonly builds: Collection<Build, BuildInput, Partial<BuildInput>>;
  readonly configs: Collection<ConfigDoc, ConfigInput, Partial<ConfigInput>>;

  private constructor(file: string, opts: JsonStoreOptions) {
    this.file = file;
    this.adapter = new DurableJsonFile<InventoryData>(file);
    this.now = opts.now ?? (() => new Date());
    this.log = opts.log;
    this.site = opts.site;
    this.journalBytes = opts.journalBytes;
    this.listeners = new StoreListeners(opts.log);
    this.devices = this.makeDevices();
    this.images = this.makeRecords('images', 'image', ImageCreate, ImageFields, (d) => this.refsTo('imageId', d.id));
    this.profiles = this.makeRecords('profiles', 'profile', ProfileCreate, ProfileFields, (d) => this.refsTo('profileId', d.id));
    this.groups = this.makeRecords('groups', 'group', GroupCreate, GroupFields, () => undefined);
    this.sessions = this.makeRecords('sessions', 'session', Type.Any(), Type.Any(), () => undefined);
    this.builds = this.makeRecords('builds', 'build', Type.Any(), Type.Any(), () => undefined);
    this.configs = this.makeRecords('configs', 'config', ConfigCreate, ConfigFields, (c) => this.configUsers(c.id));
  }

  static async open(file: string, opts: JsonStoreOptions = {}): Promise<JsonInventoryStore> {
    const store = new JsonInventoryStore(path.resolve(file), opts);
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    await fsp.mkdir(path.dirname(this.file), { recursive: true });
    const { Low } = await import('lowdb');
    this.db = new Low<InventoryData>(this.adapter, emptyInventory());
    this.report.removedLeftover = await this.adapter.removeLeftover();
    let raw: unknown;
    try {
      raw = await this.adapter.read();
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw new NetbootError('store_io', `reading ${this.file}: ${(err as Error).message}`, { file: this.file }, { cause: err });
      const aside = `${this.file}.corrupt-${this.now().toISOString().replace(/[:.]/g, '-')}`;
      await fsp.rename(this.file, aside);
      // its journal belongs to it: moved aside with it, never replayed onto the empty inventory
      const movedJournal = await fsp.rename(this.journalFile, aside.replace(/\.json\.corrupt-/, '.journal.jsonl.corrupt-')).then(() => true, () => false);
      this.report.quarantined = aside;
      this.log?.error(`inventory ${this.file} is not valid JSON (${err.message}); it was moved to ${aside}${movedJournal ? ' (its journal beside it)' : ''} and an empty inventory was started. Restore it by fixing that file and moving it back (with its journal) while Node-RED is stopped.`);
      raw = null;
    }
    if (raw === null) {
      this.db.data = emptyInventory();
      this.journal = await Journal.open(this.journalFile, 0, this.log, this.journalBytes);
      await this.openEventLog();
      this.snapshotDue = true;
      await this.write();
      return;
    }
    const { data, from } = migrate(raw, this.file);
    this.db.data = data;
    // the changes acknowledged since the file was last written whole
    this.journal = await Journal.open(this.journalFile, data.journalSeq ?? 0, this.log, this.journalBytes);
    const replayed = this.journal.replay(data);
    if (replayed) this.log?.info?.(`inventory ${this.file}: ${replayed} change(s) replayed from ${this.journalFile}`);
    await this.openEventLog();
    if (data.events !== undefined || data.eventSeq !== undefined) {
      // schema 2 kept the event log inside this file: move it to its own file first
      await this.eventLog.importOld(Array.isArray(data.events) ? data.events : []);
      delete data.events;
      delete data.eventSeq;
    }
    if (from !== data.schemaVersion) {
      this.report.migratedFrom = from;
      this.snapshotDue = true;
      await this.write();
    }
  }

  /** `inventory.json` → `inventory.journal.jsonl` beside it. */
  get journalFile(): string {
    return this.file.replace(/\.json$/, '') + '.journal.jsonl';
  }

  /** `inventory.json` → `inventory.events.jsonl` beside it. */
  get eventFile(): string {
    return this.file.replace(/\.json$/, '') + '.events.jsonl';
  }

  private async openEventLog(): Promise<void> {
    this.eventLog = await EventLog.open(this.eventFile, this.db.data.settings?.eventLogLimit ?? DEFAULT_SETTINGS.eventLogLimit);
    if (this.eventLog.skipped) this.log?.warn(`event log ${this.eventFile}: skipped ${this.eventLog.skipped} unreadable line(s) (a crash mid-write)`);
  }

  // ---- writing --------------------------------------------------------------------------------

  private get data(): InventoryData {
    if (this.closed) throw new NetbootError('store_io', `inventory ${this.file} is closed`);
    return this.db.data;
  }

  /** Applies `fn` in memory (it must validate before it changes anything), then waits for the disk. */
  private async mutate<R>(fn: (data: InventoryData) => R, changed?: StoreChange, id?: string | ((result: R) => string), key?: JournalKey): Promise<R> {
    const result = fn(this.data);
    const which = typeof id === 'function' ? id(result) : id;
    if (key) this.markDirty(key);
    // a change that names no record (an import) writes the file whole
    else if (changed === 'all' || (changed && changed !== 'settings' && which === undefined)) this.snapshotDue = true;
    else if (changed) this.markDirty({ c: changed, id: which });
    await this.write();
    if (changed) this.notify(changed, which);
    return result;
  }

  private markDirty(key: JournalKey): void {
    this.dirty.set(`${key.c}\n${key.id ?? ''}`, key);
  }

  private readonly listeners: StoreListeners;

  onEvent(listener: (event: BootEvent) => void): () => void {
    return this.listeners.onEvent(listener);
  }

  onChange(listener: (change: StoreChange, id?: string) => void): () => void {
    return this.listeners.onChange(listener);
  }

  health(): StoreHealth {
    return { state: 'ok', since: this.openedAt };
  }

  onHealth(listener: (health: StoreHealth) => void): () => void {
    return this.listeners.onHealth(listener);
  }

  /** Tells listeners after the change is durable; a throwing listener never breaks the write. */
  private notify(change: StoreChange, id?: string): void {
    this.listeners.changed(change, id);
  }

  private write(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.writing || this.waiting.length === 0) return;
    const batch = this.waiting.splice(0);
    this.writing = this.persist().then(
      () => batch.forEach((w) => w.resolve()),
      (err: unknown) => {
        const e = new NetbootError('store_io', `writing ${this.file}: ${(err as Error).message}`, { file: this.file, errno: (err as NodeJS.ErrnoException).code }, { cause: err });
        this.log?.error(e.message);
        batch.forEach((w) => w.reject(e));
      },
    ).finally(() => {
      this.writing = null;
      this.pump();
    });
  }

  /**
   * Writes what changed: the dirty records as journal lines, or the whole document when that is
   * due (a new file, a migration, an import, or a journal grown past its share; see Journal).
   */
  private async persist(): Promise<void> {
    const keys = [...this.dirty.values()];
    this.dirty.clear();
    try {
      if (this.snapshotDue || this.journal.wantsSnapshot(this.adapter.lastBytes)) {
        this.snapshotDue = false;
        this.db.data.journalSeq = this.journal.seq;
        await this.db.write();
        await this.journal.reset();
        return;
      }
      if (keys.length) await this.journal.append(keys.map((k) => this.journal.entry(this.db.data, k)));
    } catch (err) {
      // nothing of it is acknowledged: the next write carries these records again
      for (const k of keys) this.markDirty(k);
      throw err;
    }
  }

  /**
   * Check-ins record sightings (last seen, address, what the machine reported) in memory and have
   * them written within SIGHTING_WRITE_MS instead of waiting for the disk: a check-in answers at
   * once, and a boot storm's sightings go out in a few whole-file writes instead of one each. A
   * crash can lose the last half second of sightings, never an acknowledged change (every change
   * writes the whole document, sightings included).
   */
  private writeSightingsSoon(): void {
    if (this.sightingTimer || this.closed) return;
    this.sightingTimer = setTimeout(() => {
      this.sightingTimer = undefined;
      // a failure is logged by pump(), and the next write carries the sightings again
      if (!this.closed) this.write().catch(() => undefined);
    }, SIGHTING_WRITE_MS);
    this.sightingTimer.unref();
  }

  async flush(): Promise<void> {
    if (this.sightingTimer) {
      clearTimeout(this.sightingTimer);
      this.sightingTimer = undefined;
      await this.write().catch(() => undefined);
    }
    while (this.writing || this.waiting.length) await (this.writing ?? this.write());
    await this.eventLog?.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush().catch(() => undefined);
    await this.eventLog?.close();
    await this.journal?.close();
    this.closed = true;
  }

  private stamp(): string {
    return this.now().toISOString();
  }

  // ---- devices --------------------------------------------------------------------------------

  /** Devices by each of their MACs; rebuilt when the devices array is replaced (import, open). */
  private macIndex = new Map<string, Device>();
  private macIndexOf?: Device[];

  private findByMac(data: InventoryData, mac: string): Device | undefined {
    if (this.macIndexOf !== data.devices) {
      this.macIndex.clear();
      for (const d of data.devices) this.indexMacs(d);
      this.macIndexOf = data.devices;
    }
    const hit = this.macIndex.get(mac);
    // the index is kept by create, update and remove; a record changed any other way is found anyway
    if (hit && (hit.mac === mac || hit.macs.includes(mac))) return hit;
    const found = data.devices.find((d) => d.mac === mac || d.macs.includes(mac));
    if (found) this.macIndex.set(mac, found);
    return found;
  }

  private indexMacs(d: Device): void {
    this.macIndex.set(d.mac, d);
    for (const m of d.macs) this.macIndex.set(m, d);
  }

  private unindexMacs(d: Device): void {
    for (const m of [d.mac, ...d.macs]) if (this.macIndex.get(m) === d) this.macIndex.delete(m);
  }

  private checkRefs(data: InventoryData, rec: { imageId?: string | null; profileId?: string | null }): void {
    if (rec.imageId && !data.images.some((i) => i.id === rec.imageId)) {
      throw new NetbootError('validation', `field "imageId": no image "${rec.imageId}"`, { field: 'imageId' });
    }
    if (rec.profileId && !data.profiles.some((p) => p.id === rec.profileId)) {
      throw new NetbootError('validation', `field "profileId": no profile "${rec.profileId}"`, { field: 'profileId' });
    }
  }

  /** Config ids a profile or group names must exist. */
  private checkConfigRefs(data: InventoryData, rec: { configs?: string[] }): void {
    for (const id of rec.configs ?? []) {
      if (!(data.configs ?? []).some((c) => c.id === id)) throw new NetbootError('validation', `field "configs": no config document "${id}"`, { field: 'configs' });
    }
  }

  private configUsers(id: string): string | undefined {
    const p = this.data.profiles.find((x) => x.configs?.includes(id));
    if (p) return `profile ${p.id}`;
    const g = this.data.groups.find((x) => x.configs?.includes(id));
    return g ? `group ${g.id}` : undefined;
  }

  private refsTo(field: 'imageId' | 'profileId', id: string): string | undefined {
    const data = this.data;
    const dev = data.devices.find((d) => d[field] === id || d.bootOnce?.[field] === id);
    if (dev) return `device ${dev.mac}`;
    const grp = data.groups.find((g) => g[field] === id);
    if (grp) return `group ${grp.id}`;
    return undefined;
  }

  private makeDevices(): InventoryStore['devices'] {
    return {
      list: async (query) => page(this.data.devices, query, deviceText),
      get: async (id) => {
        const mac = lookupMac(id);
        if (!mac) return undefined;
        // a copy, as every other read: a caller that edits what it got must not edit the store
        return structuredCloneOpt(this.findByMac(this.data, mac));
      },
      find: async (keys: MachineKeys) => {
        const byMac = keys.mac ? this.findByMac(this.data, normalizeMac(keys.mac)) : undefined;
        return structuredCloneOpt(byMac ?? findDevice(this.data.devices, { ...keys, mac: undefined }));
      },
      create: async (input) => {
        assertValid(DeviceCreate, input, 'device');
        const mac = macField(input.mac, true);
        return this.mutate((data) => {
          const macs = otherMacs(mac, input.macs);
          for (const m of [mac, ...macs]) {
            const other = this.findByMac(data, m);
            if (other) throw new NetbootError('conflict', `device with MAC ${m} already exists (${other.mac})`, { field: 'mac', id: other.mac });
          }
          this.checkRefs(data, input);
          const dev = newDevice(input, mac, macs, this.stamp());
          data.devices.push(dev);
          this.indexMacs(dev);
          return structuredClone(dev);
        }, 'devices', (d) => d.mac);
      },
      update: async (id, patch) => {
        assertValid(DeviceFields, patch, 'device');
        const mac = macField(id);
        return this.mutate((data) => {
          const dev = this.findByMac(data, mac);
          if (!dev) throw new NetbootError('not_found', `no device ${mac}`, { id: mac });
          const macs = patch.macs === undefined ? dev.macs : otherMacs(dev.mac, patch.macs);
          for (const m of macs) {
            const other = this.findByMac(data, m);
            if (other && other !== dev) throw new NetbootError('conflict', `MAC ${m} belongs to device ${other.mac}`, { field: 'macs', id: other.mac });
          }
          this.checkRefs(data, patch);
          this.unindexMacs(dev);
          patchDevice(dev, patch, macs, this.stamp());
          this.indexMacs(dev);
          return structuredClone(dev);
        }, 'devices', (d) => d.mac);
      },
      remove: async (id) => {
        const mac = macField(id);
        return this.mutate((data) => {
          const i = data.devices.findIndex((d) => d.mac === mac);
          if (i < 0) throw new NetbootError('not_found', `no device ${mac}`, { id: mac });
          this.unindexMacs(data.devices[i]);
          data.devices.splice(i, 1);
        }, 'devices', mac);
      },
      touch: async (id, facts: CheckInFacts) => {
        const mac = macField(id);
        const dev = this.findByMac(this.data, mac);
        if (!dev) throw new NetbootError('not_found', `no device ${mac}`, { id: mac });
        touchDevice(dev, facts, this.stamp());
        this.markDirty({ c: 'devices', id: dev.mac });
        // a sighting is not waited for (see writeSightingsSoon)
        this.writeSightingsSoon();
        return structuredClone(dev);
      },
    };
  }

  // ---- records with ids -----------------------------------------------------------------------

  private makeRecords<K extends 'images' | 'profiles' | 'groups' | 'sessions' | 'configs' | 'builds', T extends NonNullable<InventoryData[K]>[number]>(
    key: K,
    what: string,
    createSchema: Parameters<typeof assertValid>[0],
    patchSchema: Parameters<typeof assertValid>[0],
    inUse: (rec: T) => string | undefined,
  ): Collection<T, any, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const list = (data: InventoryData) => data[key] as unknown as T[];
    return {
      list: async (query) => page(list(this.data), query, (r) => `${r.id} ${(r as { name?: string }).name ?? ''}`),
      get: async (id) => structuredCloneOpt(list(this.data).find((r) => r.id === id)),
      create: async (input: Record<string, unknown>) => {
        assertValid(createSchema, input, what);
        return this.mutate((data) => {
          const items = list(data);
          const id = (input.id as string | undefined) ?? uniqueId(items, (input.name as string | undefined) ?? what);
          if (items.some((r) => r.id === id)) throw new NetbootError('conflict', `${what} "${id}" already exists`, { field: 'id', id });
          if (key === 'groups') this.checkRefs(data, input as { imageId?: string; profileId?: string });
          if (key === 'groups' || key === 'profiles') this.checkConfigRefs(data, input as { configs?: string[] });
          if (key === 'groups' && input.isDefault && data.groups.some((g) => g.isDefault)) {
            throw new NetbootError('conflict', `a default group already exists (${data.groups.find((g) => g.isDefault)!.id})`, { field: 'isDefault' });
          }
          const ts = this.stamp();
          const rec = { ...input, id, createdAt: ts, updatedAt: ts } as unknown as T;
          items.push(rec);
          return structuredClone(rec);
        }, key, (r) => r.id);
      },
      update: async (id, patch: Record<string, unknown>) => {
        if (key !== 'sessions' && key !== 'builds') assertValid(Type.Partial(patchSchema as ReturnType<typeof Type.Object>), patch, what);
        if ('id' in patch && patch.id !== id) throw new NetbootError('validation', `${what}: field "id": cannot be changed`, { field: 'id' });
        return this.mutate((data) => {
          const rec = list(data).find((r) => r.id === id);
          if (!rec) throw new NetbootError('not_found', `no ${what} "${id}"`, { id });
          if (key === 'groups') this.checkRefs(data, patch as { imageId?: string; profileId?: string });
          if (key === 'groups' || key === 'profiles') this.checkConfigRefs(data, patch as { configs?: string[] });
          Object.assign(rec, patch, { id, updatedAt: this.stamp() });
          return structuredClone(rec);
        }, key, id);
      },
      remove: async (id) => this.mutate((data) => {
        const items = list(data);
        const i = items.findIndex((r) => r.id === id);
        if (i < 0) throw new NetbootError('not_found', `no ${what} "${id}"`, { id });
        const user = inUse(items[i]);
        if (user) throw new NetbootError('conflict', `${what} "${id}" is in use by ${user}`, { id });
        items.splice(i, 1);
      }, key, id),
    };
  }

  // ---- the build queue ------------------------------------------------------------------------

  /** One process holds the file, so taking a build is a plain in-memory step (the same rule as PostgreSQL's claim). */
  async claimBuild(owner: string, leaseMs: number): Promise<Build | undefined> {
    const now = this.now();
    const builds = this.data.builds ?? [];
    const lapsed = (b: Build) => b.status === 'building' && b.leaseUntil !== undefined && b.leaseUntil < now.toISOString();
    const next = builds.find((b) => b.status === 'pending') ?? builds.find(lapsed);
    if (!next) return undefined;
    return this.mutate(() => {
      Object.assign(next, {
        status: 'building', claimedBy: owner, leaseUntil: new Date(now.getTime() + leaseMs).toISOString(),
        startedAt: next.startedAt ?? now.toISOString(), attempts: (next.attempts ?? 0) + 1, updatedAt: now.toISOString(),
      } satisfies Partial<Build>);
      return structuredClone(next);
    }, 'builds', (b) => b.id);
  }

  async renewBuild(id: string, owner: string, leaseMs: number): Promise<boolean> {
    const b = (this.data.builds ?? []).find((x) => x.id === id);
    if (b?.status !== 'building' || b.claimedBy !== owner) return false;
    // a lease is not news: no change announced
    await this.mutate(() => {
      b.leaseUntil = new Date(this.now().getTime() + leaseMs).toISOString();
    }, undefined, undefined, { c: 'builds', id });
    return true;
  }

  // ---- events, settings, export ---------------------------------------------------------------

  async appendEvent(event: Omit<BootEvent, 'seq' | 'ts'> & { ts?: string }): Promise<BootEvent> {
    if (this.closed) throw new NetbootError('store_io', `inventory ${this.file} is closed`);
    const rec = copyFields(event) as typeof event & { ts: string };
    rec.ts = event.ts ?? this.stamp();
    if (rec.mac) rec.mac = normalizeMac(rec.mac);
    if (!rec.site && this.site) rec.site = this.site;
    const stored = await this.eventLog.append(rec);
    this.listeners.appended(stored);
    return stored;
  }

  eventBytes(mac: string, type: string): number {
    return this.eventLog.bytesOf(normalizeMac(mac), type);
  }

  /** Events dropped by the event log's byte cap since the store was opened. */
  get eventsEvicted(): number {
    return this.eventLog.evicted;
  }

  async listEvents(query: { mac?: string; site?: string; afterSeq?: number; limit?: number } = {}): Promise<BootEvent[]> {
    if (this.closed) throw new NetbootError('store_io', `inventory ${this.file} is closed`);
    const mac = query.mac ? normalizeMac(query.mac) : undefined;
    return this.eventLog.list({ mac, site: query.site, afterSeq: query.afterSeq, limit: clampLimit(query.limit) });
  }

  recordBoot(boot: StoredBoot): Promise<void> {
    const mac = normalizeMac(boot.mac);
    return this.mutate((data) => {
      const keep = data.settings.bootsKeptPerDevice ?? DEFAULT_SETTINGS.bootsKeptPerDevice;
      const i = data.boots.findIndex((b) => b.mac === mac && b.id === boot.id);
      const rec = structuredClone({ ...boot, mac });
      if (i >= 0) data.boots[i] = rec; else data.boots.push(rec);
      const mine = data.boots.filter((b) => b.mac === mac);
      if (mine.length > keep) {
        const drop = new Set(mine.slice(0, mine.length - keep));
        data.boots = data.boots.filter((b) => !drop.has(b));
      }
    }, undefined, undefined, { c: 'boots', id: mac });
  }

  async listBoots(mac: string): Promise<StoredBoot[]> {
    const m = normalizeMac(mac);
    return structuredClone(this.data.boots.filter((b) => b.mac === m));
  }

  async bootsSince(sinceMs: number): Promise<StoredBoot[]> {
    return structuredClone(this.data.boots.filter((b) => b.startedAt >= sinceMs)).sort((a, b) => a.startedAt - b.startedAt);
  }

  async getSettings(): Promise<Required<Settings>> {
    return { ...DEFAULT_SETTINGS, ...this.data.settings };
  }

  async updateSettings(patch: Settings): Promise<Required<Settings>> {
    assertValid(Settings, patch, 'settings');
    await this.mutate((data) => Object.assign(data.settings, patch), 'settings');
    if (patch.eventLogLimit) this.eventLog.setLimit(patch.eventLogLimit);
    return this.getSettings();
  }

  async exportAll(): Promise<InventoryExport> {
    const d = this.data;
    return structuredClone({
      format: 'netboot-inventory', schemaVersion: d.schemaVersion, exportedAt: this.stamp(),
      devices: d.devices, images: d.images, profiles: d.profiles, groups: d.groups, sessions: d.sessions, configs: d.configs ?? [], settings: d.settings,
    });
  }

  async importAll(doc: unknown, mode: 'replace' | 'merge' = 'replace', opts: { keepReported?: boolean } = {}) {
    const incoming = checkImport(doc, opts.keepReported);
    return this.mutate((data) => {
      const next: InventoryData = mode === 'replace'
        ? { ...data, devices: [], images: [], profiles: [], groups: [], sessions: [], configs: [], settings: {} }
        : structuredClone(data);
      const put = <T extends { id: string }>(items: T[], rec: T) => {
        const i = items.findIndex((r) => r.id === rec.id);
        if (i >= 0) items[i] = rec; else items.push(rec);
      };
      incoming.images.forEach((r) => put(next.images, r));
      incoming.profiles.forEach((r) => put(next.profiles, r));
      incoming.groups.forEach((r) => put(next.groups, r));
      incoming.sessions.forEach((r) => put(next.sessions, r));
      next.configs ??= [];
      (incoming.configs ?? []).forEach((r) => put(next.configs!, r));
      for (const dev of incoming.devices) {
        const i = next.devices.findIndex((d) => d.mac === dev.mac);
        if (i >= 0) next.devices[i] = dev; else next.devices.push(dev);
      }
      for (const dev of next.devices) this.checkRefs(next, dev);
      Object.assign(next.settings, incoming.settings);
      Object.assign(data, next);
      return { devices: incoming.devices.length, images: incoming.images.length, profiles: incoming.profiles.length, groups: incoming.groups.length };
    }, 'all');
  }
}

// ---- helpers ------------------------------------------------------------------------------------

/** `keepReported`: a copy between stores (netboot-store copy) keeps what machines reported; an import through the API drops it. */
export function checkImport(doc: unknown, keepReported = false): Omit<InventoryExport, 'format' | 'schemaVersion' | 'exportedAt'> {
  if (!doc || typeof doc !== 'object' || (doc as { format?: unknown }).format !== 'netboot-inventory') {
    throw new NetbootError('validation', 'import: field "format": must be "netboot-inventory"', { field: 'format' });
  }
  const d = doc as Partial<InventoryExport>;
  const arr = <T>(name: string, v: unknown): T[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new NetbootError('validation', `import: field "${name}": must be an array`, { field: name });
    return v as T[];
  };
  const stampFields = Type.Object({ createdAt: Type.Optional(Type.String()), updatedAt: Type.Optional(Type.String()) });
  const devices = arr<Device>('devices', d.devices).map((dev, i) => {
    // `reported` is what machines said, not something an import may set: it is dropped
    const { firstSeen, lastSeen, lastIp, createdAt, updatedAt, reported, ...fields } = dev;
    assertValid(DeviceCreate, fields, `import: devices.${i}`);
    const mac = normalizeMac(dev.mac);
    const now = new Date().toISOString();
    return {
      ...fields, mac, macs: (fields.macs ?? []).map((m) => normalizeMac(m)), labels: fields.labels ?? {}, status: fields.status ?? 'enrolled', firstSeen: firstSeen ?? now, lastSeen, lastIp, createdAt: createdAt ?? now, updatedAt: updatedAt ?? now,
      ...(keepReported && reported && typeof reported === 'object' ? { reported: structuredClone(reported) } : {}),
    };
  });
  const recs = <T extends { id: string }>(name: string, schema: Parameters<typeof assertValid>[0]): T[] =>
    arr<T>(name, (d as Record<string, unknown>)[name]).map((r, i) => {
      assertValid(Type.Composite([schema as ReturnType<typeof Type.Object>, stampFields], { additionalProperties: false }), r, `import: ${name}.${i}`);
      if (typeof r.id !== 'string' || !r.id) throw new NetbootError('validation', `import: field "${name}.${i}.id": required`, { field: `${name}.${i}.id` });
      return r;
    });
  const settings = d.settings ?? {};
  assertValid(Settings, settings, 'import: settings');
  return {
    devices,
    images: recs<Image>('images', ImageCreate),
    profiles: recs<Profile>('profiles', ProfileCreate),
    groups: recs<Group>('groups', GroupCreate),
    sessions: arr<Session>('sessions', d.sessions),
    configs: recs<ConfigDoc>('configs', ConfigCreate),
    settings,
  };
}

/** What a device list's `q` searches in. */
export function deviceText(d: Device): string {
  return [d.mac, ...d.macs, d.hostname ?? '', d.serial ?? '', d.serviceTag ?? ''].join(' ');
}

export function findDevice(devices: Device[], keys: MachineKeys): Device | undefined {
  let hit: Device | undefined;
  if (keys.mac) {
    const mac = normalizeMac(keys.mac);
    hit = devices.find((d) => d.mac === mac || d.macs.includes(mac));
  }
  if (!hit && keys.uuid) {
    const uuid = keys.uuid.toLowerCase();
    hit = devices.find((d) => d.uuid === uuid);
  }
  if (!hit && keys.serial) {
    const serial = keys.serial.toLowerCase().replace(/^10000000/, '');
    hit = devices.find((d) => d.serial !== undefined && d.serial.replace(/^10000000/, '') === serial);
  }
  if (!hit && keys.serviceTag) {
    const tag = keys.serviceTag.toLowerCase();
    hit = devices.find((d) => d.serviceTag?.toLowerCase() === tag);
  }
  return structuredCloneOpt(hit);
}

export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_LIMIT;
  return Math.max(1, Math.min(MAX_LIMIT, Math.floor(limit)));
}

export function page<T extends object>(items: T[], query: ListQuery = {}, haystack: (t: T) => string): Page<T> {
  const filter = query.filter ?? {};
  const matches = items.filter((item) => Object.entries(filter).every(([k, v]) => {
    if (k === 'q') return haystack(item).toLowerCase().includes(v.toLowerCase());
    if (k.startsWith('label.')) return (item as { labels?: Record<string, string> }).labels?.[k.slice(6)] === v;
    const field = (item as Record<string, unknown>)[k];
    return field !== undefined && field !== null && String(field) === v;
  }));
  const offset = Math.max(0, Math.floor(query.offset ?? 0)) || 0;
  const limit = clampLimit(query.limit);
  return { items: structuredClone(matches.slice(offset, offset + limit)), total: matches.length, offset, limit };
}

export function uniqueId(items: Array<{ id: string }>, name: string): string {
  const base = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|-+$/g, '').slice(0, 48) || 'item';
  let id = base;
  for (let n = 2; items.some((r) => r.id === id); n++) id = `${base}-${n}`;
  return id;
}


function structuredCloneOpt<T>(v: T | undefined): T | undefined {
  return v === undefined ? undefined : structuredClone(v);
}
