import * as os from 'node:os';
import * as path from 'node:path';
import { isIPv4 } from 'node:net';
import type { BootServerConfig, DhcpMode } from './types';
import { NetbootError } from '../core/errors';
import { wholeNumber } from '../core/settings';
import { pickServerAddress } from '../net/interfaces';
import { parseAllowlist } from '../net/allowlist';
import { SITE_PATTERN } from '../store/schema';

/**
 * The `netboot-server` node's properties as the editor stores them: strings, possibly filled by
 * Node-RED's `${ENV}` substitution (so `"${NETBOOT_DHCP_PORT}"` arrives as `"67"`, or as `""` when
 * the variable is unset).
 */
export interface RawServerConfig {
  serverIp?: string;
  interface?: string;
  bind?: string;
  httpPort?: string | number;
  httpBaseUrl?: string;
  dhcpMode?: string;
  dhcpPort?: string | number;
  proxyPort?: string | number;
  tftpPort?: string | number;
  monitorPort?: string | number;
  /** Full mode: "first-last" of the address pool. */
  dhcpRange?: string;
  dhcpNetmask?: string;
  dhcpRouter?: string;
  /** Comma-separated DNS servers. */
  dhcpDns?: string;
  leaseTime?: string | number;
  /** TFTP tuning; empty = defaults (blksize ≤ 1468 for a 1500 MTU, windowsize ≤ 64, 500 transfers, 16 per client). */
  tftpMtu?: string | number;
  tftpMaxBlksize?: string | number;
  tftpMaxWindowsize?: string | number;
  tftpMaxTransfers?: string | number;
  tftpMaxPerClient?: string | number;
  /** Folder under the data folder that accepts TFTP uploads (WRQ); empty = uploads refused. */
  tftpUploadDir?: string;
  dataDir?: string;
  assetsRoot?: string;
  iqnPrefix?: string;
  /** Addresses and CIDR networks allowed to use the public side (boot endpoints, TFTP, DHCP); empty = everyone. */
  allowlist?: string;
  /** Public HTTP requests per client address: "burst/perSecond" (default 120/30), or "off". */
  httpRate?: string;
  /** "Secure Boot network": true / "true" hands every UEFI x64 PXE client the signed shim → GRUB chain. */
  secureBoot?: string | boolean;
  /** This server's site name (several servers on one inventory); empty = the host name. */
  site?: string;
}

export const DEFAULTS = { httpPort: 1880, bind: '0.0.0.0', dhcpMode: 'proxy' as DhcpMode, dhcpPort: 67, proxyPort: 4011, tftpPort: 69, iqnPrefix: 'iqn.2024-01.local.netboot' };

function port(name: string, value: string | number | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const text = String(value).trim();
  if (!/^-?\d+$/.test(text)) throw new NetbootError('validation', `${name}: "${text}" is not a port number`, { field: name });
  const n = Number(text);
  if (n > 65535) throw new NetbootError('validation', `${name}: ${n} is above 65535`, { field: name });
  return n < 0 ? -1 : n;
}

function seconds(name: string, value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const t = String(value).trim();
  if (!/^\d{1,7}$/.test(t) || Number(t) < 60) throw new NetbootError('validation', `${name}: "${t}" must be a number of seconds, at least 60`, { field: name });
  return Number(t);
}

export { wholeNumber } from '../core/settings';

function rate(name: string, value: string | undefined): { burst: number; perSecond: number } | false | undefined {
  if (value === undefined) return undefined;
  if (value === 'off') return false;
  const m = /^(\d{1,7})\/(\d{1,7})$/.exec(value);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new NetbootError('validation', `${name}: "${value}" must be "burst/perSecond" like 120/30, or "off"`, { field: name });
  return { burst: Number(m[1]), perSecond: Number(m[2]) };
}

