import type { Pool, PoolClient } from 'pg';
import { Type } from '@sinclair/typebox';
import { NetbootError } from '../core/errors';
import { normalizeMac } from '../core/mac';
import { checkImport, clampLimit, deviceText, findDevice, page, uniqueId } from './json-store';
import { lookupMac, macField, newDevice, otherMacs, patchDevice, StoreListeners, touchDevice } from './device-rules';
import { MIGRATIONS } from './pg-migrations';
import { redactUrl } from './url';
import {
  assertValid, SCHEMA_VERSION, DEFAULT_SETTINGS, DeviceCreate, DeviceFields, GroupCreate, GroupFields, ImageCreate, ImageFields,
  ProfileCreate, ProfileFields, Settings, ConfigCreate, ConfigFields,
  type BootEvent, type Build, type Device, type Group, type StoredBoot,
} from './schema';
import type { CheckInFacts, Collection, InventoryExport, InventoryStore, ListQuery, MachineKeys, Page, StoreChange, StoreHealth } from './types';

/**
 * The inventory on PostgreSQL, for several boot servers sharing one inventory (docs/store.md). The
 * same interface and the same rules as the JSON file (`json-store.ts`): every change validates first
 * and is one transaction; a resolved promise means it is committed. Changes are serialised by a
 * transaction-level advisory lock (an inventory takes a few writes a second; one writer at a time
 * keeps the cross-record rules, such as one MAC per device or one default group, exact across
 * servers), and announced with NOTIFY (`<collection>` or `<collection>\n<id>`) so every server's
 * listeners hear every change.
 *
 * When the database cannot be reached, the store turns read-only (`health()`): reads answer from a
 * copy of the inventory kept in memory (loaded at open, kept current by the change feed), so boots of
 * known machines go on; changes are refused with `unavailable` (HTTP 503), never half-written;
 * check-ins update only the copy; boot events and finished boots wait in memory (bounded). Every
 * second it tries again; once the database answers it listens again, reloads the copy, writes what
 * waited, and announces `all` so every listener rereads what it needs (the same resync follows a
 * lost change-feed connection alone).
 */
export interface PgStoreOptions {
  now?: () => Date;
  log?: { info?(msg: string): void; warn(msg: string): void; error(msg: string): void };
  /** How often to try the database again while it is unreachable (default 1000 ms). */
  retryMs?: number;
  /** The site name of the boot server, written on every event it appends that has none. */
  site?: string;
}

/** Boot events and finished boots kept in memory while the database is unreachable, at most. */
const WAITING_MAX = 10_000;

/** Errors that mean the database is out of reach (not a refused statement): the store turns read-only. */
const LOST_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', '57P01', '57P02', '57P03', '53300']);
export function lostConnection(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && (LOST_CODES.has(code) || code.startsWith('08'))) return true;
  return /Connection terminated|timeout exceeded when trying to connect|connection error|Client was closed|not queryable/i.test(String((err as Error | undefined)?.message ?? ''));
}

/** Gives a broken connection back to the pool to be closed; one the pool already took back is left alone. */
function discard(c: PoolClient): void {
  try {
    c.release(true);
  } catch {
    // released already
  }
}

/** The inventory as last read, for reads while the database is out of reach. */
interface Mirror {
  devices: Map<string, Device>;
  records: Map<Kind, Map<string, { id: string }>>;
  settings: Settings;
}

const LOCK = 0x6e6574; // "net": the inventory's advisory lock
const CHANNEL = 'netboot_changes';
/** The event log's count limit inside the query that needs it (no settings read per appended event); $2 = the default. */
const EVENT_LIMIT_SQL = "(SELECT coalesce((doc->>'eventLogLimit')::int, $2) FROM netboot_settings WHERE id = 1)";
type Kind = 'images' | 'profiles' | 'groups' | 'sessions' | 'builds' | 'configs';
const KINDS: readonly Kind[] = ['images', 'profiles', 'groups', 'sessions', 'builds', 'configs'];

export class PgInventoryStore implements InventoryStore {
  readonly devices: InventoryStore['devices'];
  readonly images: InventoryStore['images'];
  readonly profiles: InventoryStore['profiles'];
  readonly groups: InventoryStore['groups'];
  readonly sessions: InventoryStore['sessions'];
  readonly builds: InventoryStore['builds'];
  readonly configs: InventoryStore['configs'];
  private readonly now: () => Date;
  private readonly log?: PgStoreOptions['log'];
  private readonly listeners: StoreListeners;
  /** Bytes of stored events per `mac|type` (eventBytes is synchronous: counted at open, then as this server appends). */
  private readonly bytes = new Map<string, number>();
  private listener?: PoolClient;
  private closed = false;
  private readonly retryMs: number;
  private readonly site?: string;
  private mirror: Mirror = { devices: new Map(), records: new Map(), settings: {} };
  /** Mirror refreshes run one after another, in the order the changes came. */
  private mirrorQueue: Promise<void> = Promise.resolve();
  private down?: { since: string; reason: string };
  private readonly upSince = new Date().toISOString();
  private retryTimer?: NodeJS.Timeout;
  private waitingEvents: BootEvent[] = [];
  private waitingBoots: StoredBoot[] = [];
  private dropped = 0;

