/**
 * The small part of Node-RED's runtime API that our nodes use, typed here so the node files stay
 * strict without pulling a large type package (plus `wired`, the one question every node asks of
 * it). Only node files import this; lib/ never does.
 */
export interface NodeMessage {
  _msgid?: string;
  payload?: unknown;
  topic?: string;
  [key: string]: unknown;
}

export type NodeStatus = { fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey'; shape?: 'ring' | 'dot'; text?: string } | Record<string, never>;

export type SendFn = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null> | null) => void;
export type DoneFn = (err?: Error) => void;

export interface Node {
  id: string;
  type: string;
  name?: string;
  credentials?: Record<string, string | undefined>;
  /** Per output, the ids of the nodes wired to it (set by the Node-RED runtime). */
  wires?: string[][];
  on(event: 'input', fn: (msg: NodeMessage, send: SendFn, done: DoneFn) => void): void;
  on(event: 'close', fn: (removed: boolean, done: () => void) => void): void;
  send: SendFn;
  status(s: NodeStatus): void;
  log(m: string): void;
  warn(m: string): void;
  error(m: string | Error, msg?: NodeMessage): void;
}

export interface NodeDef {
  id: string;
  type: string;
  name?: string;
  [key: string]: unknown;
}

export interface ExpressLike {
  get(path: string, ...handlers: Handler[]): void;
  use(...handlers: Handler[]): void;
  post(path: string, ...handlers: Handler[]): void;
  put(path: string, ...handlers: Handler[]): void;
  patch(path: string, ...handlers: Handler[]): void;
  delete(path: string, ...handlers: Handler[]): void;
}

export interface HttpRequest {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}
export interface HttpResponse {
  status(code: number): HttpResponse;
  set(headers: Record<string, string>): HttpResponse;
  json(body: unknown): void;
  send(body: string): void;
  end(): void;
}
export type Handler = (req: HttpRequest, res: HttpResponse, next: (err?: unknown) => void) => void;

export interface RED {
  nodes: {
    createNode(node: object, def: NodeDef): void;
    registerType(type: string, ctor: (this: Node, def: NodeDef) => void, opts?: { credentials?: Record<string, { type: 'text' | 'password' }>; settings?: Record<string, unknown> }): void;
    getNode(id: string): unknown;
    /** Every node of the active flows, as configured (type, wires, settings). */
    eachNode?(fn: (def: NodeDef) => void): void;
  };
  httpAdmin: ExpressLike;
  httpNode: ExpressLike;
  auth: { needsPermission(permission: string): Handler };
  settings: { userDir?: string; [key: string]: unknown };
  log: { info(m: string): void; warn(m: string): void; error(m: string): void; debug(m: string): void };
  _(key: string, subs?: Record<string, unknown>): string;
  /** The runtime's events (`flows:started` after every deploy). */
  events?: { on(event: string, fn: () => void): void; off?(event: string, fn: () => void): void; removeListener(event: string, fn: () => void): void };
  /** The runtime's hooks (message hooks run on every hand-off between nodes). */
  hooks?: { has(id: string): boolean };
  util?: { generateId(): string };
}

/**
 * True when something is wired to output `output` (0-based). A node builds nothing for an output
 * with no wires: the reference flow leaves several open, and a message per DHCP or TFTP packet
 * that goes nowhere still costs the server time.
 */
export function wired(node: Node, output: number): boolean {
  return (node.wires?.[output]?.length ?? 0) > 0;
}
