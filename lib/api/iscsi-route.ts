import { NetbootError } from '../core/errors';
import { normalizeMac } from '../core/mac';
import { runIscsiAction } from '../iscsi/actions';
import type { IscsiService } from '../iscsi/service';
import { renderBootScript, type ScriptServer } from '../policy/boot-script';
import { queryString, type Route } from './route';

export interface IscsiRouteContext {
  iscsi?: IscsiService;
  /** Where the boot server answers, for a session's boot script. */
  config?: ScriptServer;
}

function need(ctx: IscsiRouteContext): IscsiService {
  if (!ctx.iscsi) throw new NetbootError('unavailable', 'no netboot-iscsi node is deployed for this boot server: add one to a flow');
  return ctx.iscsi;
}

function flag(q: Record<string, unknown>, key: string): boolean | undefined {
  const v = queryString(q, key);
  if (v === undefined || v === '') return undefined;
  if (v !== 'true' && v !== 'false') throw new NetbootError('validation', `query parameter "${key}" must be true or false`, { field: key });
  return v === 'true';
}

function body(req: { body: unknown }): Record<string, unknown> {
  return req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? { ...(req.body as Record<string, unknown>) } : {};
}

/**
 * `GET /iscsi`: tgtd's state and every served disk; `POST /iscsi/actions`: the node's verbs (create,
 * copy, rename, delete, link, unlink, sync, and the session verbs). Diskless sessions under
 * `/sessions`: list (`?active=true&mac=`), start (`POST /sessions`, also `/sessions/start`), one,
 * stop, commit, stats, and a machine's live session with its boot script.
 */
export function iscsiRoutes(): Array<Route<IscsiRouteContext>> {
  return [
    {
      method: 'get', path: '/iscsi', permission: 'read',
      handler: async (_req, ctx) => {
        const iscsi = need(ctx);
        return { status: 200, body: { status: iscsi.status, targets: await iscsi.list() } };
      },
    },
    {
      method: 'post', path: '/iscsi/actions', permission: 'write',
      handler: async (req, ctx) => {
        const body = req.body as { action?: unknown } | undefined;
        const result = await runIscsiAction(need(ctx), body, 'api');
        return { status: body?.action === 'create' || body?.action === 'copy' || body?.action === 'start-session' ? 201 : 200, body: result ?? {} };
      },
    },
    {
      method: 'get', path: '/sessions', permission: 'read',
      handler: async (req, ctx) => ({
        status: 200,
        body: { items: await need(ctx).sessions.list({ active: flag(req.query, 'active'), mac: queryString(req.query, 'mac'), state: queryString(req.query, 'state') }) },
      }),
    },
    ...(['/sessions', '/sessions/start'].map((path) => ({
      method: 'post' as const, path, permission: 'write' as const,
      handler: async (req: { body: unknown }, ctx: IscsiRouteContext) => ({ status: 201, body: await runIscsiAction(need(ctx), { ...body(req), action: 'start-session' }, 'api') }),
    }))),
    { method: 'get', path: '/sessions/stats', permission: 'read', handler: async (_req, ctx) => ({ status: 200, body: await need(ctx).sessions.stats() }) },
    { method: 'get', path: '/sessions/:id', permission: 'read', handler: async (req, ctx) => ({ status: 200, body: await need(ctx).sessions.get(req.params.id) }) },
    {
      method: 'post', path: '/sessions/:id/stop', permission: 'write',
      handler: async (req, ctx) => ({ status: 200, body: await runIscsiAction(need(ctx), { ...body(req), id: req.params.id, action: 'stop-session' }, 'api') }),
    },
    {
      method: 'post', path: '/sessions/:id/commit', permission: 'write',
      handler: async (req, ctx) => ({ status: 200, body: await runIscsiAction(need(ctx), { id: req.params.id, action: 'commit-session' }, 'api') }),
    },
    {
      method: 'get', path: '/devices/:mac/session', permission: 'read',
      handler: async (req, ctx) => {
        const s = await need(ctx).sessions.activeFor(req.params.mac);
        if (!s) throw new NetbootError('not_found', `machine ${req.params.mac} has no live session`, { field: 'mac' });
        return { status: 200, body: s };
      },
    },
    {
      // the sanboot script the machine gets while its session runs; it may carry CHAP secrets, so write permission
      method: 'get', path: '/devices/:mac/session/script', permission: 'write',
      handler: async (req, ctx) => {
        const iscsi = need(ctx);
        const s = await iscsi.sessions.activeFor(req.params.mac);
        if (!s) throw new NetbootError('not_found', `machine ${req.params.mac} has no live session`, { field: 'mac' });
        if (!ctx.config) throw new NetbootError('unavailable', 'the boot server is not running');
        const [device, image] = await Promise.all([iscsi.store.devices.get(s.mac), iscsi.store.images.get(s.detail.served)]);
        if (!image) throw new NetbootError('not_found', `the session's image "${s.detail.served}" is gone`);
        const script = await renderBootScript(
          { decision: { action: 'boot_image', output: 1, known: true, source: 'device', imageId: image.id }, facts: { mac: normalizeMac(s.mac), deviceType: 'x86' }, params: {}, device, image },
          ctx.config, { kind: 'sanboot', san: iscsi },
        );
        return { status: 200, text: script.text, headers: { 'Content-Type': script.contentType, 'Cache-Control': 'no-store' } };
      },
    },
  ];
}