  private constructor(private readonly pool: Pool, opts: PgStoreOptions) {
    this.now = opts.now ?? (() => new Date());
    this.log = opts.log;
    this.retryMs = opts.retryMs ?? 1000;
    this.site = opts.site;
    this.listeners = new StoreListeners(opts.log);
    this.devices = this.makeDevices();
    this.images = this.makeRecords('images', 'image', ImageCreate, ImageFields, (r) => this.refsTo('imageId', r.id));
    this.profiles = this.makeRecords('profiles', 'profile', ProfileCreate, ProfileFields, (r) => this.refsTo('profileId', r.id));
    this.groups = this.makeRecords('groups', 'group', GroupCreate, GroupFields, async () => undefined);
    this.sessions = this.makeRecords('sessions', 'session', Type.Any(), Type.Any(), async () => undefined);
    this.builds = this.makeRecords('builds', 'build', Type.Any(), Type.Any(), async () => undefined);
    this.configs = this.makeRecords('configs', 'config', ConfigCreate, ConfigFields, (r) => this.configUsers(r.id));
  }

  /** Connects (`postgres://…`), applies pending migrations, and listens for other servers' changes. */
  static async open(url: string, opts: PgStoreOptions = {}): Promise<PgInventoryStore> {
    const { Pool } = await import('pg');
    // a database out of reach is found in seconds, not at the operating system's TCP timeout
    const pool = new Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 3000, keepAlive: true });
    // an idle connection the server ended (a restart): the pool drops it; the store notices on its next
    // query (or its change feed already has) and says so once, so a lost connection is not logged per client
    pool.on('error', (err) => {
      if (!lostConnection(err)) opts.log?.warn(`inventory database: ${err.message}`);
    });
    const store = new PgInventoryStore(pool, opts);
    try {
      await store.migrate();
      await store.listen();
      await store.countBytes();
      await store.loadMirror();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new NetbootError('store_io', `inventory database ${redactUrl(url)}: ${(err as Error).message}`, {}, { cause: err });
    }
    return store;
  }

  private async migrate(): Promise<void> {
    await this.tx(async (c) => {
      await c.query('CREATE TABLE IF NOT EXISTS netboot_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
      const done = new Set((await c.query<{ version: number }>('SELECT version FROM netboot_migrations')).rows.map((r) => r.version));
      const newest = Math.max(0, ...done);
      const known = Math.max(...MIGRATIONS.map((m) => m.version));
      if (newest > known) throw new NetbootError('store_corrupt', `the database has schema ${newest}, newer than this version knows (${known}): upgrade netboot`);
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query(m.sql);
        await c.query('INSERT INTO netboot_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      }
    });
  }

  private async listen(): Promise<void> {
    const c = await this.pool.connect();
    this.listener = c;
    c.on('notification', (n) => {
      if (n.channel !== CHANNEL) return;
      const [change, id] = (n.payload || 'all').split('\n') as [StoreChange, string | undefined];
      this.refreshMirror(change, id);
      this.listeners.changed(change, id);
    });
    const lost = (err?: Error) => {
      if (this.listener !== c || this.closed) return;
      this.listener = undefined;
      discard(c);
      this.markDown(err ?? new Error('the change feed connection ended'));
    };
    c.on('error', lost);
    c.on('end', () => lost());
    await c.query(`LISTEN ${CHANNEL}`);
  }

  // ---- the copy for reads while the database is out of reach ----------------------------------

  health(): StoreHealth {
    return this.down ? { state: 'read-only', reason: this.down.reason, since: this.down.since } : { state: 'ok', since: this.upSince };
  }

  onHealth(listener: (health: StoreHealth) => void): () => void {
    return this.listeners.onHealth(listener);
  }

  private async loadMirror(): Promise<void> {
    const devices = new Map<string, Device>();
    for (const r of (await this.pool.query<{ doc: Device }>('SELECT doc FROM netboot_devices ORDER BY seq')).rows) devices.set(r.doc.mac, r.doc);
    const records = new Map<Kind, Map<string, { id: string }>>();
    for (const r of (await this.pool.query<{ kind: Kind; id: string; doc: { id: string } }>("SELECT kind, id, doc FROM netboot_records WHERE kind <> 'builds' ORDER BY seq")).rows) {
      if (!records.has(r.kind)) records.set(r.kind, new Map());
      records.get(r.kind)!.set(r.id, r.doc);
    }
    const settings = (await this.pool.query<{ doc: Settings }>('SELECT doc FROM netboot_settings WHERE id = 1')).rows[0]?.doc ?? {};
    this.mirror = { devices, records, settings };
  }

  /** Brings the copy up to date with one change (one record reread, or everything). */
  private refreshMirror(change: StoreChange, id?: string): void {
    this.mirrorQueue = this.mirrorQueue.then(async () => {
      if (change === 'builds') return;
      if (change === 'all' || (!id && change !== 'settings')) return this.loadMirror();
      if (change === 'settings') {
        this.mirror.settings = (await this.pool.query<{ doc: Settings }>('SELECT doc FROM netboot_settings WHERE id = 1')).rows[0]?.doc ?? {};
      } else if (change === 'devices') {
        const doc = (await this.pool.query<{ doc: Device }>('SELECT doc FROM netboot_devices WHERE mac = $1', [id])).rows[0]?.doc;
        if (doc) this.mirror.devices.set(id!, doc); else this.mirror.devices.delete(id!);
      } else {
        const doc = (await this.pool.query<{ doc: { id: string } }>('SELECT doc FROM netboot_records WHERE kind = $1 AND id = $2', [change, id])).rows[0]?.doc;
        if (!this.mirror.records.has(change)) this.mirror.records.set(change, new Map());
        if (doc) this.mirror.records.get(change)!.set(id!, doc); else this.mirror.records.get(change)!.delete(id!);
      }
    }).catch((err: unknown) => {
      if (lostConnection(err)) this.markDown(err);
      else this.log?.warn(`inventory copy: ${(err as Error).message}`);
    });
  }

  private mirrorDevices(): Device[] {
    return [...this.mirror.devices.values()];
  }

  private mirrorRecords<T>(kind: Kind): T[] {
    return [...(this.mirror.records.get(kind)?.values() ?? [])] as T[];
  }

  /** The database went out of reach: read-only from the copy, and try again every second. */
  private markDown(err: unknown): void {
    if (this.closed || this.down) return;
    const reason = String((err as Error)?.message ?? err);
    this.down = { since: this.stamp(), reason };
    this.log?.error(`inventory database unreachable (${reason}): boots of known machines go on from the last inventory read, changes are refused until it is back`);
    this.listeners.healthChanged(this.health());
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.reconnect();
    }, this.retryMs);
    this.retryTimer.unref();
  }

  private async reconnect(): Promise<void> {
    if (this.closed || !this.down) return;
    try {
      if (!this.listener) await this.listen();
      await this.loadMirror();
      const since = this.down.since;
      this.down = undefined;
      let written: number;
      try {
        written = await this.writeWaiting();
      } catch (err) {
        // lost again while writing: what is not written yet stays waiting
        this.down = { since, reason: String((err as Error).message) };
        throw err;
      }
      const secs = Math.round((Date.now() - Date.parse(since)) / 1000);
      this.log?.warn(`inventory database reachable again after ${secs} s${written ? `; wrote ${written} boot events and boots kept meanwhile` : ''}${this.dropped ? ` (${this.dropped} dropped over the limit of ${WAITING_MAX})` : ''}`);
      this.dropped = 0;
      this.listeners.healthChanged(this.health());
      // what changed meanwhile, on other servers too: every listener rereads
      this.listeners.changed('all');
    } catch (err) {
      if (this.listener) {
        const l = this.listener;
        this.listener = undefined;
        discard(l);
      }
      this.down ??= { since: this.stamp(), reason: String((err as Error).message) };
      if (!lostConnection(err) && (err as NetbootError).code !== 'unavailable') this.log?.warn(`inventory database: ${(err as Error).message}`);
      this.scheduleRetry();
    }
  }

  /** Writes the events and boots that waited while the database was out of reach; returns how many. */
  private async writeWaiting(): Promise<number> {
    let n = 0;
    // one at a time, removed once written: lost again midway, the rest keeps waiting
    const drain = async <T>(list: T[], write: (item: T) => Promise<unknown>) => {
      while (list.length) {
        try {
          await write(list[0]);
          n++;
        } catch (err) {
          if (lostConnection(err) || (err as NetbootError).code === 'unavailable') throw err;
          this.log?.warn(`inventory database: a boot record kept while it was unreachable was refused: ${(err as Error).message}`);
        }
        list.shift();
      }
    };
    await drain(this.waitingEvents, (e) => this.insertEvent(this.pool, e));
    await drain(this.waitingBoots, (b) => this.insertBoot(b));
    return n;
  }

  private unavailable(): NetbootError {
    return new NetbootError('unavailable', `the inventory database is unreachable (${this.down?.reason ?? 'lost'}); changes are refused until it is back, boots of known machines go on`);
  }

  private wait<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > WAITING_MAX) {
      list.shift();
      this.dropped++;
    }
  }

  private async countBytes(): Promise<void> {
    const r = await this.pool.query<{ mac: string; type: string; n: string }>('SELECT mac, type, sum(octet_length(row_to_json(e)::text))::bigint AS n FROM netboot_events e WHERE mac IS NOT NULL GROUP BY mac, type');
    for (const row of r.rows) this.bytes.set(`${row.mac}|${row.type}`, Number(row.n));
  }

  /**
   * One transaction holding the inventory's write lock; `change` (and the changed record's `id`) is
   * announced after the commit. `lock: false` leaves the write lock alone, for work that locks its own
   * rows (the build claim); `announceIf` announces `change` only when the outcome says something
   * changed. Out of reach: refused with `unavailable`, nothing written.
   */
  private async tx<R>(fn: (c: PoolClient) => Promise<R>, change?: StoreChange, opts: { id?: string | ((r: R) => string | undefined); lock?: boolean; announceIf?: (out: R) => boolean } = {}): Promise<R> {
    if (this.closed) throw new NetbootError('store_io', 'the inventory database is closed');
    if (this.down) throw this.unavailable();
    let c: PoolClient;
    try {
      c = await this.pool.connect();
    } catch (err) {
      if (lostConnection(err)) {
        this.markDown(err);
        throw this.unavailable();
      }
      throw new NetbootError('store_io', `inventory database: ${(err as Error).message}`, {}, { cause: err });
    }
    let broken = false;
    try {
      await c.query('BEGIN');
      if (opts.lock !== false) await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK]);
      const out = await fn(c);
      if (change && (opts.announceIf?.(out) ?? true)) {
        const which = typeof opts.id === 'function' ? opts.id(out) : opts.id;
        await c.query('SELECT pg_notify($1, $2)', [CHANNEL, which ? `${change}\n${which}` : change]);
      }
      await c.query('COMMIT');
      return out;
    } catch (err) {
      if (lostConnection(err)) {
        // the transaction died with its connection: nothing of it was committed
        broken = true;
        this.markDown(err);
        throw this.unavailable();
      }
      await c.query('ROLLBACK').catch(() => undefined);
      if (err instanceof NetbootError) throw err;
      throw new NetbootError('store_io', `inventory database: ${(err as Error).message}`, {}, { cause: err });
    } finally {
      c.release(broken);
    }
  }

  /** A query; out of reach, `fallback` answers from the copy (or, without one, `unavailable`). */
  private async read<R>(fn: (q: Pool) => Promise<R>, fallback?: () => R): Promise<R> {
    if (this.closed) throw new NetbootError('store_io', 'the inventory database is closed');
    if (this.down) {
      if (fallback) return fallback();
      throw this.unavailable();
    }
    try {
      return await fn(this.pool);
    } catch (err) {
      if (err instanceof NetbootError) throw err;
      if (lostConnection(err)) {
        this.markDown(err);
        if (fallback) return fallback();
        throw this.unavailable();
      }
      throw new NetbootError('store_io', `inventory database: ${(err as Error).message}`, {}, { cause: err });
    }
  }

  onChange(listener: (change: StoreChange) => void): () => void {
    return this.listeners.onChange(listener);
  }

  onEvent(listener: (event: BootEvent) => void): () => void {
    return this.listeners.onEvent(listener);
  }

  async flush(): Promise<void> {
    // every acknowledged change is committed already
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.waitingEvents.length || this.waitingBoots.length) this.log?.warn(`inventory database still unreachable at close: ${this.waitingEvents.length} boot events and ${this.waitingBoots.length} boots were not written`);
    this.listener?.release();
    await this.mirrorQueue.catch(() => undefined);
    await this.pool.end();
  }

  private stamp(): string {
    return this.now().toISOString();
  }

  // ---- devices --------------------------------------------------------------------------------

  private async deviceByMac(q: Pool | PoolClient, mac: string, lock = false): Promise<Device | undefined> {
    const r = await q.query<{ doc: Device }>(`SELECT doc FROM netboot_devices WHERE mac = $1 OR doc->'macs' ? $1 ORDER BY (mac = $1) DESC LIMIT 1${lock ? ' FOR UPDATE' : ''}`, [mac]);
    return r.rows[0]?.doc;
  }

  private async checkRefs(c: PoolClient, rec: { imageId?: string | null; profileId?: string | null }): Promise<void> {
    for (const [field, kind, what] of [['imageId', 'images', 'image'], ['profileId', 'profiles', 'profile']] as const) {
      const id = rec[field];
      if (id && !(await c.query('SELECT 1 FROM netboot_records WHERE kind = $1 AND id = $2', [kind, id])).rowCount) {
        throw new NetbootError('validation', `field "${field}": no ${what} "${id}"`, { field });
      }
    }
  }

  private async checkConfigRefs(c: PoolClient, rec: { configs?: string[] }): Promise<void> {
    for (const id of rec.configs ?? []) {
      if (!(await c.query("SELECT 1 FROM netboot_records WHERE kind = 'configs' AND id = $1", [id])).rowCount) {
        throw new NetbootError('validation', `field "configs": no config document "${id}"`, { field: 'configs' });
      }
    }
  }

  private async refsTo(field: 'imageId' | 'profileId', id: string): Promise<string | undefined> {
    const d = await this.pool.query<{ mac: string }>(`SELECT mac FROM netboot_devices WHERE doc->>'${field}' = $1 OR doc->'bootOnce'->>'${field}' = $1 ORDER BY seq LIMIT 1`, [id]);
    if (d.rows[0]) return `device ${d.rows[0].mac}`;
    const g = await this.pool.query<{ id: string }>(`SELECT id FROM netboot_records WHERE kind = 'groups' AND doc->>'${field}' = $1 ORDER BY seq LIMIT 1`, [id]);
    return g.rows[0] ? `group ${g.rows[0].id}` : undefined;
  }

  private async configUsers(id: string): Promise<string | undefined> {
    const r = await this.pool.query<{ kind: string; id: string }>("SELECT kind, id FROM netboot_records WHERE kind IN ('profiles', 'groups') AND doc->'configs' ? $1 ORDER BY kind DESC, seq LIMIT 1", [id]);
    return r.rows[0] ? `${r.rows[0].kind === 'profiles' ? 'profile' : 'group'} ${r.rows[0].id}` : undefined;
  }

  private makeDevices(): InventoryStore['devices'] {
    const save = (c: PoolClient, dev: Device) => c.query('UPDATE netboot_devices SET doc = $2 WHERE mac = $1', [dev.mac, dev]);
    return {
      list: (query) => this.read((q) => listPage<Device>(q, 'SELECT doc FROM netboot_devices', [], query, "concat_ws(' ', doc->>'mac', doc->>'macs', doc->>'hostname', doc->>'serial', doc->>'serviceTag')"), () => page(this.mirrorDevices(), query, deviceText)),
      get: async (id) => {
        const mac = lookupMac(id);
        if (!mac) return undefined;
        // the copy is keyed by primary MAC; another of a device's MACs takes a search
        return this.read((q) => this.deviceByMac(q, mac), () => structuredClone(this.mirror.devices.get(mac)) ?? findDevice(this.mirrorDevices(), { mac }));
      },
      find: (keys: MachineKeys) => this.read(async (q) => {
        if (keys.mac) {
          const hit = await this.deviceByMac(q, normalizeMac(keys.mac));
          if (hit) return hit;
        }
        const one = async (sql: string, v: string) => (await q.query<{ doc: Device }>(`SELECT doc FROM netboot_devices WHERE ${sql} ORDER BY seq LIMIT 1`, [v])).rows[0]?.doc;
        return (keys.uuid ? await one("doc->>'uuid' = $1", keys.uuid.toLowerCase()) : undefined)
          ?? (keys.serial ? await one("regexp_replace(doc->>'serial', '^10000000', '') = $1", keys.serial.toLowerCase().replace(/^10000000/, '')) : undefined)
          ?? (keys.serviceTag ? await one("lower(doc->>'serviceTag') = $1", keys.serviceTag.toLowerCase()) : undefined);
      }, () => findDevice(this.mirrorDevices(), keys)),
      create: async (input) => {
        assertValid(DeviceCreate, input, 'device');
        const mac = macField(input.mac, true);
        return this.tx(async (c) => {
          const macs = otherMacs(mac, input.macs);
          for (const m of [mac, ...macs]) {
            const other = await this.deviceByMac(c, m);
            if (other) throw new NetbootError('conflict', `device with MAC ${m} already exists (${other.mac})`, { field: 'mac', id: other.mac });
          }
          await this.checkRefs(c, input);
          const dev = newDevice(input, mac, macs, this.stamp());
          await c.query('INSERT INTO netboot_devices (mac, doc) VALUES ($1, $2)', [mac, dev]);
          return dev;
        }, 'devices', { id: mac });
      },
      update: async (id, patch) => {
        assertValid(DeviceFields, patch, 'device');
        const mac = macField(id);
        return this.tx(async (c) => {
          const dev = await this.deviceByMac(c, mac, true);
          if (!dev) throw new NetbootError('not_found', `no device ${mac}`, { id: mac });
          const macs = patch.macs === undefined ? dev.macs : otherMacs(dev.mac, patch.macs);
          for (const m of macs) {
            const other = await this.deviceByMac(c, m);
            if (other && other.mac !== dev.mac) throw new NetbootError('conflict', `MAC ${m} belongs to device ${other.mac}`, { field: 'macs', id: other.mac });
          }
          await this.checkRefs(c, patch);
          patchDevice(dev, patch, macs, this.stamp());
          await save(c, dev);
          return dev;
        }, 'devices', { id: (d) => d.mac });
      },
      remove: async (id) => {
        const mac = macField(id);
        await this.tx(async (c) => {
          const r = await c.query('DELETE FROM netboot_devices WHERE mac = $1', [mac]);
          if (!r.rowCount) throw new NetbootError('not_found', `no device ${mac}`, { id: mac });
        }, 'devices', { id: mac });
      },
      touch: async (id, facts: CheckInFacts) => {
        const mac = macField(id);
        try {
          // one row, locked by FOR UPDATE: a sighting needs no inventory-wide write lock (a storm's check-ins run side by side)
          return await this.tx(async (c) => {
            const dev = await this.deviceByMac(c, mac, true);
            if (!dev) throw new NetbootError('not_found', `no device ${mac}`, { id: mac });
            touchDevice(dev, facts, this.stamp());
            await save(c, dev);
            return dev;
          }, undefined, { lock: false });
        } catch (err) {
          // out of reach, a check-in only updates the copy: the machine still boots
          if (!this.down || (err as NetbootError).code !== 'unavailable') throw err;
          const dev = findDevice(this.mirrorDevices(), { mac });
          if (!dev) throw new NetbootError('not_found', `no device ${mac}`, { id: mac });
          touchDevice(dev, facts, this.stamp());
          this.mirror.devices.set(dev.mac, structuredClone(dev));
          return dev;
        }
      },
    };
  }

  // ---- records with ids -----------------------------------------------------------------------

  private makeRecords<T extends { id: string }>(
    kind: Kind,
    what: string,
    createSchema: Parameters<typeof assertValid>[0],
    patchSchema: Parameters<typeof assertValid>[0],
    inUse: (rec: T) => Promise<string | undefined>,
  ): Collection<T, any, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
    // builds are not in the copy: their queue waits for the database
    const mirrored = <R>(fn: () => R): (() => R) | undefined => (kind === 'builds' ? undefined : fn);
    const one = async (q: Pool | PoolClient, id: string, lock = false) => (await q.query<{ doc: T }>(`SELECT doc FROM netboot_records WHERE kind = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`, [kind, id])).rows[0]?.doc;
    return {
      list: (query) => this.read((q) => listPage<T>(q, 'SELECT doc FROM netboot_records WHERE kind = $1', [kind], query, "concat_ws(' ', id, doc->>'name')"), mirrored(() => page(this.mirrorRecords<T>(kind), query, (r) => `${r.id} ${(r as { name?: string }).name ?? ''}`))),
      get: (id) => this.read((q) => one(q, id), mirrored(() => structuredClone(this.mirror.records.get(kind)?.get(id) as T | undefined))),
      create: async (input: Record<string, unknown>) => {
        assertValid(createSchema, input, what);
        return this.tx(async (c) => {
          let id = input.id as string | undefined;
          if (!id) {
            const base = uniqueId([], (input.name as string | undefined) ?? what);
            const taken = (await c.query<{ id: string }>('SELECT id FROM netboot_records WHERE kind = $1 AND (id = $2 OR id LIKE $3)', [kind, base, `${base}-%`])).rows;
            id = uniqueId(taken, (input.name as string | undefined) ?? what);
          }
          if (await one(c, id)) throw new NetbootError('conflict', `${what} "${id}" already exists`, { field: 'id', id });
          if (kind === 'groups') await this.checkRefs(c, input as { imageId?: string; profileId?: string });
          if (kind === 'groups' || kind === 'profiles') await this.checkConfigRefs(c, input as { configs?: string[] });
          if (kind === 'groups' && input.isDefault) {
            const def = (await c.query<{ id: string }>("SELECT id FROM netboot_records WHERE kind = 'groups' AND (doc->>'isDefault')::boolean LIMIT 1")).rows[0];
            if (def) throw new NetbootError('conflict', `a default group already exists (${def.id})`, { field: 'isDefault' });
          }
          const ts = this.stamp();
          const rec = { ...input, id, createdAt: ts, updatedAt: ts } as unknown as T;
          await c.query('INSERT INTO netboot_records (kind, id, doc) VALUES ($1, $2, $3)', [kind, id, rec]);
          return rec;
        }, kind, { id: (r) => r.id });
      },
      update: async (id, patch: Record<string, unknown>) => {
        if (kind !== 'sessions' && kind !== 'builds') assertValid(Type.Partial(patchSchema as ReturnType<typeof Type.Object>), patch, what);
        if ('id' in patch && patch.id !== id) throw new NetbootError('validation', `${what}: field "id": cannot be changed`, { field: 'id' });
        return this.tx(async (c) => {
          const rec = await one(c, id, true);
          if (!rec) throw new NetbootError('not_found', `no ${what} "${id}"`, { id });
          if (kind === 'groups') await this.checkRefs(c, patch as { imageId?: string; profileId?: string });
          if (kind === 'groups' || kind === 'profiles') await this.checkConfigRefs(c, patch as { configs?: string[] });
          Object.assign(rec, patch, { id, updatedAt: this.stamp() });
          await c.query('UPDATE netboot_records SET doc = $3 WHERE kind = $1 AND id = $2', [kind, id, rec]);
          return rec;
        }, kind, { id });
      },
      remove: async (id) => {
        await this.tx(async (c) => {
          const rec = await one(c, id, true);
          if (!rec) throw new NetbootError('not_found', `no ${what} "${id}"`, { id });
          const user = await inUse(rec);
          if (user) throw new NetbootError('conflict', `${what} "${id}" is in use by ${user}`, { id });
          await c.query('DELETE FROM netboot_records WHERE kind = $1 AND id = $2', [kind, id]);
        }, kind, { id });
      },
    };
  }

  // ---- the build queue ------------------------------------------------------------------------

  /**
   * Several servers take builds at once: the row is chosen with `FOR UPDATE SKIP LOCKED`, so a build
   * another server is claiming right now is passed over rather than waited for, and no build is taken
   * twice. This transaction does not take the inventory's write lock (it would serialise the claims
   * and make SKIP LOCKED moot); an ordinary `builds.update` of the same row waits for the row lock.
   * Leases are reckoned on the database's clock, so servers whose clocks disagree still agree on
   * when one has lapsed.
   */
  async claimBuild(owner: string, leaseMs: number): Promise<Build | undefined> {
    return this.tx(async (c) => {
      const next = (await c.query<{ id: string }>(
        `SELECT id FROM netboot_records WHERE kind = 'builds' AND doc->>'status' IN ('pending', 'building')
           AND (doc->>'status' = 'pending' OR doc->>'leaseUntil' < ${isoSql('clock_timestamp()')})
         ORDER BY doc->>'status' = 'pending' DESC, seq LIMIT 1 FOR UPDATE SKIP LOCKED`,
      )).rows[0];
      if (!next) return undefined;
      const r = await c.query<{ doc: Build }>(
        `UPDATE netboot_records SET doc = doc || jsonb_build_object(
           'status', 'building', 'claimedBy', $2::text, 'leaseUntil', ${isoSql("clock_timestamp() + $3::double precision * interval '1 millisecond'")},
           'startedAt', coalesce(doc->'startedAt', to_jsonb($4::text)), 'attempts', coalesce((doc->>'attempts')::int, 0) + 1, 'updatedAt', $4::text)
         WHERE kind = 'builds' AND id = $1 RETURNING doc`,
        [next.id, owner, leaseMs, this.stamp()],
      );
      return r.rows[0].doc;
    }, 'builds', { lock: false, announceIf: (b) => b !== undefined, id: (b) => b?.id });
  }

  /** One statement (its own transaction, locking only the row); a lease is not announced as a change. */
  async renewBuild(id: string, owner: string, leaseMs: number): Promise<boolean> {
    const r = await this.read((q) => q.query(
      `UPDATE netboot_records SET doc = doc || jsonb_build_object('leaseUntil', ${isoSql("clock_timestamp() + $3::double precision * interval '1 millisecond'")})
       WHERE kind = 'builds' AND id = $1 AND doc->>'status' = 'building' AND doc->>'claimedBy' = $2`,
      [id, owner, leaseMs],
    ));
    return r.rowCount === 1;
  }

  // ---- events, boots, settings, export --------------------------------------------------------

  async appendEvent(event: Omit<BootEvent, 'seq' | 'ts'> & { ts?: string }): Promise<BootEvent> {
    const rec = { ...event, ts: event.ts ?? this.stamp() } as BootEvent;
    if (rec.mac) rec.mac = normalizeMac(rec.mac);
    if (!rec.site && this.site) rec.site = this.site;
    let stored: BootEvent;
    try {
      stored = await this.read(async (q) => ({ ...rec, seq: await this.insertEvent(q, rec) }));
    } catch (err) {
      if (!this.down) throw err;
      // out of reach: it waits in memory (seq 0 until written) and is written once the database is back
      this.wait(this.waitingEvents, rec);
      stored = { ...rec, seq: 0 };
    }
    if (stored.mac) {
      // as the JSON file counts them: the bytes of the stored record
      const k = `${stored.mac}|${stored.type}`;
      this.bytes.set(k, (this.bytes.get(k) ?? 0) + Buffer.byteLength(JSON.stringify(stored)));
    }
    this.listeners.appended(stored);
    return stored;
  }

  private async insertEvent(q: Pool, rec: Omit<BootEvent, 'seq'>): Promise<number> {
    const r = await q.query<{ seq: string }>('INSERT INTO netboot_events (ts, type, mac, ip, message, data, site) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq', [rec.ts, rec.type, rec.mac ?? null, rec.ip ?? null, rec.message ?? null, rec.data ?? null, rec.site ?? null]);
    const seq = Number(r.rows[0].seq);
    // the count limit: the oldest go, checked every 64 appends
    if (seq % 64 === 0) await q.query(`DELETE FROM netboot_events WHERE seq <= $1 - ${EVENT_LIMIT_SQL}`, [seq, DEFAULT_SETTINGS.eventLogLimit]);
    return seq;
  }

  eventBytes(mac: string, type: string): number {
    return this.bytes.get(`${normalizeMac(mac)}|${type}`) ?? 0;
  }

  async listEvents(query: { mac?: string; site?: string; afterSeq?: number; limit?: number } = {}): Promise<BootEvent[]> {
    const mac = query.mac ? normalizeMac(query.mac) : null;
    return this.read(async (q) => {
      const r = await q.query<{ seq: string; ts: string; type: string; mac: string | null; ip: string | null; site: string | null; message: string | null; data: Record<string, unknown> | null }>(
        `SELECT * FROM (SELECT * FROM netboot_events WHERE seq > (SELECT coalesce(max(seq), 0) FROM netboot_events) - ${EVENT_LIMIT_SQL.replace('$2', '$4')} AND ($1::text IS NULL OR mac = $1) AND ($5::text IS NULL OR site = $5) AND seq > $2 ORDER BY seq DESC LIMIT $3) t ORDER BY seq`,
        [mac, query.afterSeq ?? 0, clampLimit(query.limit), DEFAULT_SETTINGS.eventLogLimit, query.site ?? null],
      );
      return r.rows.map((e) => {
        const out: BootEvent = { seq: Number(e.seq), ts: e.ts, type: e.type };
        if (e.mac) out.mac = e.mac;
        if (e.ip) out.ip = e.ip;
        if (e.site) out.site = e.site;
        if (e.message !== null) out.message = e.message;
        if (e.data) out.data = e.data;
        return out;
      });
    });
  }

  async recordBoot(boot: StoredBoot): Promise<void> {
    try {
      await this.insertBoot(boot);
    } catch (err) {
      if (!this.down || (err as NetbootError).code !== 'unavailable') throw err;
      this.wait(this.waitingBoots, boot);
    }
  }

  private async insertBoot(boot: StoredBoot): Promise<void> {
    const mac = normalizeMac(boot.mac);
    const keep = (await this.getSettings()).bootsKeptPerDevice;
    await this.tx(async (c) => {
      const rec = { ...boot, mac };
      await c.query('INSERT INTO netboot_boots (mac, id, started_at, doc) VALUES ($1, $2, $3, $4) ON CONFLICT (mac, id) DO UPDATE SET doc = EXCLUDED.doc, started_at = EXCLUDED.started_at', [mac, boot.id, boot.startedAt, rec]);
      await c.query('DELETE FROM netboot_boots WHERE mac = $1 AND seq NOT IN (SELECT seq FROM netboot_boots WHERE mac = $1 ORDER BY seq DESC LIMIT $2)', [mac, keep]);
    });
  }

  async listBoots(mac: string): Promise<StoredBoot[]> {
    const m = normalizeMac(mac);
    return this.read(async (q) => (await q.query<{ doc: StoredBoot }>('SELECT doc FROM netboot_boots WHERE mac = $1 ORDER BY seq', [m])).rows.map((r) => r.doc));
  }

  async bootsSince(sinceMs: number): Promise<StoredBoot[]> {
    return this.read(async (q) => (await q.query<{ doc: StoredBoot }>('SELECT doc FROM netboot_boots WHERE started_at >= $1 ORDER BY started_at', [sinceMs])).rows.map((r) => r.doc));
  }

  async getSettings(): Promise<Required<Settings>> {
    const doc = await this.read(async (q) => (await q.query<{ doc: Settings }>('SELECT doc FROM netboot_settings WHERE id = 1')).rows[0]?.doc ?? {}, () => this.mirror.settings);
    return { ...DEFAULT_SETTINGS, ...doc };
  }

  async updateSettings(patch: Settings): Promise<Required<Settings>> {
    assertValid(Settings, patch, 'settings');
    await this.tx((c) => c.query('UPDATE netboot_settings SET doc = doc || $1 WHERE id = 1', [patch]), 'settings');
    return this.getSettings();
  }

  async exportAll(): Promise<InventoryExport> {
    return this.read(async (q) => {
      const all = async <T>(kind: Kind) => (await q.query<{ doc: T }>('SELECT doc FROM netboot_records WHERE kind = $1 ORDER BY seq', [kind])).rows.map((r) => r.doc);
      return {
        format: 'netboot-inventory' as const, schemaVersion: SCHEMA_VERSION, exportedAt: this.stamp(),
        devices: (await q.query<{ doc: Device }>('SELECT doc FROM netboot_devices ORDER BY seq')).rows.map((r) => r.doc),
        images: await all('images'), profiles: await all('profiles'), groups: await all<Group>('groups'), sessions: await all('sessions'), configs: await all('configs'),
        settings: (await q.query<{ doc: Settings }>('SELECT doc FROM netboot_settings WHERE id = 1')).rows[0]?.doc ?? {},
      } as InventoryExport;
    });
  }

  async importAll(doc: unknown, mode: 'replace' | 'merge' = 'replace', opts: { keepReported?: boolean } = {}): Promise<{ devices: number; images: number; profiles: number; groups: number }> {
    const incoming = checkImport(doc, opts.keepReported);
    return this.tx(async (c) => {
      if (mode === 'replace') {
        await c.query('DELETE FROM netboot_devices');
        await c.query("DELETE FROM netboot_records WHERE kind <> 'builds'");
        await c.query("UPDATE netboot_settings SET doc = '{}' WHERE id = 1");
      }
      const put = (kind: Kind, r: { id: string }) => c.query('INSERT INTO netboot_records (kind, id, doc) VALUES ($1, $2, $3) ON CONFLICT (kind, id) DO UPDATE SET doc = EXCLUDED.doc', [kind, r.id, r]);
      for (const r of incoming.images) await put('images', r);
      for (const r of incoming.profiles) await put('profiles', r);
      for (const r of incoming.groups) await put('groups', r);
      for (const r of incoming.sessions) await put('sessions', r);
      for (const r of incoming.configs ?? []) await put('configs', r);
      for (const dev of incoming.devices) {
        await c.query('INSERT INTO netboot_devices (mac, doc) VALUES ($1, $2) ON CONFLICT (mac) DO UPDATE SET doc = EXCLUDED.doc', [dev.mac, dev]);
      }
      for (const dev of (await c.query<{ doc: Device }>('SELECT doc FROM netboot_devices')).rows) await this.checkRefs(c, dev.doc);
      await c.query('UPDATE netboot_settings SET doc = doc || $1 WHERE id = 1', [incoming.settings]);
      return { devices: incoming.devices.length, images: incoming.images.length, profiles: incoming.profiles.length, groups: incoming.groups.length };
    }, 'all');
  }
}

