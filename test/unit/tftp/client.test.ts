/** The TFTP receive engine against a scripted server: the receiver rules and the two give-up limits. */
import * as dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { tftpReceive } from '../../../lib/tftp/client';
import { encodeData, encodeOack, parsePacket } from '../../../lib/tftp/packet';

const H = '127.0.0.1';
const sockets: dgram.Socket[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

/** A server that answers the RRQ with `script` in one burst and records the ACKs it gets. */
async function scripted(script: Buffer[]): Promise<{ port: number; acks: number[] }> {
  const sock = dgram.createSocket('udp4');
  sockets.push(sock);
  const acks: number[] = [];
  sock.on('message', (msg, rinfo) => {
    const r = parsePacket(msg);
    if (!r.ok) return;
    if (r.packet.op === 'RRQ') for (const b of script) sock.send(b, rinfo.port, rinfo.address);
    if (r.packet.op === 'ACK') acks.push(r.packet.block);
  });
  await new Promise<void>((res) => sock.bind(0, H, () => res()));
  return { port: sock.address().port, acks };
}

describe('tftpReceive', () => {
  it('repeats ACK 0 for a repeated OACK, ACKs a gap once, repeats only the last ACK', async () => {
    const d = (n: number, len = 8): Buffer => encodeData(n, Buffer.alloc(len, n));
    const oack = encodeOack([['blksize', '8'], ['windowsize', '2']]);
    const s = await scripted([oack, oack, d(2), d(3), d(1), d(2), d(2), d(1), d(3, 3)]);
    const r = await tftpReceive({ host: H, port: s.port, filename: 'f', options: [['blksize', '8'], ['windowsize', '2']], retryMs: 5000, keepUpTo: 100 });
    expect(r.ok).toBe(true);
    expect(r.data).toEqual(Buffer.concat([Buffer.alloc(8, 1), Buffer.alloc(8, 2), Buffer.alloc(3, 3)]));
    expect(r).toMatchObject({ blksize: 8, windowsize: 2, blocks: 3, packets: 9, dataPackets: 7, duplicates: 2, outOfOrder: 2, acksSent: 6 });
    for (let i = 0; i < 100 && s.acks.length < 6; i++) await new Promise((res) => setTimeout(res, 5));
    expect(s.acks).toEqual([0, 0, 0, 2, 2, 3]);
  });

  it('gives up after maxRetries silent retries, or after silenceMs', async () => {
    const s = await scripted([encodeOack([['blksize', '8']])]);
    const byRetries = await tftpReceive({ host: H, port: s.port, filename: 'f', retryMs: 20, maxRetries: 2 });
    expect(byRetries).toMatchObject({ ok: false, timeouts: 3, acksSent: 3, failure: { kind: 'timeout', limit: 'retries' } });
    expect(s.acks).toEqual([0, 0, 0]);
    const bySilence = await tftpReceive({ host: H, port: s.port, filename: 'f', retryMs: 20, silenceMs: 100 });
    expect(bySilence.failure).toMatchObject({ kind: 'timeout', limit: 'silence', message: expect.stringContaining('no data after block 0') });
  });
});
