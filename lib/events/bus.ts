/**
 * A typed publish/subscribe bus with a replay buffer. Fan-out is synchronous; an event published
 * from inside a subscriber is queued and delivered after the current one, so every subscriber sees
 * events in sequence order. A subscriber that throws is reported to `onError` and never stops the
 * others. The last `capacity` events stay in a ring buffer with their sequence numbers, so a
 * reconnecting client (SSE `Last-Event-ID`) can ask for what it missed with `since(seq)`.
 */

export interface Envelope<E> {
  /** 1, 2, 3, ... per bus; never reused. */
  seq: number;
  event: E;
}

export type Subscriber<E> = (event: E, seq: number) => void;

export interface EventBusOptions {
  /** Events kept for replay (default 1000). */
  capacity?: number;
  /** Told about a subscriber that threw; the default drops the error silently only if absent. */
  onError?: (err: unknown, envelope: Envelope<unknown>) => void;
}

export class EventBus<E> {
  private readonly capacity: number;
  private readonly ring: (Envelope<E> | undefined)[];
  /** Index where the next envelope goes. */
  private head = 0;
  private size = 0;
  private seq = 0;
  private subscribers: { fn: Subscriber<E>; filter?: (event: E) => boolean }[] = [];
  private readonly queue: Envelope<E>[] = [];
  private delivering = false;
  private readonly onError: (err: unknown, envelope: Envelope<unknown>) => void;
  /** Subscriber failures so far (also reported to `onError`). */
  errors = 0;

  constructor(options: EventBusOptions = {}) {
    const capacity = options.capacity ?? 1000;
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`event bus capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.ring = new Array<Envelope<E> | undefined>(capacity);
    this.onError = options.onError ?? (() => undefined);
  }

  /** Sequence number of the newest event, 0 before the first. */
  get lastSeq(): number {
    return this.seq;
  }

  /** Sequence number of the oldest event still buffered (lastSeq + 1 when empty). */
  get firstSeq(): number {
    return this.seq - this.size + 1;
  }

  /** Stores the event, delivers it to every subscriber and returns its sequence number. */
  publish(event: E): number {
    const envelope: Envelope<E> = { seq: ++this.seq, event };
    this.ring[this.head] = envelope;
    this.head = (this.head + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
    this.queue.push(envelope);
    if (!this.delivering) this.drain();
    return envelope.seq;
  }

  private drain(): void {
    this.delivering = true;
    try {
      for (let env = this.queue.shift(); env; env = this.queue.shift()) {
        // a copy: subscribing or unsubscribing during delivery affects the next event only
        for (const sub of [...this.subscribers]) {
          try {
            if (!sub.filter || sub.filter(env.event)) sub.fn(env.event, env.seq);
          } catch (err) {
            this.errors++;
            try {
              this.onError(err, env);
            } catch {
              // the error reporter itself failed; nothing left to tell
              this.errors++;
            }
          }
        }
      }
    } finally {
      this.delivering = false;
    }
  }

  /** Calls `fn` for every later event (that passes `filter`); returns the unsubscribe function. */
  subscribe(fn: Subscriber<E>, filter?: (event: E) => boolean): () => void {
    const sub = { fn, filter };
    this.subscribers.push(sub);
    return () => {
      this.subscribers = this.subscribers.filter((s) => s !== sub);
    };
  }

  get subscriberCount(): number {
    return this.subscribers.length;
  }

  /** Buffered events with a sequence number above `seq`, oldest first. */
  since(seq: number): Envelope<E>[] {
    const out: Envelope<E>[] = [];
    const start = Math.max(seq + 1, this.firstSeq);
    for (let s = start; s <= this.seq; s++) out.push(this.at(s)!);
    return out;
  }

  /** The newest `n` buffered events, oldest first. */
  last(n: number): Envelope<E>[] {
    return this.since(Math.max(0, this.seq - Math.max(0, Math.floor(n))));
  }

  /** True when every event after `seq` is still buffered (a replay from there is complete). */
  covers(seq: number): boolean {
    return seq + 1 >= this.firstSeq;
  }

  private at(seq: number): Envelope<E> | undefined {
    if (seq < this.firstSeq || seq > this.seq) return undefined;
    const back = this.seq - seq; // 0 = newest
    return this.ring[(this.head - 1 - back + this.capacity * 2) % this.capacity];
  }

  /** Drops every subscriber (the buffer stays readable). */
  clear(): void {
    this.subscribers = [];
  }
}
