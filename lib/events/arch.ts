/**
 * One name for a client's architecture, used by every event and message: the firmware-and-CPU names
 * of DHCP option 93 (`bios`, `efi-x64`, `efi-arm64`, `http-x64`, ...; `arch-<n>` for a code without a
 * name). It is the richest of the three forms the parts of a boot know, so the other two are derived:
 *
 * - the option 93 number (`archCode`), which only DHCP carries;
 * - iPXE's `${buildarch}` / `${platform}` pair (`x86_64` + `efi`), which is what a check-in reports.
 */

/** IANA "Processor Architecture Types" (option 93), with 7 and 9 both x64 as pixiecore does. */
export const ARCH_NAMES: Readonly<Record<number, string>> = {
  0: 'bios',
  6: 'efi-ia32',
  7: 'efi-x64',
  9: 'efi-x64',
  10: 'efi-arm32',
  11: 'efi-arm64',
  15: 'http-ia32',
  16: 'http-x64',
  18: 'http-arm32',
  19: 'http-arm64',
  20: 'bios-http',
  25: 'efi-riscv32',
  27: 'efi-riscv64',
};

/** Close to iPXE's `${buildarch}`, plus RISC-V. */
export type BuildArch = 'i386' | 'x86_64' | 'arm32' | 'arm64' | 'riscv32' | 'riscv64' | 'unknown';
/** iPXE's `${platform}`, plus the Raspberry Pi's own boot ROM. */
export type Platform = 'pcbios' | 'efi' | 'rpi' | 'unknown';

/** The event name for an option 93 code: `efi-x64`, or `arch-<n>` for a code without a name. */
export function archFromCode(code: number | undefined): string {
  if (code === undefined) return 'unknown';
  return ARCH_NAMES[code] ?? `arch-${code}`;
}

/** The option 93 code of a name (7 for `efi-x64`, the code EDK2 sends), undefined for `unknown`. */
export function archCode(arch: string): number | undefined {
  const m = /^arch-(\d{1,5})$/.exec(arch);
  if (m) return Number(m[1]);
  if (arch === 'efi-x64') return 7;
  for (const [code, name] of Object.entries(ARCH_NAMES)) if (name === arch) return Number(code);
  return undefined;
}

const CPU: Record<string, BuildArch> = {
  ia32: 'i386', x64: 'x86_64', arm32: 'arm32', arm64: 'arm64', riscv32: 'riscv32', riscv64: 'riscv64',
};

/** iPXE's `${buildarch}` for a name: `efi-x64` → `x86_64`; a BIOS PC → `i386` (what iPXE's BIOS build reports). */
export function buildarchOf(arch: string): BuildArch {
  if (arch === 'bios' || arch === 'bios-http') return 'i386';
  const cpu = /^(?:efi|http)-(\w+)$/.exec(arch)?.[1];
  return (cpu && CPU[cpu]) || 'unknown';
}

/** iPXE's `${platform}` for a name: `pcbios` or `efi`. */
export function platformOf(arch: string): Platform {
  if (arch === 'bios' || arch === 'bios-http') return 'pcbios';
  if (/^(efi|http)-/.test(arch)) return 'efi';
  return 'unknown';
}

/**
 * The name for what iPXE reports (`x86_64` + `efi` → `efi-x64`). iPXE's BIOS build reports `i386`
 * even on a 64-bit CPU, so every `pcbios` is `bios`. Accepts an option 93 name as is.
 */
export function archFromIpxe(buildarch: string | undefined, platform: string | undefined): string {
  const b = (buildarch ?? '').toLowerCase();
  const p = (platform ?? '').toLowerCase();
  if (Object.values(ARCH_NAMES).includes(b) || /^arch-\d{1,5}$/.test(b)) return b;
  if (p === 'pcbios') return 'bios';
  const cpu = Object.entries(CPU).find(([, v]) => v === b || (b === 'x64' && v === 'x86_64'))?.[0];
  if (p === 'efi' && cpu) return `efi-${cpu}`;
  return 'unknown';
}
