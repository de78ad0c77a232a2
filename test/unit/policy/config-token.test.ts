import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigTokens } from '../../../lib/policy/config-token';

describe('per-boot config tokens', () => {
  const t = new ConfigTokens(Buffer.alloc(32, 7), 60_000);
  const A = '52:54:00:00:00:0a';
  const B = '52:54:00:00:00:0b';

  it('accepts the machine it was issued to, within its lifetime', () => {
    const now = 1_800_000_000_000;
    const tok = t.issue(A, undefined, now);
    expect(t.check(tok, A, '10.0.0.9', now + 1000)).toEqual({ ok: true });
    expect(t.check(tok, A.toUpperCase(), undefined, now + 1000)).toEqual({ ok: true });
    expect(t.check(tok, A, undefined, now + 120_000)).toEqual({ ok: false, reason: 'expired' });
    expect(t.check(tok, B, undefined, now)).toEqual({ ok: false, reason: 'wrong-machine' });
  });

  it('binds to the address the script was asked from', () => {
    const tok = t.issue(A, '10.0.0.20');
    expect(t.check(tok, A, '10.0.0.20').ok).toBe(true);
    expect(t.check(tok, A, '10.0.0.21')).toEqual({ ok: false, reason: 'wrong-address' });
    expect(t.check(tok, A, undefined).ok).toBe(false);
  });

  it('refuses tampered and malformed tokens, and tokens of another key', () => {
    const tok = t.issue(A);
    const [v, exp, b, sig] = tok.split('.');
    const later = (parseInt(exp, 36) + 100_000).toString(36);
    expect(t.check([v, later, b, sig].join('.'), A, undefined).ok).toBe(false); // a longer life is not ours to give
    for (const bad of ['', 'v1', `${tok}x`, tok.replace('v1', 'v2'), '../../etc', tok.slice(0, -1)]) expect(t.check(bad, A, undefined)).toEqual({ ok: false, reason: 'malformed' });
    expect(new ConfigTokens(Buffer.alloc(32, 8)).check(tok, A, undefined).ok).toBe(false);
  });

  it('keeps its key in the data folder, readable by the owner only, the same after a restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'netboot-tok-'));
    try {
      const a = await ConfigTokens.open(dir);
      const tok = a.issue(A);
      expect((statSync(path.join(dir, 'config-token.key')).mode & 0o777).toString(8)).toBe('600');
      expect((await ConfigTokens.open(dir)).check(tok, A, undefined).ok).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
