import { NetbootError } from '../core/errors';
import { normalizeMac } from '../core/mac';
import { iscsiUri, type ChapCredentials, type IscsiTarget } from './iscsi';
import {
  kernelArgList,
  mergeKernelParams,
  safeEfiPath,
  safeIqn,
  safeLabel,
  safeSecret,
  safeToken,
  safeUrl,
  unsafe,
  type KernelParams,
} from './ipxe-safe';
import { assertValidIpxeScript } from './ipxe-validate';

/**
 * iPXE script renderer. Every script starts with `#!ipxe`, is built line by line from allow-listed
 * values (ipxe-safe.ts), and is checked by `validateIpxeScript` before it is returned; a problem is
 * a `NetbootError('template')`, never a half-good script.
 *
 * URLs that point back at this server carry the client's identity with iPXE settings, expanded by
 * iPXE itself: `mac=${netX/mac:hexhyp}` (the NIC that booted, dash form) and
 * `hostname=${hostname:uristring}` (DHCP-supplied, so URI-encoded).
 */

/** Paths of our HTTP endpoints, relative to `baseUrl`. `{id}` in `profile` is replaced by the item id. */
export interface IpxePaths {
  menu: string;
  profile: string;
  register: string;
  log: string;
  winpeStartnet: string;
  winpeshl: string;
  winpeUpload: string;
}

export const DEFAULT_IPXE_PATHS: Readonly<IpxePaths> = Object.freeze({
  menu: '/boot/menu.ipxe',
  profile: '/boot/{id}.ipxe',
  register: '/boot/register.ipxe',
  log: '/api/v1/boot/log',
  winpeStartnet: '/api/v1/boot/winpe/startnet.cmd',
  winpeshl: '/api/v1/boot/winpe/winpeshl.ini',
  winpeUpload: '/api/v1/boot/winpe/logs/upload',
});

/** What to do when a boot step fails. */
export type IpxeFailure = 'exit' | 'shell' | 'reboot' | 'menu';

export interface IpxeContext {
  /** Base URL of this server's HTTP endpoints, e.g. `http://10.0.0.2:1880` (no `${...}`). */
  baseUrl: string;
  /** The device's MAC when known; only used in comments (URLs use `${netX/mac:hexhyp}`). */
  mac?: string;
  /** Override endpoint paths. */
  paths?: Partial<IpxePaths>;
  /** What a failed kernel/chain/sanboot does; default `exit` (hand back to the firmware). */
  onFailure?: IpxeFailure;
}

export interface MenuEntry {
  /** Profile id: `[A-Za-z0-9][A-Za-z0-9._-]*`, used in the default URL `/boot/<id>.ipxe`. */
  id: string;
  /** Menu text. */
  label: string;
  /** Hot key: one letter or digit. */
  key?: string;
  /** Where the item chains to (absolute URL or a path under baseUrl); default the profile path. */
  url?: string;
}

/** A separator line: `item --gap [text]`. */
export interface MenuGap {
  gap: string | true;
}

export interface MenuSpec {
  kind: 'menu';
  title: string;
  items: ReadonlyArray<MenuEntry | MenuGap>;
  /** An item id, or one of the fixed entries `register`, `local`, `shell`, `retry`. */
  defaultId?: string;
  /** Auto-select the default after this many ms (0 or undefined: wait forever). */
  timeoutMs?: number;
  /** Fixed entries, all on by default. */
  register?: boolean;
  localBoot?: boolean;
  shell?: boolean;
  retry?: boolean;
  /** Local-boot behaviour of the "local" entry (see LocalSpec). */
  biosSanboot?: boolean;
}

export interface InitrdSpec {
  url: string;
  /** `--name` for the image, e.g. `initrd.img`. */
  name?: string;
}

export interface KernelSpec {
  kind: 'kernel';
  /** Shown with `echo` before loading. */
  title?: string;
  kernel: string;
  initrds?: ReadonlyArray<string | InitrdSpec>;
  /** The profile's `cmdline`. `""`/`true` is a bare flag, an array repeats the key. */
  params?: KernelParams;
  /** The device's `boot_params_override`: wins over `params`; `null` removes a key. */
  override?: KernelParams;
  /** Append `initrd=<name>` for every named initrd (needed by EFI-stub kernels older than 5.7). */
  initrdArg?: boolean;
}


