import { NetbootError } from '../core/errors';
import { macOfPathSegment, macToHyphens, normalizeMac, type Mac } from '../core/mac';
import { kernelArgList, mergeKernelParams, safeHostOrIp, safeIqn, safeSecret, unsafe, type KernelParams } from './ipxe-safe';

/**
 * Raspberry Pi network-boot files (protocols.md section 1).
 *
 * `config.txt` is read by the firmware from the TFTP folder; `kernel=` names a file in that folder
 * (never a URL) and lines longer than 98 characters are cut off, so a longer line is an error here.
 * `cmdline.txt` is one line for the kernel; mounting a network root is the initramfs's job.
 */
export type PiModel = 3 | 4 | 5;

export interface PiDevice {
  model: PiModel;
  /** 8 or 16 hex digits as the bootloader reports it. */
  serial?: string;
  mac?: string;
  hostname?: string;
}

export interface PiConfigOptions {
  /** Pi 3 only: `arm64` (default, `kernel8.img`) or `armhf` (`kernel7.img`). Pi 4/5 are always arm64 here. */
  arch?: 'arm64' | 'armhf';
  /** Kernel file name in the TFTP folder; default per model. */
  kernel?: string;
  /** Initramfs file name (`initramfs <file> followkernel`); `null` for none. Default `initrd.img`. */
  initramfs?: string | null;
  /** `enable_uart=1` (default true). */
  enableUart?: boolean;
  /** `dtoverlay=` lines, e.g. `disable-bt` or `vc4-kms-v3d,cma-512`. */
  dtoverlays?: ReadonlyArray<string>;
  /** `dtparam=` lines, e.g. `audio=on`. */
  dtparams?: ReadonlyArray<string>;
  /** More `key=value` lines (allow-listed: letters, digits, `._,=:/-`). */
  extra?: ReadonlyArray<string>;
}

/** The longest `config.txt` line the firmware reads in full. */
export const PI_CONFIG_MAX_LINE = 98;

const FILE_RE = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const CONFIG_VALUE_RE = /^[A-Za-z0-9._,=:/+-]+$/;

function piField(field: string, why: string): never {
  return unsafe(field, why);
}

function fileName(value: unknown, field: string): string {
  if (typeof value !== 'string' || !FILE_RE.test(value) || value.split('/').some((s) => s === '..' || s === '.')) {
    piField(field, 'must be a relative file name (letters, digits, "._-", "/" between parts, no "..")');
  }
  return value;
}

function configValue(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || !CONFIG_VALUE_RE.test(value)) {
    piField(field, 'may only contain letters, digits and "._,=:/+-" (no spaces, "#" or newlines)');
  }
  return value;
}

function model(device: PiDevice): PiModel {
  if (device.model !== 3 && device.model !== 4 && device.model !== 5) {
    throw new NetbootError('validation', `Raspberry Pi model ${String(device.model)} is not 3, 4 or 5`, { field: 'model' });
  }
  return device.model;
}

/** Default kernel file per model (Raspberry Pi OS names). */
export function piKernelFile(m: PiModel, arch: 'arm64' | 'armhf' = 'arm64'): string {
  if (m === 5) return 'kernel_2712.img';
  if (m === 3 && arch === 'armhf') return 'kernel7.img';
  return 'kernel8.img';
}

