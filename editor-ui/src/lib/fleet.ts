/**
 * The fleet as the browser parts show it: one row per machine, from the inventory page
 * (GET /netboot/api/devices) and then kept current by the event stream. Events are queued and
 * applied in batches, at most once per animation frame, so a boot storm costs one render per batch,
 * not one per packet; under a sustained storm the batches are paced (`pacedFrames`).
 *
 * The rows are plain objects, not Vue proxies: at thousands of machines, deep reactivity made every
 * sort and every rendered cell go through proxy traps and dependency tracking (most of a scroll
 * frame's script time at 5 000 rows). Views depend on `version` instead: reading `fleet.rows` tracks
 * it, and every change to the rows (a load, a batch of events, groups, last boots) bumps it.
 *
 * Each row also carries `rev`, bumped whenever that row changes, and `onChange` tells views which
 * rows a change touched (each machine once, however many of its events a batch held), so a view
 * of 5 000 rows can keep its order by moving only those rows (row-order.ts) and re-render only
 * those (a row component whose `rev` is unchanged is not rendered again).
 */
import { markRaw, reactive } from 'vue';
import { matchGroup } from '../../../lib/policy/group-match';

export interface DeviceRecord {
  mac: string;
  hostname?: string;
  arch?: string;
  firmware?: string;
  status?: string;
  lastSeen?: string;
  lastIp?: string;
  profileId?: string | null;
  imageId?: string | null;
  labels?: Record<string, string>;
  macs?: string[];
  serial?: string;
  uuid?: string;
  serviceTag?: string;
  hardware?: Record<string, unknown>;
  /** The site it is pinned to, and the site of the server that saw it last (several servers on one inventory). */
  site?: string;
  lastSite?: string;
}

/** A group as the dashboard needs it: its selector decides membership (lib/policy/group-match.ts). */
export interface GroupRecord {
  id: string;
  name: string;
  selector: Record<string, string>;
  isDefault?: boolean;
  profileId?: string | null;
  imageId?: string | null;
}

/** A machine's newest kept boot (GET /netboot/api/boots/stats, `last`). */
export interface LastBoot { startedAt: number; outcome: string; toOsMs: number | null; toMenuMs: number | null }

export interface BootEvent {
  type: string;
  ts: number;
  mac?: string;
  ip?: string;
  arch?: string;
  to?: string;
  stage?: string;
  bytes?: number;
  size?: number;
  path?: string;
  [k: string]: unknown;
}

export type Health = 'booting' | 'stalled' | 'done' | 'failed' | 'idle';

export interface Machine {
  mac: string;
  hostname: string;
  arch: string;
  /** The inventory's status, or "unknown" for a machine seen on the wire but not in the inventory. */
  status: string;
  ip: string;
  profileId: string;
  imageId: string;
  labels: Record<string, string>;
  /** Raspberry Pi serial or the machine's serial number, when known. */
  serial: string;
  /** The hardware model from enrolment (a Raspberry Pi's model, a PC's product name), when known. */
  model: string;
  /** The group its selector puts it in (name), '' for none. */
  group: string;
  last: LastBoot | null;
  /** What group matching needs of the inventory record. */
  match: { macs: string[]; uuid?: string; serial?: string; arch?: string; serviceTag?: string; hostname?: string };
  /** The current boot stage (dhcp, firmware-tftp, ipxe, script, kernel, config, os, iscsi, installed), done or failed. */
  stage: string;
  stalled: boolean;
  /** The transfer under way, if the client asked for its size. */
  transfer: { path: string; bytes: number; size: number } | null;
  lastSeen: number;
  events: number;
  /** The site it is pinned to ('' for none) and where it was seen last ('' when not known). */
  site: string;
  lastSite: string;
  /** Bumped on every change to this row by the fleet (once per batch however many events it had): a view draws the row again when it moved on. */
  rev: number;
}

export function healthOf(m: Machine): Health {
  if (m.stalled) return 'stalled';
  if (m.stage === 'failed') return 'failed';
  if (m.stage === 'done' || m.stage === 'os' || m.stage === 'installed') return 'done';
  if (m.stage) return 'booting';
  return 'idle';
}

