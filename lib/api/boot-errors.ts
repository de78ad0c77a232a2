import { errorResponse } from './route';

/**
 * The HTTP answer for an error on a public boot endpoint: the management API's JSON error shape
 * and status (400 validation, 404 not found, …), with a `status` in the error's details taking
 * precedence (413 for an oversize body).
 */
export function bootErrorAnswer(err: unknown): { statusCode: number; payload: unknown } {
  const out = errorResponse(err);
  const details = (err as { details?: Record<string, unknown> } | undefined)?.details;
  const status = typeof details?.status === 'number' ? details.status : out.status;
  return { statusCode: status, payload: out.body };
}
