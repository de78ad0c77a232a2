import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus, MetricsHub, openEventStream, type NetbootEvent, type SseResponseLike, type SseTimers } from '../../../lib/metrics';

interface Frame {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** Splits an SSE byte stream into frames (only complete ones). */
function parseFrames(text: string): Frame[] {
  const frames: Frame[] = [];
  const blocks = text.split('\n\n');
  blocks.pop(); // incomplete tail (or '')
  for (const block of blocks) {
    const f: Frame = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) f.comment = line.slice(1).trim();
      else {
        const i = line.indexOf(':');
        const field = line.slice(0, i);
        const v = line.slice(i + 1).replace(/^ /, '');
        if (field === 'id' || field === 'event' || field === 'data') f[field] = v;
      }
    }
    frames.push(f);
  }
  return frames;
}

class FakeResponse implements SseResponseLike {
  status?: number;
  headers?: Record<string, string>;
  chunks: string[] = [];
  ended = false;
  private closers: (() => void)[] = [];
  writeHead(status: number, headers: Record<string, string>) {
    this.status = status;
    this.headers = headers;
  }
  write(chunk: string) {
    if (this.ended) throw new Error('write after end');
    this.chunks.push(chunk);
    return true;
  }
  end() {
    this.ended = true;
  }
  on(_event: 'close', fn: () => void) {
    this.closers.push(fn);
  }
  /** The client went away. */
  disconnect() {
    this.ended = true;
    for (const fn of this.closers) fn();
  }
  frames(): Frame[] {
    return parseFrames(this.chunks.join(''));
  }
  events(): { id: number; event: string; data: NetbootEvent }[] {
    return this.frames().filter((f) => f.id !== undefined).map((f) => ({ id: Number(f.id), event: f.event!, data: JSON.parse(f.data!) as NetbootEvent }));
  }
}

function fakeTimers(): SseTimers & { fire(): void; active: number } {
  const fns = new Map<number, () => void>();
  let next = 1;
  return {
    setInterval(fn) {
      fns.set(next, fn);
      return next++;
    },
    clearInterval(h) {
      fns.delete(h as number);
    },
    fire() {
      for (const fn of fns.values()) fn();
    },
    get active() {
      return fns.size;
    },
  };
}

const MAC = '52:54:00:12:34:56';
const log = (n: number): NetbootEvent => ({ type: 'boot.log', ts: 1000 + n, mac: MAC, line: `line ${n}` });

