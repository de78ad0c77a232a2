/**
 * The DHCP / proxyDHCP server loop. The caller owns the sockets (a Node-RED config node binds
 * 0.0.0.0:67, 0.0.0.0:4011 and optionally 0.0.0.0:68 for rogue detection) and hands them to
 * `attach()`, or feeds packets to `handlePacket()` itself.
 *
 * Which of our addresses answers a packet (Node's dgram cannot tell the arrival interface):
 *   1. a REQUEST whose option 54 names one of our interface addresses → that interface;
 *   2. relayed (giaddr ≠ 0) → the interface whose subnet holds giaddr, else the default;
 *   3. ciaddr ≠ 0 inside one of our subnets → that interface;
 *   4. a unicast source address inside one of our subnets → that interface;
 *   5. otherwise (broadcasts from 0.0.0.0) → `defaultInterface` (or the first interface).
 *
 * Where a reply goes (injectable via `destination`):
 *   relayed → giaddr:67; boot-server port → the client's source address and port; NAK →
 *   255.255.255.255:68; ciaddr ≠ 0 → ciaddr:68; otherwise → 255.255.255.255:68 (we cannot add an ARP
 *   entry to unicast to a client without an address, so non-broadcast-flag clients get a broadcast).
 *   With `broadcast: 'directed'` the subnet broadcast of the chosen interface replaces 255.255.255.255.
 *
 * The `decide` hook (the boot policy's seam, lib/policy/booter.ts): before a boot answer goes out the
 * server calls `options.decide(facts, signal)`; `undefined` means "the default". The deadline
 * (`deadlineMs`, default 300 ms) is kept here, by one timer: past it the default answer is sent, the
 * signal is aborted (so whoever was asked can drop the question) and a late answer is ignored.
 *
 * Events: discover, request, release, decline, inform (received, `{ facts, rinfo, via }`);
 * offer, ack, nak (sent, `{ facts, reply, destination, boot }`); ignored (`{ reason, facts, detail }`,
 * reasons: not-pxe, other-server, rate-limited, mode-off, no-lease, skipped, ...); malformed
 * (`{ error, rinfo, count }`); rogue (`RogueReport`); deadline; error (only when listened to).
 */
import { EventEmitter } from 'node:events';
import type { RemoteInfo } from 'node:dgram';
import { NetbootError } from '../core/errors';
import { notADevice } from '../core/mac';
import { ClientFacts, classify } from './classify';
import { BootAnswer, BootConfigInput, BootOverride, resolveBootConfig, BootAnswerConfig } from './boot-answer';
import { DhcpPacket, encodePacket, ipToInt, isIPv4, OP_REPLY, parsePacket } from './packet';
import { MESSAGE_TYPE_NAMES, MessageType } from './options';
import { DhcpMode, IgnoreReason, LeaseDecision, decideReply } from './responder';
import { LeasePool } from './leases';
import { RogueDetector, RogueReport } from './rogue';
import { RateLimitConfig, TokenBuckets } from './rate-limit';
import { directedBroadcast } from '../net/interfaces';

export interface DhcpSocket {
  send(msg: Uint8Array, port: number, address: string, callback?: (error: Error | null, bytes: number) => void): void;
  on(event: 'message', listener: (msg: Buffer, rinfo: RemoteInfo) => void): unknown;
  off(event: 'message', listener: (msg: Buffer, rinfo: RemoteInfo) => void): unknown;
  setBroadcast?(flag: boolean): void;
}

export interface DhcpInterface {
  address: string;
  netmask: string;
  /** Full mode: the address pool for this subnet. */
  pool?: LeasePool;
}

export type PacketVia = 'dhcp' | 'boot' | 'monitor';

/** Answers remembered for the monitor's echo check (a broadcast comes back within a millisecond). */
const RECENT_REPLIES = 256;

export interface Destination {
  address: string;
  port: number;
}

export interface DestinationInfo {
  type: MessageType;
  request: DhcpPacket;
  rinfo: RemoteInfo;
  via: PacketVia;
  /** The interface chosen for this packet. */
  iface: DhcpInterface;
}

