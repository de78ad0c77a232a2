/**
 * A UDP socket read on a thread of its own, for the ports a boot storm floods: DHCP 67 and the
 * PXE boot-server port 4011.
 *
 * Why: libuv reads at most 32 datagrams from a socket per turn of the event loop, and in a storm a
 * turn also carries every running TFTP transfer's ACKs, the HTTP requests and the dashboards'
 * streams. 500 machines asking at once then wait 16 turns for the last answer, and on a loaded
 * host (the pages of 20 dashboards on the same two cores) those turns took more than the 1 s a PXE
 * ROM waits before it asks again. Here a thread that does nothing else drains the kernel's buffer
 * as packets come and hands them over in batches, and the main thread takes a whole batch in one
 * turn. The answer is still decided on the main thread (the store, the flows, the secure-boot
 * marks live there); its bytes go back to the thread, which sends them from the port.
 *
 * The object looks enough like a dgram.Socket for the DHCP server (send, message, setBroadcast) and
 * for the boot server's bookkeeping (address, close, the receive buffer). Two events of its own:
 * `overflow` (count), datagrams dropped because MAX_BACKLOG were already waiting for the main thread;
 * `lost` (Error), the thread ended without being asked to (its socket is closed with it).
 */
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { RemoteInfo } from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { describeBindError, type UdpBindRequest } from './bind';

type FromThread =
  | { kind: 'listening'; address: string; family: string; port: number; recvBuffer?: number }
  | { kind: 'bind-error'; code?: string; message: string }
  | { kind: 'messages'; data: Uint8Array; lengths: number[]; addresses: string[]; ports: number[]; dropped: number }
  | { kind: 'sent'; acks: Array<[id: number, code?: string, message?: string]> }
  | { kind: 'error'; code?: string; message: string }
  | { kind: 'closed' };

type SendCallback = (error: Error | null, bytes: number) => void;

/** The worker's source: a plain CommonJS file beside this one (copied into dist/ by the build). */
const WORKER_FILE = path.join(__dirname, 'udp-thread.worker.cjs');

/**
 * Datagrams handed over but not yet taken by the main thread, at most. A plain socket's bound is its
 * kernel buffer (4 MiB: about 4 000 DHCP packets); past this one the thread drops, and says how many.
 */
export const MAX_BACKLOG = 4096;

function errnoError(code: string | undefined, message: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(message);
  if (code) err.code = code;
  return err;
}

export class ThreadedUdpSocket extends EventEmitter {
  private readonly worker: Worker;
  /** [0]: datagrams the thread handed over that `message` listeners have not had yet. */
  private readonly held: Int32Array;
  private bound?: AddressInfo;
  private recvBuffer?: number;
  private nextId = 1;
  private readonly callbacks = new Map<number, { cb: SendCallback; bytes: number }>();
  private closed = false;
  private closing?: Promise<void>;

  private constructor(worker: Worker, held: Int32Array) {
    super();
    this.worker = worker;
    this.held = held;
  }

