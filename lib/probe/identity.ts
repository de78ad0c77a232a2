/**
 * Who the probe pretends to be, per kind, and the DHCP packets such a machine sends. The option
 * values follow the captures in `shared/harness/README.md` ("What the clients sent") and
 * protocols.md 1.1 (Raspberry Pi option 97). Pure.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { NetbootError } from '../core/errors';
import { Mac, macToBytes, normalizeMac } from '../core/mac';
import { DhcpOption, DhcpPacket, FLAG_BROADCAST, OP_REQUEST, emptyPacket } from '../dhcp/packet';
import { MessageType, Opt, build, pxe } from '../dhcp/options';
import { ProbeKind, isPiKind } from './types';

export const VENDOR_CLASS: Record<ProbeKind, string> = {
  bios: 'PXEClient:Arch:00000:UNDI:002001',
  ipxe: 'PXEClient:Arch:00000:UNDI:002001',
  pi3: 'PXEClient:Arch:00000:UNDI:002001',
  pi4: 'PXEClient:Arch:00000:UNDI:002001',
  pi5: 'PXEClient:Arch:00000:UNDI:002001',
  uefi: 'PXEClient:Arch:00007:UNDI:003000',
  'uefi-sb': 'PXEClient:Arch:00007:UNDI:003000',
  arm64: 'PXEClient:Arch:00011:UNDI:003000',
  http: 'HTTPClient:Arch:00016:UNDI:003000',
};

export const ARCH: Record<ProbeKind, number> = { bios: 0, ipxe: 0, pi3: 0, pi4: 0, pi5: 0, uefi: 7, 'uefi-sb': 7, arm64: 11, http: 16 };

/** Default OUI per kind: QEMU's for PCs, a Raspberry Pi OUI for the Pis (protocols.md 1.1). */
export const DEFAULT_OUI: Record<ProbeKind, string> = {
  bios: '52:54:00',
  ipxe: '52:54:00',
  uefi: '52:54:00',
  'uefi-sb': '52:54:00',
  arm64: '52:54:00',
  http: '52:54:00',
  pi3: 'b8:27:eb',
  pi4: 'dc:a6:32',
  pi5: '2c:cf:67',
};

/** Board revision codes sent in option 97 by the Pi 4/5 EEPROM (4B 4 GB rev 1.1, Pi 5 4 GB). */
export const PI_BOARD_REVISION = { pi4: 0x00c03111, pi5: 0x00d04170 } as const;
export const FOURCC = { pi4: 0x34695052, pi5: 0x35695052 } as const;

/** Options a PXE ROM asks for (55), plus the Pi's 128-135 range. */
const PARAMS_PXE = [1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135];
const PARAMS_IPXE = [1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132, 133, 134, 135, 175, 203];
const PARAMS_EFI = [1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135];

export interface ProbeIdentity {
  kind: ProbeKind;
  mac: Mac;
  /** Raspberry Pi serial (8 lowercase hex digits) for the pi kinds. */
  serial?: string;
  vendorClass: string;
  arch: number;
  /** Option 97 value (type byte + 16 bytes). */
  option97: Buffer;
  /** 8-4-4-4-12 form of the 16 bytes (iPXE `${uuid}`). */
  uuidText: string;
}

/** A stable MAC tail for this host and kind, so repeated runs do not look like new machines. */
function stableTail(kind: ProbeKind): string {
  const h = createHash('sha256').update(`netboot-probe|${hostname()}|${kind}`).digest();
  return Array.from(h.subarray(0, 3), (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function defaultMac(kind: ProbeKind): Mac {
  return normalizeMac(`${DEFAULT_OUI[kind]}:${stableTail(kind)}`);
}

/** Pi 4/5 EEPROM option 97 (16 bytes): FourCC, board revision, last 4 MAC bytes, serial — little-endian words. */
export function piOption97Body(model: 'pi4' | 'pi5', mac: Mac, serial: string): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(FOURCC[model], 0);
  b.writeUInt32LE(PI_BOARD_REVISION[model], 4);
  macToBytes(mac).subarray(2).copy(b, 8);
  b.writeUInt32LE(parseInt(serial, 16) >>> 0, 12);
  return b;
}

/** Pi 3B+ ROM option 97 (16 bytes): the 32-bit serial four times. */
export function pi3Option97Body(serial: string): Buffer {
  const b = Buffer.alloc(16);
  const v = parseInt(serial, 16) >>> 0;
  for (let i = 0; i < 16; i += 4) b.writeUInt32LE(v, i);
  return b;
}

function formatGuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A stable SMBIOS-like GUID from the MAC (PCs). */
function pcGuid(mac: Mac): Buffer {
  return createHash('sha256').update(`netboot-probe-uuid|${mac}`).digest().subarray(0, 16);
}

export function normalizeSerial(serial: string): string {
  const s = serial.trim().toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]{1,8}$/.test(s)) {
    throw new NetbootError('validation', `invalid Raspberry Pi serial "${serial.slice(0, 20)}": use up to 8 hex digits, e.g. 9ffefdef`, { value: serial });
  }
  return s.padStart(8, '0');
}

