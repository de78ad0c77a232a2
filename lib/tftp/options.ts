/**
 * TFTP option negotiation: blksize (RFC 2348), tsize and timeout (RFC 2349), windowsize (RFC 7440).
 *
 * Rules:
 *  - option names are case-insensitive; unknown options are ignored;
 *  - a malformed or out-of-range value makes us ignore that option (never refuse the transfer);
 *  - only accepted options are echoed in the OACK; when nothing is accepted there is no OACK and the
 *    transfer starts with plain 512-byte DATA (RFC 2347 compatibility);
 *  - blksize is capped by `maxBlksize` and by `mtu - 32` (20 IPv4 + 8 UDP + 4 TFTP header bytes);
 *  - timeout 1..255 is echoed exactly;
 *  - windowsize 1..65535 is capped by `maxWindowsize` (reads only: uploads are lock-step);
 *  - tsize: in a read, answered with the size when the size is known (omitted otherwise); in a write,
 *    the client's announced size is echoed (and checked against the upload limit by the caller).
 */
import { DEFAULT_BLKSIZE, MAX_BLKSIZE, MIN_BLKSIZE, type TftpOptionList } from './packet';

export interface NegotiationLimits {
  /** Largest blksize we agree to (default 65464). */
  maxBlksize?: number;
  /** Link MTU; blksize is capped at mtu - 32 (default 1500 → 1468). */
  mtu?: number;
  /** Largest windowsize we agree to (default 64). */
  maxWindowsize?: number;
}

export const DEFAULT_MTU = 1500;
export const DEFAULT_MAX_WINDOWSIZE = 64;
/** IPv4 (20) + UDP (8) + TFTP DATA header (4). */
export const MTU_OVERHEAD = 32;

export interface NegotiationInput {
  /** Lower-cased option names → values, as parsed from the request. */
  options: Record<string, string>;
  /** 'read' answers tsize with `size`; 'write' echoes the client's tsize. */
  direction: 'read' | 'write';
  /** Size of what will be sent (read), when known. */
  size?: number;
  limits?: NegotiationLimits;
}

export interface NegotiatedOptions {
  blksize: number;
  windowsize: number;
  /** Client's `timeout` in seconds, when accepted. */
  timeoutSec?: number;
  /** For writes: the size the client announced. */
  tsize?: number;
  /** Options to put in the OACK, in a stable order; empty → send no OACK. */
  oack: TftpOptionList;
}

/** Strict unsigned decimal: no sign, no spaces, no hex, at most 10 digits. */
function parseUint(value: string | undefined): number | undefined {
  if (value === undefined || !/^[0-9]{1,10}$/.test(value)) return undefined;
  return Number(value);
}

/** The blksize cap that results from the limits. */
export function blksizeCap(limits: NegotiationLimits = {}): number {
  const mtu = limits.mtu ?? DEFAULT_MTU;
  const byMtu = Math.max(MIN_BLKSIZE, Math.floor(mtu) - MTU_OVERHEAD);
  const byConfig = limits.maxBlksize ?? MAX_BLKSIZE;
  return Math.max(MIN_BLKSIZE, Math.min(MAX_BLKSIZE, byMtu, byConfig));
}

export function negotiateOptions(input: NegotiationInput): NegotiatedOptions {
  const { options, direction, size } = input;
  const limits = input.limits ?? {};
  const oack: TftpOptionList = [];
  const result: NegotiatedOptions = { blksize: DEFAULT_BLKSIZE, windowsize: 1, oack };

  const blk = parseUint(options.blksize);
  if (blk !== undefined && blk >= MIN_BLKSIZE) {
    result.blksize = Math.min(blk, blksizeCap(limits));
    oack.push(['blksize', String(result.blksize)]);
  }

  if (options.tsize !== undefined) {
    if (direction === 'read') {
      if (size !== undefined && Number.isSafeInteger(size) && size >= 0) oack.push(['tsize', String(size)]);
    } else {
      const announced = parseUint(options.tsize);
      if (announced !== undefined) {
        result.tsize = announced;
        oack.push(['tsize', String(announced)]);
      }
    }
  }

  const timeout = parseUint(options.timeout);
  if (timeout !== undefined && timeout >= 1 && timeout <= 255) {
    result.timeoutSec = timeout;
    oack.push(['timeout', options.timeout]);
  }

  const win = parseUint(options.windowsize);
  const maxWin = Math.max(1, Math.min(65535, Math.floor(limits.maxWindowsize ?? DEFAULT_MAX_WINDOWSIZE)));
  if (direction === 'read' && win !== undefined && win >= 1 && win <= 65535) {
    result.windowsize = Math.min(win, maxWin);
    oack.push(['windowsize', String(result.windowsize)]);
  }

  return result;
}
