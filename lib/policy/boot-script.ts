import { NetbootError } from '../core/errors';
import type { SanProvider } from '../render/iscsi';
import type { Image, InventoryStore, Profile } from '../store';
import {
  deviceIqn,
  loadTemplate,
  kernelParamsOf,
  mergeKernelParams,
  renderIpxeResult,
  renderIpxeTemplate,
  renderWinpeshlIni,
  renderWinpeStartnet,
  unsafe,
  type ChainSpec,
  type IpxeFailure,
  type IpxeSpec,
  type KernelParams,
  type KernelSpec,
  type MenuEntry,
  type MenuGap,
  type WimbootSpec,
} from '../render';
import type { CheckInResult } from './checkin';

/**
 * Chooses and renders the script a machine gets, from a check-in result (`msg.netboot`):
 * the decision picks the kind (menu, kernel+initrd, sanboot, sanhook+installer, wimboot, chain,
 * local, registration), the profile/image/device fill it in. Everything goes through the
 * allow-listing renderers in lib/render, so an unsafe value is an error naming the field.
 */
export const SCRIPT_KINDS = ['auto', 'identify', 'menu', 'kernel', 'sanboot', 'sanhook', 'wimboot', 'chain', 'local', 'retry', 'register', 'winpe-startnet', 'winpeshl'] as const;
export type ScriptKind = (typeof SCRIPT_KINDS)[number];

export interface ScriptServer {
  serverIp: string;
  httpBaseUrl: string;
  iqnPrefix: string;
  /** For user templates in `<dataDir>/templates`. */
  dataDir?: string;
}

export interface ScriptOptions {
  /** Kernel arguments pointing the installer at its config documents (lib/policy/configs.ts), after the profile's and the overrides. */
  configArgs?: Record<string, string>;
  /** Force a kind; `auto` (default) follows the decision. */
  kind?: ScriptKind;
  onFailure?: IpxeFailure;
  /** Every profile and image, for the menu. */
  profiles?: readonly Profile[];
  images?: readonly Image[];
  menuTitle?: string;
  menuTimeoutMs?: number;
  menuDefault?: string;
  /** Where `identify` chains to (default `/boot/menu.ipxe`). */
  identifyPath?: string;
  /** Local boot: try `sanboot --drive 0x80` on BIOS before `exit`. */
  biosSanboot?: boolean;
  /** The iSCSI target node's answer for disks it serves: portal port, CHAP, the initiator name its ACL allows. */
  san?: SanProvider;
}

/** What the iSCSI target node adds to a sanboot/sanhook of an image it serves (undefined: not one of its disks). */
export type { SanBootInfo, SanProvider } from '../render/iscsi';

export interface BootScript {
  kind: Exclude<ScriptKind, 'auto'>;
  text: string;
  contentType: string;
  containsSecret: boolean;
}

export type BootContext = Pick<CheckInResult, 'decision' | 'facts' | 'params'> & Partial<Pick<CheckInResult, 'device' | 'profile' | 'image' | 'group'>>;

const TEXT = 'text/plain; charset=utf-8';

/** `ubuntu/vmlinuz` (relative to the boot-assets root) → `/boot/assets/ubuntu/vmlinuz`; URLs and absolute paths stay. */
export function assetUrl(value: string | undefined, field: string): string {
  if (value === undefined || value === '') return unsafe(field, 'is missing');
  if (/^[a-z][a-z0-9+.-]*:/i.test(value) || value.startsWith('/')) return value;
  return `/boot/assets/${value}`;
}

/** Kernel parameters without the `pi.*` settings (those configure the Raspberry Pi renderer). */
function kernelOverride(params: Record<string, string | null>): KernelParams {
  const out: KernelParams = {};
  for (const [k, v] of Object.entries(params)) if (!k.startsWith('pi.')) out[k] = v;
  return out;
}

function macOf(ctx: BootContext): string | undefined {
  return ctx.device?.mac ?? ctx.facts.mac;
}

/**
 * Names for a profile's initrds (the file name of each, made unique), so a UEFI kernel can be told
 * which ones to load: `initrd.gz`, `initrd.gz` again → `initrd.gz`, `2-initrd.gz`.
 */
