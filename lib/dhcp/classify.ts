/**
 * Facts about the client that sent a DHCP request: who it is (MAC, UUID, Raspberry Pi serial),
 * what firmware it runs (option 93 architecture, PXE/HTTP class, iPXE) and where the packet came
 * from (relay, ciaddr). Pure: no I/O, never throws for any parsed packet.
 */
import { Mac, macFromBytes } from '../core/mac';
import { archFromCode, type BuildArch, type Platform } from '../events/arch';
import { DhcpPacket } from './packet';
import {
  ClientNdi,
  MessageType,
  Opt,
  getArchList,
  getHostname,
  getMessageType,
  getNdi,
  getOption,
  getParamList,
  getRequestedIp,
  getServerId,
  getUserClass,
  getUuid,
  getVendorClass,
  hasOption,
} from './options';

export { ARCH_NAMES, type BuildArch, type Platform } from '../events/arch';

export type ClientClass = 'PXEClient' | 'HTTPClient' | 'other';
export type PiModel = 'pi3' | 'pi4' | 'pi5' | 'unknown';

/** Raspberry Pi Ltd / Foundation OUIs (protocols.md 1.1). */
export const RPI_OUIS: readonly string[] = ['b8:27:eb', 'dc:a6:32', 'e4:5f:01', '28:cd:c1', 'd8:3a:dd', '2c:cf:67'];

/** Whether a (normalised) MAC carries a Raspberry Pi OUI. */
export function isPiMac(mac: Mac): boolean {
  return RPI_OUIS.includes(mac.slice(0, 8));
}

export interface PiFacts {
  model: PiModel;
  /** How we know: the MAC OUI, option 97's FourCC, or both. */
  via: 'oui' | 'option97' | 'both';
  /** 8 lowercase hex digits (the TFTP prefix form), when option 97 carries it. */
  serial?: string;
  /** Board revision code from option 97 (Pi 4/5 FourCC form). */
  boardRevision?: number;
}

export interface ClientFacts {
  mac: Mac;
  xid: number;
  messageType?: MessageType;
  /** Option 60 as sent. */
  vendorClass?: string;
  clientClass: ClientClass;
  /** First option 93 value, else the `Arch:NNNNN` field of option 60. */
  arch?: number;
  /** Name from ARCH_NAMES, or `arch-<n>` / `unknown`. */
  archName: string;
  archs: number[];
  platform: Platform;
  buildarch: BuildArch;
  isIpxe: boolean;
  isHttpBoot: boolean;
  userClass?: string[];
  /** Option 97 as 8-4-4-4-12 hex (wire order). */
  uuid?: string;
  ndi?: ClientNdi;
  pi?: PiFacts;
  requestedIp?: string;
  serverId?: string;
  hostname?: string;
  paramList?: number[];
  ciaddr: string;
  giaddr: string;
  relayed: boolean;
}

function archFromVendorClass(vc: string | undefined): number | undefined {
  if (!vc) return undefined;
  const m = /^(?:PXEClient|HTTPClient):Arch:(\d{5})/.exec(vc);
  return m ? Number(m[1]) : undefined;
}

function platformOf(arch: number | undefined): { platform: Platform; buildarch: BuildArch } {
  switch (arch) {
    case 0:
    case 20:
      return { platform: 'pcbios', buildarch: 'i386' };
    case 6:
    case 15:
      return { platform: 'efi', buildarch: 'i386' };
    case 7:
    case 9:
    case 16:
      return { platform: 'efi', buildarch: 'x86_64' };
    case 10:
    case 18:
      return { platform: 'efi', buildarch: 'arm32' };
    case 11:
    case 19:
      return { platform: 'efi', buildarch: 'arm64' };
    case 25:
      return { platform: 'efi', buildarch: 'riscv32' };
    case 27:
      return { platform: 'efi', buildarch: 'riscv64' };
    default:
      return { platform: 'unknown', buildarch: 'unknown' };
  }
}

const FOURCC_PI4 = 0x34695052; // "RPi4" little-endian
const FOURCC_PI5 = 0x35695052; // "RPi5"

