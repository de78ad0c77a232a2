import { plainMenuChains, respond, respondPlain, type ExpressReq, type ExpressRes, type FlowNodeDef } from '../../lib/http/menu-chain';
import type { NodeMessage, RED } from './red';

/**
 * The boot script's fast path. The reference flow answers `GET /boot/menu.ipxe` with
 * `http in` → `netboot-checkin` → `netboot-ipxe` → `http response`; as messages that costs three
 * hand-offs, Node-RED's per-route middlewares and the response node's work for every request, most
 * of the time a menu takes. When the flows start, a netboot-checkin node looks for exactly that
 * plain chain in front of and behind it and, when it finds it, answers the `http in` node's URL
 * itself with the same work functions its nodes run on a message (check-in, script, audit note,
 * statuses, errors to the Catch nodes), without the messages. Anything else in the chain — a node
 * between two of them, a second wire, a debug tap, a Complete node watching one of them, headers or
 * a status code on the response node, message hooks — leaves the flow's message path alone.
 */

/** What a node of the chain lends the fast path: the work its input handler does, and its failure half. */
export interface ChainStep {
  work(msg: NodeMessage): Promise<NodeMessage | Array<NodeMessage | null> | null>;
  /** Shows the failure as the input handler does and returns the error for `node.error(err, msg)`. */
  fail(msg: NodeMessage, err: unknown): Error;
}

export interface StepNode {
  netbootStep?: ChainStep;
  error(e: Error, msg?: NodeMessage): void;
}

/** Message hooks run on every hand-off: with any of them registered, the fast path would skip them. */
const MESSAGE_HOOKS = ['onSend', 'preRoute', 'preDeliver', 'postDeliver', 'onReceive', 'postReceive', 'onComplete'];

type Route = (req: ExpressReq, res: ExpressRes, next: (err?: unknown) => void) => void;
interface Layer { route?: { path: string; methods: Record<string, boolean>; stack?: Array<{ handle: unknown }> } }
interface RouterApp { get(path: string, h: Route): void; _router?: { stack: Layer[] } }
interface HttpInNode { callback?: unknown; metric?: () => boolean }

/**
 * Gives check-in node `checkin` the URLs of the plain chains through it, after every deploy, each
 * route placed where its `http in` node's route is (so whichever route answered the URL before
 * still does); removed when the flows stop or the node closes.
 */
export function serveMenuChains(RED: RED, checkin: StepNode & { id: string; on(event: 'close', fn: (removed: boolean, done: () => void) => void): void }): void {
  const app = RED.httpNode as unknown as RouterApp;
  const ours = new Set<Route>();
  const remove = () => {
    const stack = app._router?.stack;
    if (stack) for (let i = stack.length - 1; i >= 0; i--) if (stack[i].route?.stack?.some((x) => ours.has(x.handle as Route))) stack.splice(i, 1);
    ours.clear();
  };
  const install = () => {
    remove();
    if (RED.settings.httpNodeMiddleware || RED.settings.httpNodeCors) return;
    if (MESSAGE_HOOKS.some((h) => RED.hooks?.has(h))) return;
    const defs: FlowNodeDef[] = [];
    RED.nodes.eachNode?.((d) => defs.push(d as FlowNodeDef));
    for (const chain of plainMenuChains(defs, checkin.id)) {
      const httpIn = RED.nodes.getNode(chain.httpIn.id) as HttpInNode | null;
      const ipxe = RED.nodes.getNode(chain.ipxe) as StepNode | null;
      const response = RED.nodes.getNode(chain.response) as StepNode | null;
      if (!httpIn?.callback || httpIn.metric?.() || !ipxe?.netbootStep || !checkin.netbootStep || !response) continue;
      const route = menuRoute(RED, checkin, ipxe, response);
      app.get(chain.httpIn.url, route);
      const stack = app._router?.stack ?? [];
      const at = stack.findIndex((l) => l.route?.stack?.some((x) => x.handle === httpIn.callback));
      const mine = stack.findIndex((l) => l.route?.stack?.some((x) => x.handle === route));
      if (mine < 0) continue;
      const [layer] = stack.splice(mine, 1);
      if (at < 0) continue;
      stack.splice(at, 0, layer);
      ours.add(route);
    }
  };
  RED.events?.on('flows:started', install);
  RED.events?.on('flows:stopping', remove);
  checkin.on('close', (_removed, done) => {
    RED.events?.removeListener('flows:started', install);
    RED.events?.removeListener('flows:stopping', remove);
    remove();
    done();
  });
}

/**
 * A turn of the event loop before each step, as Node-RED's hand-offs between nodes give. Running a
 * request's steps back to back inside the read callback of its socket measured worse at 50
 * connections (about the message path's rate, p99 3–5× its). With a turn between the steps, the
 * loop reads every waiting request first, then runs each step for all of them, then writes the
 * answers together.
 */
const hop = <T>(value: T): Promise<T> => new Promise((resolve) => setImmediate(resolve, value));

/** One URL's answer: the check-in node's work, then the ipxe node's, then what `http response` would send. */
function menuRoute(RED: RED, checkin: StepNode, ipxe: StepNode, response: StepNode): Route {
  return (req, res) => {
    // the msg `http in` would make, less its id and deprecated response wrappers (made for an error only)
    const msg: NodeMessage = { req, res: { _res: res }, payload: req.query };
    let at = checkin;
    hop(msg).then((m) => checkin.netbootStep!.work(m)).then(hop).then((ports) => {
      const out = Array.isArray(ports) ? ports.find((m) => m) : ports;
      if (!out) return null;
      at = ipxe;
      return ipxe.netbootStep!.work(out as NodeMessage).then(hop);
    }).then((out) => {
      if (out && !Array.isArray(out) && !respondPlain(req, res, out)) respond(res, out);
    }, (err: unknown) => {
      // as `done(err)` in the message path: the node's red status and error answer on the msg, then its Catch nodes
      const error = at.netbootStep!.fail(msg, err);
      msg._msgid = RED.util?.generateId() ?? '';
      Object.defineProperty(req, 'headers', { value: req.headers, enumerable: true });
      at.error(error, msg);
    }).catch((err: unknown) => response.error(err instanceof Error ? err : new Error(String(err))));
  };
}
