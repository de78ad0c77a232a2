/**
 * The one vocabulary of boot events (docs/events.md lists it for users): a discriminated union (by
 * `type`) fed by the DHCP, TFTP and HTTP asset servers (translated once, in translate.ts), the
 * check-in and enrolment endpoints, the inventory's event log, the iSCSI driver and the policy. The
 * metrics layer adds `stage` and `stall` / `stall.cleared`. netboot-listen, netboot-metrics, the
 * timeline, the event log, the SSE stream and Prometheus all read the same events from one bus.
 *
 * Every event carries `ts` (milliseconds since the epoch), optionally the client's `mac`
 * (normalised `aa:bb:cc:dd:ee:ff`) and `ip`. An event without a MAC gets one from the IP → MAC
 * attribution table when that is unambiguous; `attributed` then says how sure that guess is.
 */
import { NetbootError } from '../core/errors';
import { normalizeMac } from '../core/mac';

export type Confidence = 'high' | 'medium' | 'low';
export type AttributionSource = 'dhcp' | 'checkin' | 'event';

/** How an event's MAC was filled in from its IP (absent when the event carried its own MAC). */
export type Attributed =
  | { ambiguous?: false; source: AttributionSource; confidence: Confidence }
  | { ambiguous: true; macs: string[] };

export interface EventBase {
  /** Milliseconds since the epoch. */
  ts: number;
  /** Normalised lowercase colon form. */
  mac?: string;
  /** The client's IP address as we saw it. */
  ip?: string;
  attributed?: Attributed;
  /** The boot server that saw it (its site name), when several share one inventory. */
  site?: string;
}

export type DhcpEventType = 'dhcp.discover' | 'dhcp.offer' | 'dhcp.request' | 'dhcp.ack' | 'dhcp.nak' | 'dhcp.release' | 'dhcp.decline' | 'dhcp.inform';
export interface DhcpEvent extends EventBase {
  type: DhcpEventType;
  /** Architecture as option 93 names it (`bios`, `efi-x64`, ...; see arch.ts for the derived forms). */
  arch?: string;
  /** `PXEClient`, `HTTPClient` or `other` (a client that does not net-boot, e.g. an OS). */
  clientClass?: string;
  isIpxe: boolean;
  xid?: number;
  uuid?: string;
  isPi?: boolean;
  /** Address offered / acknowledged (offer, ack). */
  yiaddr?: string;
  /** Address the client says it already has (request). */
  ciaddr?: string;
  /** Option 50 (request). */
  requestedIp?: string;
  /** Raspberry Pi facts when the client is one (model, serial, how we know). */
  pi?: { model: string; via: string; serial?: string };
  /** Which of our sockets got it: `dhcp` (67) or `boot` (proxyDHCP 4011). */
  via?: string;
  /** The boot file and next-server we answered with (offer, ack). */
  file?: string;
  siaddr?: string;
}

/** DHCP traffic that is not a client's boot: ignored packets, malformed ones, another DHCP server seen. */
export interface DhcpNoticeEvent extends EventBase {
  type: 'dhcp.ignored' | 'dhcp.malformed' | 'dhcp.rogue';
  reason?: string;
  detail?: string;
  /** dhcp.rogue: what the other server offers. */
  server?: string;
  offers?: Record<string, unknown>;
}

export type Direction = 'read' | 'write';

export type TftpEventType = 'tftp.start' | 'tftp.oack' | 'tftp.progress' | 'tftp.done' | 'tftp.abort' | 'tftp.probe' | 'tftp.notfound' | 'tftp.refused' | 'tftp.malformed';
export interface TftpEvent extends EventBase {
  type: TftpEventType;
  path: string;
  /** Client UDP port; with `ip` it tells concurrent transfers of one file apart. */
  port?: number;
  /** Bytes moved so far (progress) or in total (done, abort). */
  bytes?: number;
  /** File size when known. */
  size?: number;
  durationMs?: number;
  /** `read` (we send, the default) or `write` (the client uploads). */
  direction?: Direction;
  reason?: string;
  /** done: the transfer's figures. */
  rateBps?: number;
  retransmits?: number;
  timeouts?: number;
  blksize?: number;
  windowsize?: number;
  /** oack: the options agreed; start: the options asked for. */
  options?: Record<string, string>;
  /** refused: the TFTP error code sent. */
  code?: number;
}

