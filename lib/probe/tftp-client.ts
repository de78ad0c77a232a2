/**
 * The probe's TFTP read: the shared receive engine (`tftp/client.ts`) with the probe's defaults
 * (retry 500 ms, give up after 3 s of silence or 10 min in all, keep no bytes) and its result shape,
 * `TftpOutcome`. The probe passes options in the firmware's wire order and, for a size probe, the
 * firmware's ERROR (EDK2: 8 "User aborted the transfer"; Pi: 0 "Early terminate").
 *
 * It never throws: every outcome, including a socket that cannot be bound, is a `TftpOutcome`.
 */
import { errorCodeName } from '../tftp/packet';
import { tftpReceive, type TftpReceiveOptions } from '../tftp/client';
import type { TftpOutcome } from './types';

export type TftpReadOptions = Omit<TftpReceiveOptions, 'mode' | 'maxRetries' | 'dallyMs'>;

export async function tftpRead(opts: TftpReadOptions): Promise<TftpOutcome> {
  const r = await tftpReceive(opts);
  const f = r.failure;
  return {
    ok: r.ok,
    oack: r.oack,
    probed: r.probed,
    bytes: r.bytes,
    blksize: r.blksize,
    windowsize: r.windowsize,
    durationMs: Math.round(r.durationMs),
    sha256: r.probed ? undefined : r.sha256,
    data: r.probed ? undefined : r.data,
    error: f && (f.kind === 'remote' ? { kind: 'remote', code: f.code, message: f.message || errorCodeName(f.code) } : { kind: f.kind, message: f.message }),
  };
}
