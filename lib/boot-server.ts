import type * as dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import { NetbootError } from './errors';
import { bindUdp, closeSocket } from './net/bind';
import { openSharedStore, type JsonInventoryStore, type SharedStoreHandle } from './store';

export type DhcpMode = 'proxy' | 'full' | 'off';
export type PortKey = 'dhcp' | 'proxy' | 'tftp';

/** The identity of one boot server, as the `netboot-server` config node holds it. */
export interface BootServerConfig {
  /** Address advertised to clients (DHCP option 54, next-server, URLs). */
  serverIp: string;
  interface?: string;
  /** Address the UDP sockets bind to; 0.0.0.0 is needed to receive DHCP broadcasts. */
  bind: string;
  /** Base URL of the HTTP side, e.g. http://10.0.0.5:1880 (boot scripts, assets). */
  httpBaseUrl: string;
  dhcpMode: DhcpMode;
  /** A port below 0 is disabled; 0 binds an ephemeral port (tests). */
  ports: Record<PortKey, number>;
  dataDir: string;
  assetsRoot: string;
  iqnPrefix: string;
}

export interface PortState {
  key: PortKey;
  purpose: string;
  envVar: string;
  port: number;
  address: string;
  state: 'listening' | 'failed' | 'disabled' | 'closed';
  /** The port actually bound (differs from `port` when that was 0). */
  boundPort?: number;
  error?: string;
}

export interface BootServerState {
  ports: PortState[];
  store: 'opening' | 'open' | 'failed' | 'closed';
  storeError?: string;
}

export interface BootServerDeps {
  socketFactory?: (type: 'udp4') => dgram.Socket;
  log?: { info(m: string): void; warn(m: string): void; error(m: string): void };
}

const PURPOSE: Record<PortKey, { purpose: string; envVar: string }> = {
  dhcp: { purpose: 'DHCP', envVar: 'NETBOOT_DHCP_PORT' },
  proxy: { purpose: 'proxyDHCP', envVar: 'NETBOOT_PROXY_PORT' },
  tftp: { purpose: 'TFTP', envVar: 'NETBOOT_TFTP_PORT' },
};

/**
 * Owns what one boot server binds and opens: the UDP sockets (DHCP 67, proxyDHCP 4011, TFTP 69)
 * and the inventory store. A port that cannot be bound is reported (state `failed` with the fix in
 * `error`) while the rest keeps running. `close()` releases everything.
 *
 * Events: `state` (BootServerState) whenever a port or the store changes.
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

  constructor(config: BootServerConfig, deps: BootServerDeps = {}) {
    super();
    this.config = config;
    this.deps = deps;
    this.ports = (Object.keys(PURPOSE) as PortKey[]).map((key) => ({
      key, ...PURPOSE[key], port: config.ports[key], address: config.bind,
      state: config.ports[key] < 0 ? 'disabled' : 'closed',
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
    await Promise.all([
      ...this.ports.filter((p) => p.state !== 'disabled').map((p) => this.bindPort(p)),
      this.openStore(),
    ]);
    return this.state;
  }

  private async bindPort(p: PortState): Promise<void> {
    try {
      const socket = await bindUdp({ purpose: p.purpose, port: p.port, address: p.address, envVar: p.envVar, broadcast: p.key !== 'tftp', socketFactory: this.deps.socketFactory });
      if (this.closing) {
        await closeSocket(socket);
        return;
      }
      // a socket error after bind must never crash the process
      socket.on('error', (err) => this.deps.log?.warn(`${p.purpose} socket: ${err.message}`));
      this.sockets.set(p.key, socket);
      p.state = 'listening';
      p.boundPort = socket.address().port;
      delete p.error;
    } catch (err) {
      p.state = 'failed';
      p.error = err instanceof NetbootError ? err.message : String(err);
      this.deps.log?.error(p.error);
    }
    this.emit('state', this.state);
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
    const sockets = [...this.sockets.values()];
    this.sockets.clear();
    await Promise.all(sockets.map((s) => closeSocket(s)));
    for (const p of this.ports) if (p.state === 'listening') p.state = 'closed';
    await this.storeHandle?.release();
    this.storeHandle = undefined;
    this.storeState = 'closed';
    this.emit('state', this.state);
    this.removeAllListeners();
  }
}