export type HttpEventType = 'http.start' | 'http.progress' | 'http.done';
export interface HttpEvent extends EventBase {
  type: HttpEventType;
  path: string;
  /** Tells concurrent requests of one path from one client apart. */
  requestId?: string;
  bytes?: number;
  size?: number;
  status?: number;
  durationMs?: number;
  direction?: Direction;
}

export interface CheckinEvent extends EventBase {
  type: 'checkin';
  /** What the machine reports or was told (`ready`, `installing`, `boot_image`, `failed`...). */
  action?: string;
  /** Who called: iPXE asking what to boot, or the booted OS calling home (the default). */
  origin?: 'ipxe' | 'os';
}

export interface EnrollEvent extends EventBase {
  type: 'enroll';
  hostname?: string;
  message?: string;
}

/**
 * What the inventory records about a known machine that the machine did not decide: facts it
 * reported that differ from before, an enrolment refused because it carried this machine's
 * identifiers, the machine removed by the growth cap. Shown on the machine's timeline as notices.
 */
export interface RecordEvent extends EventBase {
  type: 'facts.changed' | 'enroll.conflict' | 'device.evicted' | 'wake' | 'wake.timeout' | 'session.start' | 'session.stop' | 'session.failed';
  mac: string;
  message?: string;
  /** facts.changed: what changed, `{ arch: { from, to } }`. */
  changes?: Record<string, { from?: unknown; to?: unknown }>;
  /** enroll.conflict: the MAC that asked, and which of this machine's identifiers it carried. */
  from?: string;
  fields?: string[];
  /** wake: where the magic packet went (`10.0.0.255:9`) and who asked (`api`, `flow`). */
  to?: string;
  by?: string;
  /** wake.timeout: how long the machine was waited for. */
  waitedMs?: number;
  /** session.*: the diskless session, its mode and image, and what it read and wrote so far. */
  session?: string;
  mode?: string;
  image?: string;
  readBytes?: number;
  writeBytes?: number;
  /** session.stop: how long the session ran. */
  durationMs?: number;
}

/**
 * A UEFI x64 machine fetched the unsigned iPXE completely and came back with a fresh PXE DISCOVER
 * without ever running it: its firmware's Secure Boot probably refused iPXE (lib/metrics/secureboot-suspect.ts).
 * `message` is the fix; shown on the machine's timeline as a notice and counted in Prometheus.
 */
