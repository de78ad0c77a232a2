import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import bcrypt from 'bcryptjs';

/**
 * The admin login of a fresh install. Only the bcrypt hash is stored (in `<dataDir>/admin.json`,
 * mode 0600). The clear password is returned once, when it is generated, so the caller can print it.
 */
export interface AdminCredentials {
  username: string;
  hash: string;
  /** Set only when this call created the account from a generated password. */
  generatedPassword?: string;
  /** Where the password came from this time. */
  source: 'stored' | 'env' | 'generated';
}

const FILE = 'admin.json';

export async function ensureAdminCredentials(dataDir: string, envPassword?: string): Promise<AdminCredentials> {
  const file = path.join(dataDir, FILE);
  await fsp.mkdir(dataDir, { recursive: true });
  let stored: { username: string; hash: string } | undefined;
  try {
    stored = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`reading ${file}: ${(err as Error).message}`);
  }
  if (envPassword) {
    if (envPassword.length < 8) throw new Error('NETBOOT_ADMIN_PASSWORD must have at least 8 characters');
    if (stored && (await bcrypt.compare(envPassword, stored.hash))) return { ...stored, source: 'env' };
    const hash = await bcrypt.hash(envPassword, 10);
    await writePrivate(file, { username: 'admin', hash });
    return { username: 'admin', hash, source: 'env' };
  }
  if (stored?.hash) return { ...stored, source: 'stored' };
  const generatedPassword = randomBytes(12).toString('base64url');
  const hash = await bcrypt.hash(generatedPassword, 10);
  await writePrivate(file, { username: 'admin', hash });
  return { username: 'admin', hash, generatedPassword, source: 'generated' };
}

/** A random secret for Node-RED's credential encryption, kept in the data folder. */
export async function ensureCredentialSecret(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'credential-secret');
  try {
    return (await fsp.readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(32).toString('hex');
  await fsp.mkdir(dataDir, { recursive: true });
  await fsp.writeFile(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

async function writePrivate(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp`;
  await fsp.writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await fsp.rename(tmp, file);
}
