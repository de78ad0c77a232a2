/**
 * Server-Sent Events over any `http.ServerResponse`-like object (Node's, Express's), no framework.
 * On connect it writes the headers, replays what the client missed (after `Last-Event-ID`, or the
 * newest `replay` events on a first connect) from the bus ring buffer, then streams new events as
 *
 *   id: <seq>
 *   event: <type>
 *   data: <JSON>
 *
 * with a `: ping` comment every 15 s (an unref'd timer) so proxies keep the connection open. A
 * client that stops reading (more than `maxBufferedBytes` queued) is dropped rather than letting
 * memory grow; it reconnects and resumes from its last id. Everything is released on close. On a
 * response that can `cork`, the frames of one turn of the event loop leave in one write (a boot storm
 * publishes many events per turn; with 20 dashboards open, one syscall per event per client showed
 * in the server's profile). Each event is serialised once however many clients stream it: the
 * frame is kept with the event (a WeakMap, gone with the event), so 20 dashboards cost one
 * JSON.stringify per event, not 20.
 */
import type { EventBus } from '../events/bus';

export interface SseResponseLike {
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: string): boolean;
  end(): unknown;
  on(event: 'close', listener: () => void): unknown;
  flushHeaders?(): void;
  /** Bytes queued but not yet sent (Node's `writableLength`). */
  writableLength?: number;
  /** Node's `cork`/`uncork`: frames written in one turn of the event loop go out in one write. */
  cork?(): void;
  uncork?(): void;
}

export interface SseRequestLike {
  headers: Record<string, string | string[] | undefined>;
}

export interface SseTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface SseOptions<E> {
  /** Overrides the `Last-Event-ID` header (e.g. from a `?lastEventId=` query for polyfills). */
  lastEventId?: string;
  /** Events replayed on a first connect (default 50). */
  replay?: number;
  /** Heartbeat comment interval (default 15 000 ms). */
  heartbeatMs?: number;
  /** Reconnect delay suggested to the browser (`retry:`), omitted when undefined. */
  retryMs?: number;
  /** Only events passing this are replayed and streamed (e.g. one MAC). */
  filter?: (event: E) => boolean;
  /**
   * On a response that can cork: hold a client's frames this long after the first one before
   * sending them in one write (default 0: until the end of the turn of the event loop). During a
   * boot storm the turns are short; a twentieth of a second gathers the frames of many into one write,
   * one wake-up of the reader instead of dozens, for a dashboard that shows a batch per 400 ms anyway.
   */
  flushMs?: number;
  /** Drop a client with more than this many bytes unsent (default 1 MiB). */
  maxBufferedBytes?: number;
  timers?: SseTimers;
}

export interface SseStream {
  /** Ends the response and releases the subscription and timer. */
  close(): void;
  readonly closed: boolean;
  /** Events written so far (replayed and live). */
  readonly sent: number;
}

const defaultTimers: SseTimers = {
  setInterval: (fn, ms) => {
    const t = setInterval(fn, ms);
    t.unref?.();
    return t;
  },
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
};

/** Parses a `Last-Event-ID` value; undefined unless it is a plain non-negative integer. */
export function parseLastEventId(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || !/^\d{1,15}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

/** One SSE frame. `data` is JSON, so it never contains a raw newline. */
export function formatEvent(seq: number, type: string, data: unknown): string {
  const name = type.replace(/[^\w.:-]/g, '_');
  return `id: ${seq}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Frames already made, by event object: every client of a bus sends the same text for an event. */
const frames = new WeakMap<object, { seq: number; frame: string }>();

/** `formatEvent` once per event and sequence number, shared by every stream that sends it. */
export function frameOf(seq: number, event: { type: string }): string {
  const kept = frames.get(event);
  if (kept && kept.seq === seq) return kept.frame;
  const frame = formatEvent(seq, event.type, event);
  frames.set(event, { seq, frame });
  return frame;
}

export function openEventStream<E extends { type: string }>(bus: EventBus<E>, req: SseRequestLike, res: SseResponseLike, options: SseOptions<E> = {}): SseStream {
  const timers = options.timers ?? defaultTimers;
  const filter = options.filter ?? (() => true);
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  let closed = false;
  let sent = 0;
  let unsubscribe: (() => void) | undefined;
  let heartbeat: unknown;

  const cleanup = (): void => {
    if (closed) return;
    closed = true;
    unsubscribe?.();
    if (heartbeat !== undefined) timers.clearInterval(heartbeat);
  };
  // during a boot storm many events are published in one turn of the event loop: hold this
  // client's frames until the turn ends and send them in one write, not one syscall per event
  let corked = false;
  const uncork = (): void => {
    corked = false;
    if (!closed) res.uncork?.();
  };
  const write = (chunk: string): void => {
    if (closed) return;
    if (!corked && res.cork && res.uncork) {
      corked = true;
      res.cork();
      if (options.flushMs && options.flushMs > 0) setTimeout(uncork, options.flushMs);
      else setImmediate(uncork);
    }
    try {
      res.write(chunk);
    } catch {
      // the socket went away under us; `close` may never come
      cleanup();
      return;
    }
    if (res.writableLength !== undefined && res.writableLength > maxBuffered) {
      cleanup();
      res.end();
    }
  };

  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders?.();
  res.on('close', cleanup);
  if (options.retryMs !== undefined) write(`retry: ${Math.max(0, Math.floor(options.retryMs))}\n\n`);

  const lastId = parseLastEventId(options.lastEventId ?? req.headers['last-event-id']);
  let backlog;
  if (lastId !== undefined && lastId <= bus.lastSeq) {
    if (!bus.covers(lastId)) write(`: events ${lastId + 1}..${bus.firstSeq - 1} are no longer buffered\n\n`);
    backlog = bus.since(lastId).filter((env) => filter(env.event));
  } else {
    // first connect, or an id from before a restart: the newest few
    const n = Math.max(0, options.replay ?? 50);
    backlog = n === 0 ? [] : bus.since(0).filter((env) => filter(env.event)).slice(-n);
  }
  for (const env of backlog) {
    write(frameOf(env.seq, env.event));
    sent++;
  }
  if (!closed) {
    unsubscribe = bus.subscribe((event, seq) => {
      write(frameOf(seq, event));
      sent++;
    }, filter);
    heartbeat = timers.setInterval(() => write(': ping\n\n'), options.heartbeatMs ?? 15_000);
  }

  return {
    close() {
      if (closed) return;
      cleanup();
      res.end();
    },
    get closed() {
      return closed;
    },
    get sent() {
      return sent;
    },
  };
}