export interface SecureBootSuspectedEvent extends EventBase {
  type: 'secureboot.suspected';
  mac: string;
  /** The iPXE build it fetched (`ipxe.efi`, `snponly.efi`). */
  file: string;
  /** From the end of that transfer to the fresh DISCOVER. */
  afterMs: number;
  message: string;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** A progress line from a booting or installing machine (`boot.log`), or a whole uploaded log (`boot.log_upload`, its text stays in the store). */
export interface LogEvent extends EventBase {
  type: 'boot.log' | 'boot.log_upload';
  line: string;
  level?: LogLevel;
  /** boot.log_upload: the file's name and size. */
  name?: string;
  bytes?: number;
}

export interface IscsiEvent extends EventBase {
  type: 'iscsi.login' | 'iscsi.logout' | 'iscsi.stats';
  target: string;
  /** Cumulative bytes of this session, when the driver can tell. */
  readBytes?: number;
  writeBytes?: number;
}

/**
 * A disk copy under way on the iSCSI service (`disk.progress`, a dashboard's progress bar): bytes
 * written so far of `size`, about twice a second, and once more at the end (`bytes` = `size`).
 * About the server's disks, not a machine's activity.
 */
export interface DiskProgressEvent extends EventBase {
  type: 'disk.progress';
  /** The new image's id. */
  image: string;
  /** The image copied from. */
  from: string;
  bytes: number;
  size: number;
}

/**
 * Installer configuration documents (lib/policy/configs.ts): a machine fetched one (`config.fetch`,
 * stage `config`), a request was refused (`config.refused`: no or another machine's token, another
 * address, expired; the reason is recorded, never answered), an installer reported completion
 * (`config.installed`, stage `installed`; stored by the inventory).
 */
export interface ConfigEvent extends EventBase {
  type: 'config.fetch' | 'config.refused' | 'config.installed';
  mac: string;
  file?: string;
  format?: string;
  reason?: string;
  message?: string;
}

/**
 * Image builds (lib/builds/service.ts): a build started, succeeded (the machine's profile now points
 * at its artifacts), failed (the machine keeps its previous image) or was cancelled. Stored by the
 * inventory, shown on the machine's timeline as notices, counted in Prometheus.
 */
export interface BuildEvent extends EventBase {
  type: 'build.start' | 'build.success' | 'build.failed' | 'build.cancelled' | 'build.log';
  mac: string;
  build: string;
  /** build.log: one line of the build's output (at most 20 a second; the whole log is GET /builds/:id/log). */
  line?: string;
  recipe?: string;
  message?: string;
  durationMs?: number;
}

export interface DecisionEvent extends EventBase {
  type: 'decision';
  action: string;
  profile?: string;
  image?: string;
}

export type StageName = 'dhcp' | 'firmware-tftp' | 'ipxe' | 'script' | 'kernel' | 'config' | 'os' | 'iscsi' | 'installed';
export type BootOutcome = 'done' | 'failed';

export interface StallEvent extends EventBase {
  type: 'stall' | 'stall.cleared';
  mac: string;
  stage: StageName;
  bootId: number;
  /** How long nothing has happened (stall) or how long the stall lasted (cleared). */
  quietMs: number;
}

export interface StageEvent extends EventBase {
  type: 'stage';
  mac: string;
  bootId: number;
  /** Absent for the first stage of a boot. */
  from?: StageName;
  to: StageName | BootOutcome;
  /** Duration of the stage that just ended (`from`). */
  durationMs?: number;
  /** Set when `to` is an outcome: the whole boot's duration. */
  bootDurationMs?: number;
  reason?: string;
}

/** The server's own network changed (lib/net/watcher.ts): an address came, went or moved; not a machine's activity. */
export interface ServerNetworkEvent extends EventBase {
  type: 'server.network';
  change: 'address-changed' | 'address-added' | 'address-removed' | 'pinned-missing' | 'pinned-restored';
  /** The address the change is about (the new advertised one for address-changed). */
  address: string;
  previous?: string;
  interface?: string;
  message: string;
}

/** A change to the inventory, by this server or another one on the same database: the dashboard rereads from it. */
export interface InventoryChangedEvent extends EventBase {
  type: 'inventory.changed';
  collection: 'devices' | 'images' | 'profiles' | 'groups' | 'sessions' | 'configs' | 'builds' | 'settings' | 'all';
  /** The one record that changed; absent: the collection as a whole. */
  id?: string;
}

/** The inventory's database was lost (read-only) or is back (ok). */
export interface ServerStoreEvent extends EventBase {
  type: 'server.store';
  state: 'ok' | 'read-only';
  reason?: string;
  message: string;
}

export type NetbootEvent =
  | InventoryChangedEvent
  | ServerStoreEvent
  | ServerNetworkEvent
  | DhcpEvent
  | DhcpNoticeEvent
  | TftpEvent
  | HttpEvent
  | CheckinEvent
  | EnrollEvent
  | RecordEvent
  | SecureBootSuspectedEvent
  | LogEvent
  | IscsiEvent
  | DiskProgressEvent
  | BuildEvent
  | ConfigEvent
  | DecisionEvent
  | StallEvent
  | StageEvent;

export type NetbootEventType = NetbootEvent['type'];

/** An event as a publisher hands it in: `ts` defaults to the hub's clock. */
export type NetbootEventInput = NetbootEvent extends infer E ? (E extends NetbootEvent ? Omit<E, 'ts'> & { ts?: number } : never) : never;

/**
 * How an event is used, besides reaching every subscriber of the bus:
 * - `activity`: something a machine did in its boot; feeds its timeline stages, figures and Prometheus.
 * - `protocol`: protocol detail for flows and the event stream (ignored or malformed packets, option
 *   negotiation, refusals); not a machine's progress.
 * - `record`: what the inventory recorded about a known machine; a notice on its timeline.
 * - `derived`: made by the metrics layer from the others (stages, stalls).
 * - `server`: about the boot server itself (its addresses), for the log, the status and the dashboard.
 */
export type EventGroup = 'activity' | 'protocol' | 'record' | 'derived' | 'server';

/** Every event type, its group and the boot stage it points at (docs/events.md is checked against this table). */
export const VOCABULARY: Readonly<Record<NetbootEventType, { group: EventGroup; stage: string }>> = {
  'dhcp.discover': { group: 'activity', stage: 'dhcp (firmware) or ipxe (iPXE); os for a non-PXE client after its kernel' },
  'dhcp.offer': { group: 'activity', stage: 'as dhcp.discover' },
  'dhcp.request': { group: 'activity', stage: 'as dhcp.discover' },
  'dhcp.ack': { group: 'activity', stage: 'as dhcp.discover' },
  'dhcp.nak': { group: 'protocol', stage: '-' },
  'dhcp.release': { group: 'protocol', stage: '-' },
  'dhcp.decline': { group: 'protocol', stage: '-' },
  'dhcp.inform': { group: 'protocol', stage: '-' },
  'dhcp.ignored': { group: 'protocol', stage: '-' },
  'dhcp.malformed': { group: 'protocol', stage: '-' },
  'dhcp.rogue': { group: 'protocol', stage: '-' },
  'tftp.start': { group: 'activity', stage: 'by file name: firmware-tftp, script or kernel' },
  'tftp.oack': { group: 'protocol', stage: '-' },
  'tftp.progress': { group: 'activity', stage: 'as tftp.start' },
  'tftp.done': { group: 'activity', stage: 'as tftp.start' },
  'tftp.abort': { group: 'activity', stage: '-' },
  'tftp.probe': { group: 'activity', stage: '-' },
  'tftp.notfound': { group: 'activity', stage: '-' },
  'tftp.refused': { group: 'protocol', stage: '-' },
  'tftp.malformed': { group: 'protocol', stage: '-' },
  'http.start': { group: 'activity', stage: 'by file name: firmware-tftp, script or kernel' },
  'http.progress': { group: 'activity', stage: 'as http.start' },
  'http.done': { group: 'activity', stage: 'as http.start' },
  checkin: { group: 'activity', stage: 'script (from iPXE) or os (from the booted system)' },
  decision: { group: 'activity', stage: '-' },
  enroll: { group: 'activity', stage: 'os' },
  'boot.log': { group: 'activity', stage: 'os' },
  'boot.log_upload': { group: 'activity', stage: 'os' },
  'iscsi.login': { group: 'activity', stage: 'iscsi' },
  'iscsi.logout': { group: 'activity', stage: '-' },
  'iscsi.stats': { group: 'activity', stage: '-' },
  'disk.progress': { group: 'server', stage: '-' },
  'build.start': { group: 'record', stage: '-' },
  'build.success': { group: 'record', stage: '-' },
  'build.failed': { group: 'record', stage: '-' },
  'build.cancelled': { group: 'record', stage: '-' },
  'build.log': { group: 'server', stage: '-' },
  'config.fetch': { group: 'activity', stage: 'config' },
  'config.refused': { group: 'protocol', stage: '-' },
  'config.installed': { group: 'activity', stage: 'installed' },
  'facts.changed': { group: 'record', stage: '-' },
  'enroll.conflict': { group: 'record', stage: '-' },
  'device.evicted': { group: 'record', stage: '-' },
  wake: { group: 'record', stage: '-' },
  'wake.timeout': { group: 'record', stage: '-' },
  'session.start': { group: 'record', stage: '-' },
  'session.stop': { group: 'record', stage: '-' },
  'session.failed': { group: 'record', stage: '-' },
  'secureboot.suspected': { group: 'record', stage: '-' },
  stage: { group: 'derived', stage: '-' },
  stall: { group: 'derived', stage: '-' },
  'stall.cleared': { group: 'derived', stage: '-' },
  'server.network': { group: 'server', stage: '-' },
  'inventory.changed': { group: 'server', stage: '-' },
  'server.store': { group: 'server', stage: '-' },
};

export const EVENT_TYPES: readonly NetbootEventType[] = Object.keys(VOCABULARY) as NetbootEventType[];
const KNOWN = new Set<string>(EVENT_TYPES);

/**
 * Names that changed when the vocabulary became one; flows may still test for them for one release
 * (netboot-listen and netboot-metrics send them when the node is set to the previous names).
 */
export const DEPRECATED_NAMES: Readonly<Record<string, NetbootEventType>> = {
  'tftp.request': 'tftp.start',
  'tftp.aborted': 'tftp.abort',
  log: 'boot.log',
};
export const PREVIOUS_NAME: Readonly<Partial<Record<NetbootEventType, string>>> = Object.fromEntries(
  Object.entries(DEPRECATED_NAMES).map(([old, current]) => [current, old]),
);

/**
 * Types the inventory writes to its event log itself (the policy stores them, then the store's
 * `onEvent` puts them on the bus), so the bus's own writer must not store them again.
 */
export const STORED_BY_INVENTORY: ReadonlySet<string> = new Set(['build.start', 'build.success', 'build.failed', 'build.cancelled', 'config.installed', 'enroll', 'boot.log', 'boot.log_upload', 'facts.changed', 'enroll.conflict', 'device.evicted', 'wake', 'wake.timeout', 'session.start', 'session.stop', 'session.failed']);

/** Type → group, looked up for every event by several subscribers (a Map: the vocabulary object's dotted keys made a slow keyed load). */
const GROUPS: ReadonlyMap<string, EventGroup> = new Map(Object.entries(VOCABULARY as Record<string, { group: EventGroup }>).map(([type, v]) => [type, v.group]));

export function groupOf(type: string): EventGroup | undefined {
  return GROUPS.get(type);
}

export function isTransferEvent(e: NetbootEvent): e is TftpEvent | HttpEvent {
  return e.type.startsWith('tftp.') || e.type.startsWith('http.');
}

export function isDhcpEvent(e: NetbootEvent): e is DhcpEvent {
  return e.type.startsWith('dhcp.');
}

/** Events the metrics layer makes itself; they are not activity of a machine. */
export function isDerivedEvent(e: NetbootEvent): e is StallEvent | StageEvent {
  return e.type === 'stage' || e.type === 'stall' || e.type === 'stall.cleared';
}

const MAX_TEXT = 4096;
const MAX_PATH = 1024;

function text(value: unknown, field: string, type: string, max: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new NetbootError('validation', `${type} event: ${field} must be a string, got ${typeof value}`, { field, type });
  return value.length > max ? `${value.slice(0, max)}…` : value;
}

function count(value: unknown, field: string, type: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new NetbootError('validation', `${type} event: ${field} must be a non-negative number, got ${String(value)}`, { field, type });
  }
  return value;
}

