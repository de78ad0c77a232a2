/**
 * Typed accessors and builders for the DHCP options the netboot server reads or writes.
 * Accessors return `undefined` when the option is absent or its value is malformed (wrong length);
 * they never throw. Builders return `DhcpOption` values to put into a packet, in order.
 */
import { NetbootError } from '../core/errors';
import { DhcpOption, DhcpPacket, ipFromBytes, ipToBytes } from './packet';

export const Opt = {
  SubnetMask: 1,
  Router: 3,
  DnsServer: 6,
  Hostname: 12,
  DomainName: 15,
  BroadcastAddress: 28,
  VendorSpecific: 43,
  RequestedIp: 50,
  LeaseTime: 51,
  Overload: 52,
  MessageType: 53,
  ServerId: 54,
  ParamList: 55,
  Message: 56,
  MaxSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  VendorClass: 60,
  ClientId: 61,
  TftpServer: 66,
  Bootfile: 67,
  UserClass: 77,
  RelayAgent: 82,
  ClientArch: 93,
  ClientNdi: 94,
  ClientUuid: 97,
  IpxeEncap: 175,
} as const;

export enum MessageType {
  DISCOVER = 1,
  OFFER = 2,
  REQUEST = 3,
  DECLINE = 4,
  ACK = 5,
  NAK = 6,
  RELEASE = 7,
  INFORM = 8,
}

export const MESSAGE_TYPE_NAMES: Record<number, string> = {
  1: 'DISCOVER',
  2: 'OFFER',
  3: 'REQUEST',
  4: 'DECLINE',
  5: 'ACK',
  6: 'NAK',
  7: 'RELEASE',
  8: 'INFORM',
};

/** PXE (option 43) sub-options. */
export const PxeSub = {
  DiscoveryControl: 6,
  BootServers: 8,
  BootMenu: 9,
  MenuPrompt: 10,
  BootItem: 71,
} as const;

// ---------------------------------------------------------------- generic

export function getOption(p: DhcpPacket, code: number): Buffer | undefined {
  for (const o of p.options) if (o.code === code) return o.data;
  return undefined;
}

export function hasOption(p: DhcpPacket, code: number): boolean {
  return getOption(p, code) !== undefined;
}

/** Replaces (or appends) an option, keeping the position of an existing one. */
export function setOption(p: DhcpPacket, opt: DhcpOption): void {
  const i = p.options.findIndex((o) => o.code === opt.code);
  if (i === -1) p.options.push(opt);
  else p.options[i] = opt;
}

export function removeOption(p: DhcpPacket, code: number): void {
  p.options = p.options.filter((o) => o.code !== code);
}

/** Splits a TLV-encoded value (options 43, 82, 175) into sub-options; undefined if malformed. */
export function parseTlv(data: Buffer): DhcpOption[] | undefined {
  const out: DhcpOption[] = [];
  let i = 0;
  while (i < data.length) {
    const code = data[i];
    if (code === 0) {
      i += 1;
      continue;
    }
    if (code === 255) break;
    if (i + 1 >= data.length) return undefined;
    const len = data[i + 1];
    if (i + 2 + len > data.length) return undefined;
    out.push({ code, data: Buffer.from(data.subarray(i + 2, i + 2 + len)) });
    i += 2 + len;
  }
  return out;
}

/** Encodes sub-options; `end` appends 0xff (PXE option 43 convention). */
export function encodeTlv(subs: DhcpOption[], end = false): Buffer {
  const parts: Buffer[] = [];
  for (const s of subs) {
    if (s.data.length > 255) throw new NetbootError('validation', `sub-option ${s.code} is ${s.data.length} bytes, at most 255`, { code: s.code });
    parts.push(Buffer.from([s.code, s.data.length]), s.data);
  }
  if (end) parts.push(Buffer.from([255]));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------- builders

export const build = {
  raw(code: number, data: Buffer): DhcpOption {
    return { code, data };
  },
  u8(code: number, v: number): DhcpOption {
    return { code, data: Buffer.from([v & 0xff]) };
  },
  u16(code: number, v: number): DhcpOption {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v & 0xffff);
    return { code, data: b };
  },
  u32(code: number, v: number): DhcpOption {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    return { code, data: b };
  },
  ip(code: number, ip: string): DhcpOption {
    return { code, data: ipToBytes(ip) };
  },
  ips(code: number, ips: string[]): DhcpOption {
    return { code, data: Buffer.concat(ips.map(ipToBytes)) };
  },
  str(code: number, s: string): DhcpOption {
    return { code, data: Buffer.from(s, 'latin1') };
  },
  messageType(t: MessageType): DhcpOption {
    return build.u8(Opt.MessageType, t);
  },
  serverId(ip: string): DhcpOption {
    return build.ip(Opt.ServerId, ip);
  },
  vendorClass(s: string): DhcpOption {
    return build.str(Opt.VendorClass, s);
  },
  tftpServer(ip: string): DhcpOption {
    return build.str(Opt.TftpServer, ip);
  },
  bootfile(name: string): DhcpOption {
    return build.str(Opt.Bootfile, name);
  },
  paramList(codes: number[]): DhcpOption {
    return { code: Opt.ParamList, data: Buffer.from(codes) };
  },
  archList(archs: number[]): DhcpOption {
    const b = Buffer.alloc(archs.length * 2);
    archs.forEach((a, i) => b.writeUInt16BE(a, i * 2));
    return { code: Opt.ClientArch, data: b };
  },
  /** RFC 3004 user class: each entry length-prefixed. Use `str(77, 'iPXE')` for iPXE's plain form. */
  userClassRfc3004(classes: string[]): DhcpOption {
    return { code: Opt.UserClass, data: Buffer.concat(classes.map((c) => Buffer.concat([Buffer.from([c.length]), Buffer.from(c, 'latin1')]))) };
  },
  uuid(bytes16: Buffer, type = 0): DhcpOption {
    return { code: Opt.ClientUuid, data: Buffer.concat([Buffer.from([type]), bytes16.subarray(0, 16)]) };
  },
  pxe(subs: DhcpOption[]): DhcpOption {
    return { code: Opt.VendorSpecific, data: encodeTlv(subs, true) };
  },
};

