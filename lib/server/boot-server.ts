import type { IscsiService } from '../iscsi/service';
import type * as dgram from 'node:dgram';
import type { BootServerConfig, BootServerDeps, BootServerState, PortKey, PortState, ServerBootEvent, VirtualFileAnswer } from './types';
export type * from './types';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { AuditLog } from '../audit/audit-log';
import { oncePerSource, parseAllowlist } from '../net/allowlist';
import { NetbootError } from '../core/errors';
import { bindUdp, closeSocket, LISTEN_RECV_BUFFER, receiveBuffer } from '../net/bind';
import { openSharedStore, type JsonInventoryStore, type SharedStoreHandle } from '../store';
import { FlowRequests } from './flow-requests';
import { DhcpServer, JsonFileLeaseStore, LeasePool, type BootOverride, type ClientFacts } from '../dhcp';
import { ipv4Interfaces, replyAddressFor } from '../net/interfaces';
import { defaultPersist, MetricsHub, wireDhcp, wireTftp } from '../metrics';
import { chainResolvers, createStaticResolver, resolveUnderRoot, TftpServer, type TftpRequest, type TftpResolver, type TftpServerEvents } from '../tftp';

/** Boot events the inventory's history keeps (see startMetrics). */
const KEPT = new Set(['stage', 'stall', 'stall.cleared', 'checkin', 'dhcp.request', 'dhcp.ack', 'tftp.abort', 'tftp.notfound', 'iscsi.login', 'iscsi.logout', 'decision']);

const PURPOSE: Record<PortKey, { purpose: string; envVar: string; optional?: boolean }> = {
  dhcp: { purpose: 'DHCP', envVar: 'NETBOOT_DHCP_PORT' },
  proxy: { purpose: 'proxyDHCP', envVar: 'NETBOOT_PROXY_PORT' },
  tftp: { purpose: 'TFTP', envVar: 'NETBOOT_TFTP_PORT' },
  // other servers' OFFERs go to the client port; without it the rogue-server detector is blind
  monitor: { purpose: 'DHCP monitor', envVar: 'NETBOOT_MONITOR_PORT', optional: true },
};

/**
 * Owns what one boot server binds and opens: the UDP sockets (DHCP 67, proxyDHCP 4011, TFTP 69)
 * and the inventory store. A port that cannot be bound is reported (state `failed` with the fix in
 * `error`) while the rest keeps running. `close()` releases everything.
 *
 * Events: `state` (BootServerState) whenever a port or the store changes; `boot` (ServerBootEvent)
 * for every protocol event (TFTP request/done/probe/..., later DHCP).
 */
export class BootServer extends EventEmitter {
  readonly config: BootServerConfig;
  private readonly deps: BootServerDeps;
  private readonly sockets = new Map<PortKey, dgram.Socket>();
  private storeHandle?: SharedStoreHandle;
  private ports: PortState[];
  private storeState: BootServerState['store'] = 'opening';
  private storeError?: string;
  private closing = false;
  /** The TFTP server, once its port is bound. */
  tftp?: TftpServer;
  /** Boot events, timelines, per-device figures and Prometheus metrics; created at start. */
  metrics?: MetricsHub;
  private unwire: Array<() => void> = [];
  /** Who fetched which script or config, and every management change (`<data>/audit.jsonl`). */
  audit?: AuditLog;
  /** The DHCP / proxyDHCP server, once its sockets are bound. */
  dhcp?: DhcpServer;
  /** The iSCSI targets (tgtd), while a netboot-iscsi node runs for this server. */
  iscsi?: IscsiService;
  /** DHCP boot answers the flow may override within the deadline (netboot-listen, output 2). */
  readonly dhcpDecisions = new FlowRequests<ClientFacts, BootOverride>('dhcp:');
  /** Files the TFTP server does not have are asked of the flow (netboot-listen) through this. */
  readonly virtualFiles = new FlowRequests<TftpRequest, VirtualFileAnswer>('tftp:');

  /** The allowlist check for TFTP and DHCP (undefined: everyone), counting and logging refusals. */
  private readonly allow?: (where: 'tftp' | 'dhcp') => (address: string) => boolean;