  /** Binds `req.address:req.port` on a new thread; rejects with the same `bind_failed` error as bindUdp. */
  static open(req: Pick<UdpBindRequest, 'purpose' | 'port' | 'address' | 'envVar' | 'broadcast' | 'shared' | 'recvBuffer'>, maxBacklog = MAX_BACKLOG): Promise<ThreadedUdpSocket> {
    const backlog = new SharedArrayBuffer(4);
    const worker = new Worker(WORKER_FILE, {
      workerData: { port: req.port, address: req.address, broadcast: req.broadcast === true, recvBuffer: req.recvBuffer, reuseAddr: req.shared === true, backlog, maxBacklog },
    });
    const socket = new ThreadedUdpSocket(worker, new Int32Array(backlog));
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        socket.closed = true;
        void worker.terminate();
        reject(describeBindError(err, req));
      };
      worker.on('message', (m: FromThread) => {
        if (m.kind === 'listening') {
          socket.bound = { address: m.address, family: m.family, port: m.port };
          socket.recvBuffer = m.recvBuffer;
          settled = true;
          resolve(socket);
        } else if (m.kind === 'bind-error') fail(errnoError(m.code, m.message));
        else socket.onThreadMessage(m);
      });
      worker.on('error', (err) => {
        if (!settled) fail(err);
        else socket.emit('error', new Error(`the socket thread of ${req.purpose} failed: ${err.message}`));
      });
      worker.on('exit', (code) => {
        if (!settled) fail(errnoError(undefined, `the socket thread exited (code ${code}) before it bound`));
        else if (!socket.closed) {
          socket.closed = true;
          socket.failSends('the socket thread exited');
          // its socket went with it; whoever owns the port binds it again
          socket.emit('lost', new Error(`the socket thread of ${req.purpose} ended unexpectedly (exit code ${code})`));
        }
      });
    });
  }

  private onThreadMessage(m: FromThread): void {
    switch (m.kind) {
      case 'messages': {
        if (m.dropped > 0) this.emit('overflow', m.dropped);
        const buf = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
        let at = 0;
        try {
          for (let i = 0; i < m.lengths.length; i++) {
            const len = m.lengths[i];
            const rinfo: RemoteInfo = { address: m.addresses[i], family: 'IPv4', port: m.ports[i], size: len };
            this.emit('message', buf.subarray(at, at + len), rinfo);
            at += len;
          }
        } finally {
          Atomics.sub(this.held, 0, m.lengths.length);
        }
        break;
      }
      case 'sent':
        for (const [id, code, message] of m.acks) {
          const waiting = this.callbacks.get(id);
          if (!waiting) continue;
          this.callbacks.delete(id);
          waiting.cb(message === undefined ? null : errnoError(code, message), message === undefined ? waiting.bytes : 0);
        }
        break;
      case 'error':
        this.emit('error', errnoError(m.code, m.message));
        break;
      default:
        break;
    }
  }

  private failSends(why: string): void {
    for (const { cb } of this.callbacks.values()) cb(errnoError('ERR_SOCKET_DGRAM_NOT_RUNNING', why), 0);
    this.callbacks.clear();
  }

  /** Sends `msg` from the bound port; the callback runs once the thread has handed it to the kernel. */
  send(msg: Uint8Array, port: number, address: string, callback?: SendCallback): void {
    if (this.closed) {
      const err = errnoError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
      if (callback) queueMicrotask(() => callback(err, 0));
      return;
    }
    // a copy the size of the datagram (msg may be a view into a larger pool)
    const data = Uint8Array.prototype.slice.call(msg);
    let id = 0;
    if (callback) {
      id = this.nextId++;
      if (this.nextId > 0x7fffffff) this.nextId = 1;
      this.callbacks.set(id, { cb: callback, bytes: data.byteLength });
    }
    this.worker.postMessage({ kind: 'send', id, data, port, address }, [data.buffer]);
  }

  setBroadcast(flag: boolean): void {
    if (!this.closed) this.worker.postMessage({ kind: 'broadcast', flag });
  }

  address(): AddressInfo {
    if (!this.bound) throw errnoError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    return { ...this.bound };
  }

  /** What the kernel granted as SO_RCVBUF (bytes), as read once bound. */
  getRecvBufferSize(): number {
    if (this.recvBuffer === undefined) throw errnoError('ERR_SOCKET_BUFFER_SIZE', 'the receive buffer size is unknown');
    return this.recvBuffer;
  }

  /** Closes the socket and ends its thread; sends still in flight fail. */
  close(callback?: () => void): void {
    if (!this.closing) {
      this.closing = new Promise<void>((resolve) => {
        if (this.closed) {
          void this.worker.terminate().then(() => resolve(), () => resolve());
          return;
        }
        this.closed = true;
        const done = () => {
          clearTimeout(hard);
          this.failSends('the socket closed');
          resolve();
        };
        // the thread closes its socket and ends; one that does not answer is stopped
        const hard = setTimeout(() => void this.worker.terminate().then(done, done), 2000);
        this.worker.once('exit', done);
        this.worker.postMessage({ kind: 'close' });
      });
    }
    if (callback) void this.closing.then(callback);
  }

  ref(): this {
    this.worker.ref();
    return this;
  }

  unref(): this {
    this.worker.unref();
    return this;
  }
}