export function renderPiConfig(device: PiDevice, opts: PiConfigOptions = {}): string {
  const m = model(device);
  const arch = opts.arch ?? 'arm64';
  if (arch !== 'arm64' && arch !== 'armhf') piField('arch', 'must be arm64 or armhf');
  if (arch === 'armhf' && m !== 3) piField('arch', `armhf is only offered for the Pi 3 here; the Pi ${m} boots arm64`);
  const lines: string[] = [];
  const who = device.serial !== undefined ? ` serial ${piSerial(device.serial)}` : device.mac !== undefined ? ` ${normalizeMac(device.mac)}` : '';
  lines.push(`# netboot: generated for Raspberry Pi ${m}${who}`);
  lines.push('[all]');
  if (arch === 'arm64') lines.push('arm_64bit=1');
  lines.push(`kernel=${opts.kernel !== undefined ? fileName(opts.kernel, 'kernel') : piKernelFile(m, arch)}`);
  const initramfs = opts.initramfs === undefined ? 'initrd.img' : opts.initramfs;
  if (initramfs !== null) lines.push(`initramfs ${fileName(initramfs, 'initramfs')} followkernel`);
  if (opts.enableUart !== false) lines.push('enable_uart=1');
  (opts.dtoverlays ?? []).forEach((o, i) => lines.push(`dtoverlay=${configValue(o, `dtoverlays[${i}]`)}`));
  (opts.dtparams ?? []).forEach((p, i) => lines.push(`dtparam=${configValue(p, `dtparams[${i}]`)}`));
  (opts.extra ?? []).forEach((e, i) => {
    const v = configValue(e, `extra[${i}]`);
    if (!/^[A-Za-z0-9_]+=/.test(v)) piField(`extra[${i}]`, 'must be a key=value line');
    lines.push(v);
  });
  lines.forEach((l, i) => {
    if (l.length > PI_CONFIG_MAX_LINE) {
      throw new NetbootError('validation', `config.txt line ${i + 1} is ${l.length} characters (the firmware reads at most ${PI_CONFIG_MAX_LINE}): "${l.slice(0, 40)}…"`, { field: 'config.txt', line: i + 1, text: l });
    }
  });
  return `${lines.join('\n')}\n`;
}

/** Where the root file system comes from. */
export type PiRoot =
  | { type: 'nfs'; server: string; path: string; version?: 3 | 4; options?: ReadonlyArray<string> }
  | {
      type: 'iscsi';
      /** Our initiator IQN (`iscsi_initiator=`). */
      initiator: string;
      targetIqn: string;
      targetIp: string;
      port?: number;
      /** `root=UUID=<uuid>` (preferred) or `rootDevice` (e.g. `/dev/sda2`). */
      rootUuid?: string;
      rootDevice?: string;
      username?: string;
      password?: string;
    }
  | { type: 'nbd'; server: string; export: string; port?: number; rootDevice?: string }
  | { type: 'initramfs'; params?: KernelParams };

export interface PiCmdlineOptions {
  /** Default `console=serial0,115200 console=tty1`; `[]` for none. */
  consoles?: ReadonlyArray<string>;
  /** More kernel parameters; a `null` value removes one we generated. */
  params?: KernelParams;
}

export interface RenderedPiCmdline {
  text: string;
  containsSecret: boolean;
}

/** `cmdline.txt`: one line. */
export function renderPiCmdline(device: PiDevice, root: PiRoot, opts: PiCmdlineOptions = {}): string {
  return renderPiCmdlineResult(device, root, opts).text;
}

