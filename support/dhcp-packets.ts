/** Test helpers: fixture loading and client-packet builders for the DHCP tests. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DhcpOption, DhcpPacket, FLAG_BROADCAST, OP_REQUEST, build, emptyPacket, encodePacket, macToBytes, normalizeMac, parsePacket } from '../test/helpers/dhcp-imports';

export const FIXTURES = path.join(__dirname, '..', 'test', 'fixtures', 'dhcp');

export function fixtureBytes(name: string): Buffer {
  return Buffer.from(readFileSync(path.join(FIXTURES, `${name}.hex`), 'utf8').trim(), 'hex');
}

export function fixturePacket(name: string): DhcpPacket {
  const r = parsePacket(fixtureBytes(name));
  if (!r.ok) throw r.error;
  return r.packet;
}

export interface ClientSpec {
  mac: string;
  type?: number; // 53
  xid?: number;
  vendorClass?: string;
  arch?: number;
  userClass?: string; // plain (iPXE style)
  ipxeEncap?: boolean;
  uuid?: Buffer; // 16 bytes
  serverId?: string;
  requestedIp?: string;
  ciaddr?: string;
  giaddr?: string;
  broadcast?: boolean;
  extra?: DhcpOption[];
}

export function clientPacket(spec: ClientSpec): DhcpPacket {
  const p = emptyPacket(OP_REQUEST);
  p.xid = spec.xid ?? 0x12345678;
  p.flags = spec.broadcast ? FLAG_BROADCAST : 0;
  macToBytes(normalizeMac(spec.mac)).copy(p.chaddr);
  if (spec.ciaddr) p.ciaddr = spec.ciaddr;
  if (spec.giaddr) p.giaddr = spec.giaddr;
  p.options.push(build.messageType(spec.type ?? 1));
  if (spec.serverId) p.options.push(build.serverId(spec.serverId));
  if (spec.requestedIp) p.options.push(build.ip(50, spec.requestedIp));
  if (spec.arch !== undefined) {
    p.options.push(build.archList([spec.arch]));
    p.options.push(build.raw(94, Buffer.from(spec.arch === 0 ? [1, 2, 1] : [1, 3, 0])));
  }
  if (spec.vendorClass) p.options.push(build.vendorClass(spec.vendorClass));
  if (spec.userClass) p.options.push(build.str(77, spec.userClass));
  if (spec.ipxeEncap) p.options.push(build.raw(175, Buffer.from([0xb1, 0x05, 0x01, 0x80, 0x86, 0x10, 0x0e])));
  if (spec.uuid) p.options.push(build.uuid(spec.uuid));
  p.options.push(...(spec.extra ?? []));
  return p;
}

export function clientBytes(spec: ClientSpec): Buffer {
  return encodePacket(clientPacket(spec));
}

/** Pi 4/5 EEPROM option 97 body: FourCC, board revision, MAC LSBs, serial (all LE words). */
export function piUuid(model: 4 | 5, boardRevision: number, mac: string, serial: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(model === 4 ? 0x34695052 : 0x35695052, 0);
  b.writeUInt32LE(boardRevision, 4);
  macToBytes(normalizeMac(mac)).subarray(2).copy(b, 8);
  b.writeUInt32LE(serial, 12);
  return b;
}

export const PXE_BIOS = 'PXEClient:Arch:00000:UNDI:002001';
export const PXE_EFI_X64 = 'PXEClient:Arch:00007:UNDI:003000';
export const PXE_EFI_X64_IPXE = 'PXEClient:Arch:00007:UNDI:003010';
export const PXE_EFI_ARM64 = 'PXEClient:Arch:00011:UNDI:003000';
export const HTTP_X64 = 'HTTPClient:Arch:00016:UNDI:003000';
export const HTTP_ARM64 = 'HTTPClient:Arch:00019:UNDI:003000';