export interface SanbootSpec {
  kind: 'sanboot';
  title?: string;
  target: IscsiTarget;
  /** BIOS drive number, e.g. 0x80. */
  drive?: number;
  keep?: boolean;
  noDescribe?: boolean;
  /** UEFI boot file on the disk, e.g. `\EFI\BOOT\BOOTX64.EFI`. */
  filename?: string;
  /** Our initiator name (`initiator-iqn` setting); iPXE otherwise uses `iqn.2010-04.org.ipxe:<host>`. */
  initiatorIqn?: string;
  chap?: ChapCredentials;
}

export interface WimbootSpec {
  kind: 'wimboot';
  title?: string;
  wimboot: string;
  bcd: string;
  bootSdi: string;
  bootWim: string;
  /** More files injected into `\Windows\System32` (flat names only). */
  files?: ReadonlyArray<{ url: string; name: string }>;
  /** Inject our `startnet.cmd` and `winpeshl.ini` that report progress (default true). */
  inject?: boolean;
  options?: { gui?: boolean; pause?: boolean; rawbcd?: boolean; rawwim?: boolean; linear?: boolean; quiet?: boolean; index?: number };
}

export interface ChainSpec {
  kind: 'chain';
  title?: string;
  url: string;
  /** Append `mac=${netX/mac:hexhyp}` and friends to the URL. */
  identity?: boolean;
}

/** Attach an iSCSI disk, keep it after boot, then start an installer on it. */
export interface SanhookSpec {
  kind: 'sanhook';
  title?: string;
  target: IscsiTarget;
  /** Default 0x80 (the first hard disk). */
  drive?: number;
  initiatorIqn?: string;
  chap?: ChapCredentials;
  then: KernelSpec | WimbootSpec | ChainSpec;
}

/**
 * Leave iPXE for the local disk. `exit` hands control back to the firmware, which tries its next
 * boot entry: this works on UEFI and on most BIOSes, so it is the default. Some BIOSes stop or loop
 * after a PXE ROM exits; `biosSanboot` then boots the first hard disk directly with
 * `sanboot --no-describe --drive 0x80` on `${platform} == pcbios` and still falls back to `exit`.
 */
export interface LocalSpec {
  kind: 'local';
  biosSanboot?: boolean;
}

/**
 * Break the proxyDHCP race (protocols.md 2.5): iPXE may have configured itself from the main DHCP
 * server before the proxy's answer with the boot file name arrived. Ask again until `${filename}`
 * is set, then chain it; give up after `attempts` tries.
 */
export interface RetrySpec {
  kind: 'retry';
  attempts?: number;
  delaySeconds?: number;
  fallback?: 'exit' | 'shell' | 'reboot';
}

export type IpxeSpec = MenuSpec | KernelSpec | SanbootSpec | SanhookSpec | WimbootSpec | ChainSpec | LocalSpec | RetrySpec;

export interface RenderedIpxe {
  script: string;
  /** True when the script holds a credential (CHAP password): never log it, never cache it publicly. */
  containsSecret: boolean;
}

/** Renders and validates one script. */
export function renderIpxe(spec: IpxeSpec, ctx: IpxeContext): string {
  return renderIpxeResult(spec, ctx).script;
}

export function renderIpxeResult(spec: IpxeSpec, ctx: IpxeContext): RenderedIpxe {
  const w = new ScriptWriter(ctx);
  w.line('#!ipxe');
  w.line(`# netboot: ${spec.kind} script${ctx.mac !== undefined ? ` for ${normalizeMac(ctx.mac)}` : ''}`);
  switch (spec.kind) {
    case 'menu': renderMenu(w, spec); break;
    case 'kernel': renderKernel(w, spec); w.failure(); break;
    case 'sanboot': renderSanboot(w, spec); w.failure(); break;
    case 'sanhook': renderSanhook(w, spec); w.failure(); break;
    case 'wimboot': renderWimboot(w, spec); w.failure(); break;
    case 'chain': renderChain(w, spec); w.failure(); break;
    case 'local': renderLocal(w, spec.biosSanboot === true, 'nb_local'); break;
    case 'retry': renderRetry(w, spec); break;
    default: {
      const kind = (spec as { kind?: unknown }).kind;
      throw new NetbootError('validation', `unknown iPXE script kind "${String(kind)}"`, { field: 'kind' });
    }
  }
  const script = w.text();
  assertValidIpxeScript(script, `${spec.kind} script`);
  return { script, containsSecret: w.secret };
}

// ---------------------------------------------------------------------------------------------

