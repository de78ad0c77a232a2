import { NetbootError } from '../core/errors';
import { macToHyphens, normalizeMac } from '../core/mac';
import type { Profile } from '../store';
import { GRUB_ROOT_CONFIG, kernelParamsOf, renderGrubConfig, type GrubKernel, type GrubMenuEntry, type GrubSpec, type KernelParams } from '../render';
import type { BootContext } from './boot-script';

/**
 * The GRUB counterpart of boot-script.ts: a check-in result (`msg.netboot`) → the machine's
 * `grub.cfg-<mac>`. Known with a kernel profile → that kernel, initrds and command line over TFTP;
 * known without one, or unknown → a menu (every kernel profile, "Register this device", "Boot from
 * local disk"); `local` → back to the firmware. What GRUB cannot do (iSCSI sanboot, wimboot, chain to
 * a URL) is an error naming the profile, so the flow's Catch node sees it.
 */
export const GRUB_KINDS = ['auto', 'root', 'menu', 'kernel', 'register', 'local'] as const;
export type GrubKind = (typeof GRUB_KINDS)[number];

export interface GrubOptions {
  kind?: GrubKind;
  profiles?: readonly Profile[];
  menuTimeoutMs?: number;
  menuDefault?: string;
}

export interface GrubServer {
  httpBaseUrl: string;
}

export interface GrubConfigFile {
  kind: Exclude<GrubKind, 'auto'>;
  text: string;
}

/** Profiles GRUB can start: a Linux kernel (+ initrds); not WinPE, a chain URL or an iSCSI disk. */
export function grubBootable(p: Profile): boolean {
  return !!p.kernel && !['winpe', 'chain', 'sanboot'].includes(p.type);
}

function kernelOf(p: Profile, override: KernelParams): GrubKernel {
  if (!grubBootable(p)) throw new NetbootError('validation', `profile "${p.id}" (${p.type}) cannot be started by GRUB: only a kernel with initrds can (no iSCSI, WinPE or chain under the Secure Boot chain)`, { field: 'profile' });
  return { title: p.name, kernel: p.kernel!, initrds: p.initrd ?? [], params: kernelParamsOf(p.cmdline, 'profile.cmdline'), override };
}

function overrideOf(ctx: BootContext): KernelParams {
  const out: KernelParams = {};
  for (const [k, v] of Object.entries(ctx.params ?? {})) if (!k.startsWith('pi.')) out[k] = v;
  return out;
}

/** The registration image: a `register` profile's kernel, else registration/vmlinuz + initrd.img (as the iPXE script). */
function registerKernel(ctx: BootContext, server: GrubServer, profiles: readonly Profile[]): GrubKernel {
  const reg = profiles.find((p) => p.id === 'register');
  const mac = ctx.device?.mac ?? ctx.facts.mac;
  const base = server.httpBaseUrl.replace(/\/+$/, '');
  const args: KernelParams = { ...kernelParamsOf(reg?.cmdline, 'profile.cmdline'), netboot_server: base };
  if (mac) args.netboot_mac = macToHyphens(normalizeMac(mac));
  return { title: 'Register this device', kernel: reg?.kernel ?? 'registration/vmlinuz', initrds: reg?.initrd ?? ['registration/initrd.img'], params: args, override: overrideOf(ctx) };
}

function autoKind(ctx: BootContext): Exclude<GrubKind, 'auto' | 'root'> {
  switch (ctx.decision.action) {
    case 'boot_profile': return 'kernel';
    case 'local': return 'local';
    case 'register': return 'register';
    case 'show_menu': return 'menu';
    case 'boot_image':
      throw new NetbootError('validation', 'an iSCSI disk image cannot be booted by GRUB (sanboot needs iPXE, which Secure Boot refuses); give this machine a kernel profile or remove its secureBoot mark', { field: 'image' });
    default:
      throw new NetbootError('validation', `unknown decision action "${String(ctx.decision.action)}"`, { field: 'decision.action' });
  }
}

export function renderGrubFile(ctx: BootContext | undefined, server: GrubServer, opts: GrubOptions = {}): GrubConfigFile {
  if (opts.kind === 'root') return { kind: 'root', text: GRUB_ROOT_CONFIG };
  if (!ctx?.decision) throw new NetbootError('validation', 'field "netboot": msg.netboot from a netboot-checkin node is needed', { field: 'netboot' });
  const kind = !opts.kind || opts.kind === 'auto' ? autoKind(ctx) : opts.kind;
  const mac = ctx.device?.mac ?? ctx.facts.mac;
  const profiles = opts.profiles ?? [];
  let spec: GrubSpec;
  switch (kind) {
    case 'local': spec = { kind: 'local' }; break;
    case 'kernel': {
      if (!ctx.profile) throw new NetbootError('validation', 'a kernel config needs a profile (msg.netboot.profile)', { field: 'profile' });
      spec = { kind: 'kernel', ...kernelOf(ctx.profile, overrideOf(ctx)) };
      break;
    }
    case 'register': spec = { kind: 'kernel', ...registerKernel(ctx, server, profiles) }; break;
    case 'menu': {
      const items: GrubMenuEntry[] = profiles.filter((p) => p.id !== 'register' && grubBootable(p)).map((p) => ({ id: p.id, label: p.name, ...kernelOf(p, overrideOf(ctx)) }));
      spec = { kind: 'menu', title: mac ? `netboot ${mac}` : 'netboot', items, register: registerKernel(ctx, server, profiles), defaultId: opts.menuDefault, timeoutMs: opts.menuTimeoutMs };
      break;
    }
    default:
      throw new NetbootError('validation', `field "config": "${String(kind)}" is not one of ${GRUB_KINDS.join(', ')}`, { field: 'config' });
  }
  return { kind, text: renderGrubConfig(spec, { mac }) };
}
