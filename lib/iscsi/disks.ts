import { constants, promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { NetbootError } from '../core/errors';

/**
 * The disk image files behind iSCSI targets, all inside one folder. Names are relative paths of
 * plain characters; nothing resolves outside the folder (no `..`, no absolute paths, no symlink
 * out). New disks are sparse; copies keep holes (`cp --sparse=always`) and appear under their name
 * only when complete, so a full disk or a killed process never leaves a half disk behind a target.
 */

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,3}$/;

export interface DiskInfo {
  path: string;
  sizeBytes: number;
  /** Bytes really used on disk (sparse files use less). */
  allocatedBytes: number;
}

export class DiskFiles {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = nodePath.resolve(dir);
  }

  /** The absolute path of a disk name, refusing anything that could leave the folder. */
  resolve(name: unknown, field = 'path'): string {
    if (typeof name !== 'string' || !NAME.test(name) || name.split('/').some((s) => s === '.' || s === '..' || s.endsWith('.'))) {
      throw new NetbootError('validation', `field "${field}": "${String(name)}" is not a disk name (letters, digits, ".", "_", "-", up to 4 folders; no "..")`, { field });
    }
    return nodePath.join(this.dir, ...name.split('/'));
  }

  /** A disk that exists, as a real path inside the folder (a symlink out of it is refused). */
  async existing(name: unknown, field = 'path'): Promise<string> {
    const p = this.resolve(name, field);
    let real: string;
    let root: string;
    try {
      [root, real] = await Promise.all([fsp.realpath(this.dir), fsp.realpath(p)]);
    } catch {
      throw new NetbootError('not_found', `disk "${String(name)}" does not exist in ${this.dir}`, { field, path: p });
    }
    if (real !== root && !real.startsWith(root + nodePath.sep)) {
      throw new NetbootError('unsafe_value', `disk "${String(name)}" resolves outside ${this.dir}`, { field });
    }
    const st = await fsp.stat(real);
    if (!st.isFile()) throw new NetbootError('validation', `disk "${String(name)}" is not a regular file`, { field });
    return real;
  }

  async info(name: string): Promise<DiskInfo | undefined> {
    try {
      const p = await this.existing(name);
      const st = await fsp.stat(p);
      return { path: p, sizeBytes: st.size, allocatedBytes: st.blocks * 512 };
    } catch {
      return undefined;
    }
  }

  /** A new sparse disk of `sizeBytes`; an existing name is a conflict. */
  async create(name: string, sizeBytes: number): Promise<DiskInfo> {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 512 * 1024 || sizeBytes % 512 !== 0) {
      throw new NetbootError('validation', `field "sizeBytes": ${String(sizeBytes)} is not a whole number of 512-byte sectors of at least 512 KiB`, { field: 'sizeBytes' });
    }
    const p = this.resolve(name);
    await fsp.mkdir(nodePath.dirname(p), { recursive: true });
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(p, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
    } catch (err) {
      throw diskError(err, `creating disk "${name}"`);
    }
    try {
      await fh.truncate(sizeBytes);
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fsp.rm(p, { force: true });
      throw diskError(err, `creating disk "${name}"`);
    }
    await fh.close();
    return (await this.info(name))!;
  }

  /**
   * Copies disk `from` to the new name `to`, keeping it sparse; nothing appears under `to` unless the
   * copy is whole. `onProgress` hears the bytes written so far (the partial file's allocated blocks)
   * about twice a second, then the whole size at the end.
   */
  async copy(from: string, to: string, onProgress?: (bytes: number, size: number) => void): Promise<DiskInfo> {
    const src = await this.existing(from, 'from');
    const dst = this.resolve(to);
    if (await exists(dst)) throw new NetbootError('conflict', `disk "${to}" already exists`, { field: 'path' });
    await fsp.mkdir(nodePath.dirname(dst), { recursive: true });
    const tmp = `${dst}.partial-${process.pid}-${Date.now()}`;
    const { execa } = await import('execa');
    const size = onProgress ? (await fsp.stat(src)).size : 0;
    const watch = onProgress && setInterval(() => {
      fsp.stat(tmp).then((st) => onProgress(Math.min(size, st.blocks * 512), size), () => undefined);
    }, 500);
    const r = await execa('cp', ['--sparse=always', '--reflink=auto', '--', src, tmp], { reject: false, stdin: 'ignore' }).finally(() => clearInterval(watch));
    if (r.exitCode !== 0) {
      await fsp.rm(tmp, { force: true });
      const said = String(r.stderr).trim();
      throw new NetbootError(/No space left/i.test(said) ? 'store_io' : 'internal', `copying disk "${from}" to "${to}": ${/No space left/i.test(said) ? 'no space left on the device' : said || 'cp failed'}`, { field: 'from' });
    }
    try {
      const fh = await fsp.open(tmp, 'r+');
      await fh.sync();
      await fh.close();
      await fsp.link(tmp, dst); // fails instead of overwriting a disk that appeared meanwhile
      onProgress?.(size, size);
    } catch (err) {
      throw diskError(err, `copying disk "${from}" to "${to}"`);
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    return (await this.info(to))!;
  }

  /** Renames a disk; the new name must be free. */
  async rename(from: string, to: string): Promise<DiskInfo> {
    const src = await this.existing(from, 'from');
    const dst = this.resolve(to);
    await fsp.mkdir(nodePath.dirname(dst), { recursive: true });
    try {
      await fsp.link(src, dst);
      await fsp.unlink(src);
    } catch (err) {
      throw diskError(err, `renaming disk "${from}" to "${to}"`);
    }
    return (await this.info(to))!;
  }

  async remove(name: string): Promise<void> {
    const p = await this.existing(name);
    await fsp.unlink(p);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}

function diskError(err: unknown, what: string): NetbootError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') return new NetbootError('conflict', `${what}: a disk of that name already exists`, { errno: code });
  if (code === 'ENOSPC') return new NetbootError('store_io', `${what}: no space left on the device`, { errno: code });
  return new NetbootError('store_io', `${what}: ${(err as Error).message}`, { errno: code });
}
