import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AssetTransfer } from '../../lib/http/assets';
import type { NetbootServerNode } from '../shared/server-node';
import { useServer } from '../shared/boot-input';
import { wired, type Handler, type Node, type NodeDef, type RED } from '../shared/red';

/**
 * Serves the boot-assets root under a URL on httpNode (a route of its own, like `http in`): the
 * asset server answers straight to the client, which a msg-based flow cannot do (Range, HEAD,
 * conditional requests, no buffering of multi-GB images) and which costs no message per request.
 * Output: one msg per finished transfer.
 *
 * Whenever flows start the route is placed behind every middleware and every route under this
 * URL, so an `http in` node on a path below it (a user's logic in front of some files) answers
 * those paths whatever the order of the nodes in the flow; the public gate (allowlist, rate limit)
 * is a middleware and applies to both.
 */
interface AssetsConfig extends NodeDef {
  server?: string;
  url?: string;
}

/** At most one status update per this many ms. */
const STATUS_MS = 500;

interface ExpressLayer { route?: { path: string; methods: Record<string, boolean>; stack?: Array<{ handle: unknown }> } }
interface ExpressStack { _router?: { stack: ExpressLayer[] } }

export = function register(RED: RED): void {
  function NetbootAssets(this: Node, def: AssetsConfig): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const url = `/${(def.url || '/boot/assets').replace(/^\/+|\/+$/g, '')}`;
    const route = `${url}/*`;
    const cfg = def.server ? (RED.nodes.getNode(def.server) as NetbootServerNode | null) : null;
    const boot = cfg?.bootServer;
    useServer(RED, node, def.server);
    // the server's own asset server: its transfers reach the event bus the way TFTP's do
    const assets = boot?.assets;
    if (!assets) node.status({ fill: 'red', shape: 'ring', text: RED._('netboot-assets.status.noServer') });
    else node.status({ fill: 'grey', shape: 'dot', text: RED._('netboot-assets.status.waiting', { url }) });

    // The status shows the latest transfer, refreshed at most every STATUS_MS: at thousands of
    // requests a second, a translated status per request cost more than serving the file.
    let latest: AssetTransfer | undefined;
    let shown: AssetTransfer | undefined;
    let statusTimer: NodeJS.Timeout | undefined;
    const showLatest = () => {
      statusTimer = undefined;
      if (!latest || latest === shown) return;
      shown = latest;
      node.status({ fill: 'green', shape: 'dot', text: RED._('netboot-assets.status.serving', { path: latest.path, ip: latest.ip, bytes: latest.bytes }) });
    };
    const onDone = (t: AssetTransfer) => {
      if (wired(node, 0)) node.send({ topic: 'http.done', payload: t });
      latest = t;
      if (!statusTimer) {
        showLatest();
        statusTimer = setTimeout(showLatest, STATUS_MS);
      }
    };
    assets?.on('http.done', onDone);

    const handler: Handler = (req, res) => {
      const r = req as unknown as IncomingMessage & { params: Record<string, string> };
      const out = res as unknown as ServerResponse;
      if (!assets) {
        out.statusCode = 503;
        out.end('no netboot-server\n');
        return;
      }
      assets.handle(r, out, r.params[0] ?? '').catch((err: unknown) => {
        node.error(RED._('netboot-assets.errors.failed', { error: String(err) }));
        if (!out.headersSent) out.statusCode = 500;
        out.end();
      });
    };
    RED.httpNode.get(route, handler);
    const stack = () => (RED.httpNode as unknown as ExpressStack)._router?.stack ?? [];
    const ours = (l: ExpressLayer) => l.route?.path === route && l.route.methods.get === true && l.route.stack?.some((x) => x.handle === handler) === true;
    // Where the route sits, after every deploy: behind the middlewares (the public gate) and behind
    // any route of the flow below our URL (a user's logic in front of some files), but before the
    // unrelated routes, so a file request does not test every other route of the flow first
    const place = () => {
      const layers = stack();
      const i = layers.findIndex(ours);
      if (i < 0) return;
      const [layer] = layers.splice(i, 1);
      let at = 0;
      layers.forEach((l, j) => {
        if (!l.route || l.route.path.startsWith(`${url}/`)) at = j + 1;
      });
      layers.splice(at, 0, layer);
    };
    place();
    RED.events?.on('flows:started', place);

    node.on('close', (_removed, done) => {
      RED.events?.removeListener('flows:started', place);
      const layers = stack();
      for (let i = layers.length - 1; i >= 0; i--) {
        const r = layers[i].route;
        if (r && r.path === route && r.methods.get) layers.splice(i, 1);
      }
      assets?.off('http.done', onDone);
      if (statusTimer) clearTimeout(statusTimer);
      node.status({});
      done();
    });
  }
  RED.nodes.registerType('netboot-assets', NetbootAssets as unknown as (this: Node, def: NodeDef) => void);
};
