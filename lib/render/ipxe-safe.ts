import { NetbootError } from '../core/errors';

/**
 * Allow-list sanitiser for text that ends up inside an iPXE script (protocols.md 2.4).
 *
 * iPXE has no quoting and no escaping: a line is split on whitespace, `#` at the start of a token
 * begins a comment, standalone `&&`, `||` and `;` separate commands, a trailing `\` continues the
 * line, and `${...}` is expanded (and the result rescanned) in every token. So a value is never
 * escaped here: it either matches the allow-list for its kind and is returned unchanged, or the
 * call throws `NetbootError('unsafe_value', 'field "<name>": <why>', { field })`.
 */
export type SafeKind = 'token' | 'url' | 'label' | 'kernelArg' | 'iqn' | 'hostOrIp' | 'secret' | 'efiPath';

/** Characters of a plain token: no whitespace, `$ { } # ; & | \`, quotes, `<>`, control or non-ASCII. */
const TOKEN_RE = /^[A-Za-z0-9._:/=,+@%-]+$/;
/** URL characters: token characters plus `? & ~ [ ] !` and `*` (never whitespace, `$`, braces, `#`, quotes, `\`). */
const URL_CHARS_RE = /^[A-Za-z0-9._:/=,+@%?&~[\]!*-]+$/;
/**
 * A kernel argument's value: URL characters plus `;`. iPXE separates commands only with a `;` that
 * is a token of its own, and a `key=value` argument never is one, so `ds=nocloud-net;s=http://…/`
 * (cloud-init's seed) reaches the kernel as written (protocols.md 2.4).
 */
const KERNEL_VALUE_RE = /^[A-Za-z0-9._:/=,+@%?&~[\]!*;-]+$/;
/** Kernel parameter names as the store allows them (`talos.config`, `rd.break`, `console`). */
const KERNEL_KEY_RE = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}$/;
/** A DNS host name (RFC 1123 labels). */
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** Characters that iPXE gives a meaning to, with a short name for the error message. */
const SPECIALS: ReadonlyArray<[string, string]> = [
  ['\n', 'a newline'], ['\r', 'a carriage return'], ['\t', 'a tab'], ['\0', 'a NUL byte'], ['${', '"${" (setting expansion)'],
  ['$', '"$"'], ['{', '"{"'], ['}', '"}"'], ['#', '"#" (comment)'], ['&&', '"&&" (command separator)'],
  ['||', '"||" (command separator)'], [';', '";" (command separator)'], ['&', '"&"'], ['|', '"|"'],
  ['\\', 'a backslash (line continuation)'], ['"', 'a double quote'], ["'", 'a single quote'], ['`', 'a backquote'],
  ['<', '"<"'], ['>', '">"'],
];

/** Throws the `unsafe_value` error for one field. */
export function unsafe(field: string, why: string): never {
  throw new NetbootError('unsafe_value', `field "${field}": ${why}`, { field });
}

/** A readable reason why `value` fails: the first dangerous thing found in it. */
function explain(value: string, allowSpace = false): string {
  for (const [needle, name] of SPECIALS) {
    if (value.includes(needle)) return `contains ${name}`;
  }
  for (const ch of value) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c === 0x7f) return `contains control character 0x${c.toString(16).padStart(2, '0')}`;
    if (c > 0x7e) return `contains non-ASCII character U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
    if (ch === ' ' && !allowSpace) return 'contains a space (iPXE splits arguments on whitespace)';
  }
  return 'contains a character outside the allow-list';
}

function asString(value: unknown, field: string): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string') unsafe(field, `expected a string, got ${value === null ? 'null' : typeof value}`);
  if (value.length === 0) unsafe(field, 'is empty');
  if (value.length > 4096) unsafe(field, `is ${value.length} characters long (limit 4096)`);
  return value;
}

/**
 * A single script argument: `[A-Za-z0-9._:/=,+@%-]`, not starting with `-` (it would be read as an
 * option by the iPXE command).
 */
export function safeToken(value: unknown, field: string): string {
  const s = asString(value, field);
  if (!TOKEN_RE.test(s)) unsafe(field, explain(s));
  if (s.startsWith('-')) unsafe(field, 'must not start with "-" (iPXE would read it as an option)');
  return s;
}

/**
 * A secret (CHAP password, iSCSI password): same rules as a token. Error messages never quote the
 * value. Callers must mark the output as containing a secret.
 */
export function safeSecret(value: unknown, field: string): string {
  return safeToken(value, field);
}

/**
 * An absolute `http://`, `https://` or `tftp://` URL as one token. `?` and `&` are allowed (a bare
 * `&` inside a token is harmless), but never `&&`, `${`, whitespace, `#`, quotes or backslashes.
 * Settings such as `${netX/mac:hexhyp}` are added by the renderer itself, never taken from input.
 */
