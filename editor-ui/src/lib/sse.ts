/**
 * Server-Sent Events read with `fetch`, so the request can carry the editor's bearer token
 * (a browser's EventSource cannot send headers, and the server refuses a token in the URL).
 * The parser follows the HTML standard's event-stream rules for the fields the server sends
 * (`id`, `event`, `data`, comments); the reader reconnects with `Last-Event-ID`.
 */
export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/** Incremental parser: feed it text chunks, get whole messages back. */
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  lastId: string | undefined;

  push(chunk: string): SseMessage[] {
    // one pass over the text with indexOf: a chunk of a storm holds hundreds of frames, and cutting
    // the buffer after every line copied what was left of it each time
    const buf = this.buf + chunk;
    const out: SseMessage[] = [];
    let start = 0;
    let lf = buf.indexOf('\n');
    let cr = buf.indexOf('\r');
    for (;;) {
      if (lf >= 0 && lf < start) lf = buf.indexOf('\n', start);
      if (cr >= 0 && cr < start) cr = buf.indexOf('\r', start);
      const nl = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
      if (nl < 0) break;
      const line = buf.slice(start, nl);
      start = nl + (buf.charCodeAt(nl) === 13 && buf.charCodeAt(nl + 1) === 10 ? 2 : 1);
      this.line(line, out);
    }
    this.buf = buf.slice(start);
    return out;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line === '') {
      if (this.data.length) out.push({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
      if (this.id !== undefined) this.lastId = this.id;
      this.data = [];
      this.event = '';
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }
}

export interface StreamOptions {
  url: string;
  token: () => string | undefined;
  onMessage: (m: SseMessage) => void;
  /** true while connected, false while waiting to reconnect. */
  onState?: (connected: boolean, error?: string) => void;
  signal: AbortSignal;
  fetchImpl?: typeof fetch;
  retryMs?: number;
}

/** Reads the stream until `signal` aborts, reconnecting after a pause on any end or error. */
export async function readEventStream(o: StreamOptions): Promise<void> {
  const parser = new SseParser();
  const doFetch = o.fetchImpl ?? fetch;
  while (!o.signal.aborted) {
    try {
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      const t = o.token();
      if (t) headers.Authorization = `Bearer ${t}`;
      if (parser.lastId !== undefined) headers['Last-Event-ID'] = parser.lastId;
      const res = await doFetch(o.url, { headers, signal: o.signal, cache: 'no-store' });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      o.onState?.(true);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const m of parser.push(value)) o.onMessage(m);
      }
      o.onState?.(false);
    } catch (err) {
      if (o.signal.aborted) return;
      o.onState?.(false, (err as Error).message);
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, o.retryMs ?? 2000);
      o.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }
}
