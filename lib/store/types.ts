import type { BootEvent, Build, ConfigDoc, Device, DeviceCreate, DeviceFields, Group, Image, InventoryData, Profile, ReportedFacts, Session, Settings, StoredBoot } from './schema';

/**
 * The inventory as the rest of the program sees it. Everything is async so that a PostgreSQL
 * backend can implement the same interface when several boot servers share one inventory; the JSON
 * file backend (`json-store.ts`) is the default. A promise that resolves means the change is durable.
 */
/** Which part of the inventory changed. */
export type StoreChange = 'devices' | 'images' | 'profiles' | 'groups' | 'sessions' | 'configs' | 'builds' | 'settings' | 'all';

/**
 * Whether the inventory can take changes. `read-only`: its database is unreachable; reads answer
 * from the last good copy (boots of known machines go on), changes are refused with `unavailable`
 * (HTTP 503) until it is back, which the store finds by itself.
 */
export interface StoreHealth {
  state: 'ok' | 'read-only';
  /** Why it is read-only (the database's error), absent when ok. */
  reason?: string;
  /** When the current state began (ISO). */
  since: string;
}

export interface ListQuery {
  /** Equality filters on top-level string fields, plus `label.<key>` for labels and `q` for a substring search. */
  filter?: Record<string, string>;
  offset?: number;
  limit?: number;
}

export interface Page<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}

export interface Collection<T, Create, Patch> {
  list(query?: ListQuery): Promise<Page<T>>;
  get(id: string): Promise<T | undefined>;
  create(input: Create): Promise<T>;
  update(id: string, patch: Patch): Promise<T>;
  remove(id: string): Promise<void>;
}

export type ImageInput = Omit<Image, 'id' | 'createdAt' | 'updatedAt'> & { id?: string };
export type ProfileInput = Omit<Profile, 'id' | 'createdAt' | 'updatedAt'> & { id?: string };
export type GroupInput = Omit<Group, 'id' | 'createdAt' | 'updatedAt'> & { id?: string };
export type SessionInput = Omit<Session, 'id' | 'createdAt' | 'updatedAt'> & { id?: string };
export type BuildInput = Omit<Build, 'id' | 'createdAt' | 'updatedAt'> & { id?: string };
export type ConfigInput = Omit<ConfigDoc, 'id' | 'createdAt' | 'updatedAt'> & { id?: string };

/** What a check-in knows about a machine; any one identifier is enough to find it. */
export interface MachineKeys {
  mac?: string;
  uuid?: string;
  serial?: string;
  serviceTag?: string;
}

/**
 * A sighting. `arch`, `firmware` and `hostname` are confirmed fields (group selectors): only a
 * trusted source (the DHCP packet through the flow, the admin) sets them. What an anonymous request
 * claims goes in `reported`, merged into `device.reported`.
 */
export interface CheckInFacts {
  ip?: string;
  /** The site of the boot server that saw it (kept as `lastSite`). */
  site?: string;
  arch?: string;
  firmware?: string;
  hostname?: string;
  reported?: Omit<ReportedFacts, 'at'>;
}

export interface InventoryExport {
  format: 'netboot-inventory';
  schemaVersion: number;
  exportedAt: string;
  devices: Device[];
  images: Image[];
  profiles: Profile[];
  groups: Group[];
  sessions: Session[];
  configs?: ConfigDoc[];
  settings: Settings;
}

