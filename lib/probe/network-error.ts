/**
 * A failure of the probe's own networking (cannot bind a port, no such interface, nothing can be
 * sent): the CLI exits 3, because it says nothing about whether the machine would boot.
 */
import { NetbootError, type NetbootErrorCode } from '../core/errors';

export class ProbeNetworkError extends NetbootError {
  constructor(code: NetbootErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
    this.name = 'ProbeNetworkError';
  }
}

export function isProbeNetworkError(err: unknown): err is ProbeNetworkError {
  return err instanceof ProbeNetworkError;
}