  constructor(config: BootServerConfig, deps: BootServerDeps = {}) {
    super();
    this.config = config;
    this.deps = deps;
    const list = parseAllowlist(config.allowlist);
    if (list) {
      const warn = oncePerSource((ip, n) => deps.log?.warn(`refused ${ip}: not in the allowlist (${n} request${n === 1 ? '' : 's'} since the last warning)`));
      this.allow = (where) => (address) => {
        if (list.allows(address)) return true;
        this.metrics?.prometheus.countRefusal(where, 'allowlist');
        warn(address);
        return false;
      };
    }
    this.ports = (Object.keys(PURPOSE) as PortKey[]).map((key) => ({
      key, ...PURPOSE[key], port: config.ports[key] ?? -1, address: config.bind,
      state: (config.ports[key] ?? -1) < 0 ? 'disabled' : 'closed',
    }));
  }

  get state(): BootServerState {
    return { ports: this.ports.map((p) => ({ ...p })), store: this.storeState, storeError: this.storeError };
  }

  get store(): JsonInventoryStore | undefined {
    return this.storeHandle?.store;
  }

  socket(key: PortKey): dgram.Socket | undefined {
    return this.sockets.get(key);
  }

  get storeFile(): string {
    return path.join(this.config.dataDir, 'inventory.json');
  }

  /** Binds every enabled port and opens the store; never rejects: failures land in `state`. */
  async start(): Promise<BootServerState> {
    await mkdir(this.config.assetsRoot, { recursive: true }).catch((err: Error) => this.deps.log?.warn(`boot assets folder ${this.config.assetsRoot}: ${err.message}`));
    await Promise.all([
      ...this.ports.filter((p) => p.state !== 'disabled').map((p) => this.bindPort(p)),
      this.openStore(),
      this.openAudit(),
    ]);
    if (!this.closing && (this.sockets.has('dhcp') || this.sockets.has('proxy'))) {
      try {
        await this.startDhcp();
      } catch (err) {
        this.deps.log?.error(`DHCP: ${(err as Error).message}`);
      }
    }
    if (!this.closing) {
      // the stall threshold is an inventory setting (stallSeconds, default 180 s)
      const stallSeconds = this.store ? (await this.store.getSettings()).stallSeconds : undefined;
      this.startMetrics(stallSeconds ? stallSeconds * 1000 : undefined);
    }
    // tells users (netboot-listen, netboot-metrics) that every part now exists
    this.emit('state', this.state);
    return this.state;
  }

  private async bindPort(p: PortState): Promise<void> {
    try {
      const socket = await bindUdp({
        purpose: p.purpose, port: p.port, address: p.address, envVar: p.envVar, broadcast: p.key !== 'tftp', shared: p.key === 'monitor',
        recvBuffer: p.key === 'monitor' ? undefined : LISTEN_RECV_BUFFER, socketFactory: this.deps.socketFactory,
      });
      if (this.closing) {
        await closeSocket(socket);
        return;
      }
      // a socket error after bind must never crash the process
      socket.on('error', (err) => this.deps.log?.warn(`${p.purpose} socket: ${err.message}`));
      this.sockets.set(p.key, socket);
      if (p.key === 'tftp') this.startTftp(socket);
      p.state = 'listening';
      p.boundPort = socket.address().port;
      delete p.error;
      const got = p.key === 'monitor' ? undefined : receiveBuffer(socket);
      if (got !== undefined && got < LISTEN_RECV_BUFFER) {
        this.deps.log?.info(`${p.purpose}: UDP receive buffer ${Math.round(got / 1024)} KiB (net.core.rmem_max caps it); for boot storms of hundreds of machines raise it: sysctl -w net.core.rmem_max=${LISTEN_RECV_BUFFER}`);
      }
    } catch (err) {
      p.state = 'failed';
      p.error = err instanceof NetbootError ? err.message : String(err);
      if (p.optional) this.deps.log?.warn(`${p.error} (optional: only the rogue-server detector needs it)`);
      else this.deps.log?.error(p.error);
    }
    this.emit('state', this.state);
  }

  /** Transfer sockets bind to the address clients talk to, so replies leave from it. */
  private get ownAddress(): string {
    return this.config.bind !== '0.0.0.0' ? this.config.bind : this.config.serverIp;
  }