export function renderPiCmdlineResult(device: PiDevice, root: PiRoot, opts: PiCmdlineOptions = {}): RenderedPiCmdline {
  model(device);
  const consoles = opts.consoles ?? ['serial0,115200', 'tty1'];
  const base: KernelParams = {};
  if (consoles.length > 0) base.console = consoles.map((c, i) => configValue(c, `consoles[${i}]`));
  let containsSecret = false;
  switch (root?.type) {
    case 'nfs': {
      const server = safeHostOrIp(root.server, 'root.server');
      if (typeof root.path !== 'string' || !/^\/[A-Za-z0-9._/-]*$/.test(root.path) || root.path.includes('..')) piField('root.path', 'must be an absolute path of letters, digits and "._/-"');
      const version = root.version ?? 3;
      if (version !== 3 && version !== 4) piField('root.version', 'must be 3 or 4');
      const options = [`vers=${version}`, ...(root.options ?? []).map((o, i) => configValue(o, `root.options[${i}]`))];
      Object.assign(base, { root: '/dev/nfs', nfsroot: `${server}:${root.path},${options.join(',')}`, rw: '', ip: 'dhcp', rootwait: '' });
      break;
    }
    case 'iscsi': {
      const port = root.port ?? 3260;
      if (!Number.isInteger(port) || port < 1 || port > 65535) piField('root.port', 'must be 1-65535');
      Object.assign(base, {
        ip: 'dhcp',
        iscsi_initiator: safeIqn(root.initiator, 'root.initiator'),
        iscsi_target_name: safeIqn(root.targetIqn, 'root.targetIqn'),
        iscsi_target_ip: safeHostOrIp(root.targetIp, 'root.targetIp'),
        iscsi_target_port: String(port),
      });
      if (root.username !== undefined || root.password !== undefined) {
        base.iscsi_username = safeSecret(root.username, 'root.username');
        base.iscsi_password = safeSecret(root.password, 'root.password');
        containsSecret = true;
      }
      base.root = rootSpec(root.rootUuid, root.rootDevice);
      base.rootwait = '';
      break;
    }
    case 'nbd': {
      const server = safeHostOrIp(root.server, 'root.server');
      if (typeof root.export !== 'string' || !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(root.export)) piField('root.export', 'must be an export name of letters, digits and "._-/"');
      let host = server.includes(':') ? `[${server}]` : server;
      if (root.port !== undefined && root.port !== 10809) {
        if (!Number.isInteger(root.port) || root.port < 1 || root.port > 65535) piField('root.port', 'must be 1-65535');
        host += `:${root.port}`;
      }
      const dev = root.rootDevice ?? '/dev/nbd0p2';
      if (!/^\/dev\/nbd\d+(p\d+)?$/.test(dev)) piField('root.rootDevice', 'must be /dev/nbdN or /dev/nbdNpM');
      Object.assign(base, { ip: 'dhcp', nbdroot: `${host}/${root.export}`, root: dev, rootwait: '' });
      break;
    }
    case 'initramfs':
      Object.assign(base, mergeKernelParams(undefined, root.params));
      break;
    default:
      throw new NetbootError('validation', `root type "${String((root as { type?: unknown } | undefined)?.type)}" is not nfs, iscsi, nbd or initramfs`, { field: 'root.type' });
  }
  const args = kernelArgList(mergeKernelParams(base, opts.params), 'cmdline');
  const text = `${args.join(' ')}\n`;
  if (text.length > 4096) throw new NetbootError('validation', `cmdline.txt is ${text.length} characters (limit 4096)`, { field: 'cmdline.txt' });
  return { text, containsSecret };
}

function rootSpec(uuid: unknown, dev: unknown): string {
  if (uuid !== undefined) {
    if (typeof uuid !== 'string' || !/^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{4}-[0-9a-fA-F]{4}|[0-9a-fA-F]{8}-[0-9]{2})$/.test(uuid)) {
      piField('root.rootUuid', 'must be a file system UUID (or a FAT serial XXXX-XXXX, or a PARTUUID-style xxxxxxxx-NN)');
    }
    return `UUID=${uuid.toLowerCase()}`;
  }
  if (dev !== undefined) {
    if (typeof dev !== 'string' || !/^\/dev\/[a-z0-9]+$/.test(dev)) piField('root.rootDevice', 'must be a device like /dev/sda2');
    return dev;
  }
  return piField('root.rootUuid', 'iSCSI root needs rootUuid or rootDevice');
}

// ---------------------------------------------------------------------------------------------
// TFTP folder mapping

/** The 8-hex-digit serial the bootloader uses as TFTP prefix: low 8 digits, lowercase. */
export function piSerial(serial: unknown): string {
  if (typeof serial !== 'string' || !/^([0-9a-fA-F]{8}|[0-9a-fA-F]{16})$/.test(serial)) {
    throw new NetbootError('validation', `Raspberry Pi serial "${String(serial)}" must be 8 or 16 hex digits`, { field: 'serial' });
  }
  return serial.slice(-8).toLowerCase();
}

export type PiPrefixMode = 'serial' | 'mac' | 'fixed';