/** PXE option 43 sub-option builders. */
export const pxe = {
  discoveryControl(bits: number): DhcpOption {
    return { code: PxeSub.DiscoveryControl, data: Buffer.from([bits & 0xff]) };
  },
  bootServers(servers: { type: number; ips: string[] }[]): DhcpOption {
    const parts = servers.map((s) => {
      const h = Buffer.alloc(3);
      h.writeUInt16BE(s.type);
      h[2] = s.ips.length;
      return Buffer.concat([h, ...s.ips.map(ipToBytes)]);
    });
    return { code: PxeSub.BootServers, data: Buffer.concat(parts) };
  },
  bootMenu(items: { type: number; text: string }[]): DhcpOption {
    const parts = items.map((it) => {
      const t = Buffer.from(it.text, 'latin1');
      const h = Buffer.alloc(3);
      h.writeUInt16BE(it.type);
      h[2] = t.length;
      return Buffer.concat([h, t]);
    });
    return { code: PxeSub.BootMenu, data: Buffer.concat(parts) };
  },
  menuPrompt(timeout: number, text: string): DhcpOption {
    return { code: PxeSub.MenuPrompt, data: Buffer.concat([Buffer.from([timeout & 0xff]), Buffer.from(text, 'latin1')]) };
  },
  bootItem(type: number, layer: number): DhcpOption {
    const b = Buffer.alloc(4);
    b.writeUInt16BE(type);
    b.writeUInt16BE(layer, 2);
    return { code: PxeSub.BootItem, data: b };
  },
};

// ---------------------------------------------------------------- accessors

function latin1(b: Buffer | undefined): string | undefined {
  return b === undefined ? undefined : b.toString('latin1');
}

export function getMessageType(p: DhcpPacket): MessageType | undefined {
  const b = getOption(p, Opt.MessageType);
  if (!b || b.length !== 1 || b[0] < 1 || b[0] > 8) return undefined;
  return b[0] as MessageType;
}

function getIp(p: DhcpPacket, code: number): string | undefined {
  const b = getOption(p, code);
  return b && b.length === 4 ? ipFromBytes(b) : undefined;
}

export function getServerId(p: DhcpPacket): string | undefined {
  return getIp(p, Opt.ServerId);
}

export function getRequestedIp(p: DhcpPacket): string | undefined {
  return getIp(p, Opt.RequestedIp);
}

export function getParamList(p: DhcpPacket): number[] | undefined {
  const b = getOption(p, Opt.ParamList);
  return b ? Array.from(b) : undefined;
}

export function getMaxSize(p: DhcpPacket): number | undefined {
  const b = getOption(p, Opt.MaxSize);
  if (!b || b.length !== 2) return undefined;
  const v = b.readUInt16BE(0);
  return v >= 576 ? v : undefined;
}

export function getLeaseTime(p: DhcpPacket): number | undefined {
  const b = getOption(p, Opt.LeaseTime);
  return b && b.length === 4 ? b.readUInt32BE(0) : undefined;
}

export function getVendorClass(p: DhcpPacket): string | undefined {
  return latin1(getOption(p, Opt.VendorClass));
}

export function getClientId(p: DhcpPacket): Buffer | undefined {
  return getOption(p, Opt.ClientId);
}

export function getHostname(p: DhcpPacket): string | undefined {
  return latin1(getOption(p, Opt.Hostname));
}

export function getTftpServer(p: DhcpPacket): string | undefined {
  return latin1(getOption(p, Opt.TftpServer))?.replace(/\0+$/, '');
}

/** Option 67 without trailing NULs (dnsmasq adds one). */
export function getBootfile(p: DhcpPacket): string | undefined {
  return latin1(getOption(p, Opt.Bootfile))?.replace(/\0+$/, '');
}

/**
 * Option 77. RFC 3004 encodes a list of length-prefixed classes; iPXE sends the plain string
 * `iPXE`. The value is read as RFC 3004 when the length bytes exactly tile it, else as one string.
 */
