import * as fs from 'node:fs';
import type { ServerResponse } from 'node:http';

/**
 * Streams bytes [0, size) of a file to an HTTP response with two reused buffers per transfer: one
 * is read from disk while the other is written to the socket, and a buffer is read into again only
 * once the socket has taken it (the write's callback). Nothing is allocated or copied per chunk,
 * unlike `fs.createReadStream`, which allocates a new buffer for every read: at 1 MiB reads and 20
 * parallel downloads those fresh allocations (page faults of new memory) cost more CPU than the
 * transfer itself.
 *
 * Buffers come from a small shared free list, so back-to-back downloads reuse them too. A buffer
 * whose write never completed (the client went away) is left to the garbage collector, never reused.
 * Beyond BIG_TRANSFERS at once (a boot storm: hundreds of machines fetching their kernels), a new
 * transfer gets 128 KiB buffers instead: two 1 MiB buffers each would make 200 downloads hold
 * 400 MiB, where their speed is the network's anyway.
 */
export const PUMP_CHUNK = 1 << 20;
const STORM_CHUNK = 128 << 10;
const BIG_TRANSFERS = 32;
const POOL_MAX = 32;
const pool: Buffer[] = [];
/** Transfers under way (started, not yet stopped). */
let active = 0;

function take(): Buffer {
  if (active > BIG_TRANSFERS) return Buffer.allocUnsafeSlow(STORM_CHUNK);
  return pool.pop() ?? Buffer.allocUnsafeSlow(PUMP_CHUNK);
}

function give(b: Buffer): void {
  if (b.length === PUMP_CHUNK && pool.length < POOL_MAX) pool.push(b);
}

export interface Pumped {
  /** Bytes handed to the socket so far. */
  bytes(): number;
}

/** `fd` is open for reading (this closes it), `res` has its headers set, `size` > 0. A read error destroys the response. */
export function pumpFile(fd: number, size: number, res: ServerResponse): Pumped {
  let written = 0;
  let pos = 0;
  let stopped = false;
  let inFlight = 0;
  let reading = false;
  let closing = false;
  const free: Buffer[] = [];

  const closeFd = () => {
    if (!reading && !closing) {
      closing = true;
      fs.close(fd, () => undefined);
    }
  };
  const stop = () => {
    if (stopped) return;
    stopped = true;
    active--;
    for (const b of free) give(b);
    free.length = 0;
    closeFd();
  };
  const fail = () => {
    stop();
    res.destroy();
  };
  const next = () => {
    if (stopped || reading || pos >= size || free.length === 0) return;
    const buf = free.pop()!;
    const want = Math.min(buf.length, size - pos);
    reading = true;
    fs.read(fd, buf, 0, want, pos, (err, n) => {
      reading = false;
      if (stopped) {
        give(buf);
        closeFd();
        return;
      }
      if (err || n === 0) return fail();
      pos += n;
      inFlight++;
      const last = pos >= size;
      const done = (werr?: Error | null) => {
        inFlight--;
        if (werr) return fail();
        written += n;
        free.push(buf);
        if (last && inFlight === 0) stop();
        else next();
      };
      if (last) res.end(buf.subarray(0, n), done as () => void);
      else res.write(buf.subarray(0, n), done);
      next();
    });
  };

  active++;
  // the client may have gone while the file was being opened: then no 'close' is coming
  if (res.destroyed || !res.socket || res.socket.destroyed) {
    stop();
    return { bytes: () => 0 };
  }
  res.once('close', stop);
  free.push(take(), take());
  next();
  return { bytes: () => written };
}
