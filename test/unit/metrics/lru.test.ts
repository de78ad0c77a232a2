import { describe, expect, it } from 'vitest';
import { LruMap } from '../../../lib/metrics/lru';

describe('LruMap', () => {
  it('keeps the most recently touched entries and evicts the least recent one when full', () => {
    const m = new LruMap<string, { n: number }>(2);
    let made = 0;
    const make = () => ({ n: ++made });
    const a = m.touch('a', make);
    m.touch('b', make);
    expect(m.touch('a', make)).toBe(a); // found, not made again; now the most recent
    m.touch('c', make); // full: b (least recent) goes
    expect([...m.keys()]).toEqual(['a', 'c']);
    expect(m.has('b')).toBe(false);
    expect(made).toBe(3);
    expect(m.get('a')).toBe(a);
    expect([...m.keys()]).toEqual(['a', 'c']); // get does not reorder
  });
});