class ScriptWriter {
  readonly lines: string[] = [];
  secret = false;
  readonly base: string;
  readonly paths: IpxePaths;
  readonly onFailure: IpxeFailure;

  constructor(ctx: IpxeContext) {
    this.base = safeUrl(ctx.baseUrl, 'baseUrl').replace(/\/+$/, '');
    if (this.base.includes('?')) unsafe('baseUrl', 'must not contain a query string');
    this.paths = { ...DEFAULT_IPXE_PATHS, ...(ctx.paths ?? {}) };
    for (const [k, v] of Object.entries(this.paths)) {
      const plain = typeof v === 'string' && k === 'profile' ? v.replace('{id}', '') : v;
      if (typeof plain !== 'string' || !/^\/[A-Za-z0-9._/-]*$/.test(plain) || plain.includes('..')) {
        unsafe(`paths.${k}`, 'must be an absolute path of letters, digits and "._/-" (profile: with one "{id}")');
      }
    }
    const f = ctx.onFailure ?? 'exit';
    if (!['exit', 'shell', 'reboot', 'menu'].includes(f)) unsafe('onFailure', `"${String(f)}" is not exit, shell, reboot or menu`);
    this.onFailure = f;
  }

  line(s = ''): void {
    this.lines.push(s);
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }

  /** A URL for our own endpoint plus the identity query the renderer adds itself. */
  own(path: string): string {
    return `${this.base}${path}?${IDENTITY_QUERY}`;
  }

  /** An absolute URL, or a path resolved under baseUrl. */
  resolve(value: unknown, field: string): string {
    if (typeof value === 'string' && value.startsWith('/')) {
      safeUrl(`${this.base}${value}`, field);
      if (value.includes('..')) unsafe(field, 'path contains ".."');
      return `${this.base}${value}`;
    }
    return safeUrl(value, field);
  }

  echo(title: string | undefined, field: string, prefix = 'Booting'): void {
    if (title !== undefined) this.line(`echo netboot: ${prefix} ${safeLabel(title, field)}`);
  }

  /** The `:nb_failed` stanza every `|| goto nb_failed` lands on. */
  failure(): void {
    this.line();
    this.line(':nb_failed');
    switch (this.onFailure) {
      case 'exit':
        this.line('echo netboot: boot failed, returning to the firmware in 10 seconds');
        this.line('sleep 10');
        this.line('exit 1');
        break;
      case 'shell':
        this.line('echo netboot: boot failed, opening the iPXE shell');
        this.line('shell');
        break;
      case 'reboot':
        this.line('echo netboot: boot failed, rebooting in 10 seconds');
        this.line('sleep 10');
        this.line('reboot');
        break;
      case 'menu':
        this.line('echo netboot: boot failed, loading the boot menu in 10 seconds');
        this.line('sleep 10');
        this.line(`chain --autofree --replace ${this.own(this.paths.menu)} || exit 1`);
        break;
    }
  }

  setCredentials(chap: ChapCredentials | undefined, initiatorIqn: string | undefined, field: string): void {
    if (initiatorIqn !== undefined) this.line(`set initiator-iqn ${safeIqn(initiatorIqn, `${field}.initiatorIqn`)}`);
    if (chap === undefined) return;
    this.line(`set username ${safeToken(chap.username, `${field}.chap.username`)}`);
    this.line(`set password ${safeSecret(chap.password, `${field}.chap.password`)}`);
    this.secret = true;
    if (chap.reverseUsername !== undefined || chap.reversePassword !== undefined) {
      this.line(`set reverse-username ${safeToken(chap.reverseUsername, `${field}.chap.reverseUsername`)}`);
      this.line(`set reverse-password ${safeSecret(chap.reversePassword, `${field}.chap.reversePassword`)}`);
    }
  }
}

/** The identity the client reports on every request to us; expanded by iPXE, never by us. */
export const IDENTITY_QUERY = 'mac=${netX/mac:hexhyp}&uuid=${uuid}&arch=${buildarch}&platform=${platform}&hostname=${hostname:uristring}';

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const FIXED_IDS = ['register', 'local', 'shell', 'retry'] as const;

function isGap(x: MenuEntry | MenuGap): x is MenuGap {
  return (x as MenuGap).gap !== undefined;
}

