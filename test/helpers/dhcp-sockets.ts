/** Loopback UDP helpers for the DHCP integration tests. Every wait is bounded. */
import * as dgram from 'node:dgram';
import { DhcpPacket, parsePacket } from './dhcp-imports';

export async function bindUdp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      s.off('error', reject);
      resolve();
    });
  });
  return s;
}

export function portOf(s: dgram.Socket): number {
  return s.address().port;
}

/** Collects parsed packets arriving on a socket. */
export class Inbox {
  readonly packets: { packet: DhcpPacket; from: dgram.RemoteInfo }[] = [];
  private waiters: (() => void)[] = [];
  constructor(socket: dgram.Socket) {
    socket.on('message', (msg, from) => {
      const r = parsePacket(msg);
      if (r.ok) this.packets.push({ packet: r.packet, from });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Resolves with the n-th packet (1-based) or rejects after `ms`. */
  async nth(n: number, ms = 2000): Promise<{ packet: DhcpPacket; from: dgram.RemoteInfo }> {
    const deadline = Date.now() + ms;
    while (this.packets.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for packet ${n} (have ${this.packets.length})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.packets[n - 1];
  }
}

export function send(s: dgram.Socket, buf: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => s.send(buf, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

export function closeAll(...sockets: (dgram.Socket | undefined)[]): Promise<void> {
  return Promise.all(sockets.map((s) => (s ? new Promise<void>((r) => { try { s.close(() => r()); } catch { r(); } }) : undefined))).then(() => undefined);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
