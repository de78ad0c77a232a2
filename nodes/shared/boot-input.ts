import { bootErrorAnswer } from '../../lib/api/boot-errors';
import type { BootServer } from '../../lib/server/boot-server';
import { NetbootError } from '../../lib/core/errors';
import type { InventoryStore } from '../../lib/store';
import type { DoneFn, Node, NodeMessage, NodeStatus, RED, SendFn } from './red';
import type { StepNode } from './menu-chain';
import type { StatusThrottle } from './status-throttle';
import type { NetbootServerNode } from './server-node';

/** The `msg.req` of an `http in` node, as far as our nodes read it. */
export interface HttpInRequest {
  query?: Record<string, unknown>;
  params?: Record<string, string>;
  body?: unknown;
  ip?: string;
  method?: string;
  headers?: Record<string, string | string[] | undefined>;
}

/** The boot server behind a node's `server` property, with an open store. */
export function bootServerOf(RED: RED, serverId: unknown): BootServer & { store: InventoryStore } {
  const cfg = typeof serverId === 'string' && serverId ? (RED.nodes.getNode(serverId) as NetbootServerNode | null) : null;
  if (!cfg) throw new NetbootError('validation', 'no netboot-server configured: pick one in the node\'s settings', { field: 'server' });
  const server = cfg.bootServer;
  if (!server) throw new NetbootError('store_io', `the netboot-server "${cfg.name ?? cfg.id}" is not running: ${cfg.configError ?? 'see its error in the log'}`);
  if (!server.store) throw new NetbootError('store_io', 'the netboot-server\'s inventory is not open (yet)');
  return server as BootServer & { store: InventoryStore };
}

/**
 * The one input path of our nodes: await the work, send what it returns, `done()`; on failure
 * show the error, put an HTTP error answer on the msg (`statusCode`, `payload`) so a Catch node
 * can wire straight into `http response`, and `done(err)`.
 */
export function runInput(
  node: Node,
  msg: NodeMessage,
  send: SendFn,
  done: DoneFn,
  work: () => Promise<NodeMessage | Array<NodeMessage | null> | null>,
  errorText: (message: string) => string,
  status?: StatusThrottle,
): void {
  work().then((out) => {
    if (out !== null) send(out);
    done();
  }, (err: unknown) => done(failInput(node, msg, err, errorText, status)));
}

/**
 * A node whose input is one piece of work on the msg (netboot-checkin, netboot-ipxe): its input
 * handler runs it through `runInput`, and the fast path of the plain menu chain
 * (nodes/shared/menu-chain.ts) borrows the same work and failure half, without messages.
 */
export function stepInput(
  node: Node,
  work: (msg: NodeMessage) => Promise<NodeMessage | Array<NodeMessage | null> | null>,
  errorText: (message: string) => string,
  status?: StatusThrottle,
): void {
  (node as StepNode).netbootStep = { work, fail: (msg, err) => failInput(node, msg, err, errorText, status) };
  node.on('input', (msg, send, done) => runInput(node, msg, send, done, () => work(msg), errorText, status));
}

/**
 * The failure half of `runInput`: the HTTP error answer on the msg, the red status, and the error
 * as an Error for `done(err)` (or `node.error(err, msg)`, which is what `done(err)` does).
 */
function failInput(node: Node, msg: NodeMessage, err: unknown, errorText: (message: string) => string, status?: StatusThrottle): Error {
  const answer = bootErrorAnswer(err);
  msg.statusCode = answer.statusCode;
  msg.payload = answer.payload;
  const shown: NodeStatus = { fill: 'red', shape: 'ring', text: errorText((err instanceof Error ? err.message : String(err)).slice(0, 60)) };
  if (status) status.now(shown);
  else node.status(shown);
  return err instanceof Error ? err : new Error(String(err));
}

export function requestOf(msg: NodeMessage): HttpInRequest | undefined {
  const req = msg.req;
  return req && typeof req === 'object' ? (req as HttpInRequest) : undefined;
}

/**
 * Registers a node with its netboot-server for the node's lifetime (the mqtt-broker pattern), for
 * nodes that look the server up per message; deregisters on close. No server: nothing to do.
 */
export function useServer(RED: RED, node: Node, serverId: unknown): void {
  const cfg = typeof serverId === 'string' && serverId ? (RED.nodes.getNode(serverId) as NetbootServerNode | null) : null;
  if (!cfg?.register) return;
  const user = { id: node.id };
  cfg.register(user);
  node.on('close', (_removed: boolean, done: () => void) => cfg.deregister(user, done));
}
