import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/**
 * A lowdb adapter whose writes survive a crash: the JSON goes to a temporary file beside the target,
 * which is fsync'ed, renamed over the target, and then the folder is fsync'ed so the rename itself is
 * on disk. A reader therefore sees either the old file or the new one, never a torn one.
 *
 * lowdb's own JSONFile adapter renames without fsync (a power cut can leave an empty file), which is
 * why this one exists. The temp name is fixed per target, so one adapter per file per process.
 */
export class DurableJsonFile<T> {
  readonly file: string;
  readonly tmp: string;

  constructor(file: string) {
    this.file = file;
    this.tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  }

  /** Returns the parsed file, or null when it does not exist. A parse error is thrown as is. */
  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    this.lastBytes = Buffer.byteLength(text);
    return JSON.parse(text) as T;
  }

  /** Bytes of the last write (or of the file as read). */
  lastBytes = 0;

  async write(data: T): Promise<void> {
    const text = `${JSON.stringify(data, null, 2)}\n`;
    this.lastBytes = Buffer.byteLength(text);
    const handle = await fsp.open(this.tmp, 'w', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(this.tmp, this.file);
    await syncDir(path.dirname(this.file));
  }

  /** A temp file left by a crash mid-write holds nothing acknowledged: remove it. */
  async removeLeftover(): Promise<boolean> {
    try {
      await fsp.unlink(this.tmp);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, 'r');
    await handle.sync();
  } catch (err) {
    // Some filesystems refuse fsync on a directory (EINVAL/EISDIR/EPERM); the rename is still atomic.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw err;
  } finally {
    await handle?.close();
  }
}
