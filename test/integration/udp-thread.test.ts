/**
 * The DHCP ports' socket read on its own thread (lib/net/udp-thread.ts), with real datagrams on
 * loopback: what arrives and its sender, what we send and its source port, a backlog that piled up
 * while the main thread was busy, bind errors, and closing.
 */
import * as dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { ThreadedUdpSocket } from '../../lib/net/udp-thread';
import { NetbootError } from '../../lib/core/errors';
import { udpSocket } from '../../lib/net/udp-socket';

const opened: Array<{ close(cb?: () => void): unknown }> = [];

/** A client whose sends to an IP literal reach the kernel at once (no lookup on a later tick). */
function client(): Promise<dgram.Socket> {
  const s = udpSocket('udp4');
  opened.push(s);
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)));
}

/** Keeps the main thread busy (as a loop turn full of TFTP transfers is): only the socket's thread runs meanwhile. */
function blockMainThread(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

async function open(port = 0): Promise<ThreadedUdpSocket> {
  const s = await ThreadedUdpSocket.open({ purpose: 'proxyDHCP', port, address: '127.0.0.1', broadcast: true, recvBuffer: 1 << 20 });
  opened.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => new Promise<void>((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  })));
});

describe('a UDP socket read on its own thread', () => {
  it('hands over each datagram with its sender, and sends from its own port', async () => {
    const server = await open();
    const port = server.address().port;
    expect(port).toBeGreaterThan(0);
    expect(server.getRecvBufferSize()).toBeGreaterThan(0);
    const c = await client();
    const got: Array<{ text: string; address: string; port: number; size: number }> = [];
    server.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => got.push({ text: msg.toString(), address: rinfo.address, port: rinfo.port, size: rinfo.size }));
    const words = ['DISCOVER', 'REQUEST', '', 'x'.repeat(1400)];
    for (const w of words) c.send(w, port, '127.0.0.1');
    for (let i = 0; i < 100 && got.length < words.length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(words.map((w) => ({ text: w, address: '127.0.0.1', port: c.address().port, size: w.length })));

    // the answer leaves from the bound port (a PXE client ignores one from elsewhere)
    const answer = new Promise<{ text: string; from: number }>((resolve) => c.once('message', (m, r) => resolve({ text: m.toString(), from: r.port })));
    const sent = await new Promise<{ err: Error | null; bytes: number }>((resolve) => server.send(Buffer.from('OFFER'), c.address().port, '127.0.0.1', (err, bytes) => resolve({ err, bytes })));
    expect(sent).toEqual({ err: null, bytes: 5 });
    expect(await answer).toEqual({ text: 'OFFER', from: port });
  });

  it('a send through a view into a larger buffer carries only the view\'s bytes', async () => {
    const server = await open();
    const c = await client();
    const pool = Buffer.from('....ACK....');
    const answer = new Promise<string>((resolve) => c.once('message', (m) => resolve(m.toString())));
    server.send(pool.subarray(4, 7), c.address().port, '127.0.0.1');
    expect(await answer).toBe('ACK');
  });

  it('a backlog that piled up while the main thread was busy arrives in one turn of its loop', async () => {
    const server = await open();
    const port = server.address().port;
    const c = await client();
    let got = 0;
    server.on('message', () => got++);
    // 200 datagrams, written to the kernel synchronously (IP literal, no lookup), then the main
    // thread blocks: only the socket's own thread can read them meanwhile
    const n = 200;
    for (let i = 0; i < n; i++) c.send(Buffer.from(`machine ${i}`), port, '127.0.0.1');
    blockMainThread(1000);
    // the first turn after: a plain dgram socket hands over 32 (libuv's per-turn read limit), the rest one turn later each
    const inOneTurn = await new Promise<number>((resolve) => {
      server.once('message', () => setImmediate(() => resolve(got)));
    });
    expect(inOneTurn).toBe(n);
  });

  it('a flood the main thread does not take is dropped past the backlog bound, and counted', async () => {
    const server = await ThreadedUdpSocket.open({ purpose: 'DHCP', port: 0, address: '127.0.0.1', recvBuffer: 1 << 20 }, 50);
    opened.push(server);
    const port = server.address().port;
    const c = await client();
    let got = 0;
    let dropped = 0;
    server.on('message', () => got++);
    server.on('overflow', (n: number) => (dropped += n));
    const n = 200;
    for (let i = 0; i < n; i++) c.send(Buffer.from(`flood ${i}`), port, '127.0.0.1');
    // the main thread takes nothing meanwhile
    blockMainThread(1000);
    for (let i = 0; i < 100 && got + dropped < n; i++) await new Promise((r) => setTimeout(r, 20));
    expect(got).toBe(50);
    expect(dropped).toBe(n - 50);
    // taken: the next ones are handed over again
    const next = new Promise<string>((resolve) => server.once('message', (m: Buffer) => resolve(m.toString())));
    c.send('after the flood', port, '127.0.0.1');
    expect(await next).toBe('after the flood');
  });

  it('a port in use fails with the bind error that says how to fix it, and the first socket keeps working', async () => {
    const first = await open();
    const port = first.address().port;
    const err = await open(port).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(NetbootError);
    expect((err as NetbootError).code).toBe('bind_failed');
    expect((err as Error).message).toMatch(new RegExp(`cannot bind UDP 127\\.0\\.0\\.1:${port} \\(proxyDHCP\\): the port is already in use \\(EADDRINUSE\\)`));
    const c = await client();
    const seen = new Promise<string>((resolve) => first.once('message', (m: Buffer) => resolve(m.toString())));
    c.send('still here', port, '127.0.0.1');
    expect(await seen).toBe('still here');
  });

  it('after close the port is free again, and a send says the socket is not running', async () => {
    const s = await ThreadedUdpSocket.open({ purpose: 'DHCP', port: 0, address: '127.0.0.1' });
    const port = s.address().port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    const err = await new Promise<Error | null>((resolve) => s.send(Buffer.from('late'), 9, '127.0.0.1', (e) => resolve(e)));
    expect((err as NodeJS.ErrnoException | null)?.code).toBe('ERR_SOCKET_DGRAM_NOT_RUNNING');
    const again = await open(port);
    expect(again.address().port).toBe(port);
  });
});