/**
 * Raspberry Pi detection. Option 93 cannot tell a Pi from a BIOS PC (both send 0), so:
 * - option 97 with FourCC `RPi4`/`RPi5` (bytes 1..4, little-endian) gives the model, the board
 *   revision (bytes 5..8), and the serial (bytes 13..16, little-endian);
 * - option 97 holding one 32-bit word four times (Pi 3B+, or `DHCP_OPTION97=0`) gives the serial
 *   when the MAC is a Pi OUI;
 * - a Pi OUI alone marks a Pi; `b8:27:eb` is the Pi 3 generation (the only older Pi with a network
 *   boot ROM), `dc:a6:32`/`e4:5f:01` the Pi 4 generation; other OUIs leave the model unknown.
 */
export function detectPi(mac: Mac, uuidBytes: Buffer | undefined, archs: number[]): PiFacts | undefined {
  const oui = mac.slice(0, 8);
  const byOui = isPiMac(mac);
  let model: PiModel | undefined;
  let serial: string | undefined;
  let boardRevision: number | undefined;
  if (uuidBytes && uuidBytes.length === 16) {
    const fourcc = uuidBytes.readUInt32LE(0);
    if (fourcc === FOURCC_PI4 || fourcc === FOURCC_PI5) {
      model = fourcc === FOURCC_PI4 ? 'pi4' : 'pi5';
      boardRevision = uuidBytes.readUInt32LE(4);
      serial = uuidBytes.readUInt32LE(12).toString(16).padStart(8, '0');
    } else if (byOui) {
      const w = uuidBytes.readUInt32LE(0);
      if (w !== 0 && [4, 8, 12].every((o) => uuidBytes.readUInt32LE(o) === w)) {
        serial = w.toString(16).padStart(8, '0');
      }
    }
  }
  // A Pi always reports arch 0 (or nothing); an EFI arch means piPXE/UEFI firmware: treat as a normal client.
  if (archs.some((a) => a !== 0)) return undefined;
  if (model) return { model, via: byOui ? 'both' : 'option97', serial, boardRevision };
  if (!byOui) return undefined;
  const ouiModel: PiModel = oui === 'b8:27:eb' ? 'pi3' : oui === 'dc:a6:32' || oui === 'e4:5f:01' ? 'pi4' : 'unknown';
  return { model: ouiModel, via: 'oui', serial, boardRevision };
}

export function classify(p: DhcpPacket): ClientFacts {
  const mac = macFromBytes(p.chaddr);
  const vendorClass = getVendorClass(p);
  const clientClass: ClientClass = vendorClass?.startsWith('PXEClient') ? 'PXEClient' : vendorClass?.startsWith('HTTPClient') ? 'HTTPClient' : 'other';
  const archs = getArchList(p) ?? [];
  const arch = archs.length ? archs[0] : archFromVendorClass(vendorClass);
  const userClass = getUserClass(p);
  const isIpxe = (userClass?.includes('iPXE') ?? false) || hasOption(p, Opt.IpxeEncap);
  const uuid = getUuid(p);
  const pi = detectPi(mac, uuid?.bytes ?? rawUuidBytes(p), arch === undefined ? archs : [arch]);
  let { platform, buildarch } = platformOf(arch);
  if (pi) {
    // Every Pi that can netboot (3B, 3B+, 4, 5) has a 64-bit CPU.
    platform = 'rpi';
    buildarch = 'arm64';
  }
  const archName = archFromCode(arch);
  return {
    mac,
    xid: p.xid,
    messageType: getMessageType(p),
    vendorClass,
    clientClass,
    arch,
    archName,
    archs,
    platform,
    buildarch,
    isIpxe,
    isHttpBoot: clientClass === 'HTTPClient' || (arch !== undefined && arch >= 15 && arch <= 20),
    userClass,
    uuid: uuid?.text,
    ndi: getNdi(p),
    pi,
    requestedIp: getRequestedIp(p),
    serverId: getServerId(p),
    hostname: getHostname(p),
    paramList: getParamList(p),
    ciaddr: p.ciaddr,
    giaddr: p.giaddr,
    relayed: p.giaddr !== '0.0.0.0',
  };
}

/** Option 97 of 17 bytes whose type byte is not 0 (seen on some ROMs): still use the 16 bytes for Pi detection. */
function rawUuidBytes(p: DhcpPacket): Buffer | undefined {
  const b = getOption(p, Opt.ClientUuid);
  return b && b.length === 17 ? b.subarray(1) : undefined;
}
