/**
 * A sliding-window byte counter: `add(ts, bytes)` samples, `rate(now)` = bytes inside
 * (now - windowMs, now] per second. Samples in the same millisecond merge; old ones are dropped as
 * the window moves, so memory stays bounded by the event rate inside one window.
 */
export class SlidingWindow {
  private readonly samples: { ts: number; bytes: number }[] = [];

  constructor(readonly windowMs = 10_000) {
    if (!(windowMs > 0)) throw new RangeError(`window must be positive, got ${windowMs}`);
  }

  add(ts: number, bytes: number): void {
    if (!(bytes > 0)) return;
    const last = this.samples[this.samples.length - 1];
    if (last && last.ts === ts) last.bytes += bytes;
    else if (last && ts < last.ts) {
      // late sample: keep the list ordered
      const i = this.samples.findIndex((s) => s.ts > ts);
      this.samples.splice(i, 0, { ts, bytes });
    } else this.samples.push({ ts, bytes });
  }

  /** Bytes inside the window ending at `now`. */
  sum(now: number): number {
    this.evict(now);
    let n = 0;
    for (const s of this.samples) if (s.ts <= now) n += s.bytes;
    return n;
  }

  /** Bytes per second over the window ending at `now`. */
  rate(now: number): number {
    return (this.sum(now) * 1000) / this.windowMs;
  }

  private evict(now: number): void {
    let drop = 0;
    while (drop < this.samples.length && this.samples[drop].ts <= now - this.windowMs) {
      drop++;
    }
    if (drop > 0) this.samples.splice(0, drop);
  }
}