function flag(name: string, value: string | boolean | undefined): boolean {
  if (value === undefined || value === '' || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new NetbootError('validation', `${name}: "${String(value)}" must be true or false`, { field: name });
}

function text(value: string | undefined): string | undefined {
  const t = value?.trim();
  return t ? t : undefined;
}

/** What the host Node-RED's settings say about where `httpNode` routes are served. */
export interface HostHttpSettings {
  /** The host's `uiPort` (Node-RED's own default is 1880). */
  uiPort?: number | string;
  /** The host's `httpNodeRoot` (default "/"); boot endpoints live under it. */
  httpNodeRoot?: string | false;
}

/** `${NAME}` left as it was: Node-RED leaves a reference to an unset variable untouched. */
const UNRESOLVED = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

/**
 * The properties with every unresolved `${NAME}` reference removed. An imported example or the
 * reference flow outside `npm start` (which sets the NETBOOT_* variables) then gets the defaults
 * (auto-detected address, standard ports) instead of a server that refuses to start.
 */
export function withoutUnresolved(raw: RawServerConfig): RawServerConfig {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!(typeof v === 'string' && UNRESOLVED.test(v.trim()))) out[k] = v;
  return out as RawServerConfig;
}

/** The path prefix of `httpNodeRoot` ("" for "/"), checked like the rest of the base URL. */
function nodeRootPath(root: HostHttpSettings['httpNodeRoot']): string {
  if (typeof root !== 'string') return '';
  return root.trim().replace(/\/+$/, '').replace(/^(?!\/)/, '/').replace(/^\/$/, '');
}

/**
 * Fills defaults and checks every field; `baseDir` is Node-RED's userDir (the data folder), `host`
 * the host Node-RED's HTTP settings (the default HTTP port and base URL follow them).
 */