export type DestinationFn = (reply: DhcpPacket, info: DestinationInfo) => Destination;

export interface DhcpLogger {
  debug?(msg: string): void;
  info?(msg: string): void;
  warn?(msg: string): void;
}

export interface DhcpServerOptions {
  mode: DhcpMode;
  interfaces: DhcpInterface[];
  /** Address of the interface that answers broadcasts (rule 5); default the first interface. */
  defaultInterface?: string;
  boot?: BootConfigInput;
  serverName?: string;
  /** What this machine gets, asked before each boot answer; `signal` aborts at the deadline. */
  decide?: (facts: ClientFacts, signal: AbortSignal) => Promise<BootOverride | undefined>;
  deadlineMs?: number;
  /** Per-MAC and per-source token buckets; `false` turns one off. Sources 0.0.0.0 and relayed packets (giaddr set) are not limited per source. */
  rateLimit?: { perMac?: RateLimitConfig | false; perSource?: RateLimitConfig | false };
  /**
   * The allowlist, checked against the relay address (giaddr) or the packet's source; a broadcast
   * from a machine that has no address yet and no relay carries no address to check.
   */
  allow?: (address: string) => boolean;
  /**
   * Machines this server leaves alone: the reason (`pinned to site b`) for one another server
   * answers, undefined for the rest. Asked per packet, so it must be an in-memory lookup.
   */
  leaveAlone?: (mac: string) => string | undefined;
  /** Client/server ports used by the default destination rule (68/67). */
  ports?: { client?: number; server?: number };
  /**
   * 'limited' (default) sends broadcasts to 255.255.255.255, which the kernel routes like any
   * address (the host needs a default route or a 255.255.255.255 route on the right interface);
   * 'directed' sends to the chosen interface's subnet broadcast (e.g. 10.0.0.255), which follows
   * the subnet route and suits multi-homed hosts.
   */
  broadcast?: 'limited' | 'directed';
  destination?: DestinationFn;
  clock?: () => number;
  log?: DhcpLogger;
}

export interface DhcpStats {
  received: number;
  malformed: number;
  replied: number;
  ignored: number;
  rateLimited: number;
  errors: number;
}

export type HandleOutcome =
  | { action: 'replied'; type: MessageType; reply: DhcpPacket; bytes: Buffer; destination: Destination; decided: 'hook' | 'deadline' | 'default'; boot?: BootAnswer; serverIp?: string }
  | { action: 'ignored'; reason: IgnoreReason | 'rate-limited' | 'no-interface' | 'not-allowed' | 'not-a-device' | 'other-site'; detail?: string }
  | { action: 'malformed'; error: NetbootError }
  | { action: 'observed'; rogue?: RogueReport }
  | { action: 'handled' }
  | { action: 'error'; error: NetbootError };

export const DEFAULT_RATE_LIMIT = {
  perMac: { burst: 10, perSecond: 2 },
  perSource: { burst: 50, perSecond: 20 },
} as const;

const BROADCAST = '255.255.255.255';

export { directedBroadcast };

export function makeDefaultDestination(ports: { client?: number; server?: number } = {}, broadcast: 'limited' | 'directed' = 'limited'): DestinationFn {
  const client = ports.client ?? 68;
  const server = ports.server ?? 67;
  return (reply, info) => {
    const bcast = broadcast === 'directed' ? directedBroadcast(info.iface) : BROADCAST;
    if (reply.giaddr !== '0.0.0.0') return { address: reply.giaddr, port: server };
    if (info.via === 'boot' && info.rinfo.address && info.rinfo.address !== '0.0.0.0') return { address: info.rinfo.address, port: info.rinfo.port };
    if (info.type === MessageType.NAK) return { address: bcast, port: client };
    if (info.request.ciaddr !== '0.0.0.0') return { address: info.request.ciaddr, port: client };
    return { address: bcast, port: client };
  };
}