/** Drops an enum field whose value is not one of `allowed` (hostile or mistyped input). */
function oneOf(out: Record<string, unknown>, field: string, allowed: readonly string[]): void {
  if (field in out && !allowed.includes(out[field] as string)) delete out[field];
}

const TEXT_FIELDS: Record<string, number> = {
  path: MAX_PATH, line: MAX_TEXT, target: 256, action: 64, profile: 128, image: 128, reason: 256, arch: 32,
  clientClass: 32, hostname: 253, uuid: 64, yiaddr: 64, ciaddr: 64, requestedIp: 64, requestId: 64, ip: 64,
  message: 512, detail: MAX_TEXT, from: 64, to: 64, by: 16, name: 128, via: 16, file: 255, siaddr: 64, server: 64, site: 63,
};
const TEXT_MAX = new Map(Object.entries(TEXT_FIELDS));
const COUNT_FIELDS = ['bytes', 'size', 'durationMs', 'readBytes', 'writeBytes', 'port', 'status', 'xid', 'quietMs', 'bootDurationMs', 'rateBps', 'retransmits', 'timeouts', 'blksize', 'windowsize', 'code', 'waitedMs', 'afterMs'];
const COUNTS = new Set(COUNT_FIELDS);

/**
 * Checks an event at the boundary and returns a clean copy: known type, finite `ts`, MAC
 * normalised, texts capped, counts finite and non-negative. Throws `NetbootError` (`validation`
 * or `invalid_mac`) with the event type in the message.
 */
