/**
 * One live connection to the boot server: the inventory page and /status once, then the event
 * stream (fetch + Authorization header) feeding the fleet. `state` says what the user should see.
 */
import { reactive } from 'vue';
import { ApiError, type Client } from './api';
import { createFleet, type BootEvent, type DeviceRecord, type Fleet, type GroupRecord, type LastBoot } from './fleet';
import { readEventStream } from './sse';

export interface PortInfo { key: string; purpose: string; port: number; boundPort?: number; address: string; state: string; optional?: boolean; error?: string }
export interface ServerStatus {
  status: string;
  /** This server's site name; `store` is `read-only` while a shared inventory database is unreachable. */
  site?: string;
  store?: string;
  storeError?: string;
  ports: PortInfo[];
  dhcpMode?: string;
  network?: { advertised: string; interface?: string; reason: string; pinned: boolean; problem?: string };
  bootPrograms?: { id: string; label: string; ready: boolean; missing?: string; fix?: string }[];
  rogueDhcp?: Array<{ server: string; ip?: string; at: number; detail?: string }>;
  iscsi?: { state: string; error?: string; targets: number; sessions: number };
}

export type ConnectionState = 'connecting' | 'live' | 'offline' | 'starting' | 'unauthorized' | 'noServer';

export interface Connection {
  fleet: Fleet;
  status: ServerStatus | null;
  state: ConnectionState;
  error: string;
  /** Events received over the stream since the page opened (not reactive). */
  readonly received: number;
  start(): void;
  stop(): void;
  refresh(): Promise<void>;
  /** Groups again (after one was saved): every row's group is decided again. */
  refreshGroups(): Promise<void>;
  /** The kept boots' figures again (each machine's last boot); the charts read `stats`. */
  refreshStats(): Promise<void>;
  /** GET /boots/stats of the last load (the charts). */
  stats: BootStats | null;
  /** The sites the inventory knows (GET /sites): with several servers on one inventory, the table can show one. */
  sites: string[];
  /** Bumped per inventory collection changed on the server (by anyone, on any server of a shared inventory): views reload from it. */
  changes: Record<string, number>;
}

export interface BootStats {
  from: number;
  to: number;
  hours: Array<{ start: number; boots: number; done: number; failed: number; menu: { p50: number; p90: number; p99: number } | null }>;
  last: Record<string, LastBoot>;
}

function stateOf(err: unknown): ConnectionState {
  if (err instanceof ApiError) {
    if (err.status === 401 || err.status === 403) return 'unauthorized';
    if (err.status === 503) return /starting/i.test(err.message) ? 'starting' : 'noServer';
  }
  return 'offline';
}

