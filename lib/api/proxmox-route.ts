import { NetbootError } from '../core/errors';
import { POWER_ACTIONS, type PowerAction } from '../proxmox/client';
import type { ProxmoxSync, ProxmoxSyncResult } from '../proxmox/sync';
import type { Route } from './route';

/** A deployed netboot-proxmox config node, as the API sees it. */
export interface ProxmoxCluster {
  id: string;
  name?: string;
  syncNow(): Promise<ProxmoxSyncResult>;
  proxmox(): ProxmoxSync;
  lastSync?: { at: string; result?: ProxmoxSyncResult; error?: string };
}

export interface ProxmoxRouteContext {
  clusters: () => ProxmoxCluster[];
}

function pick(ctx: ProxmoxRouteContext, id: unknown): ProxmoxCluster[] {
  const all = ctx.clusters();
  if (!all.length) throw new NetbootError('unavailable', 'no netboot-proxmox node is deployed: add one (a config node of netboot-proxmox-vm)');
  if (id === undefined || id === '') return all;
  const one = all.filter((c) => c.id === id);
  if (!one.length) throw new NetbootError('not_found', `no netboot-proxmox node "${String(id)}"`, { field: 'cluster' });
  return one;
}

/**
 * Proxmox under the management API: `GET /proxmox` (the clusters and their last sync),
 * `POST /proxmox/sync` (`{cluster?}`: sync now), `POST /devices/:mac/power` (`{action}`: start,
 * stop, shutdown, reset, reboot the VM of a synced device).
 */
export function proxmoxRoutes(): Array<Route<ProxmoxRouteContext>> {
  return [
    {
      method: 'get', path: '/proxmox', permission: 'read',
      handler: async (_req, ctx) => ({
        status: 200,
        body: { clusters: ctx.clusters().map((c) => ({ id: c.id, name: c.name, host: safeHost(c), lastSync: c.lastSync })) },
      }),
    },
    {
      method: 'post', path: '/proxmox/sync', permission: 'write',
      handler: async (req, ctx) => {
        const body = (req.body ?? {}) as { cluster?: unknown };
        const out = [];
        for (const c of pick(ctx, body.cluster)) out.push({ id: c.id, ...(await c.syncNow()) });
        return { status: 200, body: { clusters: out } };
      },
    },
    {
      method: 'post', path: '/devices/:mac/power', permission: 'write',
      handler: async (req, ctx) => {
        const body = (req.body ?? {}) as { action?: unknown; cluster?: unknown };
        if (typeof body.action !== 'string' || !(POWER_ACTIONS as readonly string[]).includes(body.action)) {
          throw new NetbootError('validation', `field "action": give one of ${POWER_ACTIONS.join(', ')}`, { field: 'action' });
        }
        let last: unknown;
        for (const c of pick(ctx, body.cluster)) {
          try {
            return { status: 200, body: await c.proxmox().power({ mac: req.params.mac }, body.action as PowerAction) };
          } catch (err) {
            if ((err as NetbootError).code !== 'not_found') throw err;
            last = err;
          }
        }
        throw last;
      },
    },
  ];
}

function safeHost(c: ProxmoxCluster): string | undefined {
  try {
    return c.proxmox().cluster;
  } catch {
    return undefined;
  }
}
