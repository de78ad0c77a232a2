import { errorResponse, type Route } from '../../lib/api/http';
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

export function mountAdminRoutes<Ctx>(RED: RED, root: string, routes: Array<Route<Ctx>>, context: () => Ctx): void {
  for (const route of routes) {
    const handler: Handler = (req, res) => {
      const run = async () => route.handler({ params: req.params, query: req.query ?? {}, body: req.body }, context());
      run().catch(errorResponse).then((out) => {
        res.status(out.status);
        if (out.headers) res.set(out.headers);
        if (out.text !== undefined) res.send(out.text);
        else if (out.body === undefined) res.end();
        else res.json(out.body);
      }).catch((err: unknown) => RED.log.error(`netboot API ${route.method.toUpperCase()} ${route.path}: ${String(err)}`));
    };
    RED.httpAdmin[route.method](`${root}${route.path}`, refuseQueryToken, RED.auth.needsPermission(`netboot.${route.permission}`), handler);
  }
}
