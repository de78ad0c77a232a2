import { NetbootError } from '../../lib/core/errors';
import { errorResponse } from '../../lib/api/route';
import { createPublicGate } from '../../lib/http/public-gate';
import { publicMetricsAnswer } from '../../lib/http/token';
import { oncePerSource, parseAllowlist, type Allowlist } from '../../lib/net/allowlist';
import { managementRoutes, prometheusRoute, type ManagementContext } from '../../lib/api/management';
import { iscsiRoutes } from '../../lib/api/iscsi-route';
import { networkConfigRoutes } from '../../lib/api/network-config-route';
import { buildRoutes } from '../../lib/api/build-route';
import { proxmoxRoutes } from '../../lib/api/proxmox-route';
import { mediaRoutes } from '../../lib/api/media-route';
import { PROXMOX_CLUSTERS } from '../netboot-proxmox/types';
import type { SseRequestLike, SseResponseLike } from '../../lib/metrics';
import { closedWithoutAdminAuth, mountAdminRoutes, refuseQueryToken } from './admin-api';
import type { Handler, RED } from './red';
import type { ServerRegistry } from './server-registry';

/**
 * The routes a runtime gets once, for whichever netboot-server is deployed: the management API and
 * the metrics on the admin side, and the optional token-protected Prometheus endpoint on the public side.
 */
export function mountServerRoutes(RED: RED, registry: ServerRegistry): void {
  // the public side's front door, before every route a flow adds (limits, allowlist, no CORS)
  const current = () => {
    try {
      return registry.active().server;
    } catch {
      return undefined;
    }
  };
  let lists: { from?: readonly string[]; list?: Allowlist } = {};
  const logRefused = oncePerSource((ip, n) => RED.log.warn(`netboot: refused ${ip}: not in the allowlist (${n} request${n === 1 ? '' : 's'} since the last warning)`));
  RED.httpNode.use(createPublicGate({
    allowlist: () => {
      const from = current()?.config.allowlist;
      if (from !== lists.from) lists = { from, list: parseAllowlist(from) };
      return lists.list;
    },
    rateLimit: () => current()?.config.httpRate,
    onFinish: (fetch) => current()?.audit?.append({ kind: 'fetch', ...fetch }),
    onRefuse: (reason, ip) => {
      current()?.metrics?.prometheus.countRefusal('http', reason);
      if (reason === 'allowlist') logRefused(ip);
    },
  }) as unknown as Handler);
  const context = (): ManagementContext => {
    const { server } = registry.active();
    return { store: server.store!, state: () => server.state, dhcpMode: () => server.config.dhcpMode, metrics: server.metrics, audit: server.audit, wake: (mac, o) => server.wake(mac, o), secureBoot: { assetsRoot: server.config.assetsRoot, network: server.config.secureBoot === true }, configSecrets: () => server.configSecrets, scriptServer: () => server.config };
  };
  mountAdminRoutes<ManagementContext>(RED, '/netboot/api', managementRoutes(), context);
  mountAdminRoutes<ManagementContext>(RED, '/netboot', [prometheusRoute()], context);
  // snippets that point an existing DHCP server at this one
  mountAdminRoutes(RED, '/netboot/api', networkConfigRoutes(), () => ({ config: registry.active().server.config, audit: registry.active().server.audit }));
  // iSCSI disks (the netboot-iscsi node's service)
  mountAdminRoutes(RED, '/netboot/api', iscsiRoutes(), () => ({ iscsi: registry.active().server.iscsi, config: registry.active().server.config, audit: registry.active().server.audit }));

  // installation media: ISOs unpacked into the boot-assets folder, a profile proposed
  mountAdminRoutes(RED, '/netboot/api', mediaRoutes(), () => {
    const { server } = registry.active();
    if (!server.store) throw new NetbootError('store_io', 'the inventory is not open (yet)');
    return { store: server.store, assetsRoot: server.config.assetsRoot, baseUrl: server.config.httpBaseUrl, audit: server.audit, assetsChanged: () => server.assets?.forget() };
  });
  // Proxmox clusters (netboot-proxmox config nodes): sync now, power a VM
  mountAdminRoutes(RED, '/netboot/api', proxmoxRoutes(), () => ({ clusters: () => [...PROXMOX_CLUSTERS], audit: registry.active().server.audit }));

  // image builds (the netboot-build node's queue)
  mountAdminRoutes(RED, '/netboot/api', buildRoutes(), () => ({ builds: registry.active().server.builds, audit: registry.active().server.audit }));

  // the live event stream (Server-Sent Events), with replay after Last-Event-ID
  const sse: Handler = (req, res) => {
    try {
      const hub = context().metrics;
      if (!hub) throw new Error('metrics are not running');
      const mac = typeof req.query.mac === 'string' ? req.query.mac.toLowerCase() : undefined;
      // frames gathered for 50 ms per write: a storm's events reach each dashboard in at most 20 writes a second, not hundreds
      hub.stream(req as unknown as SseRequestLike, res as unknown as SseResponseLike, { flushMs: 50, ...(mac ? { filter: (e) => e.mac === mac } : {}) });
    } catch (err) {
      const out = errorResponse(err);
      res.status(out.status === 500 ? 503 : out.status).json(out.body ?? { error: { message: String(err) } });
    }
  };
  RED.httpAdmin.get('/netboot/api/events', closedWithoutAdminAuth(RED), refuseQueryToken, RED.auth.needsPermission('netboot.read'), sse);

  // Prometheus on the public side, with the bearer token of the node's credentials (lib/http/token.ts)
  RED.httpNode.get('/metrics', (req, res, next) => {
    let entry;
    try {
      entry = registry.active();
    } catch {
      next();
      return;
    }
    const answer = publicMetricsAnswer(entry.metricsToken, req.headers.authorization);
    if (answer.kind === 'pass') return next();
    if (answer.kind === 'unauthorized') {
      res.status(answer.status).set(answer.headers).json(answer.body);
      return;
    }
    entry.server.metrics?.metrics().then((m) => res.status(200).set({ 'Content-Type': m.contentType }).send(m.text))
      .catch((err: unknown) => res.status(500).json(errorResponse(err).body));
  });
}
