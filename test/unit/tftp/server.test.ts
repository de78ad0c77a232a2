/** TftpServer behaviour with our own client and raw sockets: boot-firmware patterns, limits, errors. */
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeAck, encodeError, encodeRequest, parsePacket, type TftpPacket } from '../../../lib/tftp/packet';
import { TftpServer, type TftpAbortedEvent, type TftpDoneEvent, type TftpProbeEvent, type TftpServerOptions } from '../../../lib/tftp/server';
import type { TftpSource } from '../../../lib/tftp/source';
import { createStaticResolver } from '../../../lib/tftp/static-resolver';
import { TftpRemoteError, tftpGet, tftpPut } from '../../../support/tftp-client';
import { once, startTftpServer, type TestTftpServer } from '../../helpers/tftp-server';

const H = '127.0.0.1';
let current: TestTftpServer | undefined;
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  await current?.close();
  current = undefined;
  for (const c of cleanups.splice(0)) await c();
});

async function serve(files: Record<string, Buffer>, opts: Partial<TftpServerOptions> = {}): Promise<TestTftpServer> {
  current = await startTftpServer({
    resolver: async (req): Promise<TftpSource | null> => (files[req.path] ? { kind: 'buffer', data: files[req.path] } : null),
    ...opts,
  });
  return current;
}

