import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/**
 * Files of the data folder that hold a secret or a live token: the admin login hash, the credential
 * secret, Node-RED's encrypted credentials, its runtime config (which may hold the generated
 * credential secret) and `.sessions.json` (live admin tokens).
 */
export const SECRET_FILES = ['admin.json', 'credential-secret', 'flows_cred.json', '.config.runtime.json', '.config.users.json', '.sessions.json'];

/**
 * The data folder must be 0700 and every secret file 0600. Whatever is looser (someone ran chmod,
 * copied the folder, or the file was written under a lax umask) is tightened, and each is reported
 * with its old mode so the admin knows it was readable.
 */
export async function checkDataModes(dataDir: string, warn: (message: string) => void): Promise<void> {
  const fix = async (file: string, want: number) => {
    let mode: number;
    try {
      mode = (await fsp.stat(file)).mode & 0o777;
    } catch {
      return;
    }
    if ((mode & 0o077) === 0) return;
    await fsp.chmod(file, want);
    warn(`${file} was mode ${mode.toString(8).padStart(4, '0')} (readable by others); set it to ${want.toString(8).padStart(4, '0')}`);
  };
  await fix(dataDir, 0o700);
  for (const name of SECRET_FILES) await fix(path.join(dataDir, name), 0o600);
}
