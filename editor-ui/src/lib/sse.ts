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
    this.buf += chunk;
    const out: SseMessage[] = [];
    let nl: number;
    while ((nl = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + (this.buf.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (this.data.length) out.push({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
        if (this.id !== undefined) this.lastId = this.id;
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id' && !value.includes('\0')) this.id = value;
    }
    return out;
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