export function machineFromRecord(d: DeviceRecord): Machine {
  const seen = d.lastSeen ? Date.parse(d.lastSeen) : NaN;
  return {
    mac: d.mac,
    hostname: d.hostname ?? '',
    arch: d.arch ?? d.firmware ?? '',
    status: d.status ?? 'unknown',
    ip: d.lastIp ?? '',
    profileId: d.profileId ?? '',
    imageId: d.imageId ?? '',
    labels: { ...(d.labels ?? {}) },
    serial: d.serial ?? (typeof d.hardware?.serial === 'string' ? d.hardware.serial : ''),
    model: typeof d.hardware?.model === 'string' ? d.hardware.model : '',
    group: '',
    last: null,
    match: { macs: d.macs ?? [], uuid: d.uuid, serial: d.serial, arch: d.arch, serviceTag: d.serviceTag, hostname: d.hostname },
    stage: '',
    stalled: false,
    transfer: null,
    lastSeen: Number.isFinite(seen) ? seen : 0,
    events: 0,
    site: d.site ?? '',
    lastSite: d.lastSite ?? '',
    rev: 0,
  };
}

/** Applies one event to the rows (pure apart from mutating `rows`); returns the row it touched. */
export function applyEvent(rows: Map<string, Machine>, e: BootEvent): Machine | undefined {
  if (!e.mac) return undefined;
  let m = rows.get(e.mac);
  if (!m) {
    m = machineFromRecord({ mac: e.mac, status: 'unknown' });
    rows.set(e.mac, m);
  }
  m.events++;
  if (typeof e.ts === 'number' && e.ts > m.lastSeen) m.lastSeen = e.ts;
  if (e.ip) m.ip = e.ip;
  if (typeof e.site === 'string' && e.site) m.lastSite = e.site;
  if (e.type.startsWith('dhcp.') && e.arch && e.arch !== 'unknown') m.arch = e.arch;
  if (typeof e.hostname === 'string' && e.hostname) m.hostname = e.hostname;
  switch (e.type) {
    case 'stage':
      if (e.to) m.stage = e.to;
      if (e.to === 'done' || e.to === 'failed') m.stalled = false;
      break;
    case 'stall':
      m.stalled = true;
      break;
    case 'stall.cleared':
      m.stalled = false;
      break;
    case 'tftp.progress':
    case 'http.progress':
      if (typeof e.bytes === 'number' && typeof e.size === 'number' && e.size > 0) m.transfer = { path: String(e.path ?? ''), bytes: e.bytes, size: e.size };
      break;
    case 'tftp.done':
    case 'http.done':
    case 'tftp.abort':
      m.transfer = null;
      break;
  }
  return m;
}

/** The group a row falls in, by the same rule the boot policy uses. */
export function groupOf(m: Machine, groups: readonly GroupRecord[]): GroupRecord | undefined {
  return matchGroup({ mac: m.mac, labels: m.labels, ...m.match, macs: m.match.macs }, groups);
}

export interface Fleet {
  /** The machines by MAC: plain objects; reading this tracks `version` (change them only through the methods below). */
  readonly rows: Map<string, Machine>;
  groups: GroupRecord[];
  /** Bumped on every applied batch (for views that derive from rows). */
  version: number;
  /** The newest event applied, for "last event" displays. */
  last: BootEvent | null;
  load(records: DeviceRecord[]): void;
  /** New groups: every row's group is decided again. */
  setGroups(groups: GroupRecord[]): void;
  /** Each machine's last kept boot. */
  setLast(last: Record<string, LastBoot>): void;
  push(e: BootEvent): void;
  flush(): void;
  /** Called with each applied batch (the boot log's follow mode); returns the unsubscribe. */
  listen(fn: (batch: BootEvent[]) => void): () => void;
  /** Forgets every machine (a widget reloading its snapshot). */
  clear(): void;
  /** Forgets one machine (removed from the inventory). */
  forget(mac: string): void;
  /**
   * Called synchronously after every change to the rows with the rows it touched (each once), or
   * `null` when any row may have changed (a load, new groups, a clear): views that keep an order
   * of their own update it from this. Returns the unsubscribe.
   */
  onChange(fn: (changed: ReadonlySet<Machine> | null) => void): () => void;
}

/** The window event each applied batch sends (`detail.events`: how many events it applied; `detail.ts`: their times). */
export const BATCH_EVENT = 'netboot-fleet-batch';

/**
 * While events keep coming, batches are at least this far apart (at most 2.5 renders a second)...
 * Each page keeping to a tenth of its time is not enough when 20 of them share two cores with the
 * server they watch: at 4 renders a second, 20 pages took more than a core in a 500-machine storm.
 */