describe('SSE over a fake response', () => {
  it('writes the headers, replays the newest events, then streams new ones in order with ids', () => {
    const bus = new EventBus<NetbootEvent>();
    for (let n = 1; n <= 5; n++) bus.publish(log(n));
    const res = new FakeResponse();
    const timers = fakeTimers();
    const s = openEventStream(bus, { headers: {} }, res, { replay: 3, timers });
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive' });
    bus.publish(log(6));
    bus.publish({ type: 'stall', ts: 5000, mac: MAC, stage: 'kernel', bootId: 1, quietMs: 180_000 });
    const evs = res.events();
    expect(evs.map((e) => e.id)).toEqual([3, 4, 5, 6, 7]);
    expect(evs.map((e) => e.event)).toEqual(['boot.log', 'boot.log', 'boot.log', 'boot.log', 'stall']);
    expect(evs[3].data).toEqual(log(6));
    expect(s.sent).toBe(5);

    timers.fire();
    expect(res.frames().at(-1)).toEqual({ comment: 'ping' });
    res.disconnect();
    expect(s.closed).toBe(true);
    expect(bus.subscriberCount).toBe(0);
    expect(timers.active).toBe(0);
  });

  it('on reconnect with Last-Event-ID replays only the missed events', () => {
    const bus = new EventBus<NetbootEvent>();
    for (let n = 1; n <= 4; n++) bus.publish(log(n));
    const first = new FakeResponse();
    openEventStream(bus, { headers: {} }, first, { timers: fakeTimers() });
    expect(first.events().map((e) => e.id)).toEqual([1, 2, 3, 4]);
    first.disconnect();
    for (let n = 5; n <= 7; n++) bus.publish(log(n)); // missed while away
    const lastSeen = String(first.events().at(-1)!.id);

    const second = new FakeResponse();
    openEventStream(bus, { headers: { 'last-event-id': lastSeen } }, second, { timers: fakeTimers() });
    bus.publish(log(8));
    expect(second.events().map((e) => e.id)).toEqual([5, 6, 7, 8]);
    expect(second.events().map((e) => (e.data as { line: string }).line)).toEqual(['line 5', 'line 6', 'line 7', 'line 8']);
  });

  it('says so when the missed events are no longer buffered, and filters per MAC', () => {
    const bus = new EventBus<NetbootEvent>({ capacity: 3 });
    for (let n = 1; n <= 6; n++) bus.publish(n % 2 ? log(n) : { ...log(n), mac: '52:54:00:00:00:01' });
    const res = new FakeResponse();
    openEventStream(bus, { headers: { 'last-event-id': '1' } }, res, { timers: fakeTimers(), filter: (e) => e.mac === MAC });
    expect(res.frames()[0]).toEqual({ comment: 'events 2..3 are no longer buffered' });
    expect(res.events().map((e) => e.id)).toEqual([5]);
    // garbage ids count as a first connect
    const res2 = new FakeResponse();
    openEventStream(bus, { headers: { 'last-event-id': 'abc' } }, res2, { timers: fakeTimers(), replay: 1 });
    expect(res2.events().map((e) => e.id)).toEqual([6]);
  });

  it('on a response that can cork, sends the frames of one turn of the event loop in one write', async () => {
    const bus = new EventBus<NetbootEvent>();
    const res = new FakeResponse() as FakeResponse & { cork(): void; uncork(): void; corks: number; flushed: string[][] };
    let held: string[] = [];
    let corked = false;
    res.corks = 0;
    res.flushed = [];
    const write = res.write.bind(res);
    res.cork = () => { corked = true; res.corks++; };
    res.uncork = () => { corked = false; res.flushed.push(held); held = []; };
    res.write = (chunk: string) => (corked ? (held.push(chunk), true) : write(chunk));
    openEventStream(bus, { headers: {} }, res, { timers: fakeTimers(), replay: 0 });
    for (let n = 1; n <= 3; n++) bus.publish(log(n));
    expect(res.corks).toBe(1);
    expect(res.flushed).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(res.flushed).toHaveLength(1);
    expect(parseFrames(res.flushed[0].join('')).map((f) => f.id)).toEqual(['1', '2', '3']);
    bus.publish(log(4));
    expect(res.corks).toBe(2);
  });

  it('with flushMs, gathers the frames of that long into one write', async () => {
    const bus = new EventBus<NetbootEvent>();
    const res = new FakeResponse() as FakeResponse & { cork(): void; uncork(): void; flushed: string[][] };
    let held: string[] = [];
    let corked = false;
    res.flushed = [];
    const write = res.write.bind(res);
    res.cork = () => { corked = true; };
    res.uncork = () => { corked = false; res.flushed.push(held); held = []; };
    res.write = (chunk: string) => (corked ? (held.push(chunk), true) : write(chunk));
    openEventStream(bus, { headers: {} }, res, { timers: fakeTimers(), replay: 0, flushMs: 50 });
    bus.publish(log(1));
    await new Promise((r) => setImmediate(r));
    bus.publish(log(2));
    expect(res.flushed).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    expect(res.flushed).toHaveLength(1);
    expect(parseFrames(res.flushed[0].join('')).map((f) => f.id)).toEqual(['1', '2']);
  });

  it('serialises each event once however many clients stream it', () => {
    const bus = new EventBus<NetbootEvent>();
    const clients = [new FakeResponse(), new FakeResponse(), new FakeResponse()];
    for (const res of clients) openEventStream(bus, { headers: {} }, res, { replay: 0, timers: fakeTimers() });
    const event = log(1);
    let stringified = 0;
    const json = JSON.stringify;
    JSON.stringify = ((...args: Parameters<typeof json>) => {
      stringified++;
      return json(...args);
    }) as typeof json;
    try {
      bus.publish(event);
    } finally {
      JSON.stringify = json;
    }
    expect(stringified).toBe(1);
    for (const res of clients) expect(res.events()).toEqual([{ id: 1, event: 'boot.log', data: event }]);
  });

  it('drops a client that stops reading', () => {
    const bus = new EventBus<NetbootEvent>();
    const res = new FakeResponse() as FakeResponse & { writableLength: number };
    res.writableLength = 0;
    const s = openEventStream(bus, { headers: {} }, res, { timers: fakeTimers(), maxBufferedBytes: 100 });
    res.writableLength = 101;
    bus.publish(log(1));
    expect(s.closed).toBe(true);
    expect(res.ended).toBe(true);
    expect(bus.subscriberCount).toBe(0);
  });
});