export function safeUrl(value: unknown, field: string): string {
  const s = asString(value, field);
  const m = /^(https?|tftp):\/\/([^/?]+)(.*)$/i.exec(s);
  if (!m) {
    if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(s) && !/^(https?|tftp):\/\//i.test(s)) {
      unsafe(field, 'URL scheme must be http, https or tftp');
    }
    if (!URL_CHARS_RE.test(s)) unsafe(field, explain(s));
    unsafe(field, 'must be an absolute http://, https:// or tftp:// URL');
  }
  if (!URL_CHARS_RE.test(s)) unsafe(field, explain(s));
  if (s.includes('&&')) unsafe(field, 'contains "&&" (command separator)');
  const authority = m[2];
  const hostPort = authority.includes('@') ? authority.slice(authority.lastIndexOf('@') + 1) : authority;
  const hp = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(hostPort);
  if (!hp) unsafe(field, `URL host "${hostPort}" is not a host name or IP address with an optional port`);
  safeHostOrIp(hp[1].startsWith('[') ? hp[1].slice(1, -1) : hp[1], field);
  if (hp[2] !== undefined && (Number(hp[2]) < 1 || Number(hp[2]) > 65535)) unsafe(field, `URL port ${hp[2]} is out of range`);
  return s;
}

/**
 * Menu text (the last argument of `item` or `menu`): printable ASCII, single spaces between words,
 * at most 80 characters, not starting with `-`. Still no `$ { } # ; & | \`, quotes or `<>`.
 */
