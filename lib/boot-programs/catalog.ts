/**
 * The boot programs the server may hand out, where the distributions put them, and which client
 * classes need which. At every lookup the user's boot-assets folder comes first (their file always
 * wins), then the distribution's packages in the order below; a found file is served read-only under
 * its usual name at the TFTP root and under /boot/assets/, so nothing has to be copied by hand.
 *
 * Paths (checked on Debian 12 here; the others from the packages' file lists):
 * - iPXE: Debian/Ubuntu `ipxe` → /usr/lib/ipxe; Fedora `ipxe-bootimgs-x86` / `-aarch64` →
 *   /usr/share/ipxe (ipxe-x86_64.efi, ipxe-snponly-x86_64.efi, arm64-efi/); Arch `ipxe` →
 *   /usr/share/ipxe/{x86_64,arm64}/.
 * - Secure Boot: Debian/Ubuntu `shim-signed` (Microsoft-signed shim) and `grub-efi-amd64-signed`
 *   (distribution-signed network GRUB, served as grubx64.efi, the name shim loads).
 * - Raspberry Pi firmware: Debian `raspi-firmware` → /usr/lib/raspi-firmware.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

export type ClientClassId = 'bios' | 'uefi-x64' | 'uefi-x64-http' | 'uefi-x64-secureboot' | 'uefi-arm64' | 'pi3' | 'pi4' | 'pi5' | 'registration' | 'registration-pi';

export interface BootProgram {
  /** The name clients ask for (TFTP root, /boot/assets/<name>). */
  name: string;
  /** Where distributions install it, in search order. */
  candidates: readonly string[];
  /** The one step that provides it. */
  fix: string;
}

const IPXE_FIX = 'install iPXE: sudo apt install ipxe (Debian/Ubuntu), sudo dnf install ipxe-bootimgs-x86 (Fedora), sudo pacman -S ipxe (Arch); or copy the file into the boot-assets folder';
const REGISTRATION_FIX = 'npm run build:registration (builds it from this host\'s kernel and busybox with register.sh inside; needs busybox-static)';
const RPI_FIX = 'sudo apt install raspi-firmware (Debian), or copy the file from the boot/ folder of the Raspberry Pi firmware release into the boot-assets folder';

export const BOOT_PROGRAMS: readonly BootProgram[] = [
  { name: 'undionly.kpxe', candidates: ['/usr/lib/ipxe/undionly.kpxe', '/usr/share/ipxe/undionly.kpxe', '/usr/share/ipxe/bios/undionly.kpxe'], fix: IPXE_FIX },
  { name: 'ipxe.efi', candidates: ['/usr/lib/ipxe/ipxe.efi', '/usr/share/ipxe/ipxe-x86_64.efi', '/usr/share/ipxe/x86_64/ipxe.efi'], fix: IPXE_FIX },
  { name: 'snponly.efi', candidates: ['/usr/lib/ipxe/snponly.efi', '/usr/share/ipxe/ipxe-snponly-x86_64.efi', '/usr/share/ipxe/x86_64/snponly.efi'], fix: IPXE_FIX },
  { name: 'ipxe-arm64.efi', candidates: ['/usr/lib/ipxe/arm64-efi/ipxe.efi', '/usr/share/ipxe/arm64-efi/ipxe.efi', '/usr/share/ipxe/arm64/ipxe.efi'], fix: 'install an arm64 iPXE build: sudo dnf install ipxe-bootimgs-aarch64 (Fedora), sudo pacman -S ipxe (Arch); Debian ships none: build it (make bin-arm64-efi/ipxe.efi in the iPXE source) and copy it into the boot-assets folder as ipxe-arm64.efi' },
  { name: 'shimx64.efi', candidates: ['/usr/lib/shim/shimx64.efi.signed', '/boot/efi/EFI/fedora/shimx64.efi'], fix: 'sudo apt install shim-signed (Debian/Ubuntu)' },
  { name: 'grubx64.efi', candidates: ['/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed'], fix: 'sudo apt install grub-efi-amd64-signed (Debian/Ubuntu)' },
  { name: 'bootcode.bin', candidates: ['/usr/lib/raspi-firmware/bootcode.bin'], fix: RPI_FIX },
  { name: 'start.elf', candidates: ['/usr/lib/raspi-firmware/start.elf'], fix: RPI_FIX },
  { name: 'fixup.dat', candidates: ['/usr/lib/raspi-firmware/fixup.dat'], fix: RPI_FIX },
  { name: 'start4.elf', candidates: ['/usr/lib/raspi-firmware/start4.elf'], fix: RPI_FIX },
  { name: 'fixup4.dat', candidates: ['/usr/lib/raspi-firmware/fixup4.dat'], fix: RPI_FIX },
  // made, not installed: from this host's kernel and busybox with register.sh inside
  { name: 'registration/vmlinuz', candidates: [], fix: REGISTRATION_FIX },
  { name: 'registration/initrd.img', candidates: [], fix: REGISTRATION_FIX },
];

const BY_NAME = new Map(BOOT_PROGRAMS.map((p) => [p.name, p]));

