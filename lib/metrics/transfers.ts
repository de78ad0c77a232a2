/**
 * Turns transfer events (start / progress / done / abort) into byte deltas, so that a figure can
 * count bytes as they move rather than only when a transfer ends, without counting any byte twice.
 * Also knows which transfers are in flight and how far along each one is.
 */
import type { HttpEvent, TftpEvent } from '../events/vocabulary';

export interface InFlight {
  key: string;
  path: string;
  mac?: string;
  bytes: number;
  size?: number;
  startedAt: number;
  lastTs: number;
}

const TERMINAL = new Set(['tftp.done', 'tftp.abort', 'tftp.probe', 'tftp.notfound', 'http.done']);

export function transferKey(e: TftpEvent | HttpEvent): string {
  const proto = e.type.slice(0, 4);
  const who = e.ip ?? e.mac ?? '?';
  const conn = 'port' in e && e.port !== undefined ? e.port : 'requestId' in e && e.requestId !== undefined ? e.requestId : '';
  return `${proto}|${who}|${conn}|${e.path}`;
}

export class TransferTracker {
  private readonly active = new Map<string, InFlight>();

  /** Bytes this event adds beyond what earlier events of the same transfer already reported. */
  observe(e: TftpEvent | HttpEvent): number {
    const key = transferKey(e);
    let t = this.active.get(key);
    if (!t && !TERMINAL.has(e.type)) {
      t = { key, path: e.path, mac: e.mac, bytes: 0, size: e.size, startedAt: e.ts, lastTs: e.ts };
      this.active.set(key, t);
    }
    const seen = t?.bytes ?? 0;
    const now = e.bytes ?? seen;
    const delta = Math.max(0, now - seen);
    if (t) {
      t.bytes = Math.max(seen, now);
      t.lastTs = e.ts;
      if (e.size !== undefined) t.size = e.size;
      if (e.mac) t.mac = e.mac;
    }
    if (TERMINAL.has(e.type)) this.active.delete(key);
    return delta;
  }

  inFlight(): InFlight[] {
    return [...this.active.values()];
  }

  get activeCount(): number {
    return this.active.size;
  }

  /** Forgets transfers with no news for `maxIdleMs` (their end event was lost). */
  prune(now: number, maxIdleMs: number): number {
    let n = 0;
    for (const [key, t] of this.active) {
      if (now - t.lastTs >= maxIdleMs) {
        this.active.delete(key);
        n++;
      }
    }
    return n;
  }
}