export function makeIdentity(kind: ProbeKind, macInput?: string, serialInput?: string): ProbeIdentity {
  const mac = macInput !== undefined ? normalizeMac(macInput) : defaultMac(kind);
  let serial: string | undefined;
  let body: Buffer;
  if (isPiKind(kind)) {
    serial = serialInput !== undefined ? normalizeSerial(serialInput) : macToBytes(mac).subarray(2).toString('hex');
    body = kind === 'pi3' ? pi3Option97Body(serial) : piOption97Body(kind, mac, serial);
  } else {
    body = pcGuid(mac);
  }
  return {
    kind,
    mac,
    serial,
    vendorClass: VENDOR_CLASS[kind],
    arch: ARCH[kind],
    option97: Buffer.concat([Buffer.from([0]), body]),
    uuidText: formatGuid(body),
  };
}

function ndi(kind: ProbeKind): Buffer {
  // UNDI 2.1 for BIOS ROMs and the Pi; 3.0 for UEFI (what the option 60 strings say).
  return ARCH[kind] === 0 ? Buffer.from([1, 2, 1]) : Buffer.from([1, 3, 0]);
}

/** iPXE's option 175 as sent by a BIOS build on an e1000 (bus-id 8086:100e), plus "PXEXT"/HTTP feature flags. */
export const IPXE_ENCAP = Buffer.from([0x10, 0x01, 0x02, 0x13, 0x01, 0x01, 0x11, 0x01, 0x01, 0xb1, 0x05, 0x01, 0x80, 0x86, 0x10, 0x0e]);

function base(id: ProbeIdentity, xid: number, type: MessageType): DhcpPacket {
  const p = emptyPacket(OP_REQUEST);
  p.xid = xid >>> 0;
  // PXE ROMs and EDK2 ask for a broadcast reply: they have no address yet.
  p.flags = FLAG_BROADCAST;
  macToBytes(id.mac).copy(p.chaddr);
  p.options.push(build.messageType(type));
  return p;
}

/** The DISCOVER the machine kind sends (option order as iPXE: 53, 57, 93, 94, 60, 77, 55, 175, 97). */
export function buildDiscover(id: ProbeIdentity, xid: number): DhcpPacket {
  const p = base(id, xid, MessageType.DISCOVER);
  p.options.push(build.u16(Opt.MaxSize, 1472));
  p.options.push(build.archList([id.arch]));
  p.options.push(build.raw(Opt.ClientNdi, ndi(id.kind)));
  p.options.push(build.vendorClass(id.vendorClass));
  if (id.kind === 'ipxe') p.options.push(build.str(Opt.UserClass, 'iPXE'));
  p.options.push(build.paramList(id.kind === 'ipxe' ? PARAMS_IPXE : id.arch === 0 ? PARAMS_PXE : PARAMS_EFI));
  if (id.kind === 'ipxe') p.options.push(build.raw(Opt.IpxeEncap, IPXE_ENCAP));
  p.options.push(build.raw(Opt.ClientUuid, id.option97));
  return p;
}

/**
 * The PXE boot-server REQUEST (UEFI proxy exchange on port 4011): a new xid, ciaddr = our address
 * when we have one, the same 60/93/94/97, and option 43 with boot item 71 when a menu item was chosen.
 */
export function buildBootServerRequest(id: ProbeIdentity, xid: number, ciaddr = '0.0.0.0', bootItem?: { type: number; layer: number }): DhcpPacket {
  const p = base(id, xid, MessageType.REQUEST);
  p.flags = 0;
  p.ciaddr = ciaddr;
  p.options.push(build.u16(Opt.MaxSize, 1472));
  p.options.push(build.archList([id.arch]));
  p.options.push(build.raw(Opt.ClientNdi, ndi(id.kind)));
  p.options.push(build.vendorClass(id.vendorClass));
  p.options.push(build.paramList(PARAMS_EFI));
  p.options.push(build.raw(Opt.ClientUuid, id.option97));
  if (bootItem) {
    const opt: DhcpOption = build.pxe([pxe.bootItem(bootItem.type, bootItem.layer)]);
    p.options.push(opt);
  }
  return p;
}

export function randomXid(): number {
  return (Math.random() * 0x100000000) >>> 0;
}
