import { NetbootError } from '../core/errors';
import { isMac, macToHyphens, normalizeMac } from '../core/mac';
import { isValidIqn, safeHostOrIp, safeIqn, unsafe } from './ipxe-safe';
import type { Image } from '../store';

export { isValidIqn };

/** CHAP secrets a machine presents to the target (and, mutual, expects back). */
export interface ChapCredentials {
  username: string;
  password: string;
  /** Mutual CHAP (the target authenticates to us). */
  reverseUsername?: string;
  reversePassword?: string;
}

/** How a machine reaches an image's iSCSI disk (the netboot-iscsi service answers; boot scripts ask). */
export interface SanBootInfo {
  port?: number;
  chap?: ChapCredentials;
  initiatorIqn?: string;
}

/** Who knows the iSCSI side of images: the netboot-iscsi node's service. */
export interface SanProvider {
  bootInfo(image: Image, mac: string | undefined): SanBootInfo | undefined;
}

/** Where an iSCSI disk lives. `lun` is a number (rendered in hex); `port` defaults to 3260. */
export interface IscsiTarget {
  server: string;
  port?: number;
  lun?: number;
  iqn: string;
}

/**
 * The RFC 4173 root path iPXE understands (ipxe.org/sanuri):
 * `iscsi:<server>:<protocol>:<port>:<LUN>:<targetname>`. The protocol field stays empty (TCP),
 * the port is written only when given (empty means 3260), the LUN is hexadecimal (0 when
 * omitted), and an IPv6 server is wrapped in brackets so its colons do not split the fields.
 */
export function iscsiUri(target: IscsiTarget, field = 'iscsi'): string {
  const host = safeHostOrIp(stripBrackets(target.server), `${field}.server`);
  const server = host.includes(':') ? `[${host}]` : host;
  let port = '';
  if (target.port !== undefined) {
    if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) unsafe(`${field}.port`, `port ${String(target.port)} is not 1-65535`);
    port = String(target.port);
  }
  const lun = target.lun ?? 0;
  if (!Number.isInteger(lun) || lun < 0 || lun > 0xffff) unsafe(`${field}.lun`, `LUN ${String(lun)} is not 0-65535`);
  const iqn = safeIqn(target.iqn, `${field}.iqn`);
  return `iscsi:${server}::${port}:${lun.toString(16)}:${iqn}`;
}

function stripBrackets(s: unknown): unknown {
  return typeof s === 'string' && s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
}

/**
 * A per-device target or initiator name: `deviceIqn('iqn.2024-01.local.netboot', 'aa:bb:..')`
 * → `iqn.2024-01.local.netboot:device-aa-bb-cc-dd-ee-ff`; with a name instead of a MAC →
 * `iqn.2024-01.local.netboot:<name>` (lowercased; letters, digits, `.`, `-`).
 */
export function deviceIqn(prefix: string, macOrName: string): string {
  if (typeof prefix !== 'string' || !isValidIqn(prefix) || !prefix.startsWith('iqn.') || prefix.includes(':')) {
    throw new NetbootError('validation', `IQN prefix "${String(prefix)}" must look like iqn.YYYY-MM.reversed.domain (no ":" part)`, { field: 'iqnPrefix' });
  }
  let unique: string;
  if (isMac(macOrName)) {
    unique = `device-${macToHyphens(normalizeMac(macOrName))}`;
  } else {
    const name = typeof macOrName === 'string' ? macOrName.toLowerCase() : '';
    if (!/^[a-z0-9]([a-z0-9.-]{0,62})$/.test(name)) {
      throw new NetbootError('validation', `device name "${String(macOrName)}" for an IQN must be letters, digits, "." and "-"`, { field: 'name' });
    }
    unique = name;
  }
  return safeIqn(`${prefix}:${unique}`, 'iqn');
}
