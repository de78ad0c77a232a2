import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NetbootError } from '../core/errors';

/**
 * Per-boot tokens for installer configuration URLs: a machine's boot script carries a token bound to
 * its MAC (and the address its script was asked from), valid for `lifetimeMs`; a config request must
 * present it. `v1.<expiry, base36 seconds>.<a|n>.<HMAC-SHA256, base64url>`: stateless, so a restart
 * keeps tokens valid; the key is 32 random bytes in `<data dir>/config-token.key` (mode 0600).
 */

export interface TokenCheck {
  ok: boolean;
  reason?: 'malformed' | 'expired' | 'wrong-machine' | 'wrong-address';
}

export class ConfigTokens {
  constructor(private readonly key: Buffer, readonly lifetimeMs = 3_600_000) {
    if (key.length < 16) throw new NetbootError('validation', 'config token key is too short');
  }

  /** Opens (or makes) the key file in the data folder. */
  static async open(dataDir: string, lifetimeMs?: number): Promise<ConfigTokens> {
    const file = path.join(dataDir, 'config-token.key');
    let key: Buffer;
    try {
      key = await fsp.readFile(file);
    } catch {
      key = randomBytes(32);
      await fsp.mkdir(dataDir, { recursive: true });
      await fsp.writeFile(file, key, { mode: 0o600, flag: 'wx' }).catch(async () => {
        key = await fsp.readFile(file); // another start made it first
      });
    }
    return new ConfigTokens(key, lifetimeMs);
  }

  private sign(mac: string, exp: string, ip: string | undefined): string {
    return createHmac('sha256', this.key).update(`${mac.toLowerCase()}|${exp}|${ip ?? ''}`).digest('base64url').slice(0, 32);
  }

  /** A token for `mac`; with `ip`, only requests from that address are accepted. */
  issue(mac: string, ip?: string, now = Date.now()): string {
    const exp = Math.floor((now + this.lifetimeMs) / 1000).toString(36);
    return `v1.${exp}.${ip ? 'a' : 'n'}.${this.sign(mac, exp, ip)}`;
  }

  check(token: string, mac: string, ip: string | undefined, now = Date.now()): TokenCheck {
    const m = /^v1\.([0-9a-z]{1,10})\.([an])\.([A-Za-z0-9_-]{32})$/.exec(token);
    if (!m) return { ok: false, reason: 'malformed' };
    const [, exp, bound, sig] = m;
    const want = this.sign(mac, exp, bound === 'a' ? ip : undefined);
    if (!timingSafeEqual(Buffer.from(sig), Buffer.from(want))) {
      // tell a token of another machine from one used from another address (for the audit trail)
      return { ok: false, reason: bound === 'a' ? 'wrong-address' : 'wrong-machine' };
    }
    if (parseInt(exp, 36) * 1000 < now) return { ok: false, reason: 'expired' };
    return { ok: true };
  }
}
