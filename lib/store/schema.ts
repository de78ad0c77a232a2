import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { NetbootError } from '../core/errors';

/**
 * The inventory's records, as TypeBox schemas: one definition gives both the TypeScript type and the
 * validator the management API and the nodes use at their boundaries.
 */

const Name = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._:/+@()-]*$' });
const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
const Text = (max: number) => Type.String({ maxLength: max });
// A TypeBox Record with a key pattern is `patternProperties`, which on its own lets every other key
// through: `additionalProperties: false` makes the pattern the rule for every key.
const Labels = Type.Record(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$' }), Type.String({ maxLength: 256 }), { maxProperties: 64, additionalProperties: false });
const Params = Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}$' }), Type.Union([Type.String({ maxLength: 1024 }), Type.Null()]), { maxProperties: 128, additionalProperties: false });

export const DEVICE_STATUSES = ['enrolled', 'configured', 'building', 'ready', 'failed'] as const;
export const DeviceStatus = Type.Union(DEVICE_STATUSES.map((s) => Type.Literal(s)));

export const BootAction = Type.Union([
  Type.Literal('boot_image'),
  Type.Literal('boot_profile'),
  Type.Literal('show_menu'),
  Type.Literal('local'),
  Type.Literal('register'),
]);

/** A boot server's site name (`NETBOOT_SITE`): letters, digits, dot, dash, underscore. */
export const SITE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';
export const SiteName = Type.String({ minLength: 1, maxLength: 63, pattern: SITE_PATTERN });

export const BootOnce = Type.Object({
  action: BootAction,
  profileId: Type.Optional(Id),
  imageId: Type.Optional(Id),
}, { additionalProperties: false });

/** Fields a client may set on a device (the MAC is the key and comes separately on create). */
export const DeviceFields = Type.Object({
  macs: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16 })),
  serial: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{8}([0-9a-fA-F]{8})?$' })),
  uuid: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' })),
  serviceTag: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' })),
  hostname: Type.Optional(Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$' })),
  arch: Type.Optional(Type.String({ maxLength: 32, pattern: '^[a-z0-9_-]*$' })),
  firmware: Type.Optional(Type.String({ maxLength: 32, pattern: '^[a-z0-9_-]*$' })),
  labels: Type.Optional(Labels),
  status: Type.Optional(DeviceStatus),
  hardware: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 64 })),
  imageId: Type.Optional(Type.Union([Id, Type.Null()])),
  profileId: Type.Optional(Type.Union([Id, Type.Null()])),
  bootOnce: Type.Optional(Type.Union([BootOnce, Type.Null()])),
  paramsOverride: Type.Optional(Params),
  /** Full DHCP mode: always lease this address to the device. */
  ipReservation: Type.Optional(Type.Union([Type.String({ pattern: '^\\d{1,3}(\\.\\d{1,3}){3}$' }), Type.Null()])),
  notes: Type.Optional(Text(2000)),
  /** UEFI Secure Boot is on: boot the signed shim → GRUB chain instead of iPXE (null: follow the group / server). */
  secureBoot: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  /** Pinned to the boot servers of this site: the others leave it alone (null: any server boots it). */
  site: Type.Optional(Type.Union([SiteName, Type.Null()])),
}, { additionalProperties: false });
export type DeviceFields = Static<typeof DeviceFields>;

export const DeviceCreate = Type.Composite([Type.Object({ mac: Type.String({ maxLength: 32 }) }), DeviceFields], { additionalProperties: false });
export type DeviceCreate = Static<typeof DeviceCreate>;

export interface Device {
  mac: string;
  macs: string[];
  serial?: string;
  uuid?: string;
  serviceTag?: string;
  hostname?: string;
  arch?: string;
  firmware?: string;
  labels: Record<string, string>;
  status: (typeof DEVICE_STATUSES)[number];
  hardware?: Record<string, unknown>;
  imageId?: string | null;
  profileId?: string | null;
  bootOnce?: Static<typeof BootOnce> | null;
  paramsOverride?: Record<string, string | null>;
  ipReservation?: string | null;
  notes?: string;
  secureBoot?: boolean | null;
  /** Pinned to one site's boot servers (several servers on one inventory, docs/store.md). */
  site?: string;
  /**
   * What the machine itself said (check-in query, enrolment body), kept beside the confirmed fields
   * and never used to choose what it boots (see docs/security.md). `at` is when it was last reported.
   */
  reported?: ReportedFacts;
  firstSeen: string;
  lastSeen?: string;
  lastIp?: string;
  /** The site of the boot server that saw it last (several servers on one inventory). */
  lastSite?: string;
  createdAt: string;
  updatedAt: string;
}