function renderMenu(w: ScriptWriter, spec: MenuSpec): void {
  const title = safeLabel(spec.title, 'menu.title');
  const fixed = {
    register: spec.register !== false,
    local: spec.localBoot !== false,
    shell: spec.shell !== false,
    retry: spec.retry !== false,
  };
  const usedKeys = new Set<string>();
  const labelOf = new Map<string, string>();
  const body: string[] = [];
  const stanzas: string[][] = [];

  spec.items.forEach((item, i) => {
    if (isGap(item)) {
      body.push(item.gap === true || item.gap === '' ? 'item --gap' : `item --gap ${safeLabel(item.gap, `menu.items[${i}].gap`)}`);
      return;
    }
    const field = `menu.items[${i}]`;
    if (typeof item.id !== 'string' || !ID_RE.test(item.id)) unsafe(`${field}.id`, 'must be letters, digits and "._-", starting with a letter or digit');
    if (labelOf.has(item.id)) throw new NetbootError('validation', `menu item id "${item.id}" is used twice`, { field: `${field}.id` });
    const label = `nb_item_${i}`;
    labelOf.set(item.id, label);
    const text = safeLabel(item.label, `${field}.label`);
    const key = menuKey(item.key, `${field}.key`, usedKeys);
    body.push(`item${key} ${label} ${text}`);
    const url = item.url !== undefined ? w.resolve(item.url, `${field}.url`) : w.own(w.paths.profile.replace('{id}', item.id));
    stanzas.push([
      `:${label}`,
      `echo netboot: Booting ${text}`,
      `chain --autofree --replace ${url} || goto nb_failed`,
    ]);
  });
  if (labelOf.size === 0 && !Object.values(fixed).some(Boolean)) {
    throw new NetbootError('validation', 'menu has no items', { field: 'menu.items' });
  }

  const fixedLines: string[] = [];
  const fixedText: Record<(typeof FIXED_IDS)[number], [string, string]> = {
    register: ['r', 'Register this device'],
    local: ['l', 'Boot from the local disk'],
    shell: ['s', 'iPXE shell'],
    retry: ['m', 'Reload this menu'],
  };
  for (const id of FIXED_IDS) {
    if (!fixed[id]) continue;
    const [k, text] = fixedText[id];
    const key = usedKeys.has(k) ? '' : ` --key ${k}`;
    usedKeys.add(k);
    fixedLines.push(`item${key} nb_${id} ${text}`);
    if (!labelOf.has(id)) labelOf.set(id, `nb_${id}`);
  }

  let defaultLabel: string | undefined;
  if (spec.defaultId !== undefined) {
    defaultLabel = labelOf.get(spec.defaultId);
    if (defaultLabel === undefined) throw new NetbootError('validation', `menu default "${String(spec.defaultId)}" is not an item`, { field: 'menu.defaultId' });
  }
  let timeout = '';
  if (spec.timeoutMs !== undefined && spec.timeoutMs !== 0) {
    if (!Number.isInteger(spec.timeoutMs) || spec.timeoutMs < 0 || spec.timeoutMs > 3_600_000) unsafe('menu.timeoutMs', 'must be an integer number of milliseconds, 0-3600000');
    timeout = ` --timeout ${spec.timeoutMs}`;
    defaultLabel ??= [...labelOf.values()][0];
  }

  w.line();
  w.line(':nb_menu');
  w.line(`menu ${title}`);
  for (const l of body) w.line(l);
  if (fixedLines.length > 0) {
    if (body.length > 0) w.line('item --gap');
    for (const l of fixedLines) w.line(l);
  }
  w.line(`choose${defaultLabel !== undefined ? ` --default ${defaultLabel}` : ''}${timeout} nb_choice && goto \${nb_choice} || goto nb_cancel`);

  for (const s of stanzas) {
    w.line();
    for (const l of s) w.line(l);
  }
  if (fixed.register) {
    w.line();
    w.line(':nb_register');
    w.line('echo netboot: Registering this device');
    w.line(`chain --autofree --replace ${w.own(w.paths.register)} || goto nb_failed`);
  }
  if (fixed.local) {
    w.line();
    renderLocal(w, spec.biosSanboot === true, 'nb_local');
  }
  if (fixed.shell) {
    w.line();
    w.line(':nb_shell');
    w.line('echo netboot: Type "exit" to return to the menu');
    w.line('shell');
    w.line('goto nb_menu');
  }
  if (fixed.retry) {
    w.line();
    w.line(':nb_retry');
    w.line(`chain --autofree --replace ${w.own(w.paths.menu)} || goto nb_failed`);
  }
  w.line();
  w.line(':nb_cancel');
  w.line('echo netboot: Menu cancelled, type "exit" to return to it');
  w.line('shell');
  w.line('goto nb_menu');
  w.line();
  w.line(':nb_failed');
  w.line('echo netboot: That did not work, back to the menu in 5 seconds');
  w.line('sleep 5');
  w.line('goto nb_menu');
}

