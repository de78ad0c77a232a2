/**
 * Which boot stage an event belongs to. The stages run in this order, each optional:
 *
 *   dhcp → firmware-tftp → ipxe → script → kernel → os (or iscsi) → config → installed
 *
 * - DHCP from a PXE/HTTP-boot client that is not iPXE → `dhcp`; DHCP from iPXE → `ipxe`.
 * - The network boot program or firmware files (undionly.kpxe, ipxe.efi, snponly.efi, Pi
 *   bootcode.bin/start4.elf/...) → `firmware-tftp`, whether fetched over TFTP or HTTP.
 * - `*.ipxe`, menus, pxelinux/grub configs → `script`.
 * - Kernels, initrds, wimboot/boot.wim/boot.sdi, squashfs and ISO images → `kernel`.
 * - A check-in, enrollment or log line from the booted OS, or DHCP from a non-PXE client once the
 *   kernel was fetched → `os`; an iSCSI login → `iscsi`.
 * - An installer fetching its configuration document (`config.fetch`) → `config`; the installer
 *   reporting completion (`config.installed`) → `installed`.
 */
import type { NetbootEvent, StageName } from '../events/vocabulary';

export const STAGES: readonly StageName[] = ['dhcp', 'firmware-tftp', 'ipxe', 'script', 'kernel', 'os', 'iscsi', 'config', 'installed'];

/** Position in the boot; `os` and `iscsi` are alternative last stages. */
export const STAGE_RANK: Record<StageName, number> = { dhcp: 0, 'firmware-tftp': 1, ipxe: 2, script: 3, kernel: 4, os: 5, iscsi: 5, config: 6, installed: 7 };

export type PathClassifier = (path: string) => StageName | undefined;

const FIRMWARE: RegExp[] = [
  /\.(kpxe|kkpxe|kkkpxe|pxe|lkrn)$/, // iPXE BIOS builds
  /^(ipxe|snponly|snp|undionly|ipxe-[a-z0-9_-]+)\.efi$/,
  /^(boot|grub|shim|mm)(x64|ia32|aa64|arm|riscv64)\.efi$/,
  /^(l?pxelinux\.0|syslinux\.efi|ldlinux\.(c32|e64)|bootmgfw\.efi|pxeboot\.n12|wdsnbp\.com)$/,
  // Raspberry Pi firmware: bootcode.bin, start*.elf, fixup*.dat, config.txt, device trees, overlays
  /^(bootcode\.bin|bootcode5\.bin|start[0-9a-z_]*\.elf|fixup[0-9a-z_]*\.dat|config\.txt|cmdline\.txt|recovery\.bin|pieeprom\.(upd|sig))$/,
  /\.dtbo?$/,
];
const SCRIPT: RegExp[] = [/\.ipxe$/, /\.cfg$/, /^(menu|boot|autoexec)(\.php)?$/, /^default$/];
const KERNEL: RegExp[] = [
  /^(vmlinuz|vmlinux|bzimage|linux|kernel)([._-].*)?$/,
  /^kernel[0-9a-z_]*\.img$/,
  /^(initrd|initramfs|initrd\.img|initrd\.gz|initrd\.lz|initrd\.xz)([._-].*)?$/,
  /^(wimboot|boot\.wim|boot\.sdi|bcd)$/,
  /\.(wim|iso|squashfs|sfs|img\.xz|img\.gz)$/,
];

function basename(path: string): { base: string; full: string } {
  const clean = path.split(/[?#]/, 1)[0].toLowerCase();
  const parts = clean.split(/[\\/]+/).filter(Boolean);
  return { base: parts[parts.length - 1] ?? '', full: clean };
}

/** The stage a downloaded file belongs to, or undefined when its name says nothing. */
export const classifyPath: PathClassifier = (path) => {
  const { base, full } = basename(path);
  if (!base) return undefined;
  if (full.includes('/overlays/')) return 'firmware-tftp';
  if (full.includes('pxelinux.cfg/') || full.includes('/ipxe/') || full.includes('/boot/check-in')) return 'script';
  if (FIRMWARE.some((r) => r.test(base))) return 'firmware-tftp';
  if (SCRIPT.some((r) => r.test(base))) return 'script';
  if (KERNEL.some((r) => r.test(base))) return 'kernel';
  return undefined;
};

/**
 * The stage an event points at, given the current stage of the machine's boot (some events mean
 * different things early and late: a non-PXE DHCP after the kernel is the OS getting its address).
 */
export function stageOf(e: NetbootEvent, current: StageName | undefined, classify: PathClassifier = classifyPath): StageName | undefined {
  switch (e.type) {
    case 'dhcp.discover':
    case 'dhcp.offer':
    case 'dhcp.request':
    case 'dhcp.ack':
      if (e.isIpxe) return 'ipxe';
      if (e.clientClass === 'other') return current !== undefined && STAGE_RANK[current] >= STAGE_RANK.kernel ? 'os' : undefined;
      return 'dhcp';
    case 'tftp.start':
    case 'tftp.progress':
    case 'tftp.done':
    case 'http.start':
    case 'http.progress':
    case 'http.done':
      if (e.direction === 'write') return undefined;
      return classify(e.path);
    case 'checkin':
      return e.origin === 'ipxe' ? 'script' : 'os';
    case 'enroll':
    case 'boot.log':
    case 'boot.log_upload':
      return 'os';
    case 'iscsi.login':
      return 'iscsi';
    case 'config.fetch':
      return 'config';
    case 'config.installed':
      return 'installed';
    default:
      return undefined;
  }
}
