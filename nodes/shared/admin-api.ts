import { errorResponse, type Route } from '../../lib/api/route';
import { recordBefore, recordChange, type ChangeAuditContext } from '../../lib/audit/changes';
import type { Handler, RED } from './red';

/**
 * Mounts framework-free routes on Node-RED's admin app, each behind
 * `RED.auth.needsPermission('netboot.read' | 'netboot.write')`, so adminAuth protects them.
 * `context()` returns what the handlers need, or throws (e.g. no boot server deployed).
 */
/** A token in a URL ends up in proxy and browser logs: only the Authorization header is accepted. */
export const refuseQueryToken: Handler = (req, res, next) => {
  if (req.query && 'access_token' in req.query) {
    res.status(401).json({ error: { code: 'unauthorized', message: 'send the token in the Authorization header, not in the URL' } });
    return;
  }
  next();
};

/**
 * Without `adminAuth`, `RED.auth.needsPermission` lets every request through: in a Node-RED that
 * has no login, the management API (inventory, import, delete, iSCSI actions) would be open to the
 * whole LAN. It stays closed there, saying why, unless the owner sets `netbootOpenApi: true`
 * because something else (a reverse proxy with a login, a private port) protects it.
 */
export function closedWithoutAdminAuth(RED: RED): Handler {
  return (_req, res, next) => {
    const settings = RED.settings as { adminAuth?: unknown; netbootOpenApi?: unknown };
    if (settings.adminAuth || settings.netbootOpenApi === true) {
      next();
      return;
    }
    res.status(403).json({
      error: {
        code: 'no_admin_auth',
        message: 'the netboot management API is closed: this Node-RED has no adminAuth, so anyone on the network could change what machines boot. Set adminAuth in settings.js (docs/palette.md), or netbootOpenApi: true if something else protects this port',
      },
    });
  };
}

export function mountAdminRoutes<Ctx>(RED: RED, root: string, routes: Array<Route<Ctx>>, context: () => Ctx): void {
  const closed = closedWithoutAdminAuth(RED);
  for (const route of routes) {
    const write = route.method !== 'get';
    const handler: Handler = (req, res) => {
      // every change goes to the audit log (who, route, before/after summary), failed ones too
      let audit: ChangeAuditContext = {};
      let before: unknown;
      const run = async () => {
        const ctx = context();
        if (write) {
          audit = ctx as ChangeAuditContext;
          before = await recordBefore(audit, route.path, req.params);
        }
        return route.handler({ params: req.params, query: req.query ?? {}, body: req.body }, ctx);
      };
      run().catch(errorResponse).then((out) => {
        if (write) {
          const r = req as unknown as { user?: { username?: string }; ip?: string; path?: string };
          const after = out.status < 300 && out.body !== undefined ? out.body : route.method === 'delete' ? undefined : req.body;
          recordChange(audit, { method: route.method, endpoint: r.path ?? `${root}${route.path}`, status: out.status, user: r.user?.username, ip: r.ip, before, after, id: Object.values(req.params ?? {})[0] });
        }
        res.status(out.status);
        if (out.headers) res.set(out.headers);
        if (out.text !== undefined) res.send(out.text);
        else if (out.body === undefined) res.end();
        else res.json(out.body);
      }).catch((err: unknown) => RED.log.error(`netboot API ${route.method.toUpperCase()} ${route.path}: ${String(err)}`));
    };
    RED.httpAdmin[route.method](`${root}${route.path}`, closed, refuseQueryToken, RED.auth.needsPermission(`netboot.${route.permission}`), handler);
  }
}