export function resolveServerConfig(given: RawServerConfig, baseDir: string, host: HostHttpSettings = {}): BootServerConfig {
  const raw = withoutUnresolved(given);
  const iface = text(raw.interface);
  const serverIp = text(raw.serverIp) ?? pickServerAddress(iface).address;
  if (!isIPv4(serverIp)) throw new NetbootError('validation', `serverIp: "${serverIp}" is not an IPv4 address`, { field: 'serverIp' });
  const bind = text(raw.bind) ?? DEFAULTS.bind;
  if (!isIPv4(bind)) throw new NetbootError('validation', `bind: "${bind}" is not an IPv4 address`, { field: 'bind' });
  const mode = (text(raw.dhcpMode) ?? DEFAULTS.dhcpMode) as DhcpMode;
  if (!['proxy', 'full', 'off'].includes(mode)) throw new NetbootError('validation', `dhcpMode: "${mode}" must be proxy, full or off`, { field: 'dhcpMode' });
  const hostPort = host.uiPort === undefined || host.uiPort === '' ? DEFAULTS.httpPort : port('uiPort', host.uiPort, DEFAULTS.httpPort);
  const httpPort = port('httpPort', raw.httpPort, hostPort);
  const httpBaseUrl = (text(raw.httpBaseUrl) ?? `http://${serverIp}${httpPort === 80 ? '' : `:${httpPort}`}${nodeRootPath(host.httpNodeRoot)}`).replace(/\/+$/, '');
  if (!/^https?:\/\/[A-Za-z0-9.:[\]-]+([/][A-Za-z0-9._~/-]*)?$/.test(httpBaseUrl)) {
    throw new NetbootError('validation', `httpBaseUrl: "${httpBaseUrl}" must be an http(s) URL without query or spaces`, { field: 'httpBaseUrl' });
  }
  const dataDir = path.resolve(baseDir, text(raw.dataDir) ?? '.');
  const site = text(raw.site) ?? defaultSite();
  if (!new RegExp(SITE_PATTERN).test(site)) throw new NetbootError('validation', `site: "${site}" must be 1-63 letters, digits, dots, dashes or underscores`, { field: 'site' });
  const iqnPrefix = text(raw.iqnPrefix) ?? DEFAULTS.iqnPrefix;
  if (!/^iqn\.\d{4}-(0[1-9]|1[0-2])\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(iqnPrefix)) {
    throw new NetbootError('validation', `iqnPrefix: "${iqnPrefix}" is not an IQN prefix like iqn.2024-01.com.example`, { field: 'iqnPrefix' });
  }
  const dhcpPort = port('dhcpPort', raw.dhcpPort, DEFAULTS.dhcpPort);
  const ipField = (name: string, v: string | undefined) => {
    if (v !== undefined && !isIPv4(v)) throw new NetbootError('validation', `${name}: "${v}" is not an IPv4 address`, { field: name });
    return v;
  };
  let rangeStart: string | undefined;
  let rangeEnd: string | undefined;
  const range = text(raw.dhcpRange);
  if (range) {
    const m = range.match(/^\s*([\d.]+)\s*[-,]\s*([\d.]+)\s*$/);
    if (!m || !isIPv4(m[1]) || !isIPv4(m[2])) throw new NetbootError('validation', `dhcpRange: "${range}" must be first-last, e.g. 192.168.1.100-192.168.1.199`, { field: 'dhcpRange' });
    [rangeStart, rangeEnd] = [m[1], m[2]];
  }
  if (mode === 'full' && !range) throw new NetbootError('validation', 'dhcpRange: full DHCP mode needs an address range (NETBOOT_DHCP_RANGE=first-last)', { field: 'dhcpRange' });
  const dns = text(raw.dhcpDns)?.split(/[\s,]+/).filter(Boolean).map((a) => ipField('dhcpDns', a)!);
  const upload = text(raw.tftpUploadDir);
  return {
    allowlist: parseAllowlist(text(raw.allowlist))?.entries.slice(),
    httpRate: rate('httpRate', text(raw.httpRate)),
    tftp: {
      mtu: wholeNumber('tftpMtu', raw.tftpMtu, 576, 65535),
      maxBlksize: wholeNumber('tftpMaxBlksize', raw.tftpMaxBlksize, 8, 65464),
      maxWindowsize: wholeNumber('tftpMaxWindowsize', raw.tftpMaxWindowsize, 1, 65535),
      maxTransfers: wholeNumber('tftpMaxTransfers', raw.tftpMaxTransfers, 1, 100_000),
      maxTransfersPerClient: wholeNumber('tftpMaxPerClient', raw.tftpMaxPerClient, 1, 10_000),
      uploadDir: upload ? path.resolve(baseDir, text(raw.dataDir) ?? '.', upload) : undefined,
    },
    httpPort,
    httpBaseExplicit: text(raw.httpBaseUrl) !== undefined,
    httpPath: nodeRootPath(host.httpNodeRoot) || undefined,
    dhcp: {
      rangeStart, rangeEnd,
      netmask: ipField('dhcpNetmask', text(raw.dhcpNetmask)),
      router: ipField('dhcpRouter', text(raw.dhcpRouter)),
      dns,
      leaseTime: seconds('leaseTime', raw.leaseTime),
    },
    serverIp,
    serverIpPinned: text(raw.serverIp) !== undefined,
    interface: iface,
    bind,
    httpBaseUrl,
    dhcpMode: mode,
    secureBoot: flag('secureBoot', raw.secureBoot),
    ports: {
      dhcp: dhcpPort,
      // the client port, where other servers' OFFERs arrive; only meaningful beside the real port 67
      monitor: port('monitorPort', raw.monitorPort, dhcpPort === 67 ? 68 : -1),
      proxy: port('proxyPort', raw.proxyPort, DEFAULTS.proxyPort),
      tftp: port('tftpPort', raw.tftpPort, DEFAULTS.tftpPort),
    },
    dataDir,
    site,
    assetsRoot: path.resolve(dataDir, text(raw.assetsRoot) ?? 'assets'),
    iqnPrefix,
  };
}

/** The host's name as a site name (its first label, characters a site name cannot have replaced). */
export function defaultSite(): string {
  const name = os.hostname().split('.')[0].replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return name || 'netboot';
}

/**
 * What a boot server claims on this host: its bind address and the fixed UDP ports it binds
 * (ephemeral and disabled ports claim nothing). Two servers with the same claim would fight for the
 * same sockets; undefined when it claims no fixed port.
 */
export function portClaim(c: Pick<BootServerConfig, 'bind' | 'dhcpMode' | 'ports'>): string | undefined {
  const fixed = [
    ...(c.dhcpMode === 'off' ? [] : [['dhcp', c.ports.dhcp], ['proxy', c.ports.proxy]] as const),
    ['tftp', c.ports.tftp] as const,
  ].filter(([, p]) => p > 0);
  return fixed.length ? `${c.bind} ${fixed.map(([k, p]) => `${k}:${p}`).join(' ')}` : undefined;
}
