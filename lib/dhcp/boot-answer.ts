/**
 * Boot policy defaults: which file or URL a client gets, from its facts. Pure.
 *
 * | client | answer |
 * |---|---|
 * | Raspberry Pi (OUI or option 97 FourCC) | option 43 PXE menu "Raspberry Pi Boot   ", 60 PXEClient, 66 = server IP, no file |
 * | iPXE (77 = iPXE or 175 present), any arch | HTTP URL of the menu script (breaks the chainload loop) |
 * | UEFI HTTP boot (HTTPClient / arch 15-19) | 60 HTTPClient + `http://<ip>:<port>/boot/assets/<iPXE binary>` |
 * | BIOS PXE (arch 0) | TFTP `undionly.kpxe` |
 * | UEFI x64 PXE (7, 9) | TFTP `ipxe.efi` (or `snponly.efi`) |
 * | UEFI ia32 / arm32 / arm64 / riscv64 PXE | TFTP file from `files` |
 * | anything else (unknown arch, bios-http 20) | no answer |
 *
 * Raspberry Pi menu text: the Pi 3B boot ROM wants `"Raspberry Pi Boot   "` (three trailing
 * spaces) and the Pi 4/5 EEPROM look for the substring `Raspberry Pi Boot`. We put the spaces into
 * the sub-option 9 menu text itself (so the item length is 20), which satisfies both: the Pi 3
 * compares the whole item, the Pi 4/5 find the substring. `piMenuText` overrides it (e.g. for a
 * custom `PXE_OPTION43`).
 */
import { ClientFacts } from './classify';
import { DhcpOption, isIPv4 } from './packet';
import { encodeTlv, pxe } from './options';

export const PI_MENU_TEXT = 'Raspberry Pi Boot   ';

/** The literal iPXE settings template in the menu URL; iPXE expands it, we never do. */
export const IPXE_MENU_QUERY = 'mac=${netX/mac:hexhyp}&uuid=${uuid}&arch=${buildarch}&platform=${platform}';

export interface BootFiles {
  bios: string;
  efiIa32: string;
  efiX64: string;
  efiArm32: string;
  efiArm64: string;
  efiRiscv64: string;
}

export interface HttpBootFiles {
  ia32: string;
  x64: string;
  arm32: string;
  arm64: string;
}

export interface BootAnswerConfig {
  /** HTTP port of the boot API (Node-RED's port). */
  httpPort: number;
  /** Overrides `http://<serverIp>:<httpPort>` as the base of every URL. */
  httpBase?: string;
  /** Path prefix of the boot endpoints when `httpBase` is not set (the host's `httpNodeRoot`, e.g. "/red"); "" for "/". */
  httpPath?: string;
  /** TFTP names per architecture (first stage). */
  files: BootFiles;
  /** Path of the iPXE menu script on the HTTP server. */
  ipxeScriptPath: string;
  /** Paths of UEFI HTTP boot binaries under the HTTP server. */
  httpBootPaths: HttpBootFiles;
  /** Sub-option 9 text for a Raspberry Pi. */
  piMenuText: string;
}

export const DEFAULT_BOOT_CONFIG: BootAnswerConfig = {
  httpPort: 1880,
  files: {
    bios: 'undionly.kpxe',
    efiIa32: 'ipxe-i386.efi',
    efiX64: 'ipxe.efi',
    efiArm32: 'ipxe-arm32.efi',
    efiArm64: 'ipxe-arm64.efi',
    efiRiscv64: 'ipxe-riscv64.efi',
  },
  ipxeScriptPath: '/boot/menu.ipxe',
  httpBootPaths: {
    ia32: '/boot/assets/ipxe-i386.efi',
    x64: '/boot/assets/ipxe.efi',
    arm32: '/boot/assets/ipxe-arm32.efi',
    arm64: '/boot/assets/ipxe-arm64.efi',
  },
  piMenuText: PI_MENU_TEXT,
};

export type BootConfigInput = Partial<Omit<BootAnswerConfig, 'files' | 'httpBootPaths'>> & {
  files?: Partial<BootFiles>;
  httpBootPaths?: Partial<HttpBootFiles>;
};

export function resolveBootConfig(input: BootConfigInput = {}): BootAnswerConfig {
  return {
    ...DEFAULT_BOOT_CONFIG,
    ...input,
    files: { ...DEFAULT_BOOT_CONFIG.files, ...input.files },
    httpBootPaths: { ...DEFAULT_BOOT_CONFIG.httpBootPaths, ...input.httpBootPaths },
  };
}