export function createConnection(client: Client, fetchImpl?: typeof fetch): Connection {
  let abort: AbortController | undefined;
  let statsTimer: ReturnType<typeof setTimeout> | undefined;
  const statsSoon = () => {
    if (statsTimer) return;
    statsTimer = setTimeout(() => {
      statsTimer = undefined;
      void conn.refreshStats().catch(() => undefined);
    }, 1500);
  };
  // inventory changes, by this server or another on the same database: the rows named are read again
  // (a burst at once), a whole collection or too many rows reload the table
  let changedDevices = new Set<string>();
  let everything = false;
  let changeTimer: ReturnType<typeof setTimeout> | undefined;
  const rereadSoon = (collection: string, id?: string) => {
    conn.changes[collection] = (conn.changes[collection] ?? 0) + 1;
    if (collection === 'groups') void conn.refreshGroups().catch(() => undefined);
    if (collection !== 'devices' && collection !== 'all') return;
    if (collection === 'all' || !id) everything = true;
    else changedDevices.add(id);
    if (changeTimer) return;
    changeTimer = setTimeout(() => {
      changeTimer = undefined;
      const macs = [...changedDevices];
      const all = everything || macs.length > 50;
      changedDevices = new Set();
      everything = false;
      if (all) {
        void allDevices(client, (items) => conn.fleet.load(items)).catch(() => undefined);
        void refreshSites();
        if (collection === 'all') void conn.refreshGroups().catch(() => undefined);
        return;
      }
      for (const mac of macs) {
        client.get<DeviceRecord>(`devices/${encodeURIComponent(mac)}`).then((d) => {
          conn.fleet.load([d]);
          // a pin may name a site the page does not know yet (no need to ask the server for all of them)
          for (const s of [d.site, d.lastSite]) if (s && !conn.sites.includes(s)) conn.sites = [...conn.sites, s].sort();
        }, (err: unknown) => {
          if (err instanceof ApiError && err.status === 404) conn.fleet.forget(mac);
        });
      }
    }, 300);
  };
  const refreshSites = () => client.get<{ sites: Array<{ name: string }> }>('sites').then((s) => { conn.sites = s.sites.map((x) => x.name); }, () => undefined);
  let received = 0;
  const conn: Connection = reactive({
    changes: {} as Record<string, number>,
    sites: [] as string[],
    fleet: createFleet(),
    status: null,
    state: 'connecting',
    error: '',
    // counted outside the reactive object: a storm brings thousands a second, and a reactive
    // write per event (nothing draws the count) was a tenth of the page's script time
    get received() {
      return received;
    },
    stats: null,
    async refreshGroups() {
      const g = await client.get<{ items: GroupRecord[] }>('groups?limit=1000');
      conn.fleet.setGroups(g.items);
    },
    async refreshStats() {
      const s = await client.get<BootStats>('boots/stats?hours=24');
      conn.stats = s;
      conn.fleet.setLast(s.last);
    },
    async refresh() {
      try {
        // each page of the inventory shows as it arrives: the table has rows after the first one
        const [status] = await Promise.all([client.get<ServerStatus>('status'), allDevices(client, (items) => conn.fleet.load(items))]);
        conn.status = status;
        if (conn.state !== 'live') conn.state = 'connecting';
        conn.error = '';
        // groups and the kept boots' figures come after the table is there: they never delay it
        void conn.refreshGroups().catch(() => undefined);
        void conn.refreshStats().catch(() => undefined);
        void refreshSites();
      } catch (err) {
        conn.state = stateOf(err);
        conn.error = (err as Error).message;
        throw err;
      }
    },
    start() {
      conn.stop();
      const ac = new AbortController();
      abort = ac;
      void (async () => {
        // the inventory first; retry while the server is starting or unreachable
        while (!ac.signal.aborted) {
          try {
            await conn.refresh();
            break;
          } catch {
            if (conn.state === 'unauthorized') return;
            await new Promise((r) => setTimeout(r, 2000));
          }
        }
        await readEventStream({
          url: `${client.root}netboot/api/events`,
          token: client.token,
          signal: ac.signal,
          fetchImpl,
          onMessage: (m) => {
            try {
              const e = JSON.parse(m.data) as BootEvent;
              conn.fleet.push(e);
              received++;
              // a boot that ended changes the machine's last boot and the charts: reload them, once per burst
              if (e.type === 'stage' && (e.to === 'done' || e.to === 'failed')) statsSoon();
              // another DHCP server answered, or tgtd's state moved: the health panel says so now
              if (e.type === 'dhcp.rogue' || e.type === 'iscsi.login' || e.type === 'iscsi.logout' || e.type === 'server.store') client.get<ServerStatus>('status').then((s) => { conn.status = s; }, () => undefined);
              if (e.type === 'inventory.changed') rereadSoon(String(e.collection ?? 'all'), typeof e.id === 'string' ? e.id : undefined);
            } catch {
              // a frame that is not JSON is not an event of ours
            }
          },
          onState: (connected, error) => {
            if (connected) {
              conn.state = 'live';
              conn.error = '';
              // ports and the network may have changed while we were away
              client.get<ServerStatus>('status').then((s) => { conn.status = s; }, () => undefined);
            } else {
              conn.state = error && /401|403/.test(error) ? 'unauthorized' : 'offline';
              conn.error = error ?? '';
            }
          },
        });
      })();
    },
    stop() {
      clearTimeout(changeTimer);
      changeTimer = undefined;
      clearTimeout(statsTimer);
      statsTimer = undefined;
      abort?.abort();
      abort = undefined;
    },
  }) as Connection;
  return conn;
}

/**
 * Every device of the inventory, a page of 1 000 at a time (the API's largest page), each handed to
 * `onPage` as it arrives: the first page alone, then the rest asked for all at once (the first
 * answer says how many there are), instead of one round trip after another.
 */
async function allDevices(client: Client, onPage: (items: DeviceRecord[]) => void): Promise<void> {
  const PAGE = 1000;
  const get = (offset: number) => client.get<{ items: DeviceRecord[]; total: number }>(`devices?limit=${PAGE}&offset=${offset}`);
  const first = await get(0);
  onPage(first.items);
  if (first.items.length < PAGE || first.total <= PAGE) return;
  const rest: Promise<void>[] = [];
  for (let offset = PAGE; offset < Math.min(first.total, 1_000_000); offset += PAGE) rest.push(get(offset).then((page) => onPage(page.items)));
  await Promise.all(rest);
}
