import { NetbootError } from '../core/errors';
import type { BootServerState } from '../server/types';
import { listAll, SITE_PATTERN, type Collection, type InventoryStore, type ListQuery, type Profile } from '../store';
import type { MetricsHub } from '../metrics';
import { normalizeMac } from '../core/mac';
import type { AuditLog } from '../audit/audit-log';
import { checkDevice, checkGroup, checkProfile } from '../policy/profile-check';
import { guardSecureBoot } from '../policy/secure-boot';
import { checkConfigDoc } from '../policy/config-check';
import { configsFor, configValues } from '../policy/configs';
import { renderConfig } from '../render/config';
import { renderBootScript, type ScriptServer } from '../policy/boot-script';
import { bootStats, type StatsBoot } from '../metrics/boot-stats';
import { queryInt, queryString, type ApiRequest, type ApiResponse, type Route } from './route';

/** What a management route needs: the store of the active boot server, and its state. */
export interface ManagementContext {
  store: InventoryStore;
  state(): BootServerState;
  /** The DHCP mode of the deployed server (shown by /status and the dashboard). */
  dhcpMode?: () => string;
  metrics?: MetricsHub;
  audit?: AuditLog;
  /** Wake-on-LAN through the boot server (BootServer.wake). */
  wake?: (mac: string, opts: { port?: number; password?: string; by?: string }) => Promise<unknown>;
  /** For the Secure Boot save-time check (a Secure Boot machine's kernel must be signed): the boot-assets folder and the server-wide setting. */
  secureBoot?: { assetsRoot: string; network: boolean };
  /** Where the boot server answers, for previews of scripts. */
  scriptServer?: () => ScriptServer;
  /** `secrets.*` of installer config templates (the server's credentials). */
  configSecrets?: () => Record<string, string>;
}

/** Refuses a record that would give a Secure Boot machine a profile shim cannot boot (lib/policy/secure-boot.ts). */
async function secureBootGuard(ctx: ManagementContext, kind: 'devices' | 'profiles' | 'groups', merged: Record<string, unknown>): Promise<void> {
  if (ctx.secureBoot) await guardSecureBoot(kind, merged, { store: ctx.store, ...ctx.secureBoot });
}

function hub(ctx: ManagementContext): MetricsHub {
  if (!ctx.metrics) throw new NetbootError('store_io', 'metrics are not running on this boot server yet');
  return ctx.metrics;
}

const DEVICE_FILTERS = ['status', 'arch', 'firmware', 'hostname', 'profileId', 'imageId', 'serial', 'uuid', 'serviceTag', 'site', 'q'];
const RECORD_FILTERS = ['type', 'kind', 'name', 'q'];

function listQuery(q: Record<string, unknown>, allowed: string[]): ListQuery {
  const filter: Record<string, string> = {};
  for (const key of Object.keys(q)) {
    if (key === 'offset' || key === 'limit') continue;
    if (!allowed.includes(key) && !key.startsWith('label.')) {
      throw new NetbootError('validation', `query parameter "${key}" is not a filter here; use one of ${allowed.join(', ')}, label.<key>, offset, limit`, { field: key });
    }
    filter[key] = queryString(q, key) ?? '';
  }
  return { filter, offset: queryInt(q, 'offset', 0, 1_000_000), limit: queryInt(q, 'limit', 1, 1000) };
}

function requireObject(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new NetbootError('validation', 'request body must be a JSON object (Content-Type: application/json)', { field: '(body)' });
  }
  return body as Record<string, unknown>;
}

