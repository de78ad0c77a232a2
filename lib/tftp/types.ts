/** Small shared types of the TFTP layer. */
import type * as dgram from 'node:dgram';

export interface TftpPeer {
  address: string;
  port: number;
}

/** Injected time source and timers (tests may pass a fake). */
export interface TftpClock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: TftpClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Creates an unbound UDP socket; the transfer binds it to the server address, port 0. */
export type TftpSocketFactory = (type: 'udp4' | 'udp6') => dgram.Socket;

export interface TftpLogger {
  debug?(msg: string): void;
  info?(msg: string): void;
  warn?(msg: string): void;
}

/** Retransmission timing. The adaptive timeout (RFC 6298 style) stays inside [minMs, maxMs]. */
export interface TftpTiming {
  /** Timeout before the first RTT sample (default 300 ms). */
  initialMs: number;
  /** Lower bound of the adaptive timeout (default 200 ms: long enough that a slow firmware client
   *  is not sent needless duplicates, which some Pi 4 firmware mis-ACKs — protocols.md 1.4). */
  minMs: number;
  /** Upper bound (default 3000 ms); a client `timeout` option replaces it. */
  maxMs: number;
  /**
   * Windowed reads only: lower bound of the probe timeout (twice the smoothed RTT) after which the
   * newest block is resent alone, before the RTO resends the window (default 20 ms). A probe is one
   * packet, so a short wait costs little even when it turns out needless.
   */
  probeMinMs?: number;
}

export const DEFAULT_PROBE_MIN_MS = 20;
export const DEFAULT_TIMING: TftpTiming = { initialMs: 300, minMs: 200, maxMs: 3000, probeMinMs: DEFAULT_PROBE_MIN_MS };

/** Figures of one finished (or aborted) transfer. */
export interface TransferStats {
  bytes: number;
  durationMs: number;
  rateBps: number;
  retransmits: number;
  timeouts: number;
  blksize: number;
  windowsize: number;
}

/** How a transfer ended. */
export type TransferOutcome =
  | { kind: 'done'; stats: TransferStats }
  | { kind: 'probe'; stats: TransferStats }
  | { kind: 'aborted'; reason: string; stats: TransferStats };