/** A raw UDP peer that records parsed packets. */
async function rawPeer(): Promise<{ sock: dgram.Socket; got: Array<{ p: TftpPacket; port: number }>; wait(pred: (p: TftpPacket) => boolean, ms?: number): Promise<{ p: TftpPacket; port: number }> }> {
  const sock = dgram.createSocket('udp4');
  const got: Array<{ p: TftpPacket; port: number }> = [];
  const waiters: Array<() => void> = [];
  sock.on('message', (msg, rinfo) => {
    const r = parsePacket(msg);
    if (r.ok) got.push({ p: r.packet, port: rinfo.port });
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((res) => sock.bind(0, H, () => res()));
  cleanups.push(() => new Promise<void>((res) => sock.close(() => res())));
  async function wait(pred: (p: TftpPacket) => boolean, ms = 3000): Promise<{ p: TftpPacket; port: number }> {
    const deadline = Date.now() + ms;
    for (let i = 0; i < 10_000; i++) {
      const hit = got.find((g) => pred(g.p));
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
    throw new Error(`no matching packet within ${ms} ms; got ${JSON.stringify(got.map((g) => g.p.op))}`);
  }
  return { sock, got, wait };
}

describe('boot firmware patterns', () => {
  it('Raspberry Pi 4: tsize probe + ERROR 0, then real reads with blksize 1024', async () => {
    const start4 = randomBytes(2_300_000);
    const config = Buffer.from('arm_64bit=1\nenable_uart=1\n');
    const t = await serve({ '9ffefdef/start4.elf': start4, '9ffefdef/config.txt': config });
    const events: string[] = [];
    const probes: TftpProbeEvent[] = [];
    const dones: TftpDoneEvent[] = [];
    t.server.on('probe', (e) => { probes.push(e); events.push('probe'); });
    t.server.on('done', (e) => { dones.push(e); events.push('done'); });
    t.server.on('aborted', () => events.push('aborted'));
    t.server.on('notfound', () => events.push('notfound'));

    const probe = await tftpGet({ host: H, port: t.port, filename: '9ffefdef/start4.elf', tsize: true, blksize: 1024, probe: true });
    expect(probe.oack).toEqual({ tsize: String(start4.length), blksize: '1024' });
    await once(t.server, 'probe');
    expect(probes[0]).toMatchObject({ path: '9ffefdef/start4.elf', client: { address: H } });

    await expect(tftpGet({ host: H, port: t.port, filename: '9ffefdef/start.elf', tsize: true, blksize: 1024 })).rejects.toMatchObject({ code: 1 });
    const c = await tftpGet({ host: H, port: t.port, filename: '9ffefdef/config.txt', tsize: true, blksize: 1024 });
    expect(c.data).toEqual(config);
    const s = await tftpGet({ host: H, port: t.port, filename: '/9ffefdef/start4.elf', tsize: true, blksize: 1024 });
    expect(s.data!.equals(start4)).toBe(true);
    expect(s.blksize).toBe(1024);
    for (let i = 0; i < 50 && dones.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(events).toEqual(['probe', 'notfound', 'done', 'done']);
    expect(dones[1]).toMatchObject({ blksize: 1024, windowsize: 1, bytes: start4.length });
    expect(t.server.stats).toMatchObject({ probes: 1, done: 2, notFound: 1, aborted: 0 });
  });

  it('Raspberry Pi 3: plain RRQ gets 512-byte DATA and no OACK', async () => {
    const boot = randomBytes(51_000);
    const t = await serve({ 'bootcode.bin': boot });
    const r = await tftpGet({ host: H, port: t.port, filename: 'bootcode.bin' });
    expect(r.oack).toBeUndefined();
    expect(r.firstDataLength).toBe(512);
    expect(r.data!.equals(boot)).toBe(true);
  });

  it('Pi probe that aborts after DATA 1 (no OACK) is still a probe', async () => {
    const t = await serve({ 'x': randomBytes(5000) });
    const p = once<TftpProbeEvent>(t.server, 'probe');
    await tftpGet({ host: H, port: t.port, filename: 'x', probe: true });
    expect((await p).path).toBe('x');
  });

  it('EDK2: tsize+blksize 1468+windowsize 4, ERROR 8 after OACK, then a windowed read', async () => {
    const efi = randomBytes(850_000);
    const t = await serve({ 'ipxe.efi': efi });
    const p = once<TftpProbeEvent>(t.server, 'probe');
    const probe = await tftpGet({ host: H, port: t.port, filename: 'ipxe.efi', tsize: true, blksize: 1468, windowsize: 4, probe: true, probeErrorCode: 8, probeErrorMessage: 'User aborted the transfer' });
    expect(probe.oack).toEqual({ blksize: '1468', tsize: '850000', windowsize: '4' });
    await p;
    const d = once<TftpDoneEvent>(t.server, 'done');
    const r = await tftpGet({ host: H, port: t.port, filename: 'ipxe.efi', blksize: 1468, windowsize: 4 });
    expect(r.data!.equals(efi)).toBe(true);
    expect(await d).toMatchObject({ windowsize: 4, blksize: 1468, retransmits: 0 });
  });

  it('a probe followed at once by a new RRQ from the same port is served', async () => {
    const data = randomBytes(4000);
    const t = await serve({ 'start4.elf': data });
    const peer = await rawPeer();
    const rrq = encodeRequest('RRQ', 'start4.elf', 'octet', [['tsize', '0'], ['blksize', '1024']]);
    peer.sock.send(rrq, t.port, H);
    const o1 = await peer.wait((p) => p.op === 'OACK');
    peer.sock.send(encodeError(0, 'Early terminate'), o1.port, H);
    peer.sock.send(rrq, t.port, H);
    await peer.wait((p) => p.op === 'OACK' && peer.got.filter((g) => g.p.op === 'OACK').length === 2);
    const o2 = peer.got.filter((g) => g.p.op === 'OACK')[1];
    expect(o2.port).not.toBe(o1.port);
    const done = once<TftpDoneEvent>(t.server, 'done');
    peer.sock.send(encodeAck(0), o2.port, H);
    for (let b = 1; b <= 4; b++) {
      await peer.wait((p) => p.op === 'DATA' && p.block === b);
      peer.sock.send(encodeAck(b), o2.port, H);
    }
    expect((await done).bytes).toBe(4000);
    expect(t.server.stats.probes).toBe(1);
  });

  it('an ERROR after data was acknowledged is an abort, not a probe', async () => {
    const t = await serve({ 'x': randomBytes(100_000) });
    const peer = await rawPeer();
    const aborted = once<TftpAbortedEvent>(t.server, 'aborted');
    peer.sock.send(encodeRequest('RRQ', 'x', 'octet'), t.port, H);
    const d1 = await peer.wait((p) => p.op === 'DATA' && p.block === 1);
    peer.sock.send(encodeAck(1), d1.port, H);
    await peer.wait((p) => p.op === 'DATA' && p.block === 2);
    peer.sock.send(encodeError(0, 'changed my mind'), d1.port, H);
    expect((await aborted).reason).toBe('client error 0: changed my mind');
  });
});

describe('transfer mechanics', () => {
  it('block numbers roll over 65535 → 0 (blksize 8, windowsize 64)', async () => {
    const data = randomBytes(8 * 70_000 + 3);
    const t = await serve({ 'big': data });
    const r = await tftpGet({ host: H, port: t.port, filename: 'big', blksize: 8, windowsize: 64, collect: true });
    expect(r.rolledOver).toBe(true);
    expect(r.data!.equals(data)).toBe(true);
  });

  it('exact multiple of blksize ends with an empty block', async () => {
    const data = randomBytes(1024 * 10);
    const t = await serve({ 'x': data });
    const r = await tftpGet({ host: H, port: t.port, filename: 'x', blksize: 1024, windowsize: 3 });
    expect(r.blocks).toBe(11);
    expect(r.data!.equals(data)).toBe(true);
    const z = await serve({ 'empty': Buffer.alloc(0) });
    const e = await tftpGet({ host: H, port: z.port, filename: 'empty', tsize: true });
    expect(e.oack).toEqual({ tsize: '0' });
    expect(e.bytes).toBe(0);
    expect(e.blocks).toBe(1);
  });

  it('netascii converts LF → CR LF and CR → CR NUL; tsize is the converted size', async () => {
    const t = await serve({ 'a.txt': Buffer.from('a\nb\rc') });
    const r = await tftpGet({ host: H, port: t.port, filename: 'a.txt', mode: 'netascii', tsize: true });
    expect(r.data).toEqual(Buffer.from('a\r\nb\r\0c'));
    expect(r.oack).toEqual({ tsize: '7' });
  });

  it('netascii from a file streams and omits tsize', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'netboot-tftp-na-'));
    cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
    const text = Buffer.from('line\n'.repeat(10_000));
    await fsp.writeFile(path.join(dir, 'f.txt'), text);
    current = await startTftpServer({ resolver: createStaticResolver(dir) });
    const r = await tftpGet({ host: H, port: current.port, filename: 'f.txt', mode: 'netascii', tsize: true, blksize: 1000 });
    expect(r.oack).toEqual({ blksize: '1000' });
    expect(r.data!.toString()).toBe('line\r\n'.repeat(10_000));
  });

  it('unknown mode and mail mode get ERROR 4', async () => {
    const t = await serve({ 'x': Buffer.from('x') });
    for (const mode of ['mail', 'binary']) {
      await expect(tftpGet({ host: H, port: t.port, filename: 'x', mode })).rejects.toMatchObject({ code: 4 });
    }
  });

  it('duplicate ACKs never cause retransmission (no Sorcerer\'s Apprentice)', async () => {
    const t = await serve({ 'x': randomBytes(5000) }, { timing: { initialMs: 2000, minMs: 2000, maxMs: 2000 } });
    const peer = await rawPeer();
    peer.sock.send(encodeRequest('RRQ', 'x', 'octet'), t.port, H);
    const d1 = await peer.wait((p) => p.op === 'DATA' && p.block === 1);
    peer.sock.send(encodeAck(1), d1.port, H);
    peer.sock.send(encodeAck(1), d1.port, H);
    peer.sock.send(encodeAck(1), d1.port, H);
    peer.sock.send(encodeAck(0), d1.port, H);
    await peer.wait((p) => p.op === 'DATA' && p.block === 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(peer.got.filter((g) => g.p.op === 'DATA' && g.p.block === 2)).toHaveLength(1);
  });

  describe('windows (RFC 7440)', () => {
    const dataBlocks = (peer: { got: Array<{ p: TftpPacket }> }, n: number): number => peer.got.filter((g) => g.p.op === 'DATA' && g.p.block === n).length;
    async function windowed(timing: Partial<TftpServerOptions['timing']>): Promise<{ peer: Awaited<ReturnType<typeof rawPeer>>; tid: number }> {
      const t = await serve({ 'x': randomBytes(512 * 20 + 1) }, { timing });
      const peer = await rawPeer();
      peer.sock.send(encodeRequest('RRQ', 'x', 'octet', [['blksize', '512'], ['windowsize', '4']]), t.port, H);
      const oack = await peer.wait((p) => p.op === 'OACK');
      peer.sock.send(encodeAck(0), oack.port, H);
      await peer.wait((p) => p.op === 'DATA' && p.block === 4);
      return { peer, tid: oack.port };
    }

    it('an ACK inside the window restarts it right after that block, also when that block was already resent', async () => {
      // long timeouts: everything here is driven by the ACKs
      const { peer, tid } = await windowed({ initialMs: 5000, minMs: 5000, maxMs: 5000, probeMinMs: 5000 });
      peer.sock.send(encodeAck(1), tid, H); // the receiver saw a gap at 2
      await peer.wait((p) => p.op === 'DATA' && p.block === 5);
      expect([2, 3, 4].map((b) => dataBlocks(peer, b))).toEqual([2, 2, 2]);
      peer.sock.send(encodeAck(2), tid, H); // the resent 3 was lost as well
      await peer.wait((p) => p.op === 'DATA' && p.block === 6);
      expect(dataBlocks(peer, 3)).toBe(3);
      // a repeat of that ACK changes nothing
      const before = peer.got.length;
      peer.sock.send(encodeAck(2), tid, H);
      await new Promise((r) => setTimeout(r, 150));
      expect(peer.got.length).toBe(before);
    });

    it('when the window goes unanswered, only its newest block is resent first', async () => {
      const { peer, tid } = await windowed({ initialMs: 10_000, minMs: 10_000, maxMs: 10_000, probeMinMs: 50 });
      // an RTT sample comes with the first window ACK; the next window then goes unanswered
      peer.sock.send(encodeAck(4), tid, H);
      await peer.wait((p) => p.op === 'DATA' && p.block === 8);
      await peer.wait(() => dataBlocks(peer, 8) === 2);
      expect([5, 6, 7].map((b) => dataBlocks(peer, b))).toEqual([1, 1, 1]);
      peer.sock.send(encodeAck(8), tid, H);
      await peer.wait((p) => p.op === 'DATA' && p.block === 12);
    });

    it('a repeated ACK while the window is out makes that probe resend the whole window', async () => {
      const { peer, tid } = await windowed({ initialMs: 10_000, minMs: 10_000, maxMs: 10_000, probeMinMs: 50 });
      peer.sock.send(encodeAck(4), tid, H);
      await peer.wait((p) => p.op === 'DATA' && p.block === 8);
      peer.sock.send(encodeAck(4), tid, H); // block 5 was lost: the gap ACK repeats the last one
      await peer.wait(() => dataBlocks(peer, 5) === 2);
      await peer.wait(() => dataBlocks(peer, 8) === 2);
      expect([6, 7].map((b) => dataBlocks(peer, b))).toEqual([2, 2]);
    });
  });

  it('a packet from a wrong TID gets ERROR 5 and the transfer continues', async () => {
    const data = randomBytes(3000);
    const t = await serve({ 'x': data });
    const peer = await rawPeer();
    const intruder = await rawPeer();
    peer.sock.send(encodeRequest('RRQ', 'x', 'octet'), t.port, H);
    const d1 = await peer.wait((p) => p.op === 'DATA' && p.block === 1);
    intruder.sock.send(encodeAck(1), d1.port, H);
    const e = await intruder.wait((p) => p.op === 'ERROR');
    expect(e.p).toMatchObject({ code: 5 });
    const done = once<TftpDoneEvent>(t.server, 'done');
    for (let b = 1; b <= 6; b++) {
      await peer.wait((p) => p.op === 'DATA' && p.block === b);
      peer.sock.send(encodeAck(b), d1.port, H);
    }
    expect((await done).bytes).toBe(3000);
  });

  it('a silent client is dropped after the retries, with an ERROR', async () => {
    const t = await serve({ 'x': randomBytes(3000) }, { retries: 3, timing: { initialMs: 30, minMs: 30, maxMs: 60 } });
    const peer = await rawPeer();
    const aborted = once<TftpAbortedEvent>(t.server, 'aborted');
    peer.sock.send(encodeRequest('RRQ', 'x', 'octet', [['blksize', '1024']]), t.port, H);
    expect((await aborted).reason).toBe('timeout');
    await peer.wait((p) => p.op === 'ERROR');
    expect(peer.got.filter((g) => g.p.op === 'OACK')).toHaveLength(4);
  });

  it('a retransmitted RRQ does not start a second transfer', async () => {
    const t = await serve({ 'x': randomBytes(100) });
    const peer = await rawPeer();
    const rrq = encodeRequest('RRQ', 'x', 'octet');
    peer.sock.send(rrq, t.port, H);
    peer.sock.send(rrq, t.port, H);
    await peer.wait((p) => p.op === 'DATA');
    await new Promise((r) => setTimeout(r, 100));
    expect(new Set(peer.got.map((g) => g.port)).size).toBe(1);
    expect(t.server.stats.requests).toBe(1);
  });

  it('progress events are throttled', async () => {
    const data = randomBytes(3_000_000);
    const t = await serve({ 'x': data }, { progressIntervalMs: 250 });
    let n = 0;
    t.server.on('progress', () => n++);
    const r = await tftpGet({ host: H, port: t.port, filename: 'x', blksize: 512 });
    expect(r.bytes).toBe(data.length);
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(Math.ceil(r.durationMs / 250) + 2);
  });
});

describe('IPv6', () => {
  it('serves over ::1 when the host has IPv6 loopback', async () => {
    const listen = dgram.createSocket('udp6');
    const ok = await new Promise<boolean>((res) => {
      listen.once('error', () => res(false));
      listen.bind(0, '::1', () => res(true));
    });
    if (!ok) {
      listen.close();
      return; // no IPv6 loopback here
    }
    const data = randomBytes(10_000);
    const server = new TftpServer({ address: '::1', resolver: async () => ({ kind: 'buffer', data }) });
    server.attach(listen);
    try {
      const r = await tftpGet({ host: '::1', port: listen.address().port, filename: 'x', blksize: 1400, tsize: true });
      expect(r.data!.equals(data)).toBe(true);
    } finally {
      await server.close();
      listen.close();
    }
  });
});

describe('errors and limits', () => {
  it('not found → ERROR 1 and a notfound event', async () => {
    const t = await serve({});
    const nf = once(t.server, 'notfound');
    await expect(tftpGet({ host: H, port: t.port, filename: 'missing' })).rejects.toMatchObject({ code: 1 });
    expect(await nf).toMatchObject({ path: 'missing' });
  });

  it('unsafe path → ERROR 2', async () => {
    const t = await serve({});
    await expect(tftpGet({ host: H, port: t.port, filename: '../../etc/passwd' })).rejects.toMatchObject({ code: 2 });
  });

  it('a throwing resolver → ERROR 0, a hanging one → ERROR 0 after the timeout; the server keeps serving', async () => {
    const warnings: string[] = [];
    const t = await serve({}, {
      resolverTimeoutMs: 100,
      resolver: async (req) => {
        if (req.path === 'boom') throw new Error('database down');
        if (req.path === 'hang') return new Promise<never>(() => undefined);
        return { kind: 'buffer', data: Buffer.from('fine') };
      },
    });
    t.server.on('warning', (w) => warnings.push(w.message));
    const e1 = await tftpGet({ host: H, port: t.port, filename: 'boom' }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(TftpRemoteError);
    expect(e1).toMatchObject({ code: 0, remoteMessage: 'lookup failed' });
    await expect(tftpGet({ host: H, port: t.port, filename: 'hang' })).rejects.toMatchObject({ code: 0, remoteMessage: 'lookup timed out' });
    expect((await tftpGet({ host: H, port: t.port, filename: 'ok' })).data).toEqual(Buffer.from('fine'));
    expect(warnings).toHaveLength(2);
  });

  it('per-client limit → clear ERROR 0 "server busy", global limit too', async () => {
    const t = await serve({ 'x': randomBytes(10_000) }, { maxTransfersPerClient: 2, maxTransfers: 3, timing: { initialMs: 5000, minMs: 5000, maxMs: 5000 } });
    const peers = [await rawPeer(), await rawPeer()];
    for (const p of peers) p.sock.send(encodeRequest('RRQ', 'x', 'octet'), t.port, H);
    for (const p of peers) await p.wait((q) => q.op === 'DATA');
    const third = tftpGet({ host: H, port: t.port, filename: 'x' });
    await expect(third).rejects.toMatchObject({ code: 0 });
    await expect(third).rejects.toThrow(/server busy: 2 transfers already running for 127\.0\.0\.1/);
    expect(t.server.stats.active).toBe(2);
  });

  it('close() during transfers tells the clients, frees the sockets and resolves within a second', async () => {
    const t = await serve({ 'x': randomBytes(10_000) }, { timing: { initialMs: 5000, minMs: 5000, maxMs: 5000 } });
    const peers = [await rawPeer(), await rawPeer(), await rawPeer()];
    for (const p of peers) p.sock.send(encodeRequest('RRQ', 'x', 'octet'), t.port, H);
    const tids = [];
    for (const p of peers) tids.push((await p.wait((q) => q.op === 'DATA')).port);
    expect(t.server.transfers()).toHaveLength(3);
    const aborted: TftpAbortedEvent[] = [];
    t.server.on('aborted', (e) => aborted.push(e));
    const t0 = Date.now();
    await t.server.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    for (const p of peers) expect((await p.wait((q) => q.op === 'ERROR')).p).toMatchObject({ code: 0, message: 'server shutting down' });
    expect(aborted.map((a) => a.reason)).toEqual(['server closing', 'server closing', 'server closing']);
    expect(t.server.transfers()).toHaveLength(0);
    // the old TIDs are closed: the ports can be bound again
    for (const port of tids) {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((res, rej) => { s.once('error', rej); s.bind(port, H, () => res()); });
      await new Promise<void>((res) => s.close(() => res()));
    }
    // and new requests are ignored
    const late = await rawPeer();
    late.sock.send(encodeRequest('RRQ', 'x', 'octet'), t.port, H);
    await new Promise((r) => setTimeout(r, 100));
    expect(late.got).toHaveLength(0);
  });
});

describe('close() while a resolver is still working', () => {
  it('answers the waiting client and resolves promptly', async () => {
    const t = await serve({}, { resolver: () => new Promise<never>(() => undefined) });
    const peer = await rawPeer();
    peer.sock.send(encodeRequest('RRQ', 'slow', 'octet'), t.port, H);
    for (let i = 0; i < 50 && t.server.stats.active === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    await t.server.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await peer.wait((p) => p.op === 'ERROR')).p).toMatchObject({ code: 0, message: 'server shutting down' });
  });
});

describe('uploads (WRQ)', () => {
  it('refused with ERROR 2 when no uploadDir', async () => {
    const t = await serve({});
    await expect(tftpPut({ host: H, port: t.port, filename: 'u.bin', data: Buffer.from('x') })).rejects.toMatchObject({ code: 2 });
  });

  it('writes into uploadDir, refuses overwrite, traversal and oversize', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'netboot-tftp-up-'));
    cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
    const t = await serve({}, { uploadDir: dir, maxUploadBytes: 100_000 });
    const data = randomBytes(70_000);
    const r = await tftpPut({ host: H, port: t.port, filename: 'logs/../u.bin'.replace('logs/../', ''), data, blksize: 1468, tsize: true });
    expect(r.oack).toEqual({ blksize: '1468', tsize: '70000' });
    for (let i = 0; i < 50 && t.server.stats.done < 1; i++) await new Promise((res) => setTimeout(res, 20));
    expect(await fsp.readFile(path.join(dir, 'u.bin'))).toEqual(data);
    await expect(tftpPut({ host: H, port: t.port, filename: 'u.bin', data })).rejects.toMatchObject({ code: 6 });
    await expect(tftpPut({ host: H, port: t.port, filename: '../escape.bin', data })).rejects.toMatchObject({ code: 2 });
    await expect(tftpPut({ host: H, port: t.port, filename: 'big.bin', data: randomBytes(200_000), tsize: true })).rejects.toMatchObject({ code: 3 });
    await expect(tftpPut({ host: H, port: t.port, filename: 'big2.bin', data: randomBytes(200_000) })).rejects.toMatchObject({ code: 3 });
    await new Promise((res) => setTimeout(res, 50));
    expect((await fsp.readdir(dir)).sort()).toEqual(['u.bin']);
  });
});