function initrdNames(urls: string[]): string[] {
  const used = new Set<string>();
  return urls.map((url, n) => {
    const file = (url.split(/[?#]/)[0].split('/').pop() ?? '').replace(/[^A-Za-z0-9._-]/g, '_').slice(-56);
    let name = file && file !== '.' && file !== '..' ? file : `initrd${n}`;
    if (used.has(name.toLowerCase())) name = `${n}-${name}`;
    used.add(name.toLowerCase());
    return name;
  });
}

function kernelSpec(profile: Profile, ctx: BootContext, opts: ScriptOptions = {}): KernelSpec {
  const urls = (profile.initrd ?? []).map((i, n) => assetUrl(i, `profile.initrd[${n}]`));
  // iPXE builds before 2023 (Debian's, for one) hand a UEFI kernel its initrds only as files named on
  // its command line (`initrd=<name>`): without that the EFI stub starts Linux with no initramfs. Newer
  // iPXE passes them the way kernels since 5.8 look first, and the stub then ignores `initrd=`. A BIOS
  // kernel gets every initrd from iPXE anyway: its script stays as it was (and so does one whose
  // request did not say `platform=efi`; the URLs we hand iPXE always carry it).
  const efi = ctx.facts.platform === 'efi' && urls.length > 0;
  const names = efi ? initrdNames(urls) : [];
  return {
    kind: 'kernel',
    title: profile.name,
    kernel: assetUrl(profile.kernel, 'profile.kernel'),
    initrds: efi ? urls.map((url, n) => ({ url, name: names[n] })) : urls,
    params: kernelParamsOf(profile.cmdline, 'profile.cmdline'),
    override: { ...kernelOverride(ctx.params), ...(opts.configArgs ?? {}) },
    ...(efi ? { initrdArg: true } : {}),
  };
}

function wimbootSpec(profile: Profile): WimbootSpec {
  const [bcd, sdi, wim, ...more] = profile.initrd ?? [];
  if (!bcd || !sdi || !wim) unsafe('profile.initrd', 'a winpe profile lists boot/bcd, boot/boot.sdi and sources/boot.wim (in this order) as its initrds');
  return {
    kind: 'wimboot',
    title: profile.name,
    wimboot: assetUrl(profile.kernel ?? 'wimboot', 'profile.kernel'),
    bcd: assetUrl(bcd, 'profile.initrd[0]'),
    bootSdi: assetUrl(sdi, 'profile.initrd[1]'),
    bootWim: assetUrl(wim, 'profile.initrd[2]'),
    files: more.map((f, i) => ({ url: assetUrl(f, `profile.initrd[${i + 3}]`), name: f.split('/').pop() ?? f })),
  };
}

function chainSpec(profile: Profile): ChainSpec {
  return { kind: 'chain', title: profile.name, url: assetUrl(profile.chainUrl, 'profile.chainUrl'), identity: true };
}

function sanSpec(image: Image, ctx: BootContext, server: ScriptServer, opts: ScriptOptions) {
  const info = opts.san?.bootInfo(image, macOf(ctx));
  const target = sanTarget(image, ctx, server);
  if (info?.port !== undefined && image.targetPort === undefined) target.port = info.port;
  return { title: image.name, target, ...(info?.chap ? { chap: info.chap } : {}), ...(info?.initiatorIqn ? { initiatorIqn: info.initiatorIqn } : {}) };
}

function sanTarget(image: Image, ctx: BootContext, server: ScriptServer): { server: string; port?: number; lun: number; iqn: string } {
  const mac = macOf(ctx);
  const iqn = image.iqn ?? (mac ? deviceIqn(server.iqnPrefix, mac) : unsafe('image.iqn', 'the image has no IQN and the machine no MAC to derive one from'));
  // LUN 1 unless the image says otherwise: our iSCSI backend is tgtd, whose LUN 0 is the
  // controller (an iPXE sanboot of LUN 0 fails with "Could not open SAN device")
  return { server: image.targetHost ?? server.serverIp, port: image.targetPort, lun: image.lun ?? 1, iqn };
}

function needImage(ctx: BootContext, kind: string): Image {
  if (!ctx.image) throw new NetbootError('validation', `a ${kind} script needs an image (msg.netboot.image)`, { field: 'image' });
  return ctx.image;
}

function needProfile(ctx: BootContext, kind: string): Profile {
  if (!ctx.profile) throw new NetbootError('validation', `a ${kind} script needs a profile (msg.netboot.profile)`, { field: 'profile' });
  return ctx.profile;
}

/** The installer part of a profile (what runs after `sanhook`, or alone). */
function profileSpec(profile: Profile, ctx: BootContext, opts: ScriptOptions = {}): KernelSpec | WimbootSpec | ChainSpec {
  if (profile.type === 'winpe') return wimbootSpec(profile);
  if (profile.type === 'chain') return chainSpec(profile);
  return kernelSpec(profile, ctx, opts);
}

function autoKind(ctx: BootContext): Exclude<ScriptKind, 'auto'> {
  const { action } = ctx.decision;
  switch (action) {
    case 'show_menu': return ctx.decision.anonymous ? 'identify' : 'menu';
    case 'local': return 'local';
    case 'register': return 'register';
    case 'boot_image': return 'sanboot';
    case 'boot_profile': {
      const p = needProfile(ctx, 'boot_profile');
      if (p.type === 'sanboot') return 'sanboot';
      if (ctx.image) return 'sanhook';
      return p.type === 'winpe' ? 'wimboot' : p.type === 'chain' ? 'chain' : 'kernel';
    }
    default:
      throw new NetbootError('validation', `unknown decision action "${String(action)}"`, { field: 'decision.action' });
  }
}

function menuSpec(ctx: BootContext, opts: ScriptOptions): IpxeSpec {
  const items: Array<MenuEntry | MenuGap> = [];
  for (const p of opts.profiles ?? []) if (p.id !== 'register') items.push({ id: p.id, label: p.name });
  const images = (opts.images ?? []).filter((i) => i.kind !== 'file');
  if (images.length > 0) {
    if (items.length > 0) items.push({ gap: 'Disk images' });
    for (const i of images) items.push({ id: `image.${i.id}`, label: `Disk image ${i.name}` });
  }
  const mac = macOf(ctx);
  return {
    kind: 'menu',
    title: opts.menuTitle ?? (mac ? `netboot ${mac}` : 'netboot'),
    items,
    defaultId: opts.menuDefault,
    timeoutMs: opts.menuTimeoutMs,
    biosSanboot: opts.biosSanboot,
  };
}

function specFor(kind: Exclude<ScriptKind, 'auto' | 'register' | 'winpe-startnet' | 'winpeshl'>, ctx: BootContext, server: ScriptServer, opts: ScriptOptions): IpxeSpec {
  switch (kind) {
    case 'menu': return menuSpec(ctx, opts);
    case 'local': return { kind: 'local', biosSanboot: opts.biosSanboot };
    case 'retry': return { kind: 'retry' };
    // ask iPXE who it is: chain the menu again with ?mac=${netX/mac:hexhyp}&uuid=... appended
    case 'identify': return { kind: 'chain', url: opts.identifyPath ?? '/boot/menu.ipxe', identity: true };
    case 'sanboot': {
      const image = needImage(ctx, 'sanboot');
      return { kind: 'sanboot', ...sanSpec(image, ctx, server, opts) };
    }
    case 'sanhook': {
      const image = needImage(ctx, 'sanhook');
      return { kind: 'sanhook', ...sanSpec(image, ctx, server, opts), then: profileSpec(needProfile(ctx, 'sanhook'), ctx, opts) };
    }
    case 'kernel': return kernelSpec(needProfile(ctx, 'kernel'), ctx, opts);
    case 'wimboot': return wimbootSpec(needProfile(ctx, 'wimboot'));
    case 'chain': return chainSpec(needProfile(ctx, 'chain'));
  }
}

/** The registration script: the `registration` template with a `register` profile's kernel, or the defaults. */
async function registerScript(ctx: BootContext, server: ScriptServer, opts: ScriptOptions): Promise<BootScript> {
  const base = server.httpBaseUrl.replace(/\/+$/, '');
  const abs = (u: string) => (u.startsWith('/') ? `${base}${u}` : u);
  const reg = (opts.profiles ?? []).find((p) => p.id === 'register');
  const tpl = await loadTemplate('registration', server.dataDir ? { userDir: `${server.dataDir}/templates` } : {});
  const out = renderIpxeTemplate(tpl, {
    kernel_url: abs(assetUrl(reg?.kernel ?? 'registration/vmlinuz', 'profile.kernel')),
    initrd_url: abs(assetUrl(reg?.initrd?.[0] ?? 'registration/initrd.img', 'profile.initrd[0]')),
    server_url: base,
    args: { ...kernelParamsOf(reg?.cmdline, 'profile.cmdline'), ...kernelOverride(ctx.params) },
  });
  return { kind: 'register', text: out.text, contentType: TEXT, containsSecret: out.containsSecret };
}

/**
 * A kernel profile with `template` set renders through that template (the user's copy in
 * `<dataDir>/templates/<name>.ipxe.tmpl` first, then the shipped one). Values it can use:
 * title, kernel_url, initrd_url (the first initrd), args (cmdline with the device's overrides),
 * server_url, mac. A placeholder the profile cannot fill is an error naming the key.
 */
async function templateScript(profile: Profile, ctx: BootContext, server: ScriptServer): Promise<BootScript> {
  const base = server.httpBaseUrl.replace(/\/+$/, '');
  const abs = (u: string) => (u.startsWith('/') ? `${base}${u}` : u);
  const tpl = await loadTemplate(profile.template!, server.dataDir ? { userDir: `${server.dataDir}/templates` } : {});
  const values: Record<string, unknown> = { title: profile.name, server_url: base, args: mergeKernelParams(kernelParamsOf(profile.cmdline, 'profile.cmdline'), kernelOverride(ctx.params)) };
  if (profile.kernel) values.kernel_url = abs(assetUrl(profile.kernel, 'profile.kernel'));
  if (profile.initrd?.[0]) values.initrd_url = abs(assetUrl(profile.initrd[0], 'profile.initrd[0]'));
  const mac = macOf(ctx);
  if (mac) values.mac = mac;
  const out = renderIpxeTemplate(tpl, values as never);
  return { kind: 'kernel', text: out.text, contentType: TEXT, containsSecret: out.containsSecret };
}

export async function renderBootScript(ctx: BootContext, server: ScriptServer, opts: ScriptOptions = {}): Promise<BootScript> {
  const kind = !opts.kind || opts.kind === 'auto' ? autoKind(ctx) : opts.kind;
  if (!(SCRIPT_KINDS as readonly string[]).includes(kind)) {
    throw new NetbootError('validation', `script kind "${String(kind)}" is not one of ${SCRIPT_KINDS.join(', ')}`, { field: 'script' });
  }
  switch (kind) {
    case 'register': return registerScript(ctx, server, opts);
    case 'winpeshl': return { kind, text: renderWinpeshlIni(), contentType: TEXT, containsSecret: false };
    case 'winpe-startnet': {
      const mac = macOf(ctx);
      if (!mac) throw new NetbootError('validation', 'startnet.cmd needs the machine\'s MAC', { field: 'mac' });
      return { kind, text: renderWinpeStartnet({ baseUrl: server.httpBaseUrl, mac }), contentType: TEXT, containsSecret: false };
    }
    default: {
      if (kind === 'kernel' && ctx.profile?.template) return templateScript(ctx.profile, ctx, server);
      const out = renderIpxeResult(specFor(kind, ctx, server, opts), { baseUrl: server.httpBaseUrl, mac: macOf(ctx), onFailure: opts.onFailure });
      return { kind, text: out.script, contentType: TEXT, containsSecret: out.containsSecret };
    }
  }
}

/**
 * A script requested by name (`GET /boot/<name>.ipxe`): `menu` keeps the check-in decision,
 * `register` and `local` are the fixed entries, `image.<id>` boots that image, anything else is
 * a profile id. The device's own image stays attached when the name is its own profile (install).
 * `kind` is the script to render (`auto` follows the new decision); none for `menu`.
 */
export async function targetContext(store: Pick<InventoryStore, 'profiles' | 'images'>, ctx: BootContext, name: string): Promise<{ ctx: BootContext; kind?: ScriptKind }> {
  const id = name.replace(/\.ipxe$/, '');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,69}$/.test(id)) unsafe('profile', 'must be a profile id (letters, digits, "._-")');
  if (id === 'menu') return { ctx };
  if (id === 'register' || id === 'local') return { ctx: { ...ctx, decision: { ...ctx.decision, action: id } }, kind: id };
  if (id.startsWith('image.')) {
    const image = await store.images.get(id.slice(6));
    if (!image) throw new NetbootError('not_found', `no image "${id.slice(6)}"`, { field: 'profile', id });
    return { ctx: { ...ctx, image, profile: undefined, decision: { ...ctx.decision, action: 'boot_image', imageId: image.id } }, kind: 'auto' };
  }
  const profile = await store.profiles.get(id);
  if (!profile) throw new NetbootError('not_found', `no profile "${id}"`, { field: 'profile', id });
  const image = ctx.decision.profileId === profile.id ? ctx.image : undefined;
  return { ctx: { ...ctx, profile, image, decision: { ...ctx.decision, action: 'boot_profile', profileId: profile.id } }, kind: 'auto' };
}

/** What netboot-ipxe is asked for: the check-in's context and script, a script name, and the node's setting. */
export interface ScriptRequest {
  /** msg.netboot from netboot-checkin (with an optional `script` kind). */
  netboot?: (BootContext & { script?: ScriptKind }) | { script?: ScriptKind };
  /** msg.profile: a script name from the URL, `/boot/<name>.ipxe`. */
  profile?: unknown;
  /** The node's "script" setting. */
  nodeScript?: ScriptKind;
}

/** The context of a request that has none (no check-in): an anonymous machine, shown the menu. */
export const ANONYMOUS_CONTEXT: BootContext = { decision: { action: 'show_menu', output: 3, known: false, source: 'none', anonymous: true }, facts: { deviceType: 'other' }, params: {} };

/** Kinds that need no check-in context: they are the same for every machine. */
const CONTEXT_FREE: readonly ScriptKind[] = ['identify', 'menu', 'retry', 'winpeshl', 'register'];

/**
 * Which script, for which context. Precedence: the check-in's `script`, then the script a name
 * selects (`/boot/debian.ipxe` → that profile), then the node's setting, then `auto`.
 */
export async function resolveScriptRequest(store: Pick<InventoryStore, 'profiles' | 'images'>, req: ScriptRequest): Promise<{ kind: ScriptKind; ctx: BootContext }> {
  let kind: ScriptKind | undefined = req.netboot?.script;
  let ctx: BootContext | undefined = req.netboot && 'decision' in req.netboot && req.netboot.decision ? req.netboot : undefined;
  if (typeof req.profile === 'string' && req.profile !== '') {
    const target = await targetContext(store, ctx ?? ANONYMOUS_CONTEXT, req.profile);
    ctx = target.ctx;
    kind ??= target.kind;
  }
  kind ??= req.nodeScript ?? 'auto';
  if (!(SCRIPT_KINDS as readonly string[]).includes(kind)) throw new NetbootError('validation', `field "script": "${String(kind)}" is not one of ${SCRIPT_KINDS.join(', ')}`, { field: 'script' });
  if (!ctx) {
    if (!CONTEXT_FREE.includes(kind)) throw new NetbootError('validation', 'field "netboot": msg.netboot from a netboot-checkin node is needed for this script', { field: 'netboot' });
    ctx = ANONYMOUS_CONTEXT;
  }
  return { kind, ctx };
}

/** The script's options from the inventory: menu settings, and every profile and image when a menu is shown. */
export async function scriptOptionsFrom(store: Pick<InventoryStore, 'profiles' | 'images' | 'getSettings'>, kind: ScriptKind, ctx: BootContext): Promise<Pick<ScriptOptions, 'menuTimeoutMs' | 'menuDefault' | 'profiles' | 'images'>> {
  const settings = await store.getSettings();
  const needsMenu = kind === 'menu' || kind === 'register' || (kind === 'auto' && ctx.decision.action === 'show_menu');
  return {
    menuTimeoutMs: settings.menuTimeoutMs,
    menuDefault: settings.menuDefault,
    ...(needsMenu ? { profiles: (await store.profiles.list({ limit: 1000 })).items, images: (await store.images.list({ limit: 1000 })).items } : {}),
  };
}