export function normalizeEvent(input: NetbootEventInput | NetbootEvent, now: number): NetbootEvent {
  if (typeof input !== 'object' || input === null) throw new NetbootError('validation', 'event must be an object', {});
  const type = (input as { type?: unknown }).type;
  if (typeof type !== 'string' || !KNOWN.has(type)) {
    throw new NetbootError('validation', `unknown event type ${JSON.stringify(String(type)).slice(0, 60)}`, { type });
  }
  const given = input as unknown as Record<string, unknown>;
  const ts = given.ts ?? now;
  if (typeof ts !== 'number' || !Number.isFinite(ts)) throw new NetbootError('validation', `${type} event: ts must be a finite number`, { type });
  // a new object with only the fields that stay: copying the input and deleting the empty ones
  // turned every event into a dictionary-mode object with a hidden class of its own, which the
  // event log and the replay ring kept (a DHCP storm of new machines paid for it in GC pauses)
  const out: Record<string, unknown> = {};
  let hasTs = false;
  // the event's own fields (a handful) against the tables, not every known field against the event:
  // this runs for every packet and every file served
  for (const field in given) {
    if (!Object.prototype.hasOwnProperty.call(given, field)) continue;
    const value = given[field];
    if (field === 'ts') {
      out.ts = ts;
      hasTs = true;
    } else if (field === 'mac') {
      if (value === undefined || value === null || value === '') continue;
      try {
        out.mac = normalizeMac(value);
      } catch (err) {
        throw NetbootError.wrap(`${type} event`, err);
      }
    } else {
      const max = TEXT_MAX.get(field);
      if (max !== undefined) {
        const v = text(value, field, type, max);
        if (v !== undefined) out[field] = v;
      } else if (COUNTS.has(field)) {
        const v = count(value, field, type);
        if (v !== undefined) out[field] = v;
      } else out[field] = value;
    }
  }
  if (!hasTs) out.ts = ts;
  if ((type.startsWith('tftp.') || type.startsWith('http.')) && typeof out.path !== 'string') {
    throw new NetbootError('validation', `${type} event: path is required`, { type });
  }
  if ((type === 'boot.log' || type === 'boot.log_upload') && typeof out.line !== 'string') throw new NetbootError('validation', `${type} event: line is required`, { type });
  if (groupOf(type) === 'record' && typeof out.mac !== 'string') throw new NetbootError('validation', `${type} event: mac is required`, { type });
  if (groupOf(type) === 'activity' && type.startsWith('dhcp.')) out.isIpxe = out.isIpxe === true;
  oneOf(out, 'direction', ['read', 'write']);
  oneOf(out, 'origin', ['ipxe', 'os']);
  oneOf(out, 'level', ['debug', 'info', 'warn', 'error']);
  return out as unknown as NetbootEvent;
}