/**
 * The folder the Pi asks for (with the trailing `/`): `serial` → `abcd1234/` (a `10000000` high
 * half is dropped, so 16 digits become their low 8), `mac` → `dc-a6-32-01-36-c2/` (Pi 4/5
 * `TFTP_PREFIX=2`), `fixed` → `TFTP_PREFIX_STR` (at most 32 characters).
 */
export function piTftpPrefix(device: Pick<PiDevice, 'serial' | 'mac'> & { model?: PiModel }, mode: PiPrefixMode, fixed?: string): string {
  switch (mode) {
    case 'serial':
      return `${piSerial(device.serial)}/`;
    case 'mac':
      if (device.model === 3) throw new NetbootError('validation', 'the Pi 3 always uses its serial number as TFTP prefix', { field: 'mode' });
      return `${macToHyphens(normalizeMac(device.mac))}/`;
    case 'fixed':
      if (device.model === 3) throw new NetbootError('validation', 'the Pi 3 always uses its serial number as TFTP prefix', { field: 'mode' });
      if (typeof fixed !== 'string' || fixed.length === 0 || fixed.length > 32 || !/^[A-Za-z0-9._-]+$/.test(fixed) || fixed === '.' || fixed === '..') {
        throw new NetbootError('validation', `fixed TFTP prefix "${String(fixed)}" must be 1-32 letters, digits or "._-"`, { field: 'fixed' });
      }
      return `${fixed}/`;
    default:
      throw new NetbootError('validation', `TFTP prefix mode "${String(mode)}" is not serial, mac or fixed`, { field: 'mode' });
  }
}

/** Files generated per device; everything else under a prefix comes from the shared firmware folder. */
export const PI_VIRTUAL_FILES: ReadonlySet<string> = new Set(['config.txt', 'cmdline.txt']);

export interface ParsedPiTftpPath {
  /** How the path was prefixed; `none` for a plain shared file such as `bootcode.bin`. */
  kind: 'serial' | 'mac' | 'fixed' | 'none';
  /** The prefix folder without the slash (`abcd1234`), or `''`. */
  prefix: string;
  serial?: string;
  mac?: Mac;
  /** The path below the prefix (`config.txt`, `overlays/disable-bt.dtbo`). */
  rest: string;
  /** True when `rest` is a per-device generated file (config.txt, cmdline.txt) and a prefix is present. */
  virtual: boolean;
}

/**
 * Splits a Pi TFTP request into its device prefix and the file, so a server can serve
 * `abcd1234/config.txt` from the renderer (virtual) and `abcd1234/start4.elf` from one shared
 * firmware folder. Unsafe paths (`..`, backslashes, NUL, empty parts) are a validation error.
 */
export function parsePiTftpPath(requested: string, opts: { fixedPrefixes?: ReadonlyArray<string> } = {}): ParsedPiTftpPath {
  if (typeof requested !== 'string' || requested.length === 0 || requested.length > 255) {
    throw new NetbootError('validation', 'TFTP path must be 1-255 characters', { field: 'path' });
  }
  const p = requested.replace(/^\/+/, '');
  if (/[\0\\]/.test(p) || /[^\x21-\x7e]/.test(p) || p.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new NetbootError('validation', `unsafe TFTP path "${requested.replace(/[^\x20-\x7e]/g, '?')}"`, { field: 'path' });
  }
  const slash = p.indexOf('/');
  if (slash < 0) return { kind: 'none', prefix: '', rest: p, virtual: false };
  const first = p.slice(0, slash);
  const rest = p.slice(slash + 1);
  const virtual = PI_VIRTUAL_FILES.has(rest);
  if (/^[0-9a-f]{8}$/.test(first)) return { kind: 'serial', prefix: first, serial: first, rest, virtual };
  // the Pi asks for its own folder with a dashed MAC (TFTP_PREFIX=2)
  const mac = first.includes('-') ? macOfPathSegment(first) : undefined;
  if (mac) return { kind: 'mac', prefix: first, mac, rest, virtual };
  if ((opts.fixedPrefixes ?? []).includes(first)) return { kind: 'fixed', prefix: first, rest, virtual };
  return { kind: 'none', prefix: '', rest: p, virtual: false };
}
