import { NetbootError } from '../core/errors';
import { runIscsiAction } from '../iscsi/actions';
import type { IscsiService } from '../iscsi/service';
import type { Route } from './route';

export interface IscsiRouteContext {
  iscsi?: IscsiService;
}

function need(ctx: IscsiRouteContext): IscsiService {
  if (!ctx.iscsi) throw new NetbootError('unavailable', 'no netboot-iscsi node is deployed for this boot server: add one to a flow');
  return ctx.iscsi;
}

/** `GET /iscsi`: tgtd's state and every served disk; `POST /iscsi/actions`: the node's verbs (create, copy, rename, delete, link, unlink, sync). */
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
        const result = await runIscsiAction(need(ctx), body);
        return { status: body?.action === 'create' || body?.action === 'copy' ? 201 : 200, body: result ?? {} };
      },
    },
  ];
}