function inSubnet(iface: DhcpInterface, ip: string): boolean {
  if (!isIPv4(ip)) return false;
  const m = ipToInt(iface.netmask);
  return ((ipToInt(ip) & m) >>> 0) === ((ipToInt(iface.address) & m) >>> 0);
}

const EVENT_FOR_TYPE: Partial<Record<MessageType, string>> = {
  [MessageType.DISCOVER]: 'discover',
  [MessageType.REQUEST]: 'request',
  [MessageType.RELEASE]: 'release',
  [MessageType.DECLINE]: 'decline',
  [MessageType.INFORM]: 'inform',
};

function checkInterfaces(interfaces: DhcpInterface[] | undefined, defaultInterface?: string): { interfaces: DhcpInterface[]; def: DhcpInterface } {
  if (!interfaces?.length) throw new NetbootError('validation', 'DHCP server: at least one interface { address, netmask } is needed');
  for (const i of interfaces) {
    if (!isIPv4(i.address) || !isIPv4(i.netmask)) throw new NetbootError('validation', `DHCP server: interface ${i.address}/${i.netmask} is not an IPv4 address and netmask`, { interface: i.address });
  }
  const def = defaultInterface ? interfaces.find((i) => i.address === defaultInterface) : interfaces[0];
  if (!def) throw new NetbootError('validation', `DHCP server: defaultInterface ${defaultInterface} is not one of the interfaces`);
  return { interfaces: [...interfaces], def };
}

export class DhcpServer extends EventEmitter {
  readonly stats: DhcpStats = { received: 0, malformed: 0, replied: 0, ignored: 0, rateLimited: 0, errors: 0 };
  private mode: DhcpMode;
  private interfaces: DhcpInterface[];
  private defaultIface: DhcpInterface;
  private readonly boot: BootAnswerConfig;
  private readonly deadlineMs: number;
  private readonly destination: DestinationFn;
  private readonly rogue: RogueDetector;
  /** Our latest answers by xid, for the monitor to recognise its own echo. */
  private readonly recentReplies = new Map<number, Buffer>();
  private readonly macLimit?: TokenBuckets;
  private readonly sourceLimit?: TokenBuckets;
  private readonly log: DhcpLogger;
  private sockets: { dhcp?: DhcpSocket; boot?: DhcpSocket; monitor?: DhcpSocket } = {};
  private socketHandlers: { socket: DhcpSocket; fn: (msg: Buffer, rinfo: RemoteInfo) => void }[] = [];
  /** Pending decisions: timer → settle now with the default answer. */
  private readonly pending = new Map<NodeJS.Timeout, () => void>();

  constructor(private readonly options: DhcpServerOptions) {
    super();
    const { interfaces, def } = checkInterfaces(options.interfaces, options.defaultInterface);
    this.mode = options.mode;
    this.interfaces = interfaces;
    this.defaultIface = def;
    this.boot = resolveBootConfig(options.boot);
    this.deadlineMs = options.deadlineMs ?? 300;
    this.destination = options.destination ?? makeDefaultDestination(options.ports, options.broadcast);
    this.rogue = new RogueDetector(this.interfaces.map((i) => i.address));
    const clock = options.clock ?? Date.now;
    const perMac = options.rateLimit?.perMac === undefined ? DEFAULT_RATE_LIMIT.perMac : options.rateLimit.perMac;
    const perSource = options.rateLimit?.perSource === undefined ? DEFAULT_RATE_LIMIT.perSource : options.rateLimit.perSource;
    if (perMac) this.macLimit = new TokenBuckets(perMac, clock);
    if (perSource) this.sourceLimit = new TokenBuckets(perSource, clock);
    this.log = options.log ?? {};
  }

  /**
   * The host's addresses changed (see NetworkWatcher): answers from the next packet on are chosen
   * from, and name, the new list; the rogue detector counts the new addresses as ours.
   */
  setInterfaces(interfaces: DhcpInterface[], defaultInterface?: string): void {
    const checked = checkInterfaces(interfaces, defaultInterface);
    this.interfaces = checked.interfaces;
    this.defaultIface = checked.def;
    this.rogue.setOurAddresses(this.interfaces.map((i) => i.address));
  }

