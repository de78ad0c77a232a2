import { NetbootError } from '../core/errors';
import type { BuildService } from '../builds/service';
import { queryString, type Route } from './route';

export interface BuildRouteContext {
  builds?: BuildService;
}

function need(ctx: BuildRouteContext): BuildService {
  if (!ctx.builds) throw new NetbootError('unavailable', 'no netboot-build node is deployed for this boot server: add one to a flow');
  return ctx.builds;
}

/**
 * Image builds under the management API: `POST /devices/:mac/build` `{recipe?, params?}`,
 * `GET /builds?device=&status=`, `GET /builds/:id`, `GET /builds/:id/log` (text; live lines come as
 * progress on the event stream), `POST /builds/:id/cancel`.
 */
export function buildRoutes(): Array<Route<BuildRouteContext>> {
  return [
    {
      method: 'post', path: '/devices/:mac/build', permission: 'write',
      handler: async (req, ctx) => {
        const body = (req.body && typeof req.body === 'object' ? req.body : {}) as { recipe?: unknown; params?: unknown };
        if (body.recipe !== undefined && typeof body.recipe !== 'string') throw new NetbootError('validation', 'field "recipe": a recipe name', { field: 'recipe' });
        return { status: 202, body: await need(ctx).request({ mac: req.params.mac, recipe: body.recipe as string | undefined, params: body.params, by: 'api' }) };
      },
    },
    {
      method: 'get', path: '/builds', permission: 'read',
      handler: async (req, ctx) => ({ status: 200, body: { items: await need(ctx).list({ mac: queryString(req.query, 'device'), status: queryString(req.query, 'status') }) } }),
    },
    { method: 'get', path: '/builds/:id', permission: 'read', handler: async (req, ctx) => ({ status: 200, body: await need(ctx).get(req.params.id) }) },
    {
      method: 'get', path: '/builds/:id/log', permission: 'read',
      handler: async (req, ctx) => ({ status: 200, text: await need(ctx).log(req.params.id), headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' } }),
    },
    { method: 'post', path: '/builds/:id/cancel', permission: 'write', handler: async (req, ctx) => ({ status: 200, body: await need(ctx).cancel(req.params.id) }) },
  ];
}