export const MIN_BATCH_GAP_MS = 400;
/** ...and at most this far (the dashboards promise the last event within 1 s). */
export const MAX_BATCH_GAP_MS = 500;

/**
 * The default scheduler: the next animation frame, paced. After each batch it measures how long
 * applying and rendering it took (to the first task after that frame) and waits 9 times as long,
 * but at least MIN_BATCH_GAP_MS and at most MAX_BATCH_GAP_MS, before the next batch: a storm costs
 * a page at most 2.5 renders a second and about a tenth of its time, however many rows it has and
 * however many pages share the machine (a busy machine makes each batch slower, which spaces them
 * further). A lone event after a quiet spell still shows on the next frame. A hidden page gets no
 * animation frames: it takes its batches once a second instead, so its queue cannot grow without
 * bound.
 */
export function pacedFrames(now: () => number = () => performance.now()): (fn: () => void) => void {
  let notBefore = 0;
  let measuring = false;
  let waiting: (() => void) | null = null;
  const frame = (fn: () => void): void => {
    const hidden = typeof document !== 'undefined' && document.visibilityState === 'hidden';
    if (hidden || typeof requestAnimationFrame !== 'function') {
      setTimeout(fn, hidden ? 1000 : 16);
      return;
    }
    requestAnimationFrame(() => {
      const t0 = now();
      measuring = true;
      fn();
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        ch.port1.close();
        const end = now();
        notBefore = end + Math.min(MAX_BATCH_GAP_MS, Math.max(MIN_BATCH_GAP_MS, (end - t0) * 9));
        measuring = false;
        const next = waiting;
        waiting = null;
        if (next) run(next);
      };
      ch.port2.postMessage(null);
    });
  };
  const run = (fn: () => void): void => {
    if (measuring) {
      waiting = fn;
      return;
    }
    const wait = notBefore - now();
    if (wait > 0) setTimeout(() => frame(fn), wait);
    else frame(fn);
  };
  return run;
}

export function createFleet(schedule: (fn: () => void) => void = pacedFrames()): Fleet {
  let queue: BootEvent[] = [];
  let scheduled = false;
  const listeners = new Set<(batch: BootEvent[]) => void>();
  const changeListeners = new Set<(changed: ReadonlySet<Machine> | null) => void>();
  const changed = (set: ReadonlySet<Machine> | null) => {
    for (const fn of changeListeners) fn(set);
  };
  const rows = markRaw(new Map<string, Machine>());
  const regroup = (m: Machine) => {
    const g = groupOf(m, fleet.groups)?.name ?? '';
    if (g !== m.group) {
      m.group = g;
      m.rev++;
    }
  };
  const fleet: Fleet = reactive({
    get rows() {
      void fleet.version;
      return rows;
    },
    groups: [] as GroupRecord[],
    version: 0,
    last: null,
    load(records: DeviceRecord[]) {
      for (const d of records) {
        const known = rows.get(d.mac);
        const fresh = machineFromRecord(d);
        if (!known) {
          regroup(fresh);
          rows.set(d.mac, fresh);
        } else {
          Object.assign(known, {
            hostname: fresh.hostname || known.hostname, arch: known.arch || fresh.arch, status: fresh.status, profileId: fresh.profileId, imageId: fresh.imageId,
            labels: fresh.labels, serial: fresh.serial || known.serial, model: fresh.model || known.model, match: fresh.match, lastSeen: Math.max(known.lastSeen, fresh.lastSeen), ip: known.ip || fresh.ip,
            site: fresh.site, lastSite: fresh.lastSite || known.lastSite,
            rev: known.rev + 1,
          });
          regroup(known);
        }
      }
      fleet.version++;
      changed(null);
    },
    setGroups(groups: GroupRecord[]) {
      fleet.groups = groups;
      for (const m of rows.values()) regroup(m);
      fleet.version++;
      changed(null);
    },
    setLast(last: Record<string, LastBoot>) {
      // reloaded every few seconds during a storm: only the machines whose last boot is new count as changed
      const touched = new Set<Machine>();
      for (const [mac, b] of Object.entries(last)) {
        const m = rows.get(mac);
        if (!m) continue;
        const was = m.last;
        if (was && was.startedAt === b.startedAt && was.outcome === b.outcome && was.toOsMs === b.toOsMs && was.toMenuMs === b.toMenuMs) continue;
        m.last = b;
        m.rev++;
        touched.add(m);
      }
      if (!touched.size) return;
      fleet.version++;
      changed(touched);
    },
    clear() {
      rows.clear();
      fleet.version++;
      changed(null);
    },
    onChange(fn: (changed: ReadonlySet<Machine> | null) => void) {
      changeListeners.add(fn);
      return () => changeListeners.delete(fn);
    },
    forget(mac: string) {
      if (!rows.delete(mac)) return;
      fleet.version++;
      changed(null);
    },
    listen(fn: (batch: BootEvent[]) => void) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    push(e: BootEvent) {
      queue.push(e);
      if (!scheduled) {
        scheduled = true;
        schedule(() => fleet.flush());
      }
    },
    flush() {
      scheduled = false;
      const batch = queue;
      queue = [];
      // a machine with many events in the batch is one changed row
      const touched = new Set<Machine>();
      for (const e of batch) {
        const m = applyEvent(rows, e);
        if (m && !touched.has(m)) {
          touched.add(m);
          m.rev++;
        }
      }
      if (batch.length) {
        fleet.last = batch[batch.length - 1];
        fleet.version++;
        if (touched.size) changed(touched);
        for (const fn of listeners) fn(batch);
        // for whoever measures the page from outside (bench/dashboard.ts): when the events this batch applied happened
        if (typeof CustomEvent === 'function') globalThis.dispatchEvent?.(new CustomEvent(BATCH_EVENT, { detail: { events: batch.length, ts: batch.map((e) => e.ts) } }));
      }
    },
  }) as Fleet;
  return fleet;
}