/** Per-machine override, e.g. from the inventory or a flow's `decide` hook. */
export interface BootOverride {
  /** First-stage TFTP file name (PXE ROM clients). */
  filename?: string;
  /** siaddr / option 66 instead of our own address. */
  nextServer?: string;
  /** URL for iPXE and UEFI HTTP boot clients instead of the defaults. */
  httpUrl?: string;
  /** Do not answer this client at all. */
  skip?: boolean;
}

export type BootKind = 'tftp' | 'ipxe-script' | 'http-boot' | 'rpi';

export interface BootAnswer {
  kind: BootKind;
  /** `file` field / option 67 ('' for a Pi). */
  filename: string;
  /** siaddr (the TFTP server). */
  nextServer: string;
  /** Option 60 in the reply. */
  vendorClass: 'PXEClient' | 'HTTPClient';
  /** Option 43 the policy insists on (Raspberry Pi menu); proxy BIOS discovery control is added by the responder. */
  option43?: Buffer;
  /** Option 66 (dotted-decimal string). */
  tftpServer?: string;
}

export type BootDecision = { answer: BootAnswer } | { answer: null; reason: 'skipped' | 'unsupported-arch' };

/** dnsmasq's `pxe-service=0,"<text>"` layout: 6 = 3, 10 = (0, "PXE"), 9 = (type 0, text), END. */
export function piOption43(text: string = PI_MENU_TEXT): Buffer {
  const subs: DhcpOption[] = [pxe.discoveryControl(3), pxe.menuPrompt(0, 'PXE'), pxe.bootMenu([{ type: 0, text }])];
  return encodeTlv(subs, true);
}

export function httpBase(serverIp: string, config: BootAnswerConfig): string {
  return (config.httpBase ?? `http://${serverIp}:${config.httpPort}${config.httpPath ?? ''}`).replace(/\/+$/, '');
}

export function ipxeMenuUrl(serverIp: string, config: BootAnswerConfig): string {
  return `${httpBase(serverIp, config)}${config.ipxeScriptPath}?${IPXE_MENU_QUERY}`;
}

function tftpFileFor(arch: number | undefined, files: BootFiles): string | undefined {
  switch (arch) {
    case 0:
      return files.bios;
    case 6:
      return files.efiIa32;
    case 7:
    case 9:
      return files.efiX64;
    case 10:
      return files.efiArm32;
    case 11:
      return files.efiArm64;
    case 27:
      return files.efiRiscv64;
    default:
      return undefined;
  }
}

function httpBootPathFor(facts: ClientFacts, paths: HttpBootFiles): string | undefined {
  switch (facts.buildarch) {
    case 'i386':
      return facts.arch === 20 ? undefined : paths.ia32;
    case 'x86_64':
      return paths.x64;
    case 'arm32':
      return paths.arm32;
    case 'arm64':
      return paths.arm64;
    default:
      return undefined;
  }
}

/** The default answer for a client, with an optional per-machine override. */
export function bootAnswer(facts: ClientFacts, serverIp: string, config: BootAnswerConfig = DEFAULT_BOOT_CONFIG, override?: BootOverride): BootDecision {
  if (override?.skip) return { answer: null, reason: 'skipped' };
  const nextServer = override?.nextServer && isIPv4(override.nextServer) ? override.nextServer : serverIp;

  if (facts.pi && !facts.isIpxe) {
    return {
      answer: { kind: 'rpi', filename: '', nextServer, vendorClass: 'PXEClient', option43: piOption43(config.piMenuText), tftpServer: nextServer },
    };
  }
  if (facts.isIpxe) {
    return { answer: { kind: 'ipxe-script', filename: override?.httpUrl ?? ipxeMenuUrl(serverIp, config), nextServer, vendorClass: facts.clientClass === 'HTTPClient' ? 'HTTPClient' : 'PXEClient' } };
  }
  if (facts.isHttpBoot) {
    const path = httpBootPathFor(facts, config.httpBootPaths);
    const url = override?.httpUrl ?? (path ? `${httpBase(serverIp, config)}${path}` : undefined);
    if (!url) return { answer: null, reason: 'unsupported-arch' };
    return { answer: { kind: 'http-boot', filename: url, nextServer, vendorClass: 'HTTPClient' } };
  }
  const file = override?.filename ?? tftpFileFor(facts.arch, config.files);
  if (!file) return { answer: null, reason: 'unsupported-arch' };
  return { answer: { kind: 'tftp', filename: file, nextServer, vendorClass: 'PXEClient' } };
}