/** Facts an anonymous request reported about its own machine. */
export interface ReportedFacts {
  at?: string;
  arch?: string;
  firmware?: string;
  hostname?: string;
  uuid?: string;
  serial?: string;
  serviceTag?: string;
  hardware?: Record<string, unknown>;
}

export const ImageFields = Type.Object({
  name: Name,
  kind: Type.Optional(Type.Union([Type.Literal('iscsi'), Type.Literal('file')])),
  path: Type.Optional(Type.String({ maxLength: 1024 })),
  sizeBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  iqn: Type.Optional(Type.String({ maxLength: 223 })),
  /** iSCSI LUN of the disk (default 1: tgtd keeps LUN 0 for its controller; LIO and most NAS targets use 0). */
  lun: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
  /** The target's portal when it is not this server (host name or IPv4 address, and port). */
  targetHost: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$' })),
  targetPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  /** Bumped each time a session is committed into this disk (clean sessions started later get the new one). */
  version: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Set on the throw-away copy a clean diskless session runs on: the session's id. */
  session: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' })),
  description: Type.Optional(Text(2000)),
}, { additionalProperties: false });
export const ImageCreate = Type.Composite([Type.Object({ id: Type.Optional(Id) }), ImageFields], { additionalProperties: false });
export interface Image extends Static<typeof ImageFields> { id: string; createdAt: string; updatedAt: string }

export const PROFILE_TYPES = ['talos', 'ubuntu', 'debian', 'rescue', 'winpe', 'custom', 'chain', 'sanboot'] as const;
export const ProfileFields = Type.Object({
  name: Name,
  type: Type.Union(PROFILE_TYPES.map((t) => Type.Literal(t))),
  kernel: Type.Optional(Type.String({ maxLength: 1024 })),
  initrd: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 16 })),
  /** Key→value (`{console: "ttyS0"}`), an ordered list of arguments, or the string users paste. */
  cmdline: Type.Optional(Type.Union([Params, Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), { maxItems: 128 }), Type.String({ maxLength: 4096 })])),
  template: Type.Optional(Type.String({ maxLength: 128 })),
  chainUrl: Type.Optional(Type.String({ maxLength: 1024 })),
  params: Type.Optional(Params),
  /** Installer configuration documents (ids of `configs`) this profile's machines fetch. */
  configs: Type.Optional(Type.Array(Id, { maxItems: 8 })),
  description: Type.Optional(Text(2000)),
}, { additionalProperties: false });
export const ProfileCreate = Type.Composite([Type.Object({ id: Type.Optional(Id) }), ProfileFields], { additionalProperties: false });
export interface Profile extends Static<typeof ProfileFields> { id: string; createdAt: string; updatedAt: string }

/** Formats of installer configuration documents (docs/configs.md). */
export const CONFIG_FORMATS = ['cloud-config', 'autoinstall', 'meta-data', 'vendor-data', 'preseed', 'kickstart', 'talos', 'ignition', 'butane', 'text'] as const;
export type ConfigFormat = (typeof CONFIG_FORMATS)[number];
export const ConfigFields = Type.Object({
  name: Name,
  format: Type.Union(CONFIG_FORMATS.map((t) => Type.Literal(t))),
  /** The document with `{{name:kind}}` placeholders (lib/render/config.ts). */
  template: Type.String({ maxLength: 256 * 1024 }),
  description: Type.Optional(Text(2000)),
}, { additionalProperties: false });
export const ConfigCreate = Type.Composite([Type.Object({ id: Type.Optional(Id) }), ConfigFields], { additionalProperties: false });
export interface ConfigDoc extends Static<typeof ConfigFields> { id: string; createdAt: string; updatedAt: string }