/**
 * The inventory store's `BootEvent` record for an event (`appendEvent` input): the type, MAC and
 * IP at the top, a one-line message, the rest under `data`.
 */
export function toBootEventRecord(e: NetbootEvent): { type: string; ts: string; mac?: string; ip?: string; site?: string; message?: string; data?: Record<string, unknown> } {
  const { type, ts, mac, ip, site, ...rest } = e as NetbootEvent & Record<string, unknown>;
  const rec: { type: string; ts: string; mac?: string; ip?: string; site?: string; message?: string; data?: Record<string, unknown> } = { type, ts: new Date(ts).toISOString() };
  if (mac) rec.mac = mac;
  if (ip) rec.ip = ip;
  if (typeof site === 'string' && site) rec.site = site;
  const message = describeEvent(e);
  if (message) rec.message = message;
  if (Object.keys(rest).length > 0) rec.data = rest;
  return rec;
}

/** A short human line for logs and the store. */
export function describeEvent(e: NetbootEvent): string {
  switch (e.type) {
    case 'dhcp.discover': case 'dhcp.offer': case 'dhcp.request': case 'dhcp.ack':
    case 'dhcp.nak': case 'dhcp.release': case 'dhcp.decline': case 'dhcp.inform':
      return `${e.type.slice(5)} ${e.arch ?? ''}${e.isIpxe ? ' (iPXE)' : ''}`.trim();
    case 'dhcp.ignored': case 'dhcp.malformed': case 'dhcp.rogue':
      return `${e.type}${e.reason ? ` ${e.reason}` : ''}${e.server ? ` from ${e.server}` : ''}`;
    case 'tftp.start': case 'tftp.oack': case 'tftp.progress': case 'tftp.done': case 'tftp.abort': case 'tftp.probe': case 'tftp.notfound':
    case 'tftp.refused': case 'tftp.malformed':
    case 'http.start': case 'http.progress': case 'http.done':
      return `${e.type} ${e.path}${e.bytes !== undefined ? ` ${e.bytes} B` : ''}`;
    case 'checkin':
      return `check-in${e.action ? ` ${e.action}` : ''}`;
    case 'enroll':
      return e.message ?? `enroll${e.hostname ? ` ${e.hostname}` : ''}`;
    case 'facts.changed': case 'enroll.conflict': case 'device.evicted': case 'wake': case 'wake.timeout':
    case 'session.start': case 'session.stop': case 'session.failed':
      return e.message ?? e.type;
    case 'secureboot.suspected':
      return e.message;
    case 'build.start': case 'build.success': case 'build.failed': case 'build.cancelled':
      return e.message ?? `${e.type} ${e.build}`;
    case 'build.log':
      return `build ${e.build}: ${e.line ?? ''}`;
    case 'disk.progress':
      return `copying disk ${e.from} to ${e.image}: ${e.bytes} of ${e.size} bytes`;
    case 'config.fetch':
      return `config ${e.file ?? ''}${e.format ? ` (${e.format})` : ''}`;
    case 'config.refused':
      return `config ${e.file ?? ''} refused: ${e.reason ?? 'refused'}`;
    case 'config.installed':
      return e.message ?? 'installed';
    case 'boot.log': case 'boot.log_upload':
      return e.line;
    case 'iscsi.login': case 'iscsi.logout': case 'iscsi.stats':
      return `${e.type} ${e.target}`;
    case 'decision':
      return `decision ${e.action}${e.profile ? ` profile=${e.profile}` : ''}${e.image ? ` image=${e.image}` : ''}`;
    case 'stall':
      return `stalled in ${e.stage} for ${Math.round(e.quietMs / 1000)} s`;
    case 'stall.cleared':
      return `progress resumed in ${e.stage} after ${Math.round(e.quietMs / 1000)} s`;
    case 'stage':
      return `${e.from ?? 'start'} → ${e.to}`;
    case 'server.network':
    case 'server.store':
      return e.message;
    case 'inventory.changed':
      return `${e.collection}${e.id ? ` ${e.id}` : ''} changed`;
  }
}