  getMode(): DhcpMode {
    return this.mode;
  }

  setMode(mode: DhcpMode): void {
    this.mode = mode;
  }

  /** Listen on caller-owned sockets: port 67, optionally 4011 and a port-68 monitor for rogue servers. */
  attach(dhcp: DhcpSocket | undefined, boot?: DhcpSocket, monitor?: DhcpSocket): void {
    this.detach();
    this.sockets = { dhcp, boot, monitor };
    const add = (socket: DhcpSocket | undefined, via: PacketVia) => {
      if (!socket) return;
      if (via !== 'monitor') {
        try {
          socket.setBroadcast?.(true);
        } catch (err) {
          this.log.warn?.(`DHCP: cannot enable broadcast on the ${via} socket (bind it first): ${(err as Error).message}`);
        }
      }
      const fn = (msg: Buffer, rinfo: RemoteInfo) => {
        void this.handlePacket(msg, rinfo, via);
      };
      socket.on('message', fn);
      this.socketHandlers.push({ socket, fn });
    };
    add(dhcp, 'dhcp');
    add(boot, 'boot');
    add(monitor, 'monitor');
  }

  /** Stop listening (the sockets stay open: the caller owns them) and cancel pending decisions. */
  detach(): void {
    for (const { socket, fn } of this.socketHandlers) socket.off('message', fn);
    this.socketHandlers = [];
    this.sockets = {};
    for (const [t, settle] of [...this.pending]) {
      clearTimeout(t);
      settle();
    }
    this.pending.clear();
  }

  close(): void {
    this.detach();
  }

  /** Forget the rogue servers already reported. */
  resetRogues(): void {
    this.rogue.reset();
  }

  /** Counts an ignored packet; its `ignored` event goes out with the received one (handleRequest). */
  private ignore(reason: IgnoreReason | 'rate-limited' | 'no-interface' | 'not-allowed' | 'not-a-device' | 'other-site', _facts: ClientFacts | undefined, detail?: string): HandleOutcome {
    this.stats.ignored += 1;
    if (reason === 'rate-limited') this.stats.rateLimited += 1;
    return { action: 'ignored', reason, detail };
  }

  private fail(context: string, err: unknown): HandleOutcome {
    this.stats.errors += 1;
    const error = NetbootError.wrap(context, err);
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.log.warn?.(error.message);
    return { action: 'error', error };
  }

  pickInterface(p: DhcpPacket, facts: ClientFacts | undefined, rinfo: RemoteInfo): DhcpInterface {
    if (facts?.serverId) {
      const named = this.interfaces.find((i) => i.address === facts.serverId);
      if (named) return named;
    }
    const within = (ip: string) => this.interfaces.find((i) => inSubnet(i, ip));
    if (p.giaddr !== '0.0.0.0') return within(p.giaddr) ?? this.defaultIface;
    if (p.ciaddr !== '0.0.0.0') {
      const i = within(p.ciaddr);
      if (i) return i;
    }
    if (rinfo.address && rinfo.address !== '0.0.0.0') {
      const i = within(rinfo.address);
      if (i) return i;
    }
    return this.defaultIface;
  }

  /** Handle one datagram. Never throws; the outcome says what happened. */
  async handlePacket(buf: Buffer, rinfo: RemoteInfo, via: PacketVia): Promise<HandleOutcome> {
    this.stats.received += 1;
    // Every answer we broadcast comes back to the port-68 monitor: its exact bytes are skipped
    // unparsed (the detector would drop them anyway). Another server's answer never matches.
    if (via === 'monitor' && buf.length >= 8 && buf[0] === OP_REPLY) {
      const ours = this.recentReplies.get(buf.readUInt32BE(4));
      if (ours !== undefined && ours.equals(buf)) return { action: 'observed' };
    }
    const parsed = parsePacket(buf);
    if (!parsed.ok) {
      this.stats.malformed += 1;
      this.emit('malformed', { error: parsed.error, rinfo, count: this.stats.malformed });
      return { action: 'malformed', error: parsed.error };
    }
    const p = parsed.packet;
    try {
      if (p.op === 2) {
        const report = this.rogue.observe(p, rinfo.address);
        if (report) {
          this.log.warn?.(`DHCP: another DHCP server ${report.serverId} (from ${report.sourceIp}) answers on this network`);
          this.emit('rogue', report);
        }
        return { action: 'observed', rogue: report };
      }
      if (via === 'monitor' || p.op !== 1) return { action: 'observed' };
      return await this.handleRequest(p, rinfo, via);
    } catch (err) {
      return this.fail(`handling DHCP packet from ${rinfo.address}:${rinfo.port}`, err);
    }
  }

