/** Checks for node settings as the editor saves them (text, possibly from `${ENV}`). */
import { NetbootError } from './errors';

/** A whole number from `min` to `max` (node settings may be strings, e.g. from `${ENV}`); empty is undefined. */
export function wholeNumber(name: string, v: string | number | undefined, min: number, max: number): number | undefined {
  if (v === undefined || v === '') return undefined;
  const t = String(v).trim();
  if (!/^\d+$/.test(t) || Number(t) < min || Number(t) > max) throw new NetbootError('validation', `${name}: "${t}" must be a whole number from ${min} to ${max}`, { field: name });
  return Number(t);
}
