import { isIPv4, isIPv6 } from 'node:net';
import { ARCH_NAMES, isPiMac } from '../dhcp/classify';
import { NetbootError } from '../core/errors';
import { deviceMac, type Mac } from '../core/mac';
import { parsePiTftpPath } from '../render/pi';
import { grubConfigMac } from '../render/grub';

/**
 * What a check-in knows about a machine, normalised. Built from whatever the flow hands us:
 * the query of an `http in` request (`mac=52-54-00-..&uuid=..&arch=x86_64&platform=efi`), a DHCP
 * event from netboot-listen (`{mac, uuid, buildarch, platform, pi: {serial}}`), a TFTP path of a
 * Raspberry Pi (`9ffefdef/config.txt`), or a plain object.
 */
export type DeviceType = 'raspi' | 'x86' | 'x64' | 'arm64' | 'other';

export interface MachineFacts {
  mac?: Mac;
  /** SMBIOS UUID, lowercase 8-4-4-4-12. */
  uuid?: string;
  /** Raspberry Pi serial: 8 lowercase hex digits. */
  serial?: string;
  serviceTag?: string;
  /** iPXE `${buildarch}` style: `i386`, `x86_64`, `arm64`, … (lowercase). */
  arch?: string;
  /** iPXE `${platform}` style: `pcbios`, `efi`, `rpi`. */
  platform?: string;
  hostname?: string;
  ip?: string;
  deviceType: DeviceType;
  /** The Raspberry Pi model (3, 4, 5) when known. */
  piModel?: 3 | 4 | 5;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const DEVICE_TYPES: readonly DeviceType[] = ['raspi', 'x86', 'x64', 'arm64', 'other'];

/**
 * The closed sets an anonymous check-in is held to: iPXE's `${buildarch}` names (plus `x86`/`x64`)
 * and the DHCP option 93 names netboot-listen reports (`efi-x64`, `arch-NN` for unnamed codes).
 */
export const KNOWN_ARCHES: ReadonlySet<string> = new Set(['i386', 'x86_64', 'x86', 'x64', 'arm32', 'arm64', 'riscv32', 'riscv64', 'loong64', ...Object.values(ARCH_NAMES)]);
export const KNOWN_PLATFORMS: ReadonlySet<string> = new Set(['pcbios', 'efi', 'rpi']);

function bad(field: string, why: string): never {
  throw new NetbootError('validation', `check-in: field "${field}": ${why}`, { field });
}

/** First of several names for one fact, as a trimmed string; `''` counts as absent. */
function pick(src: Record<string, unknown>, field: string, ...names: string[]): string | undefined {
  for (const name of names) {
    const v = src[name];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (typeof v !== 'string') bad(field, `must be given once, as text (got ${Array.isArray(v) ? 'a list' : typeof v})`);
    if (v.length > 256) bad(field, `is ${v.length} characters long (limit 256)`);
    const t = v.trim();
    if (t !== '') return t;
  }
  return undefined;
}

function piModelOf(value: unknown): 3 | 4 | 5 | undefined {
  const m = /([345])/.exec(String(value ?? ''));
  return m ? (Number(m[1]) as 3 | 4 | 5) : undefined;
}

/**
 * Normalises one machine's facts. A malformed identifier (MAC, UUID, serial, service tag, arch,
 * IP, device type) is a `validation` error naming the field; a host name that is not a valid DNS
 * label is left out (it is informational and often junk from DHCP).
 */
export function parseFacts(input: unknown, extra: { ip?: string; filename?: string } = {}): MachineFacts {
  if (input !== undefined && input !== null && (typeof input !== 'object' || Array.isArray(input))) {
    bad('(input)', 'machine facts must be an object (a query string, a DHCP event or {mac, uuid, ...})');
  }
  const src = (input ?? {}) as Record<string, unknown>;
  const nested = (src.pi && typeof src.pi === 'object' ? src.pi : {}) as Record<string, unknown>;
  const facts: MachineFacts = { deviceType: 'other' };

  const mac = pick(src, 'mac', 'mac', 'mac_address', 'macAddress');
  if (mac !== undefined) {
    try {
      facts.mac = deviceMac(mac);
    } catch (err) {
      bad('mac', (err as Error).message);
    }
  }
  const uuid = pick(src, 'uuid', 'uuid', 'smbios_uuid')?.toLowerCase();
  if (uuid !== undefined) {
    if (!UUID_RE.test(uuid)) bad('uuid', 'must be an SMBIOS UUID like 4c4c4544-0042-3510-8052-b4c04f4e4a31');
    facts.uuid = uuid;
  }
  let serial = pick(src, 'serial', 'serial', 'pi_serial') ?? pick(nested, 'serial', 'serial');
  const filename = extra.filename ?? pick(src, 'filename', 'filename', 'path');
  if (filename !== undefined) {
    const parsed = parsePiTftpPath(filename);
    if (parsed.serial !== undefined) serial ??= parsed.serial;
    if (parsed.mac !== undefined && facts.mac === undefined) facts.mac = parsed.mac;
    // GRUB's per-machine config (the Secure Boot chain): grub/grub.cfg-52:54:00:12:34:56
    const grubMac = grubConfigMac(filename);
    if (grubMac !== undefined && facts.mac === undefined) facts.mac = deviceMac(grubMac);
  }
  if (serial !== undefined) {
    if (!/^([0-9a-fA-F]{8}|[0-9a-fA-F]{16})$/.test(serial)) bad('serial', 'must be 8 or 16 hex digits (the Raspberry Pi serial)');
    facts.serial = serial.slice(-8).toLowerCase();
  }
  const tag = pick(src, 'service_tag', 'service_tag', 'serviceTag');
  if (tag !== undefined) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(tag)) bad('service_tag', 'must be 1-64 letters, digits or "._-"');
    facts.serviceTag = tag;
  }
  const arch = pick(src, 'arch', 'buildarch', 'arch', 'archName')?.toLowerCase();
  if (arch !== undefined && arch !== 'unknown') {
    if (!KNOWN_ARCHES.has(arch) && !/^arch-\d{1,5}$/.test(arch)) bad('arch', `must be one of ${[...KNOWN_ARCHES].join(', ')}`);
    facts.arch = arch;
  }
  const platform = pick(src, 'platform', 'platform', 'fw', 'firmware')?.toLowerCase();
  if (platform !== undefined && platform !== 'unknown') {
    if (!KNOWN_PLATFORMS.has(platform)) bad('platform', `must be one of ${[...KNOWN_PLATFORMS].join(', ')}`);
    facts.platform = platform;
  }
  const hostname = pick(src, 'hostname', 'hostname', 'host');
  if (hostname !== undefined && HOSTNAME_RE.test(hostname)) facts.hostname = hostname;
  const ip = pick(src, 'ip', 'ip', 'clientIp') ?? extra.ip?.replace(/^::ffff:/, '');
  if (ip !== undefined) {
    if (!isIPv4(ip) && !isIPv6(ip)) bad('ip', 'must be an IP address');
    facts.ip = ip;
  }

  const type = pick(src, 'device_type', 'device_type', 'deviceType')?.toLowerCase();
  if (type !== undefined && !DEVICE_TYPES.includes(type as DeviceType)) bad('device_type', `must be one of ${DEVICE_TYPES.join(', ')}`);
  const piModel = piModelOf(pick(nested, 'model', 'model') ?? pick(src, 'pi_model', 'pi_model', 'model'));
  const looksPi = type === 'raspi' || platform === 'rpi' || Object.keys(nested).length > 0 || facts.serial !== undefined
    || (facts.mac !== undefined && isPiMac(facts.mac) && (facts.platform === undefined || facts.platform === 'pcbios'));
  if (type !== undefined) facts.deviceType = type as DeviceType;
  else if (looksPi) facts.deviceType = 'raspi';
  else if (facts.arch === 'x86_64' || facts.arch === 'x64') facts.deviceType = 'x64';
  else if (facts.arch === 'i386' || facts.arch === 'x86') facts.deviceType = 'x86';
  else if (facts.arch === 'arm64') facts.deviceType = 'arm64';
  if (facts.deviceType === 'raspi' && piModel !== undefined) facts.piModel = piModel;
  return facts;
}
