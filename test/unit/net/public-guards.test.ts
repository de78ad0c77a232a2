import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { oncePerSource, parseAllowlist } from '../../../lib/net/allowlist';
import { bearerOf, publicMetricsAnswer, tokenMatches } from '../../../lib/http/token';
import { isPublicPath, parseBody } from '../../../lib/http/public-gate';
import { checkDataModes } from '../../../lib/store/file-modes';

describe('allowlist', () => {
  it('matches addresses and CIDR networks, IPv4-mapped too; empty allows everyone', () => {
    const list = parseAllowlist('10.0.0.0/24, 192.168.1.7 fd00::/64')!;
    expect(list.allows('10.0.0.200')).toBe(true);
    expect(list.allows('::ffff:10.0.0.9')).toBe(true);
    expect(list.allows('10.0.1.1')).toBe(false);
    expect(list.allows('192.168.1.7')).toBe(true);
    expect(list.allows('192.168.1.8')).toBe(false);
    expect(list.allows('fd00::1')).toBe(true);
    expect(list.allows('not an ip')).toBe(false);
    expect(parseAllowlist('')).toBeUndefined();
    expect(() => parseAllowlist('10.0.0.0/33')).toThrow(/not an address or CIDR/);
    expect(() => parseAllowlist('evil.example')).toThrow(/"evil.example"/);
  });

  it('logs a refused source once per window, with the count since', () => {
    let now = 0;
    const lines: string[] = [];
    const log = oncePerSource((ip, n) => lines.push(`${ip} ${n}`), 60_000, () => now);
    for (let i = 0; i < 5; i++) log('10.9.9.9');
    log('10.9.9.8');
    now = 61_000;
    log('10.9.9.9');
    expect(lines).toEqual(['10.9.9.9 1', '10.9.9.8 1', '10.9.9.9 5']);
  });
});

describe('bearer tokens', () => {
  it('compares in constant time without throwing on any length or encoding', () => {
    expect(tokenMatches('s3cret', 's3cret')).toBe(true);
    expect(tokenMatches('s3creT', 's3cret')).toBe(false);
    // same length in characters, longer in bytes: timingSafeEqual on the raw bytes threw
    expect(tokenMatches('s3cré', 's3cre1')).toBe(false);
    expect(tokenMatches('ééééé', 'abcde')).toBe(false);
    expect(tokenMatches('', 'x')).toBe(false);
    expect(tokenMatches('x', undefined)).toBe(false);
    expect(bearerOf('Bearer abc')).toBe('abc');
    expect(bearerOf('Basic abc')).toBe('');
  });

  it('the public /metrics: not ours without a token, 401 without the right one, the figures with it', () => {
    expect(publicMetricsAnswer(undefined, 'Bearer anything')).toEqual({ kind: 'pass' });
    expect(publicMetricsAnswer('', undefined)).toEqual({ kind: 'pass' });
    const refused = publicMetricsAnswer('t0ken', 'Bearer wrong');
    expect(refused).toMatchObject({ kind: 'unauthorized', status: 401, headers: { 'WWW-Authenticate': 'Bearer' } });
    expect(publicMetricsAnswer('t0ken', undefined).kind).toBe('unauthorized');
    expect(publicMetricsAnswer('t0ken', 'Basic t0ken').kind).toBe('unauthorized');
    expect(publicMetricsAnswer('t0ken', 'Bearer t0ken')).toEqual({ kind: 'metrics' });
  });
});

describe('public gate pieces', () => {
  it('knows the public paths and parses bodies by type', () => {
    expect(['/boot/menu.ipxe', '/api/v1/enroll', '/metrics', '/boot/assets/x?y=1'].every(isPublicPath)).toBe(true);
    expect(['/', '/netboot/api/devices', '/bootx', '/api/v2/x', '/red/main.js'].some(isPublicPath)).toBe(false);
    expect(parseBody('application/json', Buffer.from('{"a":1}'))).toEqual({ ok: true, body: { a: 1 } });
    expect(parseBody('application/json', Buffer.from('{"a":'))).toEqual({ ok: false, message: 'body is not JSON' });
    expect(parseBody('text/plain', Buffer.from('hi'))).toEqual({ ok: true, body: 'hi' });
    expect(parseBody('application/x-www-form-urlencoded', Buffer.from('a=1&b=2'))).toEqual({ ok: true, body: { a: '1', b: '2' } });
  });
});

describe('data folder modes', () => {
  it('tightens a loosened folder and secret files, and says so', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'netboot-modes-'));
    try {
      chmodSync(dir, 0o755);
      writeFileSync(path.join(dir, '.sessions.json'), '{}', { mode: 0o644 });
      writeFileSync(path.join(dir, 'credential-secret'), 'x', { mode: 0o600 });
      const warnings: string[] = [];
      await checkDataModes(dir, (m) => warnings.push(m));
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(path.join(dir, '.sessions.json')).mode & 0o777).toBe(0o600);
      expect(warnings).toHaveLength(2);
      expect(warnings[1]).toMatch(/\.sessions\.json was mode 0644/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