export function getUserClass(p: DhcpPacket): string[] | undefined {
  const b = getOption(p, Opt.UserClass);
  if (!b) return undefined;
  return decodeUserClass(b);
}

export function decodeUserClass(b: Buffer): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < b.length) {
    const len = b[i];
    if (len === 0 || i + 1 + len > b.length) {
      return [b.toString('latin1')];
    }
    out.push(b.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  return out.length ? out : [''];
}

export function getArchList(p: DhcpPacket): number[] | undefined {
  const b = getOption(p, Opt.ClientArch);
  if (!b || b.length === 0 || b.length % 2 !== 0) return undefined;
  const out: number[] = [];
  for (let i = 0; i < b.length; i += 2) out.push(b.readUInt16BE(i));
  return out;
}

export interface ClientNdi {
  type: number;
  major: number;
  minor: number;
}

export function getNdi(p: DhcpPacket): ClientNdi | undefined {
  const b = getOption(p, Opt.ClientNdi);
  if (!b || b.length !== 3) return undefined;
  return { type: b[0], major: b[1], minor: b[2] };
}

export interface ClientUuid {
  type: number;
  /** The 16 bytes as sent. */
  bytes: Buffer;
  /** 8-4-4-4-12 lowercase hex of the bytes in wire order. */
  text: string;
}

export function formatGuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Option 97: type 0 followed by 16 bytes. */
export function getUuid(p: DhcpPacket): ClientUuid | undefined {
  const b = getOption(p, Opt.ClientUuid);
  if (!b || b.length !== 17 || b[0] !== 0) return undefined;
  const bytes = Buffer.from(b.subarray(1));
  return { type: b[0], bytes, text: formatGuid(bytes) };
}

export interface PxeVendorOptions {
  discoveryControl?: number;
  bootServers?: { type: number; ips: string[] }[];
  bootMenu?: { type: number; text: string }[];
  menuPrompt?: { timeout: number; text: string };
  bootItem?: { type: number; layer: number };
  /** All sub-options in order, including unknown ones. */
  subs: DhcpOption[];
}

/** Decodes PXE option 43 (as sent by a PXE server, or by a client in a boot-server REQUEST). */
export function decodePxeOptions(data: Buffer): PxeVendorOptions | undefined {
  const subs = parseTlv(data);
  if (!subs) return undefined;
  const out: PxeVendorOptions = { subs };
  for (const s of subs) {
    const d = s.data;
    switch (s.code) {
      case PxeSub.DiscoveryControl:
        if (d.length === 1) out.discoveryControl = d[0];
        break;
      case PxeSub.BootServers: {
        const list: { type: number; ips: string[] }[] = [];
        let i = 0;
        while (i + 3 <= d.length) {
          const type = d.readUInt16BE(i);
          const n = d[i + 2];
          i += 3;
          const ips: string[] = [];
          for (let k = 0; k < n && i + 4 <= d.length; k++, i += 4) ips.push(ipFromBytes(d, i));
          list.push({ type, ips });
        }
        out.bootServers = list;
        break;
      }
      case PxeSub.BootMenu: {
        const list: { type: number; text: string }[] = [];
        let i = 0;
        while (i + 3 <= d.length) {
          const type = d.readUInt16BE(i);
          const n = d[i + 2];
          list.push({ type, text: d.subarray(i + 3, Math.min(d.length, i + 3 + n)).toString('latin1') });
          i += 3 + n;
        }
        out.bootMenu = list;
        break;
      }
      case PxeSub.MenuPrompt:
        if (d.length >= 1) out.menuPrompt = { timeout: d[0], text: d.subarray(1).toString('latin1') };
        break;
      case PxeSub.BootItem:
        if (d.length === 4) out.bootItem = { type: d.readUInt16BE(0), layer: d.readUInt16BE(2) };
        break;
      default:
        break;
    }
  }
  return out;
}

export function getPxeOptions(p: DhcpPacket): PxeVendorOptions | undefined {
  const b = getOption(p, Opt.VendorSpecific);
  return b ? decodePxeOptions(b) : undefined;
}

/** Option 175 (iPXE encapsulated): sub-options, or undefined when absent/malformed. */
export function getIpxeEncap(p: DhcpPacket): DhcpOption[] | undefined {
  const b = getOption(p, Opt.IpxeEncap);
  return b ? parseTlv(b) : undefined;
}

export interface RelayAgentInfo {
  circuitId?: Buffer;
  remoteId?: Buffer;
  subs: DhcpOption[];
}

/** Option 82 (RFC 3046). */
export function getRelayAgentInfo(p: DhcpPacket): RelayAgentInfo | undefined {
  const b = getOption(p, Opt.RelayAgent);
  if (!b) return undefined;
  const subs = parseTlv(b);
  if (!subs) return undefined;
  return {
    circuitId: subs.find((s) => s.code === 1)?.data,
    remoteId: subs.find((s) => s.code === 2)?.data,
    subs,
  };
}