export interface InventoryStore {
  readonly devices: Collection<Device, DeviceCreate, DeviceFields> & {
    /** Finds by MAC (primary or other), then SMBIOS UUID, Pi serial, service tag. */
    find(keys: MachineKeys): Promise<Device | undefined>;
    /** Records a check-in: last seen, IP, arch. Returns the updated device. */
    touch(mac: string, facts: CheckInFacts): Promise<Device>;
  };
  readonly images: Collection<Image, ImageInput, Partial<ImageInput>>;
  readonly profiles: Collection<Profile, ProfileInput, Partial<ProfileInput>>;
  readonly groups: Collection<Group, GroupInput, Partial<GroupInput>>;
  readonly sessions: Collection<Session, SessionInput, Partial<SessionInput>>;
  /** Image builds; the queue hands them out with `claimBuild` and `renewBuild` (docs/builds.md). */
  readonly builds: Collection<Build, BuildInput, Partial<BuildInput>>;
  /** Installer configuration documents (cloud-init, preseed, Kickstart, Talos, Ignition). */
  readonly configs: Collection<ConfigDoc, ConfigInput, Partial<ConfigInput>>;

  /**
   * Takes the next build for `owner`: the oldest `pending` one, else the oldest `building` one whose
   * `leaseUntil` has passed (its server stopped renewing: it died). It becomes `building` with
   * `claimedBy: owner`, `leaseUntil` now + `leaseMs`, `startedAt` (when unset) and `attempts` + 1, and
   * `builds` listeners hear of it. Several servers on one PostgreSQL inventory never get the same build
   * (`FOR UPDATE SKIP LOCKED`). Undefined when there is nothing to take.
   */
  claimBuild(owner: string, leaseMs: number): Promise<Build | undefined>;
  /**
   * Extends `owner`'s lease on a build to now + `leaseMs`; false when the build is no longer `building`
   * for `owner` (cancelled, or taken over after the lease lapsed): its runner stops and writes nothing.
   */
  renewBuild(id: string, owner: string, leaseMs: number): Promise<boolean>;

  appendEvent(event: Omit<BootEvent, 'seq' | 'ts'> & { ts?: string }): Promise<BootEvent>;
  /** `site`: only the events recorded by that site's boot servers. */
  listEvents(query?: { mac?: string; site?: string; afterSeq?: number; limit?: number }): Promise<BootEvent[]>;
  /** Bytes of the events of `type` kept for `mac` (the per-machine log cap). */
  eventBytes(mac: string, type: string): number;

  /** Keeps a finished boot of a device; only the last `bootsKeptPerDevice` (setting) stay. */
  recordBoot(boot: StoredBoot): Promise<void>;
  /** A device's kept boots, oldest first. */
  listBoots(mac: string): Promise<StoredBoot[]>;
  /** Every device's kept boots that started at or after `sinceMs` (the dashboard's charts), oldest first. */
  bootsSince(sinceMs: number): Promise<StoredBoot[]>;

  getSettings(): Promise<Required<Settings>>;
  updateSettings(patch: Settings): Promise<Required<Settings>>;

  exportAll(): Promise<InventoryExport>;
  /** `keepReported`: keep devices' `reported` facts (a copy between stores); an import through the API drops them. */
  importAll(doc: unknown, mode?: 'replace' | 'merge', opts?: { keepReported?: boolean }): Promise<{ devices: number; images: number; profiles: number; groups: number }>;

  /**
   * Calls `listener` after a change to a collection is durable (`all` after an import). Check-ins
   * (`devices.touch`) and events do not count. Returns the function that stops listening. `id` names
   * the one record that changed (a device's primary MAC, a record's id) when the change was to one;
   * without it, reread the collection. The PostgreSQL store feeds this from LISTEN/NOTIFY, so every
   * boot server hears every server's changes.
   */
  onChange(listener: (change: StoreChange, id?: string) => void): () => void;

  /** The store's health now, and its changes (a shared database lost and found again); the JSON file is always `ok`. */
  health?(): StoreHealth;
  onHealth?(listener: (health: StoreHealth) => void): () => void;

  /**
   * Calls `listener` with every event record once it is appended (durable as the log's writes
   * are), so what the inventory records reaches the event bus (lib/events/translate.ts `fromStored`).
   */
  onEvent(listener: (event: BootEvent) => void): () => void;

  /** Resolves once everything written so far is on disk. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export type { InventoryData };
