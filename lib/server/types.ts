/** The shapes of one boot server: its configuration, its state and what it is given (no runtime code). */
import type * as dgram from 'node:dgram';
import type { NetworkSnapshot, NetworkState } from '../net/watcher';
import type { ClassStatus } from '../boot-programs/catalog';

export type DhcpMode = 'proxy' | 'full' | 'off';
export type PortKey = 'dhcp' | 'proxy' | 'tftp' | 'monitor';

/** The identity of one boot server, as the `netboot-server` config node holds it. */
export interface BootServerConfig {
  /** Address advertised to clients (DHCP option 54, next-server, URLs). */
  serverIp: string;
  /** Set by the user (NETBOOT_SERVER_IP / the node's Server IP): never moved; otherwise `serverIp` follows the default-route interface. */
  serverIpPinned?: boolean;
  /** How often the host's interfaces are read (ms, default 3000); 0 turns the watcher off. */
  networkPollMs?: number;
  interface?: string;
  /**
   * DHCP 67 and proxyDHCP 4011 are read on a thread of their own (lib/net/udp-thread.ts), default
   * true; false (NETBOOT_DHCP_THREAD=0) reads them on the main event loop like the other ports.
   */
  dhcpThread?: boolean;
  /** Address the UDP sockets bind to; 0.0.0.0 is needed to receive DHCP broadcasts. */
  bind: string;
  /** Base URL of the HTTP side, e.g. http://10.0.0.5:1880 (boot scripts, assets). */
  httpBaseUrl: string;
  /** Node-RED's HTTP port; with no explicit base URL, each subnet is told its own server address. */
  httpPort?: number;
  httpBaseExplicit?: boolean;
  /** Path prefix of the boot endpoints (the host's `httpNodeRoot`), used with the per-interface address when the base URL is not explicit. */
  httpPath?: string;
  dhcpMode: DhcpMode;
  /** "Secure Boot network": every UEFI x64 PXE client gets the signed shim → GRUB chain (a device's or group's `secureBoot` mark wins). */
  secureBoot?: boolean;
  /** A port below 0 is disabled; 0 binds an ephemeral port (tests). */
  ports: Record<PortKey, number>;
  dataDir: string;
  /** `postgres://…`: the inventory on PostgreSQL, shared by several boot servers; absent: the JSON file in dataDir. */
  storeUrl?: string;
  /**
   * This server's site name (NETBOOT_SITE, the node's Site; default the host name): written on its
   * events, and the servers of other sites leave alone a device pinned to this one.
   */
  site?: string;
  assetsRoot: string;
  iqnPrefix: string;
  /** DHCP details: the pool for full mode, the flow's deadline. */
  dhcp?: { rangeStart?: string; rangeEnd?: string; netmask?: string; router?: string; dns?: string[]; leaseTime?: number; deadlineMs?: number };
  /** Stall threshold and how often stalls are checked. */
  metrics?: { stallMs?: number; tickMs?: number };
  /** Addresses / CIDR networks allowed to use the public side (HTTP boot endpoints, TFTP, DHCP); absent = everyone. */
  allowlist?: string[];
  /** Public HTTP requests per client address (token bucket); false = no limit; absent = the default 120 burst, 30/s. */
  httpRate?: { burst: number; perSecond: number } | false;
  /** TFTP tuning; defaults suit a home LAN. */
  tftp?: { maxBlksize?: number; mtu?: number; maxWindowsize?: number; maxTransfers?: number; maxTransfersPerClient?: number; virtualFileTimeoutMs?: number; cacheSmallFiles?: number; uploadDir?: string };
}

export interface PortState {
  key: PortKey;
  /** A failure of an optional port is a warning, not an error (the DHCP monitor on 68). */
  optional?: boolean;
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
  /** `read-only`: the inventory's database is out of reach; boots of known machines go on from the last copy, changes answer 503. */
  store: 'opening' | 'open' | 'read-only' | 'failed' | 'closed';
  /** This server's site name. */
  site?: string;
  storeError?: string;
  /** The advertised address, the host's addresses and what changed (absent before start). */
  network?: NetworkState;
  /** Which client classes can boot, with the file each gets and where it comes from, or the fix (lib/boot-programs). */
  bootPrograms?: ClassStatus[];
  /** Other DHCP servers seen answering on this segment (newest last, at most 20): a rogue or a second proxy. */
  rogueDhcp?: Array<{ server: string; ip?: string; at: number; detail?: string; offers?: Record<string, unknown> }>;
  /** tgtd as the iSCSI service sees it, when one is attached. */
  iscsi?: { state: string; error?: string; daemon?: string; targets: number; sessions: number };
}

export interface BootServerDeps {
  socketFactory?: (type: 'udp4' | 'udp6') => dgram.Socket;
  log?: { info(m: string): void; warn(m: string): void; error(m: string): void };
  /** Reads the host's interfaces and default route (tests inject one). */
  readNetwork?: () => NetworkSnapshot;
}
