/**
 * Safe mapping of a TFTP filename onto a directory.
 *
 * `normalizeTftpPath(raw)` turns what the client asked for into a root-relative POSIX path:
 *  - `\` becomes `/` (PXELINUX/Windows clients), repeated `/` collapse;
 *  - leading `/` are dropped: `/etc/passwd` means `<root>/etc/passwd`, which is normally simply not
 *    found. This matches what Pi/PXELINUX clients mean by an absolute path (relative to the TFTP root);
 *  - refused (NetbootError 'unsafe_value'): empty paths, NUL and other control characters, `.` and
 *    `..` segments, drive letters (`C:`) and any other `:` (Windows alternate data streams) except in one
 *    MAC address (GRUB asks for `grub/grub.cfg-52:54:00:12:34:56`, its `$net_default_mac`), and paths
 *    longer than 1024 characters, and dot files or folders (any segment starting with `.`), as over HTTP;
 *  - nothing is percent-decoded: `%2e%2e` is a literal (and normally non-existent) file name.
 *
 * `resolveUnderRoot(root, rel)` then resolves symlinks and refuses anything whose real path is
 * outside the real root.
 */
import { promises as fsp, type Stats } from 'node:fs';
import * as nodePath from 'node:path';
import { NetbootError } from '../core/errors';

export type PathResult = { ok: true; path: string } | { ok: false; error: NetbootError };

const MAX_PATH_CHARS = 1024;
/** The only colons allowed: those of one MAC address, as in GRUB's per-machine `grub.cfg-52:54:00:12:34:56`. */
const MAC_WITH_COLONS = /^[^:]*(?<![0-9A-Fa-f:])[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}(?![0-9A-Fa-f:])[^:]*$/;

function unsafe(raw: string, reason: string): PathResult {
  const shown = raw.length > 80 ? `${raw.slice(0, 80)}…` : raw;
  // JSON.stringify shows control characters escaped in the message.
  return { ok: false, error: new NetbootError('unsafe_value', `unsafe TFTP path ${JSON.stringify(shown)}: ${reason}`, { path: shown, reason }) };
}

export function normalizeTftpPath(raw: string): PathResult {
  if (raw.length === 0) return unsafe(raw, 'empty path');
  if (raw.length > MAX_PATH_CHARS) return unsafe(raw, `longer than ${MAX_PATH_CHARS} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) return unsafe(raw, 'contains a control character');
  const slashed = raw.replace(/\\/g, '/');
  if (/^\/*[A-Za-z]:/.test(slashed)) return unsafe(raw, 'drive letters are not allowed');
  if (slashed.includes(':') && !MAC_WITH_COLONS.test(slashed)) return unsafe(raw, '":" is not allowed (except in one MAC address)');
  const segments = slashed.split('/').filter((s) => s.length > 0);
  if (segments.length === 0) return unsafe(raw, 'no file name');
  for (const seg of segments) {
    if (seg === '.' || seg === '..') return unsafe(raw, `"${seg}" segments are not allowed`);
    // like HTTP: dot files and folders (.git, .htpasswd, .hidden) are never served
    if (seg.startsWith('.')) return unsafe(raw, 'dot files are not served');
  }
  return { ok: true, path: segments.join('/') };
}

export type ResolveResult =
  | { kind: 'file'; path: string; realPath: string; stat: Stats }
  | { kind: 'missing' }
  | { kind: 'unsafe'; error: NetbootError };

const realRoots = new Map<string, Promise<string>>();

async function realRoot(root: string): Promise<string> {
  const abs = nodePath.resolve(root);
  let p = realRoots.get(abs);
  if (p === undefined) {
    p = fsp.realpath(abs);
    realRoots.set(abs, p);
    p.catch(() => realRoots.delete(abs));
    if (realRoots.size > 64) realRoots.delete(realRoots.keys().next().value as string);
  }
  return p;
}

/** True when `candidate` is `root` itself or below it (both real, absolute paths). */
export function isInside(root: string, candidate: string): boolean {
  if (candidate === root) return true;
  const withSep = root.endsWith(nodePath.sep) ? root : root + nodePath.sep;
  return candidate.startsWith(withSep);
}

/**
 * Resolves an already normalised relative path under `root`. Missing files, directories and other
 * non-regular files are 'missing'; a real path outside the root is 'unsafe'.
 */
export async function resolveUnderRoot(root: string, rel: string): Promise<ResolveResult> {
  const check = normalizeTftpPath(rel);
  if (!check.ok) return { kind: 'unsafe', error: check.error };
  let rootReal: string;
  try {
    rootReal = await realRoot(root);
  } catch {
    return { kind: 'missing' };
  }
  const joined = nodePath.join(rootReal, ...check.path.split('/'));
  let real: string;
  try {
    real = await fsp.realpath(joined);
  } catch {
    return { kind: 'missing' };
  }
  if (!isInside(rootReal, real)) {
    return { kind: 'unsafe', error: new NetbootError('unsafe_value', `TFTP path "${check.path}" resolves outside the root`, { path: check.path, reason: 'symlink leaves the root' }) };
  }
  let stat: Stats;
  try {
    stat = await fsp.stat(real);
  } catch {
    return { kind: 'missing' };
  }
  if (!stat.isFile()) return { kind: 'missing' };
  return { kind: 'file', path: joined, realPath: real, stat };
}
