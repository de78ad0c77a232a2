/**
 * Token buckets keyed by a string (MAC, source address). `take(key)` spends one token and says
 * whether the packet may be handled. The key table is bounded: when full, the oldest key is dropped.
 */
export interface RateLimitConfig {
  /** Bucket size: packets allowed in a burst. */
  burst: number;
  /** Refill rate in packets per second. */
  perSecond: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly config: RateLimitConfig,
    private readonly clock: () => number = Date.now,
    private readonly maxKeys = 4096,
  ) {}

  take(key: string): boolean {
    const now = this.clock();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      b = { tokens: this.config.burst, at: now };
    } else {
      this.buckets.delete(key); // re-insert to keep the map in least-recently-used order
      b.tokens = Math.min(this.config.burst, b.tokens + ((now - b.at) / 1000) * this.config.perSecond);
      b.at = now;
    }
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }
}