/** What each client class needs, and how it fetches it. */
export const CLIENT_CLASSES: ReadonlyArray<{ id: ClientClassId; label: string; needs: readonly string[]; note?: string }> = [
  { id: 'bios', label: 'BIOS', needs: ['undionly.kpxe'] },
  { id: 'uefi-x64', label: 'UEFI x64', needs: ['ipxe.efi'] },
  { id: 'uefi-x64-http', label: 'UEFI x64 HTTP boot', needs: ['ipxe.efi'], note: 'over HTTP at /boot/assets/ipxe.efi (a netboot-assets node, as in the reference flow)' },
  { id: 'uefi-x64-secureboot', label: 'UEFI x64 Secure Boot', needs: ['shimx64.efi', 'grubx64.efi'] },
  { id: 'uefi-arm64', label: 'arm64 UEFI', needs: ['ipxe-arm64.efi'] },
  { id: 'pi3', label: 'Raspberry Pi 3', needs: ['bootcode.bin', 'start.elf', 'fixup.dat'] },
  { id: 'pi4', label: 'Raspberry Pi 4', needs: ['start4.elf', 'fixup4.dat'] },
  // the Pi 5's bootloader is in its EEPROM: it reads config.txt and the kernel, no firmware files
  { id: 'pi5', label: 'Raspberry Pi 5', needs: [], note: 'its bootloader is in EEPROM: it needs only config.txt (rendered) and the kernel of its profile' },
  // what an unknown x86 machine boots from the menu's default, "Register this device"
  { id: 'registration', label: 'Registration of unknown machines', needs: ['registration/vmlinuz', 'registration/initrd.img'] },
  // an unknown Pi boots its own arm64 kernel with the same initramfs: it must be built for arm64
  { id: 'registration-pi', label: 'Registration of unknown Raspberry Pis', needs: ['registration/initrd.img'] },
];

const PI_REGISTRATION_FIX = 'build the registration image on an arm64 host (a Raspberry Pi with Debian or Raspberry Pi OS: npm run build:registration) and copy registration/initrd.img and registration/arch into the boot-assets folder';

type ReadFile = (p: string) => Promise<string | undefined>;

const readText: ReadFile = async (p) => {
  try {
    return (await fsp.readFile(p, 'utf8')).trim();
  } catch {
    return undefined;
  }
};

export interface FoundProgram {
  name: string;
  /** Absolute path of the file that is served. */
  path: string;
  /** `assets`: the user's own file in the boot-assets folder; `system`: a distribution's package. */
  source: 'assets' | 'system';
}

type IsFile = (p: string) => Promise<boolean>;

const isFile: IsFile = async (p) => {
  try {
    return (await fsp.stat(p)).isFile();
  } catch {
    return false;
  }
};

/** The catalog entry for a request path, when it names a boot program at the root (`ipxe.efi`, `/ipxe.efi`). */
export function programFor(requestPath: string): BootProgram | undefined {
  const name = requestPath.replace(/^\/+/, '');
  return name.includes('/') ? undefined : BY_NAME.get(name);
}

/** Where one boot program comes from now: the user's file first, then the distributions' in order. */
export async function findProgram(name: string, assetsRoot: string, exists: IsFile = isFile): Promise<FoundProgram | undefined> {
  const own = path.join(assetsRoot, name);
  if (await exists(own)) return { name, path: own, source: 'assets' };
  for (const candidate of BY_NAME.get(name)?.candidates ?? []) {
    if (await exists(candidate)) return { name, path: candidate, source: 'system' };
  }
  return undefined;
}

/** A program served from a distribution's package, for a path the assets folder does not have (TFTP and HTTP use it). */
export async function systemProgram(requestPath: string, exists: IsFile = isFile): Promise<string | undefined> {
  const program = programFor(requestPath);
  if (!program) return undefined;
  for (const candidate of program.candidates) if (await exists(candidate)) return candidate;
  return undefined;
}

export interface ClassStatus {
  id: ClientClassId;
  label: string;
  ready: boolean;
  /** The files it gets and where each comes from (ready), or the first missing one. */
  files: FoundProgram[];
  missing?: string;
  fix?: string;
  note?: string;
}

/** Which client classes can boot with what is installed now, and for each that cannot, the step that fixes it. */
export async function bootReadiness(assetsRoot: string, exists: IsFile = isFile, read: ReadFile = readText): Promise<ClassStatus[]> {
  const out: ClassStatus[] = [];
  for (const c of CLIENT_CLASSES) {
    const files: FoundProgram[] = [];
    let missing: string | undefined;
    for (const name of c.needs) {
      const found = await findProgram(name, assetsRoot, exists);
      if (found) files.push(found);
      else {
        missing = name;
        break;
      }
    }
    const status: ClassStatus = { id: c.id, label: c.label, ready: missing === undefined, files };
    // the image's CPU, as build-image.sh wrote it: a Pi needs an arm64 one
    const arch = c.id === 'registration-pi' && status.ready ? await read(path.join(assetsRoot, 'registration', 'arch')) : undefined;
    if (c.id === 'registration-pi' && status.ready && arch !== 'aarch64') {
      status.ready = false;
      status.missing = 'an arm64 registration image';
      status.fix = `the image here is for ${arch ?? 'an unknown CPU'}: ${PI_REGISTRATION_FIX}`;
    }
    if (missing) {
      status.missing = missing;
      status.fix = c.id === 'registration-pi' ? PI_REGISTRATION_FIX : BY_NAME.get(missing)?.fix;
    }
    if (c.note) status.note = c.note;
    out.push(status);
  }
  return out;
}

/** One line per class, for the start banner and the log. */
export function describeReadiness(classes: readonly ClassStatus[]): string[] {
  return classes.map((c) => {
    if (c.ready) {
      const files = c.files.map((f) => `${f.name} from ${f.source === 'assets' ? 'the boot-assets folder' : f.path}`).join(', ');
      return `${c.label}: ready${files ? ` (${files})` : ''}${c.note && !files ? ` (${c.note})` : ''}`;
    }
    return `${c.label}: cannot boot: ${c.missing} is missing. Fix: ${c.fix}`;
  });
}