describe('SSE over a real HTTP server', () => {
  let server: http.Server | undefined;
  let hub: MetricsHub | undefined;
  afterEach(async () => {
    hub?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    hub = undefined;
  });

  async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, acc: { text: string }, done: (frames: Frame[]) => boolean): Promise<Frame[]> {
    const decoder = new TextDecoder();
    const deadline = Date.now() + 5000;
    while (!done(parseFrames(acc.text))) {
      if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(acc.text)}`);
      const { value, done: eof } = await reader.read();
      if (eof) throw new Error('stream ended early');
      acc.text += decoder.decode(value, { stream: true });
    }
    return parseFrames(acc.text);
  }

  it('streams replayed and live events to fetch, and resumes from Last-Event-ID', async () => {
    hub = new MetricsHub();
    const h = hub;
    server = http.createServer((req, res) => {
      if (req.url?.startsWith('/netboot/api/events')) h.stream(req, res, { replay: 10 });
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/netboot/api/events`;

    h.publish({ type: 'dhcp.discover', mac: MAC, isIpxe: false, clientClass: 'PXEClient' });
    h.publish({ type: 'decision', mac: MAC, action: 'menu', profile: 'debian' });

    const ac = new AbortController();
    const res = await fetch(url, { signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
    const reader = res.body!.getReader();
    const acc = { text: '' };
    // replay: discover (1), the stage event it caused (2), decision (3)
    let frames = await readUntil(reader, acc, (f) => f.length >= 3);
    expect(frames.map((f) => [f.id, f.event])).toEqual([['1', 'dhcp.discover'], ['2', 'stage'], ['3', 'decision']]);

    h.publish({ type: 'tftp.start', mac: MAC, ip: '10.0.0.5', path: 'undionly.kpxe' });
    frames = await readUntil(reader, acc, (f) => f.length >= 5);
    expect(frames.slice(3).map((f) => [f.id, f.event])).toEqual([['4', 'tftp.start'], ['5', 'stage']]);
    expect(JSON.parse(frames[4].data!)).toMatchObject({ type: 'stage', from: 'dhcp', to: 'firmware-tftp', mac: MAC });
    ac.abort();
    await reader.cancel().catch(() => undefined);
    // the server side notices the disconnect and unsubscribes (3 = timeline, devices, prometheus)
    for (let i = 0; i < 100 && h.bus.subscriberCount > 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(h.bus.subscriberCount).toBe(3);

    // missed while disconnected
    h.publish({ type: 'tftp.done', mac: MAC, ip: '10.0.0.5', path: 'undionly.kpxe', bytes: 100 });
    const ac2 = new AbortController();
    const res2 = await fetch(url, { signal: ac2.signal, headers: { 'Last-Event-ID': '5' } });
    const reader2 = res2.body!.getReader();
    const acc2 = { text: '' };
    frames = await readUntil(reader2, acc2, (f) => f.length >= 1);
    expect(frames.map((f) => [f.id, f.event])).toEqual([['6', 'tftp.done']]);
    ac2.abort();
    await reader2.cancel().catch(() => undefined);
  });
});