function menuKey(key: unknown, field: string, used: Set<string>): string {
  if (key === undefined) return '';
  if (typeof key !== 'string' || !/^[A-Za-z0-9]$/.test(key)) unsafe(field, 'must be a single letter or digit');
  if (used.has(key)) throw new NetbootError('validation', `menu key "${key}" is used twice`, { field });
  used.add(key);
  return ` --key ${key}`;
}

function kernelLines(w: ScriptWriter, spec: KernelSpec, field: string): void {
  w.echo(spec.title, `${field}.title`);
  const kernel = w.resolve(spec.kernel, `${field}.kernel`);
  const initrds = (spec.initrds ?? []).map((i, n) => {
    const f = `${field}.initrds[${n}]`;
    const d: InitrdSpec = typeof i === 'string' ? { url: i } : i;
    return { url: w.resolve(d.url, `${f}.url`), name: d.name === undefined ? undefined : imageName(d.name, `${f}.name`) };
  });
  const args = kernelArgList(mergeKernelParams(spec.params, spec.override), `${field}.params`);
  if (spec.initrdArg === true) for (const i of initrds) if (i.name !== undefined) args.push(`initrd=${i.name}`);
  w.line(`kernel ${kernel}${args.length > 0 ? ` ${args.join(' ')}` : ''} || goto nb_failed`);
  for (const i of initrds) {
    w.line(`initrd${i.name !== undefined ? ` --name ${i.name}` : ''} ${i.url} || goto nb_failed`);
  }
  w.line('boot || goto nb_failed');
}

/** A flat image name (`initrd.img`, `BCD`): no slashes, since wimboot wants flat names. */
function imageName(value: unknown, field: string): string {
  const s = safeToken(value, field);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(s) || s === '.' || s === '..') unsafe(field, 'must be a flat file name (letters, digits, "._-")');
  return s;
}

function renderKernel(w: ScriptWriter, spec: KernelSpec): void {
  kernelLines(w, spec, 'kernel');
}

function driveNumber(drive: unknown, field: string): string {
  if (!Number.isInteger(drive) || (drive as number) < 0 || (drive as number) > 0xff) unsafe(field, 'must be a drive number 0-255 (e.g. 0x80)');
  return `0x${(drive as number).toString(16)}`;
}

function renderSanboot(w: ScriptWriter, spec: SanbootSpec): void {
  w.echo(spec.title, 'sanboot.title');
  const uri = iscsiUri(spec.target, 'sanboot.target');
  w.setCredentials(spec.chap, spec.initiatorIqn, 'sanboot');
  const opts: string[] = [];
  if (spec.drive !== undefined) opts.push(`--drive ${driveNumber(spec.drive, 'sanboot.drive')}`);
  if (spec.filename !== undefined) opts.push(`--filename ${safeEfiPath(spec.filename, 'sanboot.filename')}`);
  if (spec.keep === true) opts.push('--keep');
  if (spec.noDescribe === true) opts.push('--no-describe');
  w.line(`sanboot ${[...opts, uri].join(' ')} || goto nb_failed`);
}

function renderSanhook(w: ScriptWriter, spec: SanhookSpec): void {
  w.echo(spec.title, 'sanhook.title', 'Installing');
  const uri = iscsiUri(spec.target, 'sanhook.target');
  w.setCredentials(spec.chap, spec.initiatorIqn, 'sanhook');
  w.line('set keep-san 1');
  w.line(`sanhook --drive ${driveNumber(spec.drive ?? 0x80, 'sanhook.drive')} ${uri} || goto nb_failed`);
  const then = spec.then;
  switch (then?.kind) {
    case 'kernel': kernelLines(w, then, 'sanhook.then'); break;
    case 'wimboot': wimbootLines(w, then, 'sanhook.then'); break;
    case 'chain': chainLines(w, then, 'sanhook.then'); break;
    default: throw new NetbootError('validation', 'sanhook.then must be a kernel, wimboot or chain spec', { field: 'sanhook.then' });
  }
}

