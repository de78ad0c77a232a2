/**
 * What the OFFERs say, from the client's side: who offers an address, who is a proxyDHCP, what boot
 * information each carries, and which offer the machine kind would boot from. Pure.
 */
import { isIPv4 } from '../dhcp/packet';
import { Opt, getBootfile, getOption, getPxeOptions, getServerId, getTftpServer, getVendorClass, type PxeVendorOptions } from '../dhcp/options';
import { PI_MENU_TEXT } from '../dhcp/boot-answer';
import type { ProbeKind, SeenReply } from './types';
import { isPiKind } from './types';

export const PI_MENU = 'Raspberry Pi Boot';

export interface OfferInfo {
  reply: SeenReply;
  /** Option 54, else the source address. */
  serverId: string;
  source: string;
  yiaddr: string;
  siaddr: string;
  /** yiaddr != 0. */
  givesAddress: boolean;
  /** yiaddr 0 + option 60 PXEClient/HTTPClient: a proxyDHCP answer. */
  isProxy: boolean;
  vendorClass?: string;
  /** Option 67 (without trailing NULs), else the `file` field. */
  bootfile?: string;
  /** Option 66 as sent. */
  tftpServerOption?: string;
  pxe?: PxeVendorOptions;
  /** Raw option 43, when present. */
  option43?: Buffer;
  /** Sub-option 9 menu texts. */
  menuTexts: string[];
  /** Any boot information at all: a file, next-server with a file, or a PXE menu. */
  hasBootInfo: boolean;
}

export function describeOffer(reply: SeenReply): OfferInfo {
  const p = reply.packet;
  const vendorClass = getVendorClass(p)?.replace(/\0+$/, '');
  const fromOpt = getBootfile(p);
  const bootfile = fromOpt !== undefined && fromOpt !== '' ? fromOpt : p.file !== '' ? p.file : undefined;
  const option43 = getOption(p, Opt.VendorSpecific);
  const pxe = option43 ? getPxeOptions(p) : undefined;
  const menuTexts = pxe?.bootMenu?.map((m) => m.text) ?? [];
  const givesAddress = p.yiaddr !== '0.0.0.0';
  const pxeClass = vendorClass?.startsWith('PXEClient') === true || vendorClass?.startsWith('HTTPClient') === true;
  const hasMenu = menuTexts.length > 0 || (pxe?.bootServers?.length ?? 0) > 0;
  return {
    reply,
    serverId: getServerId(p) ?? reply.from.address,
    source: reply.from.address,
    yiaddr: p.yiaddr,
    siaddr: p.siaddr,
    givesAddress,
    isProxy: !givesAddress && pxeClass,
    vendorClass,
    bootfile,
    tftpServerOption: getTftpServer(p),
    pxe,
    option43,
    menuTexts,
    hasBootInfo: bootfile !== undefined || hasMenu || (option43 !== undefined && option43.includes(PI_MENU)),
  };
}

/** Distinct server ids of the proxyDHCP offers. */
export function proxyServers(offers: OfferInfo[]): string[] {
  return [...new Set(offers.filter((o) => o.isProxy).map((o) => o.serverId))];
}

export function isUrl(s: string | undefined): boolean {
  return s !== undefined && /^https?:\/\//i.test(s);
}

/** The Pi's menu string anywhere in option 43 (Pi 4/5 match a substring). */
export function hasPiMenu(o: OfferInfo): boolean {
  return o.menuTexts.some((t) => t.includes(PI_MENU)) || (o.option43 !== undefined && o.option43.includes(PI_MENU, 0, 'latin1'));
}

/** The Pi 3B ROM compares the whole menu item: it must be `Raspberry Pi Boot   ` (3 trailing spaces). */
export function hasPi3Menu(o: OfferInfo): boolean {
  return o.menuTexts.some((t) => t === PI_MENU_TEXT);
}

/** Where a Pi sends TFTP: option 66 (dotted-decimal), else option 54 (protocols.md 1.2). */
export function piTftpServer(o: OfferInfo): string | undefined {
  const opt = o.tftpServerOption?.trim();
  if (opt && isIPv4(opt)) return opt;
  const sid = getServerId(o.reply.packet);
  return sid && isIPv4(sid) ? sid : undefined;
}

/** Where a PXE ROM / EDK2 sends TFTP: siaddr, else option 66, else the server id. */
export function pxeTftpServer(o: OfferInfo): string | undefined {
  if (o.siaddr !== '0.0.0.0') return o.siaddr;
  const opt = o.tftpServerOption?.trim();
  if (opt && isIPv4(opt)) return opt;
  const sid = getServerId(o.reply.packet);
  return sid && isIPv4(sid) ? sid : undefined;
}