  private startTftp(socket: dgram.Socket): void {
    const t = this.config.tftp ?? {};
    const root = this.config.assetsRoot;
    const fromFlow: TftpResolver = async (req) => {
      const answer = await this.virtualFiles.ask(req, t.virtualFileTimeoutMs ?? 2000);
      if (!answer || answer.kind === 'none') return null;
      if (answer.kind === 'data') return { kind: 'buffer', data: answer.data };
      // a file the flow names must also stay inside the root
      const found = await resolveUnderRoot(root, answer.path);
      if (found.kind === 'unsafe') throw found.error;
      return found.kind === 'missing' ? null : { kind: 'file', path: found.realPath, size: found.stat.size };
    };
    // bound to 0.0.0.0, a transfer must still answer from the address the client talked to
    const interfaces = ipv4Interfaces();
    const tftp = new TftpServer({
      address: this.ownAddress,
      replyAddress: this.config.bind === '0.0.0.0'
        ? (client) => replyAddressFor(client.address, [{ address: this.config.serverIp, netmask: '255.255.255.255' }, ...interfaces], this.config.serverIp)
        : undefined,
      resolver: chainResolvers(createStaticResolver(root, { cacheSmallFiles: t.cacheSmallFiles ?? 256 * 1024 }), fromFlow),
      socketFactory: this.deps.socketFactory,
      maxBlksize: t.maxBlksize,
      mtu: t.mtu,
      maxWindowsize: t.maxWindowsize,
      maxTransfers: t.maxTransfers,
      maxTransfersPerClient: t.maxTransfersPerClient,
      allow: this.allow?.('tftp'),
      uploadDir: t.uploadDir,
      log: { warn: (m) => this.deps.log?.warn(`TFTP: ${m}`) },
    });
    const forward = <K extends keyof TftpServerEvents>(name: K) => {
      tftp.on(name, ((ev: { client?: { address: string } }) => {
        // per packet: build the event only when a netboot-listen node wants it
        if (this.listenerCount('boot') === 0) return;
        const { client, ...rest } = ev as Record<string, unknown> & { client?: { address: string; port: number } };
        this.emit('boot', { type: `tftp.${name}`, ts: Date.now(), ip: client?.address, data: { ...rest, ...(client ? { port: client.port } : {}) } } satisfies ServerBootEvent);
      }) as never);
    };
    (['request', 'oack', 'progress', 'done', 'probe', 'aborted', 'notfound', 'refused', 'malformed'] as const).forEach(forward);
    tftp.on('warning', (w) => this.deps.log?.warn(`TFTP: ${w.message}`));
    tftp.attach(socket);
    this.tftp = tftp;
  }

  private startMetrics(stallFromSettings?: number): void {
    const settings = this.config.metrics ?? {};
    const stallMs = settings.stallMs ?? stallFromSettings ?? 180_000;
    const hub = new MetricsHub({
      store: this.store,
      // the device history keeps what happened, not every packet or file (the timeline has those,
      // and a finished boot is kept whole); boot logs and enrolments are stored by their nodes
      persist: (e) => defaultPersist(e) && KEPT.has(e.type),
      stallMs,
      onError: (err) => this.deps.log?.warn(`metrics: ${(err as Error).message ?? String(err)}`),
    });
    const onError = (err: unknown) => this.deps.log?.warn(`metrics: ${(err as Error).message ?? String(err)}`);
    if (this.tftp) this.unwire.push(wireTftp(this.tftp as never, hub, onError));
    if (this.dhcp) this.unwire.push(wireDhcp(this.dhcp as never, hub, onError));
    // HTTP asset transfers (netboot-assets emits them on this server)
    const httpStart = (e: { ip?: string; path: string; requestId?: string }) => this.publish({ type: 'http.start', ip: e.ip, path: e.path, requestId: e.requestId });
    const httpDone = (e: { ip?: string; path: string; requestId?: string; bytes?: number; size?: number; status?: number; durationMs?: number }) =>
      this.publish({ type: 'http.done', ip: e.ip, path: e.path, requestId: e.requestId, bytes: e.bytes, size: e.size ?? undefined, status: e.status, durationMs: e.durationMs });
    this.on('http.start', httpStart);
    this.on('http.done', httpDone);
    this.unwire.push(() => {
      this.off('http.start', httpStart);
      this.off('http.done', httpDone);
    });
    // a boot that ends (done or failed) is kept in the inventory, the last N per device
    const store = this.store;
    if (store) {
      this.unwire.push(hub.bus.subscribe((e) => {
        if (e.type !== 'stage' || !e.mac || (e.to !== 'done' && e.to !== 'failed')) return;
        const boot = hub.timelineOf(e.mac)?.boots.at(-1);
        if (boot) store.recordBoot({ ...boot, mac: e.mac } as never).catch(onError);
      }));
    }
    // check often enough to report a stall within a tenth of the threshold past it
    hub.start(settings.tickMs ?? Math.max(200, Math.min(5000, stallMs / 10)));
    this.metrics = hub;
  }

