/**
 * Typed errors for the whole package. `code` is stable and machine-readable, and `details` carries
 * the facts (field, port, path...) that make the message useful. Messages wrap context from the inside out: "parsing option 93 from aa:..: length 3, want 2".
 */
export type NetbootErrorCode =
  | 'invalid_mac'
  | 'validation'
  | 'not_found'
  | 'conflict'
  | 'store_corrupt'
  | 'store_io'
  | 'bind_failed'
  | 'protocol'
  | 'unsafe_value'
  | 'template'
  | 'timeout'
  /** A helper the server needs (tgtd, a tool) is missing, not running or not allowed to run. */
  | 'unavailable'
  | 'internal';

export class NetbootError extends Error {
  readonly code: NetbootErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: NetbootErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetbootError';
    this.code = code;
    this.details = details;
  }

  /** Prefix the message with what we were doing, keeping code and details. */
  static wrap(context: string, err: unknown): NetbootError {
    if (err instanceof NetbootError) {
      return new NetbootError(err.code, `${context}: ${err.message}`, err.details, { cause: err });
    }
    const message = err instanceof Error ? err.message : String(err);
    return new NetbootError('internal', `${context}: ${message}`, {}, { cause: err });
  }
}

export function isNetbootError(err: unknown, code?: NetbootErrorCode): err is NetbootError {
  return err instanceof NetbootError && (code === undefined || err.code === code);
}