/** CRUD routes for one collection keyed by `:key`. */
function crud<T>(name: string, key: string, filters: string[], pick: (s: InventoryStore) => Collection<T, never, never>, check: (body: Record<string, unknown>, existing?: Record<string, unknown>) => void | Promise<unknown> = () => undefined): Array<Route<ManagementContext>> {
  const checked = async (body: unknown, existing?: unknown) => {
    const obj = requireObject(body);
    await check(obj, existing as Record<string, unknown> | undefined);
    return obj;
  };
  const col = (ctx: ManagementContext) => pick(ctx.store) as unknown as Collection<T, unknown, unknown>;
  const getOne = async (req: ApiRequest, ctx: ManagementContext): Promise<ApiResponse> => {
    const rec = await col(ctx).get(req.params[key]);
    if (!rec) throw new NetbootError('not_found', `no ${name.replace(/s$/, '')} "${req.params[key]}"`, { id: req.params[key] });
    return { status: 200, body: rec };
  };
  const guarded = name === 'devices' || name === 'profiles' || name === 'groups' ? name : undefined;
  const update = async (req: ApiRequest, ctx: ManagementContext): Promise<ApiResponse> => {
    const existing = await col(ctx).get(req.params[key]);
    const body = await checked(req.body, existing ?? undefined);
    if (guarded) await secureBootGuard(ctx, guarded, { ...(existing ?? {}), ...body, [key]: req.params[key] });
    return { status: 200, body: await col(ctx).update(req.params[key], body) };
  };
  const create = async (req: ApiRequest, ctx: ManagementContext): Promise<ApiResponse> => {
    const body = await checked(req.body);
    if (guarded) await secureBootGuard(ctx, guarded, body);
    return { status: 201, body: await col(ctx).create(body) };
  };
  return [
    { method: 'get', path: `/${name}`, permission: 'read', handler: async (req, ctx) => ({ status: 200, body: await col(ctx).list(listQuery(req.query, filters)) }) },
    { method: 'post', path: `/${name}`, permission: 'write', handler: create },
    { method: 'get', path: `/${name}/:${key}`, permission: 'read', handler: getOne },
    { method: 'put', path: `/${name}/:${key}`, permission: 'write', handler: update },
    { method: 'patch', path: `/${name}/:${key}`, permission: 'write', handler: update },
    { method: 'delete', path: `/${name}/:${key}`, permission: 'write', handler: async (req, ctx) => { await col(ctx).remove(req.params[key]); return { status: 204 }; } },
  ];
}

