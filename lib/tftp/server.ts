/**
 * TFTP server core. It does not own the listening socket: the caller binds port 69 (or any port) and
 * either `attach(socket)`es it or feeds datagrams to `handlePacket(buf, rinfo)`. Each transfer gets
 * its own socket from `socketFactory`, bound to `address`, port 0 (its TID).
 *
 * Events (all payloads are plain objects; see the interfaces below):
 *  - `request`   {path, rawPath, client, options, mode, direction}  a valid RRQ/WRQ arrived
 *  - `oack`      {path, client, options}                  options we accepted were sent
 *  - `progress`  {path, client, bytesAcked, size}          at most every `progressIntervalMs` (250 ms) per transfer
 *  - `done`      {path, client, bytes, durationMs, rateBps, retransmits, timeouts, blksize, windowsize, direction}
 *  - `probe`     {path, client}                           size probe: client aborted with ERROR 0/8 before any data was acked
 *  - `aborted`   {reason, path, client, bytes, retransmits} timeout, client error, server closing, read error...
 *  - `notfound`  {path, client}                           resolver answered null (ERROR 1 sent)
 *  - `refused`   {path, client, code, reason}             unsafe path, busy, uploads disabled, bad mode... (ERROR sent)
 *  - `malformed` {client, reason}                         a datagram that is not a valid request was dropped
 *  - `warning`   {message, error?}                        server-level trouble (socket bind failure, resolver crash)
 * The server never emits 'error', so a missing listener can never crash the process.
 */
import * as dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import { isIPv6 } from 'node:net';
import * as nodePath from 'node:path';
import { NetbootError } from '../core/errors';
import { udpSocket } from '../net/udp-socket';
import { negotiateOptions, type NegotiationLimits } from './options';
import { encodeError, parsePacket, TftpErrorCode, type RequestPacket } from './packet';
import { isInside, normalizeTftpPath } from './path';
import { MemoryBlocks, openRegularFile, StreamBlocks, type BlockSource } from './blocks';
import { FileReader, NetasciiReader, toNetascii, type TftpSource } from './source';
import { FilePackets } from './packets';
import { ReadTransfer, type TransferHooks } from './transfer';
import { DEFAULT_TIMING, systemClock, type TftpClock, type TftpLogger, type TftpPeer, type TftpSocketFactory, type TftpTiming, type TransferOutcome, type TransferStats } from './types';
import { WriteTransfer } from './write-transfer';

export interface TftpRequest {
  /** Normalised, root-relative path (see path.ts). */
  path: string;
  /** The filename exactly as the client sent it. */
  rawPath: string;
  client: TftpPeer;
  /** 'octet' or 'netascii'. */
  mode: string;
  /** Requested options, names lower-cased. */
  options: Record<string, string>;
}

/** Answers a read request: a source, or null for "file not found". */
export type TftpResolver = (req: TftpRequest) => Promise<TftpSource | null>;

export interface TftpServerOptions {
  /** Own IP address; transfer sockets bind to it (port 0). */
  address: string;
  /**
   * The local address to answer one client from, when the listening socket is bound to 0.0.0.0
   * and the address the client talked to cannot be read from the packet (Node has no
   * IP_PKTINFO). Default: `address` for every client.
   */
  replyAddress?: (client: TftpPeer) => string;
  resolver: TftpResolver;
  socketFactory?: TftpSocketFactory;
  maxBlksize?: number;
  /** Default 1500 → blksize at most 1468. */
  mtu?: number;
  /** Default 64. */
  maxWindowsize?: number;
  /** Default 500 transfers at once (including requests still being resolved). */
  maxTransfers?: number;
  /** Default 16 per client IP address. */
  maxTransfersPerClient?: number;
  /** The allowlist: a client it refuses gets an access violation and nothing else. */
  allow?: (address: string) => boolean;
  /** Silent timeouts before a transfer is aborted (default 5). */
  retries?: number;
  timing?: Partial<TftpTiming>;
  /** A resolver slower than this gets ERROR 0 (default 10 000 ms). */
  resolverTimeoutMs?: number;
  /** When set, WRQ uploads are written below this folder; otherwise WRQ gets ERROR 2. */
  uploadDir?: string;
  /** Largest accepted upload (default 64 MiB). */
  maxUploadBytes?: number;
  progressIntervalMs?: number;
  clock?: TftpClock;
  log?: TftpLogger;
}

