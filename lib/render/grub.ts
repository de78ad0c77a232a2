import { NetbootError } from '../core/errors';
import { normalizeMac } from '../core/mac';
import { kernelArgList, mergeKernelParams, safeLabel, safeToken, unsafe, type KernelParams } from './ipxe-safe';

/**
 * GRUB configuration renderer for the Secure Boot chain (firmware → shim → Debian-signed GRUB over
 * TFTP). Debian's signed `grubnetx64.efi` reads only `/grub/grub.cfg` from the TFTP root and has no
 * `http` module (nor may it load one under Secure Boot), so kernels and initrds go over TFTP from
 * the boot-assets root, and per-machine files are reached by `source /grub/grub.cfg-$net_default_mac`
 * from the root file (`GRUB_ROOT_CONFIG`).
 *
 * GRUB's script language expands `$name` / `${name}` in bare words and double quotes, treats
 * `; | & < >` and newlines as separators, `{ }` as blocks, `\` as an escape and `#` as a comment. A
 * value from the inventory is therefore (1) held to an allow-list for its kind (the same ones the
 * iPXE renderer uses: no whitespace, `$`, quotes, backslashes, `;`, braces or control characters)
 * and (2) written inside single quotes, where GRUB takes every character literally up to the next
 * single quote. A value that fails is a `NetbootError('unsafe_value')` naming the field, never a
 * half-written file.
 */

/** Characters of a file path on the TFTP server (relative to the boot-assets root). */
const PATH_RE = /^[A-Za-z0-9._+@=,-]+(\/[A-Za-z0-9._+@=,-]+)*$/;

/** A value inside single quotes, after its allow-list. Refuses what single quotes cannot hold. */
export function grubQuote(value: string, field: string): string {
  for (const ch of value) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c === 0x7f) unsafe(field, `contains control character 0x${c.toString(16).padStart(2, '0')} (GRUB ends a command at a newline)`);
    if (c > 0x7e) unsafe(field, `contains non-ASCII character U+${c.toString(16).toUpperCase().padStart(4, '0')}`);
  }
  if (value.includes("'")) unsafe(field, 'contains a single quote (GRUB cannot quote it)');
  return `'${value}'`;
}

/**
 * Where GRUB finds a file of the boot-assets root over TFTP: `debian/vmlinuz` and
 * `/boot/assets/debian/vmlinuz` → `/debian/vmlinuz`. A URL is refused: the signed GRUB has no HTTP.
 */
export function grubTftpPath(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') unsafe(field, 'is missing');
  const v = value as string;
  if (/^[a-z][a-z0-9+.-]*:/i.test(v)) unsafe(field, `"${v.slice(0, 80)}" is a URL: Debian's signed GRUB loads files over TFTP only (no http module under Secure Boot); put the file in the boot-assets folder and name its path there`);
  const rel = v.replace(/^\/boot\/assets\//, '').replace(/^\/+/, '');
  if (rel.split('/').some((s) => s === '..' || s === '.')) unsafe(field, 'path contains "." or ".." segments');
  if (!PATH_RE.test(rel)) {
    const bad = [...rel].find((ch) => !/[A-Za-z0-9._+@=,/-]/.test(ch)) ?? '/';
    unsafe(field, bad === '/' ? 'has an empty path segment' : `contains ${JSON.stringify(bad)} (paths are letters, digits and "._+@=,-")`);
  }
  return `/${rel}`;
}

export interface GrubKernel {
  title?: string;
  kernel: string;
  initrds?: readonly string[];
  /** The profile's command line; `override` (the device's) wins, `null` removes a key. */
  params?: KernelParams;
  override?: KernelParams;
}

export interface GrubMenuEntry extends GrubKernel {
  /** Menu id (profile id), `[A-Za-z0-9][A-Za-z0-9._-]*`. */
  id: string;
  label: string;
}

export type GrubSpec =
  | ({ kind: 'kernel' } & GrubKernel)
  | {
    kind: 'menu';
    title: string;
    items: readonly GrubMenuEntry[];
    /** Registration entry (kernel + initrd of the registration image), shown as "Register this device". */
    register?: GrubKernel;
    /** "Boot from local disk" (GRUB `exit`: the firmware tries its next boot entry). Default on. */
    localBoot?: boolean;
    /** An item id, `register` or `local`. */
    defaultId?: string;
    /** 0 or absent: wait for a choice. */
    timeoutMs?: number;
  }
  | { kind: 'local' };

function kernelLines(k: GrubKernel, field: string, indent: string): string[] {
  const args = kernelArgList(mergeKernelParams(k.params ?? {}, k.override ?? {}), `${field}.cmdline`).map((a, i) => grubQuote(a, `${field}.cmdline[${i}]`));
  const kernel = grubQuote(grubTftpPath(k.kernel, `${field}.kernel`), `${field}.kernel`);
  const initrds = (k.initrds ?? []).map((p, i) => grubQuote(grubTftpPath(p, `${field}.initrd[${i}]`), `${field}.initrd[${i}]`));
  const out: string[] = [];
  if (k.title) out.push(`${indent}echo ${grubQuote(`netboot: ${safeLabel(k.title, `${field}.title`)}`, `${field}.title`)}`);
  out.push(`${indent}linux ${[kernel, ...args].join(' ')}`);
  if (initrds.length > 0) out.push(`${indent}initrd ${initrds.join(' ')}`);
  return out;
}

const FAILED = [
  "echo 'netboot: the kernel did not start (unsigned under Secure Boot, or a file missing on the TFTP server)'",
  'sleep 10',
  'exit',
];

function menuId(id: string, field: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,69}$/.test(id)) unsafe(field, 'must be a profile id (letters, digits, "._-")');
  return grubQuote(id, field);
}