export type BootPlan =
  | { kind: 'tftp'; offer: OfferInfo; server: string; file: string }
  | { kind: 'boot-server'; offer: OfferInfo; server: string; bootItem?: { type: number; layer: number } }
  | { kind: 'http'; offer: OfferInfo; url: string }
  | { kind: 'pi'; offer: OfferInfo; server: string }
  | { kind: 'none'; reason: 'no-offers' | 'no-boot-info' | 'no-tftp-server' | 'pi-no-option43' | 'ipxe-no-url' | 'http-no-url' | 'ipxe-proxy-no-siaddr' | 'http-no-httpclient'; offer?: OfferInfo };

function byPreference(offers: OfferInfo[]): OfferInfo[] {
  // A proxy answer first (the machine merges it with the address offer), then address offers with boot data.
  return [...offers.filter((o) => o.isProxy), ...offers.filter((o) => !o.isProxy)];
}

/**
 * What the machine would do next, given all offers. Mirrors the firmware:
 * - Pi: the offer whose 43 holds the menu string; TFTP server from 66 or 54.
 * - iPXE: a URL in 67/file; from a proxy only when siaddr is set or a PXE menu is present.
 * - HTTP boot: an `HTTPClient` reply with a URL.
 * - UEFI PXE: a proxy offer leads to the 4011 REQUEST; a full DHCP offer with a file is used directly.
 * - BIOS PXE: siaddr/file; a 43 menu without a file leads to the boot-server REQUEST.
 */
export function planBoot(kind: ProbeKind, all: OfferInfo[]): BootPlan {
  if (all.length === 0) return { kind: 'none', reason: 'no-offers' };
  const offers = byPreference(all);

  if (isPiKind(kind)) {
    const withMenu = offers.find(hasPiMenu);
    if (!withMenu) return { kind: 'none', reason: 'pi-no-option43', offer: offers.find((o) => o.isProxy) };
    const server = piTftpServer(withMenu);
    if (!server) return { kind: 'none', reason: 'no-tftp-server', offer: withMenu };
    return { kind: 'pi', offer: withMenu, server };
  }

  if (kind === 'http') {
    const withUrl = offers.filter((o) => isUrl(o.bootfile));
    const good = withUrl.find((o) => o.vendorClass?.startsWith('HTTPClient'));
    if (good) return { kind: 'http', offer: good, url: good.bootfile! };
    if (withUrl.length) return { kind: 'none', reason: 'http-no-httpclient', offer: withUrl[0] };
    const any = offers.find((o) => o.hasBootInfo);
    return { kind: 'none', reason: any ? 'http-no-url' : 'no-boot-info', offer: any };
  }

  if (kind === 'ipxe') {
    const withUrl = offers.filter((o) => isUrl(o.bootfile));
    // iPXE takes proxy data only with (siaddr and file) or a PXE menu (harness README, ipxe dhcp.c).
    const usable = withUrl.find((o) => !o.isProxy || o.siaddr !== '0.0.0.0' || o.menuTexts.length > 0);
    if (usable) return { kind: 'http', offer: usable, url: usable.bootfile! };
    if (withUrl.length) return { kind: 'none', reason: 'ipxe-proxy-no-siaddr', offer: withUrl[0] };
    const any = offers.find((o) => o.hasBootInfo);
    return { kind: 'none', reason: any ? 'ipxe-no-url' : 'no-boot-info', offer: any };
  }

  if (kind === 'uefi' || kind === 'uefi-sb' || kind === 'arm64') {
    const proxy = offers.find((o) => o.isProxy);
    if (proxy) return { kind: 'boot-server', offer: proxy, server: proxy.serverId };
    const withFile = offers.find((o) => o.bootfile !== undefined && !isUrl(o.bootfile));
    if (withFile) {
      const server = pxeTftpServer(withFile);
      if (!server) return { kind: 'none', reason: 'no-tftp-server', offer: withFile };
      return { kind: 'tftp', offer: withFile, server, file: withFile.bootfile! };
    }
    return { kind: 'none', reason: 'no-boot-info' };
  }

  // bios
  const withFile = offers.find((o) => o.bootfile !== undefined && !isUrl(o.bootfile));
  if (withFile) {
    const server = pxeTftpServer(withFile);
    if (!server) return { kind: 'none', reason: 'no-tftp-server', offer: withFile };
    return { kind: 'tftp', offer: withFile, server, file: withFile.bootfile! };
  }
  const withMenu = offers.find((o) => o.menuTexts.length > 0 || (o.pxe?.bootServers?.length ?? 0) > 0);
  if (withMenu) {
    const item = withMenu.pxe?.bootMenu?.[0];
    const listed = withMenu.pxe?.bootServers?.find((b) => item === undefined || b.type === item.type)?.ips[0];
    const server = listed ?? withMenu.serverId;
    return { kind: 'boot-server', offer: withMenu, server, bootItem: item ? { type: item.type, layer: 0 } : undefined };
  }
  return { kind: 'none', reason: 'no-boot-info' };
}