/** The inventory API mounted under `/netboot/api` on Node-RED's admin app. */
export function managementRoutes(): Array<Route<ManagementContext>> {
  return [
    // the renderers' allow-lists apply at save time: a record that could not boot is refused now
    ...crud('devices', 'mac', DEVICE_FILTERS, (s) => s.devices as never, checkDevice),
    ...crud('images', 'id', RECORD_FILTERS, (s) => s.images as never),
    ...crud('profiles', 'id', RECORD_FILTERS, (s) => s.profiles as never, checkProfile),
    ...crud('groups', 'id', RECORD_FILTERS, (s) => s.groups as never, checkGroup),
    // installer configuration documents: checked with their format's rules (and cloud-init's schema) when saved
    ...crud('configs', 'id', RECORD_FILTERS, (s) => s.configs as never, (body, existing) => checkConfigDoc({ ...(existing ?? {}), ...body })),
    {
      // the script a profile (saved or not) would give a machine: the editor's preview before saving
      method: 'post', path: '/profiles/preview', permission: 'write',
      handler: async (req, ctx) => {
        const body = requireObject(req.body) as { profile?: unknown; mac?: unknown };
        const profile = requireObject(body.profile) as Record<string, unknown>;
        checkProfile(profile);
        if (!ctx.scriptServer) throw new NetbootError('unavailable', 'the boot server is not running');
        const mac = typeof body.mac === 'string' && body.mac ? normalizeMac(body.mac) : undefined;
        const device = mac ? await ctx.store.devices.get(mac) : undefined;
        const now = new Date().toISOString();
        const p = { id: String(profile.id ?? 'preview'), createdAt: now, updatedAt: now, ...profile } as unknown as Profile;
        const script = await renderBootScript({
          decision: { action: 'boot_profile', output: 1, known: true, source: 'device', profileId: p.id },
          facts: { ...(mac ? { mac } : {}), deviceType: 'x64' }, params: { ...(device?.paramsOverride ?? {}) }, profile: p, ...(device ? { device } : {}),
        }, ctx.scriptServer(), { kind: 'auto' });
        return { status: 200, text: script.text, headers: { 'Content-Type': script.contentType, 'Cache-Control': 'no-store' } };
      },
    },
    {
      // one machine's rendered document, as its installer would get it (may hold secrets: write permission)
      method: 'get', path: '/configs/:id/render', permission: 'write',
      handler: async (req, ctx) => {
        const mac = queryString(req.query, 'mac');
        if (!mac) throw new NetbootError('validation', 'query parameter "mac": the machine to render for', { field: 'mac' });
        const doc = await ctx.store.configs.get(req.params.id);
        if (!doc) throw new NetbootError('not_found', `no config "${req.params.id}"`, { id: req.params.id });
        const m = await configsFor(ctx.store, mac);
        if (!m) throw new NetbootError('not_found', `no device ${mac}`, { field: 'mac' });
        const out = renderConfig(doc, configValues(m, ctx.configSecrets?.() ?? {}));
        return { status: 200, text: out.text, headers: { 'Content-Type': out.contentType, 'Cache-Control': 'no-store' } };
      },
    },
    {
      method: 'get', path: '/devices/:mac/events', permission: 'read',
      handler: async (req, ctx) => ({ status: 200, body: await ctx.store.listEvents({ mac: req.params.mac, limit: queryInt(req.query, 'limit', 1, 1000) }) }),
    },
    {
      // the inventory's stored events, every server's when several share it; `site` keeps one site's
      method: 'get', path: '/events/log', permission: 'read',
      handler: async (req, ctx) => {
        const site = queryString(req.query, 'site');
        if (site !== undefined && !new RegExp(SITE_PATTERN).test(site)) throw new NetbootError('validation', 'query parameter "site": a site name (letters, digits, dot, dash, underscore)', { field: 'site' });
        const mac = queryString(req.query, 'mac');
        const afterSeq = req.query.afterSeq === undefined ? undefined : queryInt(req.query, 'afterSeq', 0, Number.MAX_SAFE_INTEGER);
        return { status: 200, body: await ctx.store.listEvents({ ...(mac ? { mac } : {}), ...(site ? { site } : {}), ...(afterSeq !== undefined ? { afterSeq } : {}), limit: queryInt(req.query, 'limit', 1, 1000) }) };
      },
    },
    {
      // the sites this inventory knows: this server's, those devices are pinned to, those recent events came from
      method: 'get', path: '/sites', permission: 'read',
      handler: async (_req, ctx) => {
        const own = ctx.state().site;
        const names = new Map<string, { devices: number; recentEvents: number }>();
        const at = (n: string) => names.get(n) ?? names.set(n, { devices: 0, recentEvents: 0 }).get(n)!;
        if (own) at(own);
        for (const d of await listAll((q) => ctx.store.devices.list(q))) if (d.site) at(d.site).devices++;
        for (const e of await ctx.store.listEvents({ limit: 1000 })) if (e.site) at(e.site).recentEvents++;
        return { status: 200, body: { site: own, sites: [...names].map(([name, n]) => ({ name, ...n })).sort((a, b) => a.name.localeCompare(b.name)) } };
      },
    },
    { method: 'get', path: '/settings', permission: 'read', handler: async (_req, ctx) => ({ status: 200, body: await ctx.store.getSettings() }) },
    { method: 'put', path: '/settings', permission: 'write', handler: async (req, ctx) => ({ status: 200, body: await ctx.store.updateSettings(requireObject(req.body)) }) },
    { method: 'get', path: '/export', permission: 'read', handler: async (_req, ctx) => ({ status: 200, body: await ctx.store.exportAll(), headers: { 'Content-Disposition': 'attachment; filename="netboot-inventory.json"' } }) },
    {
      method: 'post', path: '/import', permission: 'write',
      handler: async (req, ctx) => {
        const mode = queryString(req.query, 'mode') ?? 'replace';
        if (mode !== 'replace' && mode !== 'merge') throw new NetbootError('validation', 'query parameter "mode" must be replace or merge', { field: 'mode' });
        return { status: 200, body: { imported: await ctx.store.importAll(req.body, mode) } };
      },
    },
    { method: 'get', path: '/status', permission: 'read', handler: async (_req, ctx) => {
      const state = ctx.state();
      return { status: 200, body: { status: state.store === 'open' || state.store === 'read-only' ? 'ready' : 'starting', dhcpMode: ctx.dhcpMode?.(), ...state } };
    } },
    {
      // Wake-on-LAN: the magic packet to the subnet the machine was last seen in
      method: 'post', path: '/devices/:mac/wake', permission: 'write',
      handler: async (req, ctx) => {
        const mac = normalizeMac(req.params.mac);
        if (!ctx.wake) throw new NetbootError('unavailable', 'the boot server is not running');
        if (!(await ctx.store.devices.get(mac))) throw new NetbootError('not_found', `no device ${mac}`, { id: mac });
        const body = (req.body && typeof req.body === 'object' ? req.body : {}) as { password?: unknown; port?: unknown };
        const port = body.port === undefined ? undefined : Number(body.port);
        if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new NetbootError('validation', 'port: a UDP port from 1 to 65535 (9 or 7)', { field: 'port' });
        if (body.password !== undefined && typeof body.password !== 'string') throw new NetbootError('validation', 'password: text like 01:02:03:04:05:06', { field: 'password' });
        return { status: 202, body: await ctx.wake(mac, { port, password: body.password as string | undefined, by: 'api' }) };
      },
    },
    {
      method: 'get', path: '/devices/:mac/timeline', permission: 'read',
      handler: async (req, ctx) => {
        const mac = normalizeMac(req.params.mac);
        const tl = ctx.metrics?.timelineOf(mac);
        if (tl) return { status: 200, body: tl };
        // nothing since this start: the boots kept in the inventory
        const boots = await ctx.store.listBoots(mac);
        // a known device that has not booted yet has an empty timeline; 404 only for an unknown MAC
        if (!boots.length && !(await ctx.store.devices.get(mac))) throw new NetbootError('not_found', `no device and no boot recorded for ${mac}`, { id: mac });
        return { status: 200, body: { mac, current: null, boots, notices: [] } };
      },
    },
    {
      // who fetched which script or config, and every management change; newest last
      method: 'get', path: '/audit', permission: 'read',
      handler: async (req, ctx) => {
        if (!ctx.audit) throw new NetbootError('store_io', 'the audit log is not open');
        const kind = queryString(req.query, 'kind');
        if (kind !== undefined && kind !== 'fetch' && kind !== 'change') throw new NetbootError('validation', 'query parameter "kind" must be fetch or change', { field: 'kind' });
        const mac = queryString(req.query, 'mac');
        const since = queryString(req.query, 'since');
        if (since !== undefined && Number.isNaN(Date.parse(since))) throw new NetbootError('validation', 'query parameter "since" must be an ISO time', { field: 'since' });
        return {
          status: 200,
          body: ctx.audit.list({
            kind, mac: mac ? normalizeMac(mac) : undefined, user: queryString(req.query, 'user'),
            since: since ? new Date(since).toISOString() : undefined, afterSeq: queryInt(req.query, 'afterSeq', 0, Number.MAX_SAFE_INTEGER), limit: queryInt(req.query, 'limit', 1, 1000),
          }),
        };
      },
    },
    {
      // the charts' figures (boots per hour, time to menu) and each machine's last boot, from the kept boots
      method: 'get', path: '/boots/stats', permission: 'read',
      handler: async (req, ctx) => {
        const hours = queryInt(req.query, 'hours', 1, 24 * 14) ?? 24;
        const now = Date.now();
        // a machine's last boot may be older than the charts' window: its kept boots go back further
        const boots = await ctx.store.bootsSince(0);
        return { status: 200, body: bootStats(boots as StatsBoot[], { now, hours }), headers: { 'Cache-Control': 'no-store' } };
      },
    },
    { method: 'get', path: '/metrics/devices', permission: 'read', handler: async (_req, ctx) => ({ status: 200, body: { summary: hub(ctx).summary(), devices: hub(ctx).allDevices() } }) },
    { method: 'get', path: '/metrics/debug', permission: 'read', handler: async (_req, ctx) => ({ status: 200, body: hub(ctx).debugView() }) },
  ];
}

/** Prometheus exposition, `/netboot/metrics` on the admin side (and `/metrics` with a bearer token on the public side). */
export function prometheusRoute(): Route<ManagementContext> {
  return {
    method: 'get', path: '/metrics', permission: 'read',
    handler: async (_req, ctx) => {
      const m = await hub(ctx).metrics();
      return { status: 200, text: m.text, headers: { 'Content-Type': m.contentType } };
    },
  };
}