export interface TftpRequestEvent extends TftpRequest {
  direction: 'read' | 'write';
}
export interface TftpOackEvent {
  path: string;
  client: TftpPeer;
  options: Record<string, string>;
}
export interface TftpProgressEvent {
  path: string;
  client: TftpPeer;
  bytesAcked: number;
  size: number | undefined;
}
/** A finished transfer: its figures (TransferStats) and whose it was. */
export interface TftpDoneEvent extends TransferStats {
  path: string;
  client: TftpPeer;
  direction: 'read' | 'write';
}
export interface TftpProbeEvent {
  path: string;
  client: TftpPeer;
}
export interface TftpAbortedEvent {
  reason: string;
  path: string;
  client: TftpPeer;
  direction: 'read' | 'write';
  bytes: number;
  retransmits: number;
}
export interface TftpNotFoundEvent {
  path: string;
  client: TftpPeer;
}
export interface TftpRefusedEvent {
  path: string;
  client: TftpPeer;
  code: number;
  reason: string;
}
export interface TftpMalformedEvent {
  client: TftpPeer;
  reason: string;
}
export interface TftpWarningEvent {
  message: string;
  error?: unknown;
}

export interface TftpServerEvents {
  request: [TftpRequestEvent];
  oack: [TftpOackEvent];
  progress: [TftpProgressEvent];
  done: [TftpDoneEvent];
  probe: [TftpProbeEvent];
  aborted: [TftpAbortedEvent];
  notfound: [TftpNotFoundEvent];
  refused: [TftpRefusedEvent];
  malformed: [TftpMalformedEvent];
  warning: [TftpWarningEvent];
}

export interface TftpServerStats {
  requests: number;
  active: number;
  done: number;
  probes: number;
  aborted: number;
  notFound: number;
  refused: number;
  malformed: number;
  bytesSent: number;
  bytesReceived: number;
  retransmits: number;
}

export interface TftpTransferInfo {
  path: string;
  client: TftpPeer;
  direction: 'read' | 'write';
  bytesAcked: number;
  size: number | undefined;
  startedAt: number;
}

interface Entry {
  key: string;
  client: TftpPeer;
  path: string;
  direction: 'read' | 'write';
  startedAt: number;
  transfer?: ReadTransfer | WriteTransfer;
}

const DEFAULTS = {
  maxTransfers: 500,
  maxTransfersPerClient: 16,
  retries: 5,
  resolverTimeoutMs: 10_000,
  maxUploadBytes: 64 * 1024 * 1024,
};

class ResolverTimeout extends Error {}

/** Transfer sockets send every DATA packet to the client's IP literal (see `literalLookup`). */
function defaultSocketFactory(type: 'udp4' | 'udp6'): dgram.Socket {
  return udpSocket(type);
}

