/**
 * A machine's log as the boot log view shows it: the events the inventory kept (GET
 * /netboot/api/devices/<mac>/events) and then the live ones from the stream, one line each.
 * Transfer progress ticks are left out (the timeline shows them as bars); an uploaded log file
 * (WinPE `setupact.log` …) is one line whose text opens below it.
 */
import type { BootEvent } from './fleet';

export interface StoredEvent { seq: number; ts: string; type: string; mac?: string; ip?: string; message?: string; data?: Record<string, unknown> }
export interface LogLine {
  key: string;
  ts: number;
  type: string;
  level: string;
  text: string;
  /** An uploaded log file: its name, and its text when the stored event carries it. */
  upload?: { name: string; bytes: number; text?: string };
}

const NOISE = new Set(['tftp.progress', 'http.progress', 'iscsi.stats', 'tftp.probe']);

export function fromStored(e: StoredEvent): LogLine | undefined {
  if (NOISE.has(e.type)) return undefined;
  const d = e.data ?? {};
  const ts = Date.parse(e.ts);
  const line: LogLine = { key: `s${e.seq}`, ts: Number.isFinite(ts) ? ts : 0, type: e.type, level: typeof d.level === 'string' ? d.level : 'info', text: e.message ?? describe(d) };
  if (e.type === 'boot.log_upload') line.upload = { name: String(d.name ?? 'log'), bytes: Number(d.bytes ?? 0), ...(typeof d.text === 'string' ? { text: d.text } : {}) };
  return line;
}

let liveSeq = 0;
export function fromLive(e: BootEvent): LogLine | undefined {
  if (NOISE.has(e.type)) return undefined;
  const text = typeof e.line === 'string' ? e.line : typeof e.message === 'string' ? e.message : describe(e);
  const line: LogLine = { key: `l${++liveSeq}`, ts: e.ts, type: e.type, level: typeof e.level === 'string' ? e.level : 'info', text };
  if (e.type === 'boot.log_upload') line.upload = { name: String(e.name ?? 'log'), bytes: Number(e.bytes ?? 0) };
  return line;
}

/** The facts of an event that has no message: `to=kernel path=/boot/vmlinuz …`. */
function describe(d: Record<string, unknown>): string {
  const keys = ['to', 'stage', 'path', 'file', 'arch', 'yiaddr', 'status', 'reason', 'target', 'bytes', 'size', 'durationMs', 'error'];
  return keys.filter((k) => d[k] !== undefined && d[k] !== null && d[k] !== '').map((k) => `${k}=${String(d[k])}`).join(' ');
}

/** Keeps the newest `max` lines; a live line equal to a stored one (same type, time and text) is not shown twice. */
export function merge(lines: LogLine[], more: LogLine[], max = 2000): LogLine[] {
  const seen = new Set(lines.map((l) => `${l.type}|${l.ts}|${l.text}`));
  const out = [...lines];
  for (const l of more) {
    const k = `${l.type}|${l.ts}|${l.text}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(l);
  }
  return out.length > max ? out.slice(out.length - max) : out;
}
