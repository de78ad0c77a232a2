/**
 * A test-only lossy UDP relay for TFTP: clients talk to `port`; the relay speaks to the server's
 * listening port from one socket per client and mirrors every server TID with a socket of its own,
 * so the client never talks to the server directly. Packets are dropped or duplicated with seeded
 * probabilities in both directions.
 */
import * as dgram from 'node:dgram';

export interface RelayOptions {
  serverPort: number;
  serverHost?: string;
  dropRate?: number;
  dupRate?: number;
  seed?: number;
}

export interface RelayCounters {
  forwarded: number;
  dropped: number;
  duplicated: number;
  droppedToServer: number;
  droppedToClient: number;
}

export interface TftpRelay {
  port: number;
  counters: RelayCounters;
  /** With RELAY_TRACE=1: '>op:block' to the server, '<op:block' to the client, '  DROP'. */
  trace: string[];
  close(): Promise<void>;
}

/** Seeded PRNG (sfc32, state from splitmix32) for reproducible loss patterns. */
export function seededRandom(seed: number): () => number {
  let x = seed >>> 0;
  const split = (): number => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
}

async function bound(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()));
  return s;
}

export async function startRelay(opts: RelayOptions): Promise<TftpRelay> {
  const host = opts.serverHost ?? '127.0.0.1';
  const rand = seededRandom(opts.seed ?? 1);
  const drop = opts.dropRate ?? 0;
  const dup = opts.dupRate ?? 0;
  const counters: RelayCounters = { forwarded: 0, dropped: 0, duplicated: 0, droppedToServer: 0, droppedToClient: 0 };
  const sockets: dgram.Socket[] = [];
  const trace: string[] = [];
  const front = await bound();
  sockets.push(front);

  interface Session {
    up: dgram.Socket;
    downs: Map<number, dgram.Socket>;
    ready: Promise<void>;
  }
  const sessions = new Map<string, Session>();

  const lossy = (sock: dgram.Socket, msg: Buffer, port: number, addr: string, toServer: boolean): void => {
    if (process.env.RELAY_TRACE) trace.push(`${toServer ? '>' : '<'}${msg.readUInt16BE(0)}:${msg.length >= 4 ? msg.readUInt16BE(2) : '-'}`);
    if (rand() < drop) {
      if (process.env.RELAY_TRACE) trace.push('  DROP');
      counters.dropped++;
      if (toServer) counters.droppedToServer++;
      else counters.droppedToClient++;
      return;
    }
    counters.forwarded++;
    const copies = rand() < dup ? 2 : 1;
    if (copies === 2) counters.duplicated++;
    for (let i = 0; i < copies; i++) {
      try {
        sock.send(msg, port, addr);
      } catch {
        // closing
      }
    }
  };

  const session = (clientAddr: string, clientPort: number): Session => {
    const key = `${clientAddr}:${clientPort}`;
    let s = sessions.get(key);
    if (s) return s;
    const downs = new Map<number, dgram.Socket>();
    const pendingDowns = new Map<number, Promise<dgram.Socket>>();
    let up!: dgram.Socket;
    const ready = bound().then((sock) => {
      up = sock;
      sockets.push(sock);
      s!.up = sock;
      sock.on('message', (msg, rinfo) => {
        // from a server TID (or the listening port for early errors) → to the client via a mirror socket
        let p = pendingDowns.get(rinfo.port);
        if (!p) {
          p = bound().then((down) => {
            sockets.push(down);
            downs.set(rinfo.port, down);
            down.on('message', (m, ri) => {
              if (ri.port === clientPort) lossy(up, m, rinfo.port, host, true);
            });
            return down;
          });
          pendingDowns.set(rinfo.port, p);
        }
        void p.then((down) => lossy(down, msg, clientPort, clientAddr, false));
      });
    });
    s = { up, downs, ready };
    sessions.set(key, s);
    return s;
  };

  front.on('message', (msg, rinfo) => {
    const s = session(rinfo.address, rinfo.port);
    void s.ready.then(() => lossy(s.up, msg, opts.serverPort, host, true));
  });

  return {
    port: front.address().port,
    counters,
    trace,
    async close() {
      await Promise.all(sockets.map((s) => new Promise<void>((res) => {
        try {
          s.close(() => res());
        } catch {
          res();
        }
      })));
    },
  };
}
