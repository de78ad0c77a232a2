import { NetbootError } from '../core/errors';

/** A framework-free view of an HTTP request, so the API logic is testable without Express. */
export interface ApiRequest {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
}

export interface ApiResponse {
  status: number;
  body?: unknown;
  /** Sent as is (with a Content-Type header) instead of JSON. */
  text?: string;
  headers?: Record<string, string>;
}

export type Permission = 'read' | 'write';

export interface Route<Ctx> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express-style path relative to the API root, e.g. `/devices/:mac`. */
  path: string;
  permission: Permission;
  handler: (req: ApiRequest, ctx: Ctx) => Promise<ApiResponse>;
}

const STATUS: Partial<Record<NetbootError['code'], number>> = {
  validation: 400,
  invalid_mac: 400,
  unsafe_value: 400,
  not_found: 404,
  conflict: 409,
  store_corrupt: 503,
  store_io: 503,
  timeout: 504,
  unavailable: 503,
};

/** Maps an error to a JSON answer: `{ error: { code, message, field? } }`. Unknown errors are 500 without internals. */
export function errorResponse(err: unknown): ApiResponse {
  if (err instanceof NetbootError) {
    const status = STATUS[err.code] ?? 500;
    const field = typeof err.details.field === 'string' ? err.details.field : undefined;
    // a 503 is a state that passes (starting, store reopening): tell clients when to retry
    return { status, body: { error: { code: err.code, message: err.message, ...(field ? { field } : {}) } }, ...(status === 503 ? { headers: { 'Retry-After': '2' } } : {}) };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal error' } } };
}

export function queryString(q: Record<string, unknown>, key: string): string | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new NetbootError('validation', `query parameter "${key}" must be given once, as text`, { field: key });
  return v;
}

export function queryInt(q: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = queryString(q, key);
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new NetbootError('validation', `query parameter "${key}" must be a whole number`, { field: key });
  const n = Number(v);
  if (n < min || n > max) throw new NetbootError('validation', `query parameter "${key}" must be between ${min} and ${max}`, { field: key });
  return n;
}
