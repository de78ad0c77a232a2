import type { BuildService } from '../builds/service';
import { ConfigTokens } from '../policy/config-token';
import type { IscsiService } from '../iscsi/service';
import type * as dgram from 'node:dgram';
import type { BootServerConfig, BootServerDeps, BootServerState, PortKey, PortState } from './types';
import { defaultSite } from './config';
export type * from './types';
export type { VirtualFileAnswer } from '../policy/booter';
import { EventEmitter } from 'node:events';
import { mkdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { AuditLog } from '../audit/audit-log';
import { oncePerSource, parseAllowlist } from '../net/allowlist';
import { NetbootError } from '../core/errors';
import { bindUdp, closeSocket, LISTEN_RECV_BUFFER, receiveBuffer } from '../net/bind';
import { MAX_BACKLOG, ThreadedUdpSocket } from '../net/udp-thread';
import { listAll, openSharedStore, type InventoryStore, type SharedStoreHandle, type StoreHealth } from '../store';
import { FlowBooter } from '../policy/booter';
import { DhcpServer, JsonFileLeaseStore, LeasePool, type DhcpInterface } from '../dhcp';
import { replyAddressFor, type Ipv4Interface } from '../net/interfaces';
import { NetworkWatcher, type NetworkChange } from '../net/watcher';
import { sendWake, WakeLimiter, wakeRoute } from '../net/wake';
import { normalizeMac } from '../core/mac';
import { defaultPersist, MetricsHub } from '../metrics';
import { EventBus, fromStored, wireDhcp, wireHttp, wireTftp, type NetbootEvent, type NetbootEventInput } from '../events';
import { AssetServer } from '../http/assets';
import { bootReadiness, describeReadiness, findProgram, programFor, systemProgram, type ClassStatus } from '../boot-programs/catalog';
import { chainResolvers, createStaticResolver, resolveUnderRoot, TftpServer } from '../tftp';
import { proxySecureBootWarning } from '../policy/secure-boot';
import { SecureBootSuspect } from '../metrics/secureboot-suspect';

/** A bound port: a plain socket, or one read on its own thread (DHCP 67, proxyDHCP 4011). */
type UdpPort = dgram.Socket | ThreadedUdpSocket;

/** Boot events the inventory's history keeps (see startMetrics). */
const KEPT = new Set(['stage', 'stall', 'stall.cleared', 'checkin', 'dhcp.request', 'dhcp.ack', 'tftp.abort', 'tftp.notfound', 'iscsi.login', 'iscsi.logout', 'decision', 'secureboot.suspected']);

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
 * Events: `state` (BootServerState) whenever a port or the store changes. Boot events (DHCP, TFTP,
 * HTTP assets, check-ins, the inventory's records) are on `events`, the one bus every consumer reads.
 */
export class BootServer extends EventEmitter {
  readonly config: BootServerConfig;
  /** Per-boot tokens of installer config URLs (opened at start, key in the data folder). */
  configTokens?: ConfigTokens;
  /** `secrets.*` of config templates: the netboot-server node's credentials (or NETBOOT_CONFIG_SECRETS), never the inventory. */
  configSecrets: Record<string, string> = {};
  private readonly deps: BootServerDeps;
  private readonly sockets = new Map<PortKey, UdpPort>();
  private storeHandle?: SharedStoreHandle;
  private ports: PortState[];
  private storeState: BootServerState['store'] = 'opening';
  private storeError?: string;
  private closing = false;
  /** The TFTP server, once its port is bound. */
  tftp?: TftpServer;
  /** Serves the boot-assets root over HTTP (netboot-assets mounts it on a URL). */
  readonly assets: AssetServer;
  /**
   * The one event bus (lib/events/vocabulary.ts): netboot-listen, netboot-metrics, the timeline,
   * the event log, the SSE stream and Prometheus all subscribe here. It exists from construction,
   * so a node may subscribe before the server has started.
   */
  readonly events: EventBus<NetbootEvent>;
  /** Boot events, timelines, per-device figures and Prometheus metrics; created at start. */
  metrics?: MetricsHub;
  private unwire: Array<() => void> = [];
  /** Who fetched which script or config, and every management change (`<data>/audit.jsonl`). */
  audit?: AuditLog;
  /** The DHCP / proxyDHCP server, once its sockets are bound. */
  dhcp?: DhcpServer;
  /** Follows the host's addresses (lib/net/watcher.ts); created at start. */
  network?: NetworkWatcher;
  /** The host's IPv4 addresses as the watcher last read them. */
  private hostAddresses: Ipv4Interface[] = [];
  private dhcpPool?: LeasePool;
  /** The DHCP side said once that the pinned address is gone (reset when it comes back). */
  private pinnedMissingTold = false;
  /** Which client classes can boot with the boot programs found (lib/boot-programs); refreshed at start and every 30 s. */
  private readiness: ClassStatus[] = [];
  private readinessTimer?: NodeJS.Timeout;
  private readonly wakeLimiter = new WakeLimiter();
  /** Woken machines not seen on DHCP yet: MAC → the timer that records `wake.timeout`. */
  private readonly waking = new Map<string, NodeJS.Timeout>();
  /** Boot files a DHCP answer named that the server does not have, each logged once. */
  private readonly missingTold = new Set<string>();
  /** Boot files answers named that were found: not looked up again on every answer (forgotten at each readiness refresh). */
  private readonly filesPresent = new Set<string>();
  /** Boot files being looked for now (checkAnsweredFile). */
  private readonly filesChecking = new Set<string>();
  private iscsiService?: IscsiService;
  /** Other DHCP servers seen (dhcp.rogue), for /status and the dashboard's health. */
  private readonly rogues: NonNullable<BootServerState['rogueDhcp']> = [];
  /** What each machine gets: DHCP, TFTP and HTTP check-ins all ask it (lib/policy/booter.ts). */
  readonly booter: FlowBooter;

  /** The allowlist check for TFTP and DHCP (undefined: everyone), counting and logging refusals. */
  private readonly allow?: (where: 'tftp' | 'dhcp') => (address: string) => boolean;

  constructor(config: BootServerConfig, deps: BootServerDeps = {}) {
    super();
    this.config = config;
    this.deps = deps;
    this.events = new EventBus<NetbootEvent>({ capacity: 1000, onError: (err: unknown) => deps.log?.warn(`event subscriber: ${(err as Error).message ?? String(err)}`) });
    this.assets = new AssetServer({ root: config.assetsRoot, fallback: (rel) => systemProgram(rel) });
    this.booter = new FlowBooter({
      store: () => this.store, assetsRoot: config.assetsRoot, fileDeadlineMs: config.tftp?.virtualFileTimeoutMs, publish: (e) => this.publish(e),
      secureBoot: { network: config.secureBoot === true, proxyWarning: config.dhcpMode === 'proxy' ? (mac) => deps.log?.warn(proxySecureBootWarning(mac, config.serverIp)) : undefined },
      site: config.site ?? defaultSite(),
    });
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

  /** The iSCSI targets (tgtd), while a netboot-iscsi node runs for this server. */
  get iscsi(): IscsiService | undefined {
    return this.iscsiService;
  }

  /**
   * A netboot-iscsi node's service: its sessions feed the event bus (stage `iscsi`, disk figures).
   * One per server: false (and nothing attached) when another node's is. Returns the detach function.
   */
  /** The netboot-build node's queue, for the admin API (one per server). */
  builds?: BuildService;

  attachBuilds(service: BuildService): (() => void) | false {
    if (this.builds) return false;
    this.builds = service;
    // a build's log lines and status changes on the live stream (rate-limited by the service)
    const onProgress = (p: { build: { id: string; mac: string; status: string }; kind: string; line?: string }) => {
      if (p.kind === 'log' && p.line !== undefined) this.publish({ type: 'build.log', mac: p.build.mac, build: p.build.id, line: p.line });
    };
    service.on('progress', onProgress);
    // a finished build installed new files (and pruned old ones) under the boot assets: the HTTP side rereads them
    const onDone = () => this.assets.forget();
    service.on('done', onDone);
    return () => {
      service.off('progress', onProgress);
      service.off('done', onDone);
      if (this.builds === service) this.builds = undefined;
    };
  }

  attachIscsi(service: IscsiService): (() => void) | false {
    if (this.iscsiService) return false;
    this.iscsiService = service;
    const onSession = (e: { type: 'iscsi.login' | 'iscsi.logout'; target: string; ip?: string; mac?: string }) => this.publish({ type: e.type, target: e.target, ip: e.ip, mac: e.mac });
    service.on('session', onSession);
    // a disk copy's progress (the dashboard's bar)
    const onCopy = (p: { image: string; from: string; bytes: number; size: number }) => this.publish({ type: 'disk.progress', ...p });
    service.on('progress', onCopy);
    // a diskless session's bytes read and written, from tgtd's counters, whenever they moved
    const onBytes = (b: { mac: string; target: string; readBytes: number; writeBytes: number }) => this.publish({ type: 'iscsi.stats', mac: b.mac, target: b.target, readBytes: b.readBytes, writeBytes: b.writeBytes });
    service.sessions.on('bytes', onBytes);
    return () => {
      service.off('session', onSession);
      service.sessions.off('bytes', onBytes);
      service.off('progress', onCopy);
      if (this.iscsiService === service) this.iscsiService = undefined;
    };
  }

  get state(): BootServerState {
    const iscsi = this.iscsiService?.status;
    return {
      ...(this.rogues.length ? { rogueDhcp: this.rogues.map((r) => ({ ...r })) } : {}),
      ...(iscsi ? { iscsi: { state: iscsi.state, targets: iscsi.targets, sessions: iscsi.sessions, ...(iscsi.error ? { error: iscsi.error } : {}), ...(iscsi.daemon ? { daemon: iscsi.daemon } : {}) } } : {}),
      ports: this.ports.map((p) => ({ ...p })), store: this.storeState, storeError: this.storeError, site: this.site,
      ...(this.network ? { network: this.network.state } : {}),
      ...(this.readiness.length ? { bootPrograms: this.readiness.map((c) => ({ ...c, files: c.files.map((f) => ({ ...f })) })) } : {}),
    };
  }

  get store(): InventoryStore | undefined {
    return this.storeHandle?.store;
  }

  /** This server's site name (docs/store.md, several servers on one inventory). */
  get site(): string {
    return this.config.site ?? defaultSite();
  }

  socket(key: PortKey): UdpPort | undefined {
    return this.sockets.get(key);
  }

  get storeFile(): string {
    return path.join(this.config.dataDir, 'inventory.json');
  }

  /** Binds every enabled port and opens the store; never rejects: failures land in `state`. */
  async start(): Promise<BootServerState> {
    await mkdir(this.config.assetsRoot, { recursive: true }).catch((err: Error) => this.deps.log?.warn(`boot assets folder ${this.config.assetsRoot}: ${err.message}`));
    this.startNetwork();
    await Promise.all([
      ...this.ports.filter((p) => p.state !== 'disabled').map((p) => this.bindPort(p)),
      this.openStore(),
      this.openAudit(),
      ConfigTokens.open(this.config.dataDir).then((t) => {
        this.configTokens = t;
      }, (err: Error) => this.deps.log?.warn(`installer config tokens: ${err.message} (config URLs are off)`)),
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
    await this.refreshReadiness();
    if (!this.closing) {
      this.readinessTimer = setInterval(() => void this.refreshReadiness(), 30_000);
      this.readinessTimer.unref();
    }
    // tells users (netboot-listen, netboot-metrics) that every part now exists
    this.emit('state', this.state);
    return this.state;
  }

  private async bindPort(p: PortState, port = p.port): Promise<void> {
    try {
      const req = {
        purpose: p.purpose, port, address: p.address, envVar: p.envVar, broadcast: p.key !== 'tftp', shared: p.key === 'monitor',
        recvBuffer: p.key === 'monitor' ? undefined : LISTEN_RECV_BUFFER,
      };
      // the ports a storm floods are read on a thread of their own (lib/net/udp-thread.ts)
      const threaded = (p.key === 'dhcp' || p.key === 'proxy') && !this.deps.socketFactory && this.config.dhcpThread !== false;
      const socket: UdpPort = threaded ? await ThreadedUdpSocket.open(req) : await bindUdp({ ...req, socketFactory: this.deps.socketFactory });
      if (this.closing) {
        await closeSocket(socket);
        return;
      }
      // a socket error after bind must never crash the process
      socket.on('error', (err: Error) => this.deps.log?.warn(`${p.purpose} socket: ${err.message}`));
      if (socket instanceof ThreadedUdpSocket) {
        socket.once('lost', (err: Error) => void this.rebind(p, socket, err));
        // a flood the main thread cannot keep up with: told at most every 10 s
        let dropped = 0;
        let toldAt = -Infinity;
        socket.on('overflow', (n: number) => {
          dropped += n;
          if (Date.now() - toldAt < 10_000) return;
          toldAt = Date.now();
          this.deps.log?.warn(`${p.purpose}: ${dropped} datagram(s) dropped, more than ${MAX_BACKLOG} were waiting to be answered (a flood, or a host too busy to answer)`);
          dropped = 0;
        });
      }
      this.sockets.set(p.key, socket);
      if (p.key === 'tftp' && !(socket instanceof ThreadedUdpSocket)) this.startTftp(socket);
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

  /**
   * A port's socket thread ended on its own (lib/net/udp-thread.ts): the port is bound again and the
   * DHCP server listens on the new socket; if that fails, the port shows as failed with the reason.
   */
  private async rebind(p: PortState, lost: UdpPort, err: Error): Promise<void> {
    if (this.closing || this.sockets.get(p.key) !== lost) return;
    this.deps.log?.error(`${p.purpose}: ${err.message}; binding port ${p.boundPort ?? p.port} again`);
    // the thread has ended, and its socket with it: nothing is left to close
    this.sockets.delete(p.key);
    p.state = 'failed';
    p.error = err.message;
    // an ephemeral port (tests) is taken again as it was
    await this.bindPort(p, p.port === 0 ? (p.boundPort ?? 0) : p.port);
    if (this.closing || !this.dhcp) return;
    this.dhcp.attach(this.sockets.get('dhcp'), this.sockets.get('proxy'), this.sockets.get('monitor'));
  }

  /** Reads the host's addresses now and every `networkPollMs`; a change reaches the next request. */
  private startNetwork(): void {
    const c = this.config;
    const ms = c.networkPollMs ?? 3000;
    const watcher = new NetworkWatcher({ serverIp: c.serverIp, pinned: c.serverIpPinned !== false, preferredInterface: c.interface, intervalMs: ms, read: this.deps.readNetwork });
    this.network = watcher;
    this.hostAddresses = watcher.state.addresses;
    if (watcher.state.problem) this.deps.log?.error(watcher.state.problem);
    watcher.on('change', (ch: NetworkChange) => this.onNetworkChange(ch));
    if (ms > 0) watcher.start();
  }

  private onNetworkChange(ch: NetworkChange): void {
    const c = this.config;
    const level = ch.kind === 'pinned-missing' ? 'error' : ch.kind === 'address-removed' ? 'warn' : 'info';
    this.deps.log?.[level](ch.message);
    this.hostAddresses = this.network?.state.addresses ?? [];
    if (ch.kind === 'address-changed') {
      c.serverIp = ch.address;
      // an explicit base URL is the user's; the derived one follows the address
      if (c.httpBaseExplicit === false) c.httpBaseUrl = `http://${ch.address}${c.httpPort === 80 ? '' : `:${c.httpPort}`}${c.httpPath ?? ''}`;
    }
    if (ch.kind === 'pinned-restored') this.pinnedMissingTold = false;
    try {
      this.dhcp?.setInterfaces(this.dhcpInterfaces(), c.serverIp);
    } catch (err) {
      this.deps.log?.warn(`DHCP: ${(err as Error).message}`);
    }
    this.publish({ type: 'server.network', change: ch.kind, address: ch.address, previous: ch.previous, interface: ch.interface, message: ch.message, ts: Date.parse(ch.at) });
    this.emit('state', this.state);
  }

  /** Every local subnet is served; broadcasts (no relay, no ciaddr) are answered from serverIp. */
  private dhcpInterfaces(): DhcpInterface[] {
    const c = this.config;
    const own = this.hostAddresses.find((i) => i.address === c.serverIp);
    const netmask = c.dhcp?.netmask ?? own?.netmask ?? '255.255.255.0';
    return [
      { address: c.serverIp, netmask, pool: this.dhcpPool },
      ...(c.bind === '0.0.0.0' ? this.hostAddresses.filter((i) => i.address !== c.serverIp).map((i) => ({ address: i.address, netmask: i.netmask })) : []),
    ];
  }

  /** Which client classes can boot now (boot programs in the assets folder or the distributions' packages). */
  private async refreshReadiness(): Promise<void> {
    try {
      const before = JSON.stringify(this.readiness.map((c) => c.ready));
      this.readiness = await bootReadiness(this.config.assetsRoot);
      this.filesPresent.clear();
      if (before !== '[]' && before !== JSON.stringify(this.readiness.map((c) => c.ready))) this.emit('state', this.state);
    } catch (err) {
      this.deps.log?.warn(`boot programs: ${(err as Error).message}`);
    }
  }

  /** One line per client class: ready (file, where from), or what is missing and the step that fixes it. */
  describeBootPrograms(): string[] {
    return describeReadiness(this.readiness);
  }

  /** A DHCP answer named a TFTP file: when the server has it nowhere, say so once per file, with the fix. */
  private async checkAnsweredFile(file: string): Promise<void> {
    if (!file || this.missingTold.has(file) || this.filesPresent.has(file) || this.filesChecking.has(file) || /^[a-z]+:\/\//i.test(file)) return;
    // one look at a time per file: a burst of answers naming it waits for the first one's result
    this.filesChecking.add(file);
    try {
      await this.lookForAnsweredFile(file);
    } finally {
      this.filesChecking.delete(file);
    }
  }

  private async lookForAnsweredFile(file: string): Promise<void> {
    const name = file.replace(/^\/+/, '');
    if (await findProgram(name, this.config.assetsRoot)) {
      this.filesPresent.add(file);
      return;
    }
    const program = programFor(name);
    if (!program) {
      // not a boot program we know: the user's own file, or one the flow answers; only look on disk
      const found = await resolveUnderRoot(this.config.assetsRoot, name).catch(() => undefined);
      if (!found || found.kind !== 'missing' || this.booter.virtualFiles.hasSender) return;
    }
    if (this.missingTold.has(file)) return;
    this.missingTold.add(file);
    this.metrics?.prometheus.countMissingBootFile(name);
    this.deps.log?.warn(`DHCP answers name ${name}, which this server does not have: those machines cannot boot. Fix: ${program?.fix ?? `put ${name} into ${this.config.assetsRoot}`}`);
  }

  /**
   * Wakes a machine (Wake-on-LAN): the magic packet to the broadcast address of the subnet it was last
   * seen in (the server's own subnet when unknown). Recorded as a `wake` event; when the machine sends
   * no DHCP request within `timeoutMs` (default 120 s), a `wake.timeout` event follows. Refused
   * (`conflict`) when the same machine was woken less than 5 s ago.
   */
  async wake(mac: string, opts: { password?: string; port?: number; timeoutMs?: number; by?: string } = {}): Promise<{ mac: string; from: string; to: string; port: number; bytes: number }> {
    const m = normalizeMac(mac);
    if (!this.wakeLimiter.take(m)) throw new NetbootError('conflict', `wake ${m}: woken less than 5 s ago`, { mac: m });
    const device = await this.store?.devices.get(m);
    const route = wakeRoute(device?.lastIp ?? undefined, this.hostAddresses, this.config.serverIp);
    const port = opts.port ?? 9;
    const packet = await sendWake({ mac: m, password: opts.password, port, from: route.from, to: route.to });
    await this.store?.appendEvent({ type: 'wake', mac: m, message: `woken: magic packet to ${route.to}:${port}${route.interface ? ` on ${route.interface}` : ''}`, data: { to: `${route.to}:${port}`, by: opts.by ?? 'flow' } });
    const timeoutMs = opts.timeoutMs ?? 120_000;
    clearTimeout(this.waking.get(m));
    const timer = setTimeout(() => {
      this.waking.delete(m);
      this.store?.appendEvent({ type: 'wake.timeout', mac: m, message: `woken ${Math.round(timeoutMs / 1000)} s ago and no DHCP request since: check that Wake-on-LAN is on in its firmware and that it is cabled`, data: { waitedMs: timeoutMs } })
        .catch((err: Error) => this.deps.log?.warn(`wake: ${err.message}`));
    }, timeoutMs);
    timer.unref();
    this.waking.set(m, timer);
    return { mac: m, from: route.from, to: route.to, port, bytes: packet.length };
  }

  /** A woken machine asked DHCP: it is up, no timeout to record. */
  private sawMachine(mac: string): void {
    const t = this.waking.get(mac);
    if (!t) return;
    clearTimeout(t);
    this.waking.delete(mac);
  }

  /** Transfer sockets bind to the address clients talk to, so replies leave from it. */
  private get ownAddress(): string {
    return this.config.bind !== '0.0.0.0' ? this.config.bind : this.config.serverIp;
  }

  private startTftp(socket: dgram.Socket): void {
    const t = this.config.tftp ?? {};
    const root = this.config.assetsRoot;
    // bound to 0.0.0.0, a transfer must still answer from the address the client talked to, among
    // the addresses the host has now (an address removed since start is not tried)
    const tftp = new TftpServer({
      address: this.ownAddress,
      replyAddress: this.config.bind === '0.0.0.0'
        ? (client) => replyAddressFor(client.address, [{ address: this.config.serverIp, netmask: '255.255.255.255' }, ...this.hostAddresses], this.config.serverIp)
        : undefined,
      // the user's files, then the distributions' boot programs (read-only), then the flow
      resolver: chainResolvers(createStaticResolver(root, { cacheSmallFiles: t.cacheSmallFiles ?? 256 * 1024 }), async (req) => {
        const system = await systemProgram(req.path);
        if (!system) return null;
        return { kind: 'file', path: system, size: (await stat(system)).size };
      }, (req) => this.booter.file(req)),
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
    tftp.on('warning', (w) => this.deps.log?.warn(`TFTP: ${w.message}`));
    tftp.attach(socket);
    this.tftp = tftp;
  }

  private startMetrics(stallFromSettings?: number): void {
    const settings = this.config.metrics ?? {};
    const stallMs = settings.stallMs ?? stallFromSettings ?? 180_000;
    const hub = new MetricsHub({
      bus: this.events,
      store: this.store,
      site: this.site,
      // the device history keeps what happened, not every packet or file (the timeline has those,
      // and a finished boot is kept whole); boot logs and enrolments are stored by their nodes
      persist: (e) => defaultPersist(e) && KEPT.has(e.type),
      stallMs,
      onError: (err) => this.deps.log?.warn(`metrics: ${(err as Error).message ?? String(err)}`),
    });
    const onError = (err: unknown) => this.deps.log?.warn(`metrics: ${(err as Error).message ?? String(err)}`);
    // every part's events are translated once (lib/events/translate.ts) and published through the hub
    if (this.tftp) this.unwire.push(wireTftp(this.tftp, hub, onError));
    if (this.dhcp) this.unwire.push(wireDhcp(this.dhcp, hub, onError));
    this.unwire.push(wireHttp(this.assets, hub, onError));
    // a UEFI machine that fetched iPXE and started over without running it: Secure Boot refused it
    const suspect = new SecureBootSuspect();
    this.unwire.push(hub.bus.subscribe((e) => { const s = suspect.observe(e); if (s) this.publish(s); }));
    this.unwire.push(hub.bus.subscribe((e) => {
      if (e.type !== 'dhcp.rogue') return;
      const o = (e.offers ?? {}) as { offersAddress?: boolean; isProxy?: boolean; nextServer?: string; bootfile?: string };
      const detail = [
        o.offersAddress ? 'hands out addresses' : o.isProxy ? 'a proxyDHCP (boot data only)' : 'answers without an address',
        o.nextServer ? `next server ${o.nextServer}` : '', o.bootfile ? `boot file ${o.bootfile}` : '',
      ].filter(Boolean).join(', ');
      this.rogues.push({ server: e.server ?? e.ip ?? '?', ...(e.ip ? { ip: e.ip } : {}), at: e.ts, detail, ...(e.offers ? { offers: e.offers } : {}) });
      if (this.rogues.length > 20) this.rogues.shift();
    }));
    // what the inventory records itself (enrolments, boot logs, changed facts, refusals)
    if (this.store) {
      this.unwire.push(this.store.onEvent((rec) => {
        const ev = fromStored(rec);
        if (ev) this.publish(ev);
      }));
    }
    // a boot that ends (done or failed) is kept in the inventory, the last N per device
    const store = this.store;
    if (store) {
      this.unwire.push(hub.bus.subscribe((e) => {
        if (e.type !== 'stage' || !e.mac || (e.to !== 'done' && e.to !== 'failed')) return;
        const boot = hub.timelineOf(e.mac)?.boots.at(-1);
        // a timeline's boot ids restart at 1 with the process: the start time keeps kept boots apart
        if (boot) store.recordBoot({ ...boot, id: `${boot.startedAt}-${boot.id}`, mac: e.mac }).catch(onError);
      }));
    }
    // check often enough to report a stall within a tenth of the threshold past it
    hub.start(settings.tickMs ?? Math.max(200, Math.min(5000, stallMs / 10)));
    this.metrics = hub;
  }

  /** Parts outside the server (check-ins, decisions, iSCSI sessions) report their events here. */
  publish(event: NetbootEventInput): void {
    try {
      this.metrics?.publish(event);
    } catch (err) {
      this.deps.log?.warn(`metrics: ${(err as Error).message}`);
    }
  }

  private async startDhcp(): Promise<void> {
    const c = this.config;
    const d = c.dhcp ?? {};
    const netmask = d.netmask ?? this.hostAddresses.find((i) => i.address === c.serverIp)?.netmask ?? '255.255.255.0';
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
    this.dhcpPool = pool;
    const base = new URL(c.httpBaseUrl);
    if (c.secureBoot && c.dhcpMode === 'proxy') this.deps.log?.warn(proxySecureBootWarning(undefined, c.serverIp));
    const dhcp = new DhcpServer({
      mode: c.dhcpMode,
      interfaces: this.dhcpInterfaces(),
      defaultInterface: c.serverIp,
      boot: { httpPort: c.httpPort ?? Number(base.port || 80), httpBase: c.httpBaseExplicit === false ? undefined : c.httpBaseUrl, httpPath: c.httpPath },
      deadlineMs: d.deadlineMs ?? 300,
      allow: this.allow?.('dhcp'),
      leaveAlone: (mac) => {
        const site = this.pinned.get(mac);
        return site ? `pinned to site ${site}` : undefined;
      },
      decide: (facts, signal) => this.booter.dhcp(facts, signal),
      ports: { client: c.ports.dhcp === 67 ? 68 : (c.ports.monitor >= 0 ? c.ports.monitor : 68), server: c.ports.dhcp >= 0 ? c.ports.dhcp : 67 },
      log: { warn: (m) => this.deps.log?.warn(m) },
    });
    // a pinned address the host no longer has: the answers still name it, so say so (once per loss)
    dhcp.on('discover', (ev: { facts: { mac: string } }) => {
      const problem = this.network?.state.problem;
      if (!problem || this.pinnedMissingTold) return;
      this.pinnedMissingTold = true;
      this.deps.log?.error(`DHCP: ${ev.facts.mac} asks for a boot server, but ${problem}`);
    });
    // a machine we woke has come up
    for (const name of ['discover', 'request'] as const) dhcp.on(name, (ev: { facts: { mac: string } }) => this.sawMachine(ev.facts.mac));
    // a boot file the server does not have: counted and logged once, with the fix
    for (const name of ['offer', 'ack'] as const) {
      dhcp.on(name, (ev: { reply: { file?: string } }) => {
        if (ev.reply.file) void this.checkAnsweredFile(ev.reply.file);
      });
    }
    dhcp.on('error', (err: Error) => this.deps.log?.warn(`DHCP: ${err.message}`));
    dhcp.attach(this.sockets.get('dhcp'), this.sockets.get('proxy'), this.sockets.get('monitor'));
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
      this.storeHandle = await openSharedStore(this.config.storeUrl || this.storeFile, { log: this.deps.log, site: this.site });
      if (this.closing) {
        await this.storeHandle.release();
        this.storeHandle = undefined;
        return;
      }
      const store = this.storeHandle.store;
      this.storeState = 'open';
      this.onStoreHealth(store.health?.() ?? { state: 'ok', since: new Date().toISOString() }, false);
      if (store.onHealth) this.unwireStore.push(store.onHealth((h) => this.onStoreHealth(h, true)));
      // every change, this server's or (on a shared database) another's: the dashboard rereads, pins follow
      this.unwireStore.push(store.onChange((change, id) => {
        this.publish({ type: 'inventory.changed', collection: change, ...(id ? { id } : {}) });
        if (change === 'devices' || change === 'all') void this.refreshPins(change === 'devices' ? id : undefined);
      }));
      await this.refreshPins();
    } catch (err) {
      this.storeState = 'failed';
      this.storeError = (err as Error).message;
      this.deps.log?.error(`inventory: ${this.storeError}`);
    }
    this.emit('state', this.state);
  }

  /** Machines pinned to another site (every MAC of each, to its site): this server's DHCP leaves them alone. */
  private readonly pinned = new Map<string, string>();
  /** The MACs pinned for each device (by primary MAC), to unpin them all when it changes. */
  private readonly pinnedMacs = new Map<string, string[]>();
  private readonly unwireStore: Array<() => void> = [];

  private pin(d: { mac: string; macs: string[]; site?: string }): void {
    for (const m of this.pinnedMacs.get(d.mac) ?? []) this.pinned.delete(m);
    this.pinnedMacs.delete(d.mac);
    if (!d.site || d.site === this.site) return;
    const macs = [d.mac, ...d.macs];
    for (const m of macs) this.pinned.set(m, d.site);
    this.pinnedMacs.set(d.mac, macs);
  }

  /** Reads the pins again: of one device (by its primary MAC), or of all. */
  private async refreshPins(mac?: string): Promise<void> {
    const store = this.store;
    if (!store) return;
    try {
      if (mac) {
        this.pin((await store.devices.get(mac)) ?? { mac, macs: [] });
        return;
      }
      const pinnedNow = (await listAll((q) => store.devices.list(q))).filter((d) => d.site);
      this.pinned.clear();
      this.pinnedMacs.clear();
      pinnedNow.forEach((d) => this.pin(d));
    } catch (err) {
      this.deps.log?.warn(`inventory: pinned devices not read: ${(err as Error).message}`);
    }
  }

  private onStoreHealth(h: StoreHealth, announce: boolean): void {
    if (this.storeState !== 'open' && this.storeState !== 'read-only') return;
    this.storeState = h.state === 'read-only' ? 'read-only' : 'open';
    if (h.state === 'read-only') this.storeError = h.reason;
    else delete this.storeError;
    if (!announce) return;
    this.publish({
      type: 'server.store', state: h.state, ...(h.reason ? { reason: h.reason } : {}),
      message: h.state === 'read-only' ? `inventory database unreachable (${h.reason ?? 'lost'}): read-only, known machines boot from the last copy` : 'inventory database reachable again',
    });
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
    this.booter.close();
    this.unwire.forEach((fn) => fn());
    this.unwire = [];
    this.metrics?.close();
    this.metrics = undefined;
    this.network?.stop();
    if (this.readinessTimer) clearInterval(this.readinessTimer);
    for (const t of this.waking.values()) clearTimeout(t);
    this.waking.clear();
    this.dhcp?.close();
    this.dhcp = undefined;
    await this.tftp?.close();
    this.tftp = undefined;
    const sockets = [...this.sockets.values()];
    this.sockets.clear();
    await Promise.all(sockets.map((s) => closeSocket(s)));
    for (const p of this.ports) if (p.state === 'listening') p.state = 'closed';
    this.unwireStore.splice(0).forEach((fn) => fn());
    await this.storeHandle?.release();
    this.storeHandle = undefined;
    this.storeState = 'closed';
    await this.audit?.close().catch(() => undefined);
    this.audit = undefined;
    this.emit('state', this.state);
    this.removeAllListeners();
    this.assets.removeAllListeners();
    this.events.clear();
  }
}