function shortError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class TftpServer extends EventEmitter<TftpServerEvents> {
  private readonly opts: TftpServerOptions;
  private readonly clock: TftpClock;
  private readonly timing: TftpTiming;
  private readonly limits: NegotiationLimits;
  private readonly family: 'udp4' | 'udp6';
  private readonly entries = new Map<string, Entry>();
  private readonly perClient = new Map<string, number>();
  private readonly pendingWork = new Set<Promise<void>>();
  private attached: dgram.Socket | undefined;
  private readonly onSocketMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => this.handlePacket(msg, rinfo);
  private closing = false;
  private readonly counters: Omit<TftpServerStats, 'active'> = {
    requests: 0,
    done: 0,
    probes: 0,
    aborted: 0,
    notFound: 0,
    refused: 0,
    malformed: 0,
    bytesSent: 0,
    bytesReceived: 0,
    retransmits: 0,
  };

  constructor(opts: TftpServerOptions) {
    super();
    if (typeof opts.address !== 'string' || opts.address.length === 0) {
      throw new NetbootError('validation', 'TFTP server needs the address to bind transfer sockets to', { field: 'address' });
    }
    if (typeof opts.resolver !== 'function') throw new NetbootError('validation', 'TFTP server needs a resolver function', { field: 'resolver' });
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.timing = { ...DEFAULT_TIMING, ...opts.timing };
    this.limits = { maxBlksize: opts.maxBlksize, mtu: opts.mtu, maxWindowsize: opts.maxWindowsize };
    this.family = isIPv6(opts.address) ? 'udp6' : 'udp4';
  }

  /** Listens to a bound socket's datagrams. The caller still owns (and closes) the socket. */
  attach(socket: dgram.Socket): void {
    this.detach();
    this.attached = socket;
    socket.on('message', this.onSocketMessage);
  }

  detach(): void {
    if (this.attached) this.attached.off('message', this.onSocketMessage);
    this.attached = undefined;
  }

  get stats(): TftpServerStats {
    return { ...this.counters, active: this.entries.size };
  }

  /** Transfers in progress (and requests still being resolved). */
  transfers(): TftpTransferInfo[] {
    return [...this.entries.values()].map((e) => ({
      path: e.path,
      client: { ...e.client },
      direction: e.direction,
      bytesAcked: e.transfer?.progress.bytesAcked ?? 0,
      size: e.transfer?.progress.size,
      startedAt: e.startedAt,
    }));
  }

  /** Handles one datagram that arrived on the listening port. Never throws. */
  handlePacket(buf: Buffer, rinfo: { address: string; port: number }): void {
    try {
      this.handlePacketUnsafe(buf, rinfo);
    } catch (err) {
      this.emitWarning(`unexpected error handling a packet from ${rinfo.address}:${rinfo.port}`, err);
    }
  }

  private handlePacketUnsafe(buf: Buffer, rinfo: { address: string; port: number }): void {
    if (this.closing) return;
    const client: TftpPeer = { address: this.clientAddress(rinfo.address), port: rinfo.port };
    const parsed = parsePacket(buf);
    if (!parsed.ok) {
      this.malformed(client, parsed.error.message);
      return;
    }
    const p = parsed.packet;
    if (p.op !== 'RRQ' && p.op !== 'WRQ') {
      this.malformed(client, `${p.op} sent to the listening port`);
      return;
    }
    const key = `${client.address}|${client.port}`;
    const existing = this.entries.get(key);
    if (existing) {
      // A retransmitted request: the running transfer answers it. But a transfer that has just
      // ended (a Pi probe aborted it) must not swallow the next request from the same port.
      if (!existing.transfer?.isFinished) return;
      this.release(existing);
    }
    this.counters.requests++;
    const direction = p.op === 'RRQ' ? 'read' : 'write';
    if (this.opts.allow && !this.opts.allow(client.address)) {
      this.refuse(client, p.filename.slice(0, 80), TftpErrorCode.ACCESS_VIOLATION, 'access violation', `${client.address} is not in the allowlist`);
      return;
    }
    if (p.mode !== 'octet' && p.mode !== 'netascii') {
      this.refuse(client, p.filename, TftpErrorCode.ILLEGAL_OPERATION, p.mode === 'mail' ? 'mail mode is not supported' : `unknown transfer mode "${p.mode.slice(0, 20)}"`);
      return;
    }
    const norm = normalizeTftpPath(p.filename);
    if (!norm.ok) {
      this.refuse(client, p.filename, TftpErrorCode.ACCESS_VIOLATION, 'access violation', norm.error.message);
      return;
    }
    const maxTotal = this.opts.maxTransfers ?? DEFAULTS.maxTransfers;
    if (this.entries.size >= maxTotal) {
      this.refuse(client, norm.path, TftpErrorCode.NOT_DEFINED, `server busy: ${maxTotal} transfers in progress, try again`);
      return;
    }
    const maxPer = this.opts.maxTransfersPerClient ?? DEFAULTS.maxTransfersPerClient;
    const mine = this.perClient.get(client.address) ?? 0;
    if (mine >= maxPer) {
      this.refuse(client, norm.path, TftpErrorCode.NOT_DEFINED, `server busy: ${maxPer} transfers already running for ${client.address}`);
      return;
    }
    const entry: Entry = { key, client, path: norm.path, direction, startedAt: Date.now() };
    this.entries.set(key, entry);
    this.perClient.set(client.address, mine + 1);
    const request: TftpRequest = { path: norm.path, rawPath: p.filename, client, mode: p.mode, options: { ...p.options } };
    this.emit('request', { ...request, direction });
    this.opts.log?.debug?.(`tftp ${p.op} ${norm.path} from ${client.address}:${client.port} ${JSON.stringify(p.options)}`);
    const work = (direction === 'read' ? this.serveRead(entry, request, p) : this.serveWrite(entry, request, p)).catch((err: unknown) => {
      this.emitWarning(`transfer of ${norm.path} to ${client.address} failed`, err);
      this.release(entry);
    });
    this.pendingWork.add(work);
    void work.finally(() => this.pendingWork.delete(work));
  }

  private clientAddress(addr: string): string {
    // A dual-stack listening socket reports IPv4 clients as ::ffff:a.b.c.d.
    if (this.family === 'udp4' && addr.startsWith('::ffff:') && addr.includes('.')) return addr.slice(7);
    return addr;
  }

  private malformed(client: TftpPeer, reason: string): void {
    this.counters.malformed++;
    this.emit('malformed', { client, reason });
  }

  private emitWarning(message: string, error?: unknown): void {
    this.opts.log?.warn?.(error === undefined ? message : `${message}: ${shortError(error)}`);
    this.emit('warning', { message, error });
  }

  private release(entry: Entry): void {
    if (this.entries.get(entry.key) !== entry) return;
    this.entries.delete(entry.key);
    const n = (this.perClient.get(entry.client.address) ?? 1) - 1;
    if (n <= 0) this.perClient.delete(entry.client.address);
    else this.perClient.set(entry.client.address, n);
  }

  /** Sends an ERROR for a request that will not become a transfer. */
  private refuse(client: TftpPeer, path: string, code: number, message: string, reason = message): void {
    this.counters.refused++;
    this.emit('refused', { path, client, code, reason });
    this.sendOneShot(client, encodeError(code, message));
  }

  private sendOneShot(client: TftpPeer, buf: Buffer): void {
    if (this.attached) {
      try {
        this.attached.send(buf, client.port, client.address);
        return;
      } catch {
        // the owner closed it: fall through to a fresh socket
      }
    }
    const work = this.openSocket(client)
      .then((sock) => new Promise<void>((resolve) => {
        sock.send(buf, client.port, client.address, () => {
          try {
            sock.close(() => resolve());
          } catch {
            resolve();
          }
        });
      }))
      .catch((err: unknown) => this.emitWarning('cannot send TFTP error reply', err));
    this.pendingWork.add(work);
    void work.finally(() => this.pendingWork.delete(work));
  }

  private openSocket(client: TftpPeer): Promise<dgram.Socket> {
    const factory = this.opts.socketFactory ?? defaultSocketFactory;
    const sock = factory(this.family);
    const address = this.opts.replyAddress?.(client) ?? this.opts.address;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        try {
          sock.close();
        } catch {
          // never bound
        }
        // say what happened: an address the host no longer has is not load
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'EADDRNOTAVAIL' ? 'address not available' : err.message;
        reject(new NetbootError('bind_failed', `cannot bind a transfer socket to ${address}: ${why}`, { address, errno: code }, { cause: err }));
      };
      sock.once('error', onError);
      sock.bind({ address, port: 0, exclusive: true }, () => {
        sock.off('error', onError);
        resolve(sock);
      });
    });
  }

  private async resolve(req: TftpRequest): Promise<TftpSource | null> {
    const ms = this.opts.resolverTimeoutMs ?? DEFAULTS.resolverTimeoutMs;
    let timer: unknown;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.clock.setTimeout(() => reject(new ResolverTimeout(`resolver took longer than ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([Promise.resolve().then(() => this.opts.resolver(req)), timeout]);
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  private hooksFor(entry: Entry): TransferHooks {
    return {
      oack: (options) => this.emit('oack', { path: entry.path, client: entry.client, options }),
      progress: (bytesAcked, size) => this.emit('progress', { path: entry.path, client: entry.client, bytesAcked, size }),
      stray: (kind, from) => {
        if (kind === 'malformed') this.malformed(from, 'malformed or unexpected packet on a transfer socket');
      },
    };
  }

  private async serveRead(entry: Entry, req: TftpRequest, p: RequestPacket): Promise<void> {
    let source: TftpSource | null;
    try {
      source = await this.resolve(req);
    } catch (err) {
      this.release(entry);
      if (this.closing) return;
      if (err instanceof ResolverTimeout) {
        this.emitWarning(`resolving ${req.path} for ${req.client.address}`, err);
        this.refuse(req.client, req.path, TftpErrorCode.NOT_DEFINED, 'lookup timed out');
      } else if (err instanceof NetbootError && err.code === 'unsafe_value') {
        this.refuse(req.client, req.path, TftpErrorCode.ACCESS_VIOLATION, 'access violation', err.message);
      } else if (err instanceof NetbootError && err.code === 'not_found') {
        this.notFound(req);
      } else {
        this.emitWarning(`resolver failed for ${req.path}`, err);
        this.refuse(req.client, req.path, TftpErrorCode.NOT_DEFINED, 'lookup failed', shortError(err));
      }
      return;
    }
    if (this.closing) {
      this.release(entry);
      return;
    }
    if (source === null) {
      this.release(entry);
      this.notFound(req);
      return;
    }

    // Open the data before negotiating so tsize is the real size.
    const netascii = p.mode === 'netascii';
    let opened: { kind: 'memory'; data: Buffer } | { kind: 'file'; handle: fsp.FileHandle; size: number } | { kind: 'stream'; reader: NetasciiReader };
    let size: number | undefined;
    try {
      if (source.kind === 'buffer') {
        const data = netascii ? toNetascii(source.data) : source.data;
        opened = { kind: 'memory', data };
        size = data.length;
      } else if (netascii) {
        const { reader } = await FileReader.open(source.path, 16384);
        opened = { kind: 'stream', reader: new NetasciiReader(reader) };
      } else {
        const { handle, stat } = await openRegularFile(source.path);
        opened = { kind: 'file', handle, size: stat.size };
        size = stat.size;
      }
    } catch (err) {
      this.release(entry);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') this.notFound(req);
      else if (code === 'EACCES' || code === 'EPERM') this.refuse(req.client, req.path, TftpErrorCode.ACCESS_VIOLATION, 'access violation', shortError(err));
      else this.refuse(req.client, req.path, TftpErrorCode.NOT_DEFINED, 'cannot open file', shortError(err));
      return;
    }
    const closeOpened = (): Promise<void> =>
      opened.kind === 'file' ? opened.handle.close().catch(() => undefined) : opened.kind === 'stream' ? opened.reader.close() : Promise.resolve();

    const neg = negotiateOptions({ options: p.options, direction: 'read', size, limits: this.limits });
    let socket: dgram.Socket;
    try {
      socket = await this.openSocket(req.client);
    } catch (err) {
      await closeOpened();
      this.release(entry);
      this.emitWarning(`${req.path} for ${req.client.address}`, err);
      this.refuse(req.client, req.path, TftpErrorCode.NOT_DEFINED, transferSocketError(err));
      return;
    }
    if (this.closing) {
      await closeOpened();
      socket.close();
      this.release(entry); // close() already told the client
      return;
    }
    let blocks: BlockSource;
    if (opened.kind === 'memory') blocks = new MemoryBlocks(opened.data, neg.blksize);
    else if (opened.kind === 'stream') blocks = new StreamBlocks(opened.reader, neg.blksize);
    // read ahead about two windows, so the next window's blocks are in memory when its ACK comes
    else blocks = new FilePackets(opened.handle, opened.size, neg.blksize, { windowsize: neg.windowsize, busy: () => socket.getSendQueueCount() > 0 });
    const timing = neg.timeoutSec !== undefined ? { ...this.timing, maxMs: neg.timeoutSec * 1000 } : this.timing;
    const transfer = new ReadTransfer({
      socket,
      client: req.client,
      blocks,
      size,
      blksize: neg.blksize,
      windowsize: neg.windowsize,
      oack: neg.oack,
      retries: this.opts.retries ?? DEFAULTS.retries,
      timing,
      clock: this.clock,
      hooks: this.hooksFor(entry),
      progressIntervalMs: this.opts.progressIntervalMs,
    });
    entry.transfer = transfer;
    transfer.start();
    const outcome = await transfer.finished;
    this.release(entry);
    this.report(entry, outcome);
  }

  private async serveWrite(entry: Entry, req: TftpRequest, p: RequestPacket): Promise<void> {
    const dir = this.opts.uploadDir;
    if (dir === undefined) {
      this.release(entry);
      this.refuse(req.client, req.path, TftpErrorCode.ACCESS_VIOLATION, 'uploads are disabled on this server');
      return;
    }
    const maxBytes = this.opts.maxUploadBytes ?? DEFAULTS.maxUploadBytes;
    let target: string;
    try {
      const rootReal = await fsp.realpath(dir);
      const joined = nodePath.join(rootReal, ...req.path.split('/'));
      const parentReal = await fsp.realpath(nodePath.dirname(joined));
      if (!isInside(rootReal, parentReal)) throw new NetbootError('unsafe_value', 'upload folder leaves the upload root');
      target = nodePath.join(parentReal, nodePath.basename(joined));
    } catch (err) {
      this.release(entry);
      this.refuse(req.client, req.path, TftpErrorCode.ACCESS_VIOLATION, 'access violation', shortError(err));
      return;
    }
    const exists = await fsp.lstat(target).then(() => true, () => false);
    if (exists) {
      this.release(entry);
      this.refuse(req.client, req.path, TftpErrorCode.FILE_EXISTS, 'file already exists');
      return;
    }
    const neg = negotiateOptions({ options: p.options, direction: 'write', limits: this.limits });
    if (neg.tsize !== undefined && neg.tsize > maxBytes) {
      this.release(entry);
      this.refuse(req.client, req.path, TftpErrorCode.DISK_FULL, `upload too large (limit ${maxBytes} bytes)`);
      return;
    }
    let socket: dgram.Socket;
    try {
      socket = await this.openSocket(req.client);
    } catch (err) {
      this.release(entry);
      this.emitWarning(`${req.path} for ${req.client.address}`, err);
      this.refuse(req.client, req.path, TftpErrorCode.NOT_DEFINED, transferSocketError(err));
      return;
    }
    if (this.closing) {
      socket.close();
      this.release(entry);
      return;
    }
    const timing = neg.timeoutSec !== undefined ? { ...this.timing, maxMs: neg.timeoutSec * 1000 } : this.timing;
    const transfer = new WriteTransfer({
      socket,
      client: req.client,
      targetPath: target,
      maxBytes,
      blksize: neg.blksize,
      oack: neg.oack,
      netascii: p.mode === 'netascii',
      retries: this.opts.retries ?? DEFAULTS.retries,
      timing,
      clock: this.clock,
      hooks: this.hooksFor(entry),
    });
    entry.transfer = transfer;
    await transfer.start();
    const outcome = await transfer.finished;
    this.release(entry);
    this.report(entry, outcome);
  }

  private notFound(req: TftpRequest): void {
    this.counters.notFound++;
    this.emit('notfound', { path: req.path, client: req.client });
    this.sendOneShot(req.client, encodeError(TftpErrorCode.FILE_NOT_FOUND, 'file not found'));
  }

  private report(entry: Entry, outcome: TransferOutcome): void {
    const s = outcome.stats;
    this.counters.retransmits += s.retransmits;
    if (entry.direction === 'read') this.counters.bytesSent += s.bytes;
    else this.counters.bytesReceived += s.bytes;
    const base = { path: entry.path, client: entry.client };
    if (outcome.kind === 'done') {
      this.counters.done++;
      this.emit('done', { ...base, direction: entry.direction, bytes: s.bytes, durationMs: s.durationMs, rateBps: s.rateBps, retransmits: s.retransmits, timeouts: s.timeouts, blksize: s.blksize, windowsize: s.windowsize });
    } else if (outcome.kind === 'probe') {
      this.counters.probes++;
      this.emit('probe', base);
    } else {
      this.counters.aborted++;
      this.opts.log?.info?.(`tftp ${entry.path} to ${entry.client.address}: ${outcome.reason}`);
      this.emit('aborted', { ...base, reason: outcome.reason, direction: entry.direction, bytes: s.bytes, retransmits: s.retransmits });
    }
  }

  /**
   * Cancels every transfer (the client gets ERROR 0 "server shutting down"), closes transfer
   * sockets, clears timers and stops accepting packets. Resolves within about a second even if a
   * resolver never answers. The attached listening socket is detached, not closed.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const waits: Promise<unknown>[] = [];
    for (const entry of this.entries.values()) {
      if (entry.transfer) {
        entry.transfer.cancel('server closing', TftpErrorCode.NOT_DEFINED, 'server shutting down');
        waits.push(entry.transfer.finished);
      } else {
        // still resolving: answer now, the late resolver result is dropped
        this.sendOneShot(entry.client, encodeError(TftpErrorCode.NOT_DEFINED, 'server shutting down'));
      }
    }
    this.detach();
    waits.push(...this.pendingWork);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled(waits),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 900);
      }),
    ]);
    if (timer) clearTimeout(timer);
  }
}

/** The client-facing text for a transfer socket that could not be opened (never "busy": it is not load). */
function transferSocketError(err: unknown): string {
  return err instanceof NetbootError && err.code === 'bind_failed' ? err.message : `cannot open a transfer socket: ${shortError(err)}`;
}
