import { describe, expect, it } from 'vitest';
import { EventBus } from '../../../lib/metrics';

describe('EventBus', () => {
  it('fans out synchronously, and a throwing subscriber breaks no one else', () => {
    const errors: unknown[] = [];
    const bus = new EventBus<{ type: string; n: number }>({ onError: (err) => errors.push(err) });
    const a: number[] = [];
    const b: number[] = [];
    bus.subscribe((e) => a.push(e.n));
    bus.subscribe(() => {
      throw new Error('boom');
    });
    bus.subscribe((e) => b.push(e.n));
    bus.publish({ type: 'x', n: 1 });
    bus.publish({ type: 'x', n: 2 });
    expect(a).toEqual([1, 2]);
    expect(b).toEqual([1, 2]);
    expect(errors).toHaveLength(2);
    expect(bus.errors).toBe(2);
  });

  it('delivers events published from a subscriber after the current one, in sequence order', () => {
    const bus = new EventBus<{ type: string }>();
    const order: string[] = [];
    bus.subscribe((e) => {
      if (e.type === 'first') bus.publish({ type: 'derived' });
    });
    bus.subscribe((e, seq) => order.push(`${seq}:${e.type}`));
    bus.publish({ type: 'first' });
    expect(order).toEqual(['1:first', '2:derived']);
  });

  it('keeps the last N events for replay with sequence numbers', () => {
    const bus = new EventBus<{ type: string; n: number }>({ capacity: 3 });
    expect(bus.since(0)).toEqual([]);
    for (let n = 1; n <= 5; n++) bus.publish({ type: 'x', n });
    expect(bus.lastSeq).toBe(5);
    expect(bus.firstSeq).toBe(3);
    expect(bus.since(0).map((e) => [e.seq, e.event.n])).toEqual([[3, 3], [4, 4], [5, 5]]);
    expect(bus.since(3).map((e) => e.seq)).toEqual([4, 5]);
    expect(bus.since(5)).toEqual([]);
    expect(bus.last(2).map((e) => e.seq)).toEqual([4, 5]);
    expect(bus.covers(2)).toBe(true);
    expect(bus.covers(1)).toBe(false);
  });

  it('unsubscribes and filters', () => {
    const bus = new EventBus<{ type: string }>();
    const got: string[] = [];
    const off = bus.subscribe((e) => got.push(e.type), (e) => e.type !== 'skip');
    bus.publish({ type: 'a' });
    bus.publish({ type: 'skip' });
    off();
    bus.publish({ type: 'b' });
    expect(got).toEqual(['a']);
    expect(bus.subscriberCount).toBe(0);
  });
});