  /**
   * Answers first, then tells: the received event (`discover`, ...), then `ignored` or the sent one
   * (`offer`, ...), in that order, once the answer is on the wire. Their listeners (the metrics
   * bus, the timeline, the event log, the flow's messages) cost more than the answer itself, and
   * each waited in front of it before.
   */
  private async handleRequest(p: DhcpPacket, rinfo: RemoteInfo, via: 'dhcp' | 'boot'): Promise<HandleOutcome> {
    const facts = classify(p);
    let outcome: HandleOutcome | undefined;
    try {
      outcome = await this.answer(p, facts, rinfo, via);
      return outcome;
    } finally {
      const mt = facts.messageType;
      const ev = mt === undefined ? undefined : EVENT_FOR_TYPE[mt];
      if (ev) this.emit(ev, { facts, rinfo, via });
      if (outcome?.action === 'ignored') this.emit('ignored', { reason: outcome.reason, facts, detail: outcome.detail });
      else if (outcome?.action === 'replied') {
        const name = MESSAGE_TYPE_NAMES[outcome.type]?.toLowerCase();
        if (name) this.emit(name, { facts, reply: outcome.reply, destination: outcome.destination, boot: outcome.boot, serverIp: outcome.serverIp });
      }
    }
  }

  private async answer(p: DhcpPacket, facts: ClientFacts, rinfo: RemoteInfo, via: 'dhcp' | 'boot'): Promise<HandleOutcome> {
    const mt = facts.messageType;
    if (this.mode === 'off') return this.ignore('mode-off', facts);
    // broadcast, multicast and all-zero hardware addresses are not machines (docs/security.md)
    const notMachine = notADevice(facts.mac);
    if (notMachine) return this.ignore('not-a-device', facts, `chaddr ${facts.mac} ${notMachine}`);
    const from = p.giaddr !== '0.0.0.0' ? p.giaddr : rinfo.address !== '0.0.0.0' ? rinfo.address : undefined;
    if (this.options.allow && from !== undefined && !this.options.allow(from)) return this.ignore('not-allowed', facts, `${from} is not in the allowlist`);
    const elsewhere = this.options.leaveAlone?.(facts.mac);
    if (elsewhere) return this.ignore('other-site', facts, elsewhere);
    if (this.macLimit && !this.macLimit.take(facts.mac)) return this.ignore('rate-limited', facts, `mac ${facts.mac}`);
    // a relay forwards a whole segment from one address: limit its clients per MAC only
    if (this.sourceLimit && rinfo.address !== '0.0.0.0' && p.giaddr === '0.0.0.0' && !this.sourceLimit.take(rinfo.address)) return this.ignore('rate-limited', facts, `source ${rinfo.address}`);

    const iface = this.pickInterface(p, facts, rinfo);
    const serverIp = iface.address;
    const config = { mode: this.mode, serverIp, boot: this.boot, serverName: this.options.serverName };
    const namesOther = facts.serverId !== undefined && facts.serverId !== serverIp;

    let lease: LeaseDecision | undefined;
    if (this.mode === 'full' && via === 'dhcp' && !namesOther) {
      const pool = iface.pool;
      if (!pool) return this.ignore('no-lease', facts, `no address pool for ${serverIp}`);
      switch (mt) {
        case MessageType.DISCOVER:
          lease = await pool.offer(facts.mac, facts.requestedIp);
          break;
        case MessageType.REQUEST:
          lease = await pool.request(facts.mac, facts.requestedIp ?? (p.ciaddr !== '0.0.0.0' ? p.ciaddr : undefined), facts.hostname);
          break;
        case MessageType.INFORM:
          lease = pool.inform();
          break;
        case MessageType.RELEASE:
          await pool.release(facts.mac, p.ciaddr);
          return { action: 'handled' };
        case MessageType.DECLINE:
          await pool.decline(facts.mac, facts.requestedIp);
          return { action: 'handled' };
        default:
          break;
      }
    }

    const ctx = { port: via, lease } as const;
    const pre = decideReply(p, facts, config, ctx);
    if (!pre.reply) {
      if (pre.reason === 'no-reply-needed') return { action: 'handled' };
      return this.ignore(pre.reason, facts, pre.detail);
    }
    let result = pre;
    let decided: 'hook' | 'deadline' | 'default' = 'default';
    if (pre.boot) {
      const { override, how } = await this.runDecide(facts);
      decided = how;
      if (override) {
        const again = decideReply(p, facts, config, { ...ctx, override });
        if (!again.reply) return this.ignore(again.reason, facts, again.detail);
        result = again;
      }
    }
    if (!result.reply) return this.ignore('skipped', facts);
    const reply = result.reply;
    const bytes = encodePacket(reply);
    const destination = this.destination(reply, { type: result.type, request: p, rinfo, via, iface });
    const socket = via === 'boot' ? (this.sockets.boot ?? this.sockets.dhcp) : this.sockets.dhcp;
    // without an attached socket (a caller feeding handlePacket itself) the reply is only returned
    const send = (to: Destination) => new Promise<NodeJS.ErrnoException | null>((resolve) => {
      if (!socket) return resolve(null);
      socket.send(bytes, to.port, to.address, (err) => resolve(err as NodeJS.ErrnoException | null));
    });
    let sent = destination;
    let err = await send(sent);
    // 255.255.255.255 needs a route (a default route usually provides it); an isolated boot
    // network may have none, so fall back to the subnet's directed broadcast, which follows the
    // subnet route and leaves the same interface as an Ethernet broadcast.
    if (err && err.code === 'ENETUNREACH' && sent.address === BROADCAST) {
      sent = { address: directedBroadcast(iface), port: sent.port };
      err = await send(sent);
    }
    if (err) return this.fail(`sending DHCP ${MESSAGE_TYPE_NAMES[result.type]} to ${sent.address}:${sent.port}`, err);
    this.stats.replied += 1;
    if (this.sockets.monitor) {
      this.recentReplies.delete(reply.xid);
      this.recentReplies.set(reply.xid, bytes);
      if (this.recentReplies.size > RECENT_REPLIES) this.recentReplies.delete(this.recentReplies.keys().next().value!);
    }
    return { action: 'replied', type: result.type, reply, bytes, destination: sent, decided, boot: result.boot, serverIp };
  }

  private runDecide(facts: ClientFacts): Promise<{ override?: BootOverride; how: 'hook' | 'deadline' | 'default' }> {
    const hook = this.options.decide;
    if (!hook) return Promise.resolve({ how: 'default' });
    return new Promise((resolve) => {
      const deadline = new AbortController();
      let done = false;
      const expire = () => {
        this.pending.delete(timer);
        if (done) return;
        done = true;
        deadline.abort();
        this.emit('deadline', { facts, deadlineMs: this.deadlineMs });
        resolve({ how: 'deadline' });
      };
      const timer = setTimeout(expire, this.deadlineMs);
      this.pending.set(timer, expire);
      const finish = (override: BootOverride | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(timer);
        resolve({ override: override ?? undefined, how: 'hook' });
      };
      let answer: Promise<BootOverride | undefined>;
      try {
        answer = Promise.resolve(hook(facts, deadline.signal));
      } catch (err) {
        answer = Promise.reject(err);
      }
      answer.then(finish, (err: unknown) => {
        this.fail(`decide hook for ${facts.mac}`, err);
        finish(undefined);
      });
    });
  }
}
