/**
 * A Map kept in least-recently-used order with a size cap: `touch` returns the entry for a key
 * (making it the most recent) or creates it, evicting the least recent one first when full. Eviction
 * takes the Map's first key in O(1), so a flood of new MACs never costs a scan per packet.
 */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly max: number) {}

  touch(key: K, create: () => V): V {
    const found = this.map.get(key);
    if (found !== undefined) {
      this.map.delete(key);
      this.map.set(key, found);
      return found;
    }
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    const made = create();
    this.map.set(key, made);
    return made;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  get size(): number {
    return this.map.size;
  }

  keys(): IterableIterator<K> {
    return this.map.keys();
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }
}