function wimbootLines(w: ScriptWriter, spec: WimbootSpec, field: string): void {
  w.echo(spec.title, `${field}.title`);
  const o = spec.options ?? {};
  const args: string[] = [];
  for (const flag of ['gui', 'pause', 'rawbcd', 'rawwim', 'linear', 'quiet'] as const) if (o[flag] === true) args.push(flag);
  if (o.index !== undefined) {
    if (!Number.isInteger(o.index) || o.index < 1 || o.index > 999) unsafe(`${field}.options.index`, 'must be an image index 1-999');
    args.push(`index=${o.index}`);
  }
  w.line(`kernel ${w.resolve(spec.wimboot, `${field}.wimboot`)}${args.length ? ` ${args.join(' ')}` : ''} || goto nb_failed`);
  const files: Array<[string, string]> = [
    [w.resolve(spec.bcd, `${field}.bcd`), 'BCD'],
    [w.resolve(spec.bootSdi, `${field}.bootSdi`), 'boot.sdi'],
    [w.resolve(spec.bootWim, `${field}.bootWim`), 'boot.wim'],
  ];
  if (spec.inject !== false) {
    files.push([w.own(w.paths.winpeStartnet), 'startnet.cmd']);
    files.push([w.own(w.paths.winpeshl), 'winpeshl.ini']);
  }
  (spec.files ?? []).forEach((f, i) => files.push([w.resolve(f.url, `${field}.files[${i}].url`), imageName(f.name, `${field}.files[${i}].name`)]));
  const seen = new Set<string>();
  for (const [url, name] of files) {
    if (seen.has(name.toLowerCase())) throw new NetbootError('validation', `wimboot file "${name}" is given twice`, { field: `${field}.files` });
    seen.add(name.toLowerCase());
    w.line(`initrd --name ${name} ${url} ${name} || goto nb_failed`);
  }
  w.line('boot || goto nb_failed');
}

function renderWimboot(w: ScriptWriter, spec: WimbootSpec): void {
  wimbootLines(w, spec, 'wimboot');
}

function chainLines(w: ScriptWriter, spec: ChainSpec, field: string): void {
  w.echo(spec.title, `${field}.title`, 'Chaining');
  let url = w.resolve(spec.url, `${field}.url`);
  if (spec.identity === true) url += `${url.includes('?') ? '&' : '?'}${IDENTITY_QUERY}`;
  w.line(`chain --autofree --replace ${url} || goto nb_failed`);
}

function renderChain(w: ScriptWriter, spec: ChainSpec): void {
  chainLines(w, spec, 'chain');
}

function renderLocal(w: ScriptWriter, biosSanboot: boolean, label: string): void {
  w.line(`:${label}`);
  w.line('echo netboot: Booting from the local disk');
  if (biosSanboot) {
    w.line(`iseq \${platform} pcbios && goto ${label}_bios || goto ${label}_exit`);
    w.line(`:${label}_bios`);
    w.line(`sanboot --no-describe --drive 0x80 || goto ${label}_exit`);
    w.line(`:${label}_exit`);
  }
  w.line('exit');
}

function renderRetry(w: ScriptWriter, spec: RetrySpec): void {
  const attempts = spec.attempts ?? 10;
  const delay = spec.delaySeconds ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 100) unsafe('retry.attempts', 'must be 1-100');
  if (!Number.isInteger(delay) || delay < 1 || delay > 60) unsafe('retry.delaySeconds', 'must be 1-60');
  const fallback = spec.fallback ?? 'exit';
  if (!['exit', 'shell', 'reboot'].includes(fallback)) unsafe('retry.fallback', 'must be exit, shell or reboot');
  w.line('# The main DHCP server can answer before the proxyDHCP server, leaving the boot file name empty:');
  w.line(`# ask again until the boot file name is set, at most ${attempts} times.`);
  w.line('set nb_try:int32 0');
  w.line(':nb_retry');
  w.line('inc nb_try');
  w.line('dhcp || goto nb_retry_wait');
  w.line('isset ${filename} && chain --autofree --replace ${filename} || goto nb_retry_wait');
  w.line(':nb_retry_wait');
  w.line(`iseq \${nb_try:int32} ${attempts} && goto nb_give_up || sleep ${delay}`);
  w.line('goto nb_retry');
  w.line(':nb_give_up');
  w.line(`echo netboot: no boot file name after ${attempts} DHCP attempts`);
  if (fallback === 'shell') w.line('shell');
  else if (fallback === 'reboot') { w.line('sleep 10'); w.line('reboot'); }
  else w.line('exit 1');
}
