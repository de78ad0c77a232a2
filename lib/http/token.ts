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
