import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares a presented bearer token with the expected one in constant time. Both are hashed first,
 * so tokens of any length or encoding (a non-ASCII header of the right length made
 * `timingSafeEqual` throw on unequal byte lengths) compare without throwing or leaking the length.
 */
export function tokenMatches(given: unknown, want: string | undefined): boolean {
  if (typeof given !== 'string' || !given || !want) return false;
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(want, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer …` header, or ''. */
export function bearerOf(header: unknown): string {
  return typeof header === 'string' && /^Bearer /i.test(header) ? header.slice(7).trim() : '';
}

/** What the public `/metrics` endpoint answers, decided without Express. */
export type MetricsAnswer =
  | { kind: 'pass' }
  | { kind: 'unauthorized'; status: 401; headers: Record<string, string>; body: { error: { code: 'unauthorized'; message: string } } }
  | { kind: 'metrics' };

/**
 * Prometheus scrapes without a browser login: `/metrics` on the public side answers only with the
 * bearer token stored in the netboot-server node's credentials. Without a configured token the path
 * is not ours (`pass`), so a user's own `[http in] /metrics` still answers.
 */
export function publicMetricsAnswer(configuredToken: string | undefined, authorization: unknown): MetricsAnswer {
  if (!configuredToken) return { kind: 'pass' };
  if (!tokenMatches(bearerOf(authorization), configuredToken)) {
    return { kind: 'unauthorized', status: 401, headers: { 'WWW-Authenticate': 'Bearer' }, body: { error: { code: 'unauthorized', message: 'bearer token required' } } };
  }
  return { kind: 'metrics' };
}