export function safeLabel(value: unknown, field: string): string {
  const s = asString(value, field);
  if (!/^[\x20-\x7e]+$/.test(s) || /[${}#;&|\\"'`<>]/.test(s)) unsafe(field, explain(s, true));
  if (s.startsWith(' ') || s.endsWith(' ')) unsafe(field, 'has leading or trailing spaces');
  if (s.includes('  ')) unsafe(field, 'contains consecutive spaces');
  if (s.startsWith('-')) unsafe(field, 'must not start with "-" (iPXE would read it as an option)');
  if (s.length > 80) unsafe(field, `is ${s.length} characters long (limit 80)`);
  return s;
}

/**
 * One kernel argument: `key=value` or a bare `flag`. The key follows the store's parameter-name
 * rule; the value uses URL characters (so `talos.config=http://srv/c?mac=aa-bb` works) and may be
 * empty (`key=`), but never contains whitespace, `$ { } #`, `&&`, `|`, quotes or a backslash; a `;`
 * inside the value is allowed (see KERNEL_VALUE_RE).
 */
export function safeKernelArg(value: unknown, field: string): string {
  const s = asString(value, field);
  const eq = s.indexOf('=');
  const key = eq < 0 ? s : s.slice(0, eq);
  const val = eq < 0 ? '' : s.slice(eq + 1);
  if (!KERNEL_KEY_RE.test(key)) unsafe(field, key.length === 0 ? 'kernel argument has an empty name' : `kernel argument name: ${explain(key)}`);
  if (val.length > 0 && !KERNEL_VALUE_RE.test(val)) unsafe(field, explain(val.replace(/;/g, '')));
  if (val.includes('&&')) unsafe(field, 'contains "&&" (command separator)');
  return s;
}

/**
 * An iSCSI qualified name (RFC 3720 3.2.6): `iqn.YYYY-MM.reversed.domain[:unique]`, or the `eui.`
 * (16 hex digits) and `naa.` (16 or 32 hex digits) forms. Lowercase only, at most 223 bytes.
 */
export function isValidIqn(value: unknown): boolean {
  return typeof value === 'string' && iqnProblem(value) === undefined;
}

function iqnProblem(s: string): string | undefined {
  if (s.length > 223) return `is ${s.length} characters long (limit 223)`;
  if (/^eui\.[0-9A-F]{16}$/i.test(s) || /^naa\.([0-9A-F]{16}|[0-9A-F]{32})$/i.test(s)) return undefined;
  if (!/^[a-z0-9.:-]+$/.test(s)) {
    if (/[A-Z]/.test(s) && /^[A-Za-z0-9.:-]+$/.test(s)) return 'must be lowercase';
    return explain(s);
  }
  const m = /^iqn\.(\d{4})-(\d{2})\.([a-z0-9.-]+)(?::([a-z0-9.:-]+))?$/.exec(s);
  if (!m) return 'is not an IQN: use iqn.YYYY-MM.reversed.domain[:unique] (e.g. iqn.2024-01.local.example:disk1)';
  const month = Number(m[2]);
  if (month < 1 || month > 12) return `has month ${m[2]}, want 01-12`;
  const labels = m[3].split('.');
  if (labels.some((l) => !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(l))) return `naming authority "${m[3]}" is not a reversed domain name`;
  return undefined;
}

export function safeIqn(value: unknown, field: string): string {
  const s = asString(value, field);
  const why = iqnProblem(s);
  if (why !== undefined) unsafe(field, why);
  return s;
}

/** A DNS host name, a dotted IPv4 address or an IPv6 address (without brackets). */
export function safeHostOrIp(value: unknown, field: string): string {
  const s = asString(value, field);
  if (IPV4_RE.test(s)) return s;
  // A name whose last label is all digits is a mistyped IPv4 address, not a host name.
  if (HOSTNAME_RE.test(s) && !/(^|\.)\d+\.?$/.test(s)) return s;
  if (s.includes(':') && /^[0-9A-Fa-f:.]+$/.test(s) && isIpv6(s)) return s;
  if (/^[A-Za-z0-9.:-]+$/.test(s)) unsafe(field, `"${s}" is not a valid host name or IP address`);
  unsafe(field, explain(s));
}

function isIpv6(s: string): boolean {
  const parts = s.split('::');
  if (parts.length > 2) return false;
  const groups = (p: string) => (p === '' ? [] : p.split(':'));
  const head = groups(parts[0]);
  const tail = parts.length === 2 ? groups(parts[1]) : [];
  const all = [...head, ...tail];
  let count = all.length;
  const last = all[all.length - 1];
  if (last !== undefined && last.includes('.')) {
    if (!IPV4_RE.test(last)) return false;
    all.pop();
    count += 1;
  }
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  return parts.length === 2 ? count < 8 : count === 8;
}

/** A UEFI file path for `sanboot --filename`: `\EFI\BOOT\BOOTX64.EFI` (never ends with `\`). */
export function safeEfiPath(value: unknown, field: string): string {
  const s = asString(value, field);
  if (!/^(\\[A-Za-z0-9._-]+)+$/.test(s)) unsafe(field, 'must be a UEFI path like \\EFI\\BOOT\\BOOTX64.EFI (letters, digits, "._-")');
  return s;
}

/** Dispatch by kind; `field` names the value in the error. */
export function safeValue(kind: SafeKind, value: unknown, field: string): string {
  switch (kind) {
    case 'token': return safeToken(value, field);
    case 'secret': return safeSecret(value, field);
    case 'url': return safeUrl(value, field);
    case 'label': return safeLabel(value, field);
    case 'kernelArg': return safeKernelArg(value, field);
    case 'iqn': return safeIqn(value, field);
    case 'hostOrIp': return safeHostOrIp(value, field);
    case 'efiPath': return safeEfiPath(value, field);
  }
}

/** True when `value` passes the allow-list for `kind`. */
export function isSafe(kind: SafeKind, value: unknown): boolean {
  try {
    safeValue(kind, value, 'value');
    return true;
  } catch {
    return false;
  }
}

/**
 * Kernel parameters as the store keeps them: `{ key: value }` where `""` is a bare flag (`quiet`),
 * `null` means "remove this key" (only meaningful in an override), and an array repeats the key
 * (`console=ttyS0 console=tty1`).
 */
export type KernelParams = Record<string, string | number | boolean | null | ReadonlyArray<string>>;

/**
 * Merge device overrides over profile parameters: an override key replaces the profile's value
 * (keeping the profile's order), new keys are appended, `null` removes the key.
 */
export function mergeKernelParams(base: KernelParams | undefined, override: KernelParams | undefined): KernelParams {
  const out: KernelParams = {};
  for (const [k, v] of Object.entries(base ?? {})) out[k] = v;
  for (const [k, v] of Object.entries(override ?? {})) out[k] = v;
  for (const k of Object.keys(out)) if (out[k] === null || out[k] === false) delete out[k];
  return out;
}

/** Turn parameters into allow-listed `key=value` arguments (`""`/`true` → bare `key`). */
export function kernelArgList(params: KernelParams | ReadonlyArray<string> | string | undefined, field: string): string[] {
  if (params === undefined) return [];
  if (typeof params === 'string') {
    if (/[\r\n\t\0]/.test(params)) unsafe(field, explain(params));
    return params.split(' ').filter((a) => a.length > 0).map((a, i) => safeKernelArg(a, `${field}[${i}]`));
  }
  if (Array.isArray(params)) return params.map((a, i) => safeKernelArg(a, `${field}[${i}]`));
  const out: string[] = [];
  for (const [key, value] of Object.entries(params as KernelParams)) {
    const f = `${field}.${key}`;
    if (!KERNEL_KEY_RE.test(key)) unsafe(f, key.length === 0 ? 'kernel argument has an empty name' : `kernel argument name: ${explain(key)}`);
    if (value === null || value === false) continue;
    const values: ReadonlyArray<unknown> = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (v === true || v === '') out.push(key);
      else if (typeof v === 'string' || typeof v === 'number') out.push(safeKernelArg(`${key}=${v}`, f));
      else unsafe(f, `expected a string, got ${typeof v}`);
    }
  }
  return out;
}

/**
 * A command line in any of the forms a profile accepts, as parameters: the key→value object as is;
 * an ordered list of arguments (`["console=tty0", "console=ttyS0,115200", "quiet"]`) or the string
 * users paste (`console=tty0 console=ttyS0,115200 quiet`), each argument allow-listed, with a
 * repeated key kept as a list in its order (the kernel takes the last `console=` as /dev/console).
 */
export function kernelParamsOf(cmdline: KernelParams | ReadonlyArray<string> | string | undefined, field: string): KernelParams {
  if (cmdline === undefined) return {};
  if (typeof cmdline !== 'string' && !Array.isArray(cmdline)) return cmdline as KernelParams;
  const out: Record<string, string | string[]> = {};
  for (const arg of kernelArgList(cmdline as ReadonlyArray<string> | string, field)) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? '' : arg.slice(eq + 1);
    if (!KERNEL_KEY_RE.test(key)) unsafe(`${field}.${key}`, `kernel argument name: ${explain(key)}`);
    const have = out[key];
    out[key] = have === undefined ? value : Array.isArray(have) ? [...have, value] : [have, value];
  }
  return out;
}