  /** Parts outside the server (HTTP assets, check-ins, logs) report their events here. */
  publish(event: Parameters<MetricsHub['publish']>[0]): void {
    try {
      this.metrics?.publish(event);
    } catch (err) {
      this.deps.log?.warn(`metrics: ${(err as Error).message}`);
    }
  }

  private async startDhcp(): Promise<void> {
    const c = this.config;
    const d = c.dhcp ?? {};
    const netmask = d.netmask ?? ipv4Interfaces().find((i) => i.address === c.serverIp)?.netmask ?? '255.255.255.0';
    let pool: LeasePool | undefined;
    if (c.dhcpMode === 'full') {
      if (!d.rangeStart || !d.rangeEnd) throw new NetbootError('validation', 'full DHCP mode needs an address range (NETBOOT_DHCP_RANGE=first-last)', { field: 'dhcpRange' });
      const store = this.store;
      pool = await LeasePool.open({
        rangeStart: d.rangeStart, rangeEnd: d.rangeEnd, netmask, router: d.router, dns: d.dns, leaseTime: d.leaseTime,
        store: new JsonFileLeaseStore(path.join(c.dataDir, 'leases.json')),
        // reservations come from the inventory
        reservation: async (mac) => (await store?.devices.get(mac))?.ipReservation ?? undefined,
      });
    }
    const base = new URL(c.httpBaseUrl);
    const dhcp = new DhcpServer({
      mode: c.dhcpMode,
      // every local subnet is served; broadcasts (no relay, no ciaddr) are answered from serverIp
      interfaces: [
        { address: c.serverIp, netmask, pool },
        ...(c.bind === '0.0.0.0' ? ipv4Interfaces().filter((i) => i.address !== c.serverIp).map((i) => ({ address: i.address, netmask: i.netmask })) : []),
      ],
      defaultInterface: c.serverIp,
      boot: { httpPort: c.httpPort ?? Number(base.port || 80), httpBase: c.httpBaseExplicit === false ? undefined : c.httpBaseUrl, httpPath: c.httpPath },
      deadlineMs: d.deadlineMs ?? 300,
      allow: this.allow?.('dhcp'),
      decide: async (facts) => (this.dhcpDecisions.hasSender ? this.dhcpDecisions.ask(facts, d.deadlineMs ?? 300) : undefined),
      ports: { client: c.ports.dhcp === 67 ? 68 : (c.ports.monitor >= 0 ? c.ports.monitor : 68), server: c.ports.dhcp >= 0 ? c.ports.dhcp : 67 },
      log: { warn: (m) => this.deps.log?.warn(m) },
    });
    // per packet: the event is built only when a netboot-listen node wants it
    const emitBoot = (type: string, facts: ClientFacts | undefined, ip: string | undefined, data: () => Record<string, unknown>) => {
      if (this.listenerCount('boot') > 0) this.emit('boot', { type, ts: Date.now(), ip, mac: facts?.mac, data: data() } satisfies ServerBootEvent);
    };
    const factsData = (f: ClientFacts) => ({ arch: f.archName, archCode: f.arch, clientClass: f.clientClass, isIpxe: f.isIpxe, platform: f.platform, uuid: f.uuid, pi: f.pi, xid: f.xid });
    for (const name of ['discover', 'request', 'release', 'decline', 'inform'] as const) {
      dhcp.on(name, (ev: { facts: ClientFacts; rinfo: { address: string }; via: string }) => emitBoot(`dhcp.${name}`, ev.facts, ev.rinfo.address, () => ({ ...factsData(ev.facts), via: ev.via })));
    }
    for (const name of ['offer', 'ack', 'nak'] as const) {
      dhcp.on(name, (ev: { facts: ClientFacts; reply: { yiaddr: string; file: string; siaddr: string }; boot?: unknown; destination: { address: string } }) =>
        emitBoot(`dhcp.${name}`, ev.facts, ev.reply.yiaddr !== '0.0.0.0' ? ev.reply.yiaddr : undefined, () => ({ ...factsData(ev.facts), yiaddr: ev.reply.yiaddr, siaddr: ev.reply.siaddr, file: ev.reply.file, boot: ev.boot, to: ev.destination.address })));
    }
    dhcp.on('ignored', (ev: { reason: string; facts?: ClientFacts; detail?: string }) => emitBoot('dhcp.ignored', ev.facts, undefined, () => ({ reason: ev.reason, detail: ev.detail })));
    dhcp.on('malformed', (ev: { error: Error; rinfo: { address: string } }) => emitBoot('dhcp.malformed', undefined, ev.rinfo.address, () => ({ reason: ev.error.message })));
    dhcp.on('rogue', (report: Record<string, unknown>) => {
      // DhcpServer already logged it once, in words; the event carries what it offers
      emitBoot('dhcp.rogue', undefined, String(report.sourceIp ?? ''), () => report);
    });
    dhcp.on('error', (err: Error) => this.deps.log?.warn(`DHCP: ${err.message}`));
    dhcp.attach(this.sockets.get('dhcp') as never, this.sockets.get('proxy') as never, this.sockets.get('monitor') as never);
    this.dhcp = dhcp;
  }