/** Sorts and filters rows for the tables: newest activity first by default. */
export type SortKey = 'status' | 'hostname' | 'mac' | 'arch' | 'group' | 'profileId' | 'stage' | 'lastBoot' | 'ip' | 'lastSeen';

export function view(rows: Iterable<Machine>, opts: { filter?: string; sort?: SortKey; desc?: boolean } = {}): Machine[] {
  const q = (opts.filter ?? '').trim().toLowerCase();
  const key = opts.sort ?? 'lastSeen';
  const sign = (opts.desc ?? key === 'lastSeen') ? -1 : 1;
  // each row's sort value computed once, not once per comparison
  const pairs: Array<{ v: SortValue; m: Machine }> = [];
  for (const m of rows) if (matchesFilter(m, q)) pairs.push({ v: sortValue(m, key), m });
  pairs.sort((a, b) => sign * compareValues(a.v, b.v) || compareText(a.m.mac, b.m.mac));
  return pairs.map((p) => p.m);
}

export type SortValue = string | number;

/** What a row is sorted by in the column `key`. */
export function sortValue(m: Machine, key: SortKey): SortValue {
  return key === 'status' ? healthOf(m) : key === 'lastBoot' ? (m.last?.toOsMs ?? Number.MAX_SAFE_INTEGER) : m[key];
}

/** `localeCompare` without its per-call setup: one collator for the page (the same default locale and options). */
const collator = new Intl.Collator();
export const compareText = (a: string, b: string): number => collator.compare(a, b);

export function compareValues(x: SortValue, y: SortValue): number {
  return typeof x === 'number' && typeof y === 'number' ? x - y : compareText(String(x), String(y));
}

/** Whether a row shows under the filter text `q` (already trimmed and lower-cased; '' shows every row). */
/** The rows of one site: pinned to it, or seen last by its server ('' = every site). */
export function atSite(m: Machine, site: string): boolean {
  return !site || m.site === site || (!m.site && m.lastSite === site);
}

export function matchesFilter(m: Machine, q: string): boolean {
  if (!q) return true;
  for (const v of [m.mac, m.hostname, m.arch, m.ip, m.stage, m.status, m.profileId, m.imageId, m.group, m.serial, m.model]) if (v.toLowerCase().includes(q)) return true;
  for (const [k, v] of Object.entries(m.labels)) if (`${k}=${v}`.toLowerCase().includes(q)) return true;
  return false;
}

/** "12 s ago", "5 min ago", from the locale's words. */
export function ago(ts: number, now: number, t: (k: string, v?: Record<string, string | number>) => string): string {
  if (!ts) return t('never');
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return t('agoSeconds', { n: s });
  if (s < 3600) return t('agoMinutes', { n: Math.floor(s / 60) });
  if (s < 86400) return t('agoHours', { n: Math.floor(s / 3600) });
  return t('agoDays', { n: Math.floor(s / 86400) });
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