export { SELECTOR_KEYS } from '../policy/group-match';
export const GroupFields = Type.Object({
  name: Name,
  selector: Type.Record(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$' }), Type.String({ maxLength: 256 }), { maxProperties: 16, additionalProperties: false }),
  profileId: Type.Optional(Type.Union([Id, Type.Null()])),
  imageId: Type.Optional(Type.Union([Id, Type.Null()])),
  params: Type.Optional(Params),
  isDefault: Type.Optional(Type.Boolean()),
  /** Machines of this group have UEFI Secure Boot on (a device's own mark wins). */
  secureBoot: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  /** Configuration documents for this group's machines; one of a format here wins over the profile's. */
  configs: Type.Optional(Type.Array(Id, { maxItems: 8 })),
  description: Type.Optional(Text(2000)),
}, { additionalProperties: false });
export const GroupCreate = Type.Composite([Type.Object({ id: Type.Optional(Id) }), GroupFields], { additionalProperties: false });
export interface Group extends Static<typeof GroupFields> { id: string; createdAt: string; updatedAt: string }

export interface Session {
  id: string;
  mac: string;
  imageId?: string;
  state: 'starting' | 'active' | 'stopping' | 'stopped' | 'failed';
  detail?: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** An image build for a machine (lib/builds): its recipe, where it is, what it produced. */
export interface Build {
  id: string;
  mac: string;
  recipe: string;
  params?: Record<string, string>;
  status: 'pending' | 'building' | 'success' | 'failed' | 'cancelled';
  startedAt?: string;
  endedAt?: string;
  exitCode?: number | null;
  error?: string;
  /** Relative to the boot-assets folder. */
  artifacts?: Array<{ kind: 'kernel' | 'initrd' | 'rootfs' | 'disk'; path: string; size: number; sha256: string }>;
  /** The build's log, relative to the data folder. */
  log?: string;
  by?: string;
  /** The server running it (`claimBuild`'s owner, e.g. `host:pid`). */
  claimedBy?: string;
  /** Until when `claimedBy` holds it (ISO time); the runner renews it, and a lapsed one may be taken over. */
  leaseUntil?: string;
  /** How many times it was claimed (more than 1: taken over from a server that stopped renewing). */
  attempts?: number;
  createdAt: string;
  updatedAt: string;
}

export interface BootEvent {
  seq: number;
  ts: string;
  type: string;
  mac?: string;
  ip?: string;
  /** The boot server that recorded it (its site name), when several share one inventory. */
  site?: string;
  message?: string;
  data?: Record<string, unknown>;
}

export const Settings = Type.Object({
  menuTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
  menuDefault: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._-]*$' })),
  registerUnknown: Type.Optional(Type.Boolean()),
  eventLogLimit: Type.Optional(Type.Integer({ minimum: 10, maximum: 100_000 })),
  bootsKeptPerDevice: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  stallSeconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 86_400 })),
  /** Devices only machines have touched (enrolled, nothing assigned): above this, the oldest go. */
  maxUnconfirmedDevices: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
}, { additionalProperties: false });
export type Settings = Static<typeof Settings>;

export const DEFAULT_SETTINGS: Required<Settings> = {
  menuTimeoutMs: 10_000,
  menuDefault: 'register',
  registerUnknown: false,
  eventLogLimit: 5000,
  bootsKeptPerDevice: 20,
  stallSeconds: 180,
  maxUnconfirmedDevices: 1000,
};

export const SCHEMA_VERSION = 3;

/** A finished boot as the metrics timeline records it (kept per device, the last N). */
export interface StoredBoot {
  mac: string;
  id: string;
  startedAt: number;
  endedAt: number | null;
  outcome: string;
  [key: string]: unknown;
}

export interface InventoryData {
  schemaVersion: number;
  devices: Device[];
  images: Image[];
  profiles: Profile[];
  groups: Group[];
  sessions: Session[];
  /** Installer configuration documents (absent in files written before they existed). */
  configs?: ConfigDoc[];
  /** Image builds (absent in files written before they existed). */
  builds?: Build[];
  /** Schema 2 and older only: events now live in their own append-only log (`event-log.ts`). */
  events?: BootEvent[];
  eventSeq?: number;
  boots: StoredBoot[];
  settings: Settings;
  /** The last journal line this file includes (json-store's journal; lines after it are replayed at open). */
  journalSeq?: number;
}

export function emptyInventory(): InventoryData {
  return { schemaVersion: SCHEMA_VERSION, devices: [], images: [], profiles: [], groups: [], sessions: [], configs: [], builds: [], boots: [], settings: {} };
}

/**
 * Checks `value` against `schema`; on failure throws a `validation` error whose message names the
 * first failing field, e.g. `field "hostname": must match pattern ...`.
 */
export function assertValid<S extends TSchema>(schema: S, value: unknown, what: string): asserts value is Static<S> {
  if (Value.Check(schema, value)) return;
  const first = Value.Errors(schema, value).First();
  const field = first ? first.path.replace(/^\//, '').replace(/\//g, '.') || '(root)' : '(root)';
  const reason = first ? first.message : 'invalid';
  throw new NetbootError('validation', `${what}: field "${field}": ${reason}`, { field });
}
