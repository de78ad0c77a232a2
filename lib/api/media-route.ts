import { NetbootError } from '../core/errors';
import { importIso, listMedia, removeMedia } from '../media/iso';
import type { InventoryStore } from '../store';
import type { Route } from './route';

export interface MediaRouteContext {
  store: InventoryStore;
  assetsRoot: string;
  /** The boot-assets folder changed here: the HTTP asset server forgets what it remembered. */
  assetsChanged?: () => void;
  baseUrl: string;
}

/**
 * Installation media under the management API: `GET /media`, `POST /media` `{id, path,
 * createProfile?}` (an ISO already on the server: unpacked into `<assets>/media/<id>/`, recognised,
 * a profile proposed, and created when asked), `DELETE /media/:id`.
 */
export function mediaRoutes(): Array<Route<MediaRouteContext>> {
  return [
    { method: 'get', path: '/media', permission: 'read', handler: async (_req, ctx) => ({ status: 200, body: { items: await listMedia(ctx.assetsRoot) } }) },
    {
      method: 'post', path: '/media', permission: 'write',
      handler: async (req, ctx) => {
        const body = (req.body && typeof req.body === 'object' ? req.body : {}) as { id?: unknown; path?: unknown; createProfile?: unknown };
        if (typeof body.id !== 'string') throw new NetbootError('validation', 'field "id": a name for the media (lowercase letters, digits, "-")', { field: 'id' });
        if (typeof body.path !== 'string') throw new NetbootError('validation', 'field "path": the absolute path of an ISO file on the server (copy it there first)', { field: 'path' });
        const create = body.createProfile === true;
        if (create && (await ctx.store.profiles.get(body.id))) throw new NetbootError('conflict', `profile "${body.id}" already exists: give the media another id, or createProfile: false`, { field: 'id' });
        const media = await importIso({ assetsRoot: ctx.assetsRoot, isoPath: body.path, id: body.id, baseUrl: ctx.baseUrl });
        ctx.assetsChanged?.();
        const profile = create ? await ctx.store.profiles.create(media.profile) : undefined;
        return { status: 201, body: { ...media, ...(profile ? { created: profile } : {}) } };
      },
    },
    {
      method: 'delete', path: '/media/:id', permission: 'write',
      handler: async (req, ctx) => {
        await removeMedia(ctx.assetsRoot, req.params.id);
        ctx.assetsChanged?.();
        return { status: 204 };
      },
    },
  ];
}