/** SQL for a timestamptz expression as the ISO text the records hold (`2026-01-02T03:04:05.678Z`), which sorts as time. */
function isoSql(expr: string): string {
  return `to_char((${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/** A page of a list with the JSON store's filters: top-level fields, `label.<key>`, `q` (substring). */
async function listPage<T>(q: Pool, select: string, params: unknown[], query: ListQuery = {}, haystack: string): Promise<Page<T>> {
  const where: string[] = [];
  const args = [...params];
  for (const [k, v] of Object.entries(query.filter ?? {})) {
    args.push(k === 'q' ? `%${v.toLowerCase().replace(/[\\%_]/g, (m) => `\\${m}`)}%` : v);
    const p = `$${args.length}`;
    if (k === 'q') where.push(`lower(${haystack}) LIKE ${p}`);
    else if (k.startsWith('label.')) {
      args.push(k.slice(6));
      where.push(`doc->'labels'->>$${args.length} = ${p}`);
    } else {
      args.push(k);
      where.push(`doc->>$${args.length} = ${p}`);
    }
  }
  const offset = Math.max(0, Math.floor(query.offset ?? 0)) || 0;
  const limit = clampLimit(query.limit);
  const cond = where.length ? `${select.includes(' WHERE ') ? ' AND' : ' WHERE'} ${where.join(' AND ')}` : '';
  const inner = `${select.replace('SELECT doc FROM', 'SELECT doc, seq FROM')}${cond}`;
  const r = await q.query<{ doc: T; total: string }>(`SELECT doc, count(*) OVER () AS total FROM (${inner}) x ORDER BY seq OFFSET ${offset} LIMIT ${limit}`, args);
  const total = r.rows[0] ? Number(r.rows[0].total) : offset > 0 ? Number((await q.query<{ n: string }>(`SELECT count(*) AS n FROM (${select}${cond}) x`, args)).rows[0].n) : 0;
  return { items: r.rows.map((x) => x.doc), total, offset, limit };
}


export const PG_RECORD_KINDS = KINDS;
