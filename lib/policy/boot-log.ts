import { NetbootError } from '../core/errors';
import { normalizeMac } from '../core/mac';
import type { BootEvent, InventoryStore } from '../store';

/**
 * Boot progress reports and log uploads from machines, stored as boot events of their MAC:
 * `POST /api/v1/boot/log` (`mac`, `stage` or `progress`, `line`; query or JSON body) and
 * `PUT /api/v1/boot/winpe/logs/upload?mac=&name=` (the body is the log file).
 */
export const LOG_LINE_MAX = 4096;
export const UPLOAD_MAX_BYTES = 1024 * 1024;
/** Log uploads kept per machine (the event log also caps its total, oldest first). */
export const UPLOADS_PER_MACHINE_MAX_BYTES = 8 * 1024 * 1024;

function bad(field: string, why: string, status = 400): never {
  throw new NetbootError('validation', `boot log: field "${field}": ${why}`, { field, status });
}

function field(src: Record<string, unknown>, name: string, max: number, re?: RegExp): string | undefined {
  const v = src[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') bad(name, 'must be given once, as text');
  const s = String(v);
  if (s.length > max) bad(name, `is ${s.length} characters long (limit ${max})`, name === 'line' ? 413 : 400);
  if (re && !re.test(s)) bad(name, `must match ${re.source}`);
  return s;
}

function macOf(src: Record<string, unknown>): string {
  const raw = src.mac;
  if (raw === undefined || raw === '') bad('mac', 'is required');
  try {
    return normalizeMac(raw);
  } catch (err) {
    return bad('mac', (err as Error).message);
  }
}

function merged(query: unknown, body: unknown): Record<string, unknown> {
  const q = query && typeof query === 'object' ? (query as Record<string, unknown>) : {};
  const b = body && typeof body === 'object' && !Buffer.isBuffer(body) && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  return { ...b, ...q };
}

/** A progress line; stage/progress/line are all optional, but one of them must be there. */
export async function recordBootLog(store: Pick<InventoryStore, 'appendEvent'>, query: unknown, body: unknown, ip?: string): Promise<BootEvent> {
  const src = merged(query, body);
  const mac = macOf(src);
  const stage = field(src, 'stage', 64, /^[A-Za-z0-9._:-]+$/);
  const progress = field(src, 'progress', 8, /^\d{1,3}(\.\d+)?$/);
  let line = field(src, 'line', LOG_LINE_MAX);
  if (line === undefined && typeof body === 'string' && body.trim() !== '') {
    if (Buffer.byteLength(body) > LOG_LINE_MAX) bad('line', `is ${Buffer.byteLength(body)} bytes long (limit ${LOG_LINE_MAX})`, 413);
    line = body.trim();
  }
  if (stage === undefined && progress === undefined && line === undefined) bad('stage', 'give stage, progress or line');
  if (progress !== undefined && Number(progress) > 100) bad('progress', 'must be 0-100');
  // strip control characters except tab so a log line cannot fake terminal output
  const clean = line === undefined ? undefined : [...line].filter((c) => c === '\t' || (c >= ' ' && c !== '\x7f')).join('');
  return store.appendEvent({
    type: 'boot.log', mac, ...(ip ? { ip } : {}),
    message: clean ?? stage ?? `progress ${progress}%`,
    data: { ...(stage ? { stage } : {}), ...(progress ? { progress: Number(progress) } : {}) },
  });
}

/** A whole log file (WinPE `setupact.log` …), kept as one event with its text. */
export async function recordLogUpload(store: Pick<InventoryStore, 'appendEvent'> & Partial<Pick<InventoryStore, 'eventBytes'>>, query: unknown, body: unknown, ip?: string, maxBytes = UPLOAD_MAX_BYTES, perMachine = UPLOADS_PER_MACHINE_MAX_BYTES): Promise<BootEvent> {
  const src = merged(query, {});
  const mac = macOf(src);
  const name = field(src, 'name', 64, /^[A-Za-z0-9][A-Za-z0-9._-]*$/) ?? bad('name', 'is required');
  let text: string;
  if (Buffer.isBuffer(body)) text = body.toString('utf8');
  else if (typeof body === 'string') text = body;
  else if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)) text = '';
  else text = JSON.stringify(body);
  const size = Buffer.byteLength(text);
  if (size > maxBytes) bad('(body)', `log is ${size} bytes (limit ${maxBytes})`, 413);
  const kept = store.eventBytes?.(mac, 'boot.log_upload') ?? 0;
  if (kept + size > perMachine) bad('(body)', `this machine's uploaded logs already take ${kept} bytes (limit ${perMachine} per machine); older ones leave as the event log rotates`, 413);
  return store.appendEvent({
    type: 'boot.log_upload', mac, ...(ip ? { ip } : {}),
    message: `uploaded ${name} (${size} bytes)`,
    data: { name, bytes: size, text: text.replace(/\0/g, '') },
  });
}