/** The per-machine `grub.cfg-<mac>`: a menu, one kernel, or back to the firmware. */
export function renderGrubConfig(spec: GrubSpec, ctx: { mac?: string } = {}): string {
  const head = ['# netboot: rendered for this machine; GRUB reads it through /grub/grub.cfg'];
  if (ctx.mac) head.push(`# machine ${safeToken(normalizeMac(ctx.mac), 'mac')}`);
  let body: string[];
  switch (spec.kind) {
    case 'local':
      body = ["echo 'netboot: booting from the local disk'", 'exit'];
      break;
    case 'kernel':
      body = [...kernelLines(spec, 'profile', ''), 'boot', ...FAILED];
      break;
    case 'menu': {
      const secs = spec.timeoutMs && spec.timeoutMs > 0 ? Math.max(1, Math.ceil(spec.timeoutMs / 1000)) : -1;
      body = [`set timeout=${secs}`];
      const ids = new Set<string>();
      const entry = (id: string, label: string, lines: string[], field: string) => {
        ids.add(id);
        body.push(`menuentry ${grubQuote(safeLabel(label, `${field}.label`), `${field}.label`)} --id ${menuId(id, `${field}.id`)} {`, ...lines, '}');
      };
      spec.items.forEach((item, i) => entry(item.id, item.label, kernelLines({ ...item, title: undefined }, `items[${i}]`, '  '), `items[${i}]`));
      if (spec.register) entry('register', 'Register this device', kernelLines({ ...spec.register, title: undefined }, 'register', '  '), 'register');
      if (spec.localBoot !== false) entry('local', 'Boot from local disk', ['  exit'], 'local');
      if (spec.defaultId && ids.has(spec.defaultId)) body.splice(1, 0, `set default=${menuId(spec.defaultId, 'defaultId')}`);
      body.splice(1, 0, `echo ${grubQuote(safeLabel(spec.title, 'title'), 'title')}`);
      break;
    }
    default:
      throw new NetbootError('validation', `unknown GRUB config kind "${String((spec as { kind?: unknown }).kind)}"`, { field: 'kind' });
  }
  return [...head, ...body, ''].join('\n');
}

/**
 * `/grub/grub.cfg`, the only file Debian's signed GRUB reads by itself: it sources the machine's own
 * file (`grub.cfg-52:54:00:12:34:56`, GRUB's `$net_default_mac` form) and, when there is none,
 * says so and hands the machine back to its firmware.
 */
export const GRUB_ROOT_CONFIG = [
  '# netboot: Debian\'s signed GRUB reads only this file; each machine\'s own is grub.cfg-<its MAC>',
  'source /grub/grub.cfg-$net_default_mac',
  "echo 'netboot: no configuration for this machine (is the netboot-grub node in the flow?)'",
  'echo "MAC $net_default_mac"',
  'sleep 10',
  'exit',
  '',
].join('\n');

/** `grub/grub.cfg-52:54:00:12:34:56` (as GRUB asks for it) → the MAC; undefined for any other path. */
export function grubConfigMac(path: string): string | undefined {
  const m = /^\/?grub\/grub\.cfg-([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})$/.exec(path);
  return m ? m[1].toLowerCase() : undefined;
}

/** `grub/grub.cfg` (with or without a leading slash). */
export function isGrubRootConfig(path: string): boolean {
  return /^\/?grub\/grub\.cfg$/.test(path);
}