  private async openAudit(): Promise<void> {
    try {
      await mkdir(this.config.dataDir, { recursive: true, mode: 0o700 });
      const audit = await AuditLog.open(path.join(this.config.dataDir, 'audit.jsonl'), { onError: (err) => this.deps.log?.warn(`audit log: ${(err as Error).message}`) });
      if (this.closing) await audit.close();
      else this.audit = audit;
    } catch (err) {
      this.deps.log?.error(`audit log: ${(err as Error).message}`);
    }
  }

  private async openStore(): Promise<void> {
    try {
      this.storeHandle = await openSharedStore(this.storeFile, { log: this.deps.log });
      if (this.closing) {
        await this.storeHandle.release();
        this.storeHandle = undefined;
        return;
      }
      this.storeState = 'open';
    } catch (err) {
      this.storeState = 'failed';
      this.storeError = (err as Error).message;
      this.deps.log?.error(`inventory: ${this.storeError}`);
    }
    this.emit('state', this.state);
  }

  /** One line per port, for the console at start. */
  describePorts(): string[] {
    return this.ports.map((p) => {
      const where = `UDP ${p.address}:${p.boundPort ?? p.port}`;
      if (p.state === 'listening') return `${p.purpose}: listening on ${where}`;
      if (p.state === 'disabled') return `${p.purpose}: disabled`;
      if (p.state === 'failed') return `${p.purpose}: FAILED — ${p.error}`;
      return `${p.purpose}: ${p.state}`;
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.virtualFiles.setSender(undefined);
    this.virtualFiles.cancelAll();
    this.dhcpDecisions.setSender(undefined);
    this.dhcpDecisions.cancelAll();
    this.unwire.forEach((fn) => fn());
    this.unwire = [];
    this.metrics?.close();
    this.metrics = undefined;
    this.dhcp?.close();
    this.dhcp = undefined;
    await this.tftp?.close();
    this.tftp = undefined;
    const sockets = [...this.sockets.values()];
    this.sockets.clear();
    await Promise.all(sockets.map((s) => closeSocket(s)));
    for (const p of this.ports) if (p.state === 'listening') p.state = 'closed';
    await this.storeHandle?.release();
    this.storeHandle = undefined;
    this.storeState = 'closed';
    await this.audit?.close().catch(() => undefined);
    this.audit = undefined;
    this.emit('state', this.state);
    this.removeAllListeners();
  }
}
