import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import {
  encodeAck, encodeData, encodeError, encodeOack, encodeRequest, parsePacket, TftpErrorCode, type PacketErrorReason,
} from '../../../lib/tftp/packet';
import { tftpGet } from '../../../support/tftp-client';
import { startTftpServer } from '../../helpers/tftp-server';
import { rng } from '../../helpers/rng';

const hex = (b: Buffer): string => b.toString('hex');
/** Builds bytes from a readable spec: numbers are bytes, strings are ASCII. */
function bytes(...parts: Array<number | string>): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : Buffer.from(p, 'latin1'))));
}

describe('packet golden bytes', () => {
  it('RRQ with the Pi 4 probe options', () => {
    const b = encodeRequest('RRQ', '9ffefdef/start4.elf', 'octet', [['tsize', '0'], ['blksize', '1024']]);
    expect(hex(b)).toBe(hex(bytes(0, 1, '9ffefdef/start4.elf', 0, 'octet', 0, 'tsize', 0, '0', 0, 'blksize', 0, '1024', 0)));
    const p = parsePacket(b);
    expect(p).toEqual({ ok: true, packet: { op: 'RRQ', filename: '9ffefdef/start4.elf', mode: 'octet', options: { tsize: '0', blksize: '1024' }, rawOptions: [['tsize', '0'], ['blksize', '1024']] } });
  });

  it('WRQ without options, mode lower-cased', () => {
    const b = bytes(0, 2, 'up.bin', 0, 'NetASCII', 0);
    expect(hex(encodeRequest('WRQ', 'up.bin', 'NetASCII'))).toBe(hex(b));
    expect(parsePacket(b)).toEqual({ ok: true, packet: { op: 'WRQ', filename: 'up.bin', mode: 'netascii', options: {}, rawOptions: [] } });
  });

  it('option names are case-insensitive; raw spelling kept', () => {
    const b = bytes(0, 1, 'f', 0, 'octet', 0, 'BLKSIZE', 0, '1468', 0, 'WindowSize', 0, '16', 0, 'timeout', 0, '5', 0);
    const p = parsePacket(b);
    expect(p.ok && p.packet.op === 'RRQ' && p.packet.options).toEqual({ blksize: '1468', windowsize: '16', timeout: '5' });
    expect(p.ok && p.packet.op === 'RRQ' && p.packet.rawOptions[0]).toEqual(['BLKSIZE', '1468']);
  });

  it('DATA, including block 65535 and an empty final block', () => {
    expect(hex(encodeData(1, Buffer.from('hi')))).toBe('000300016869');
    expect(hex(encodeData(65535, Buffer.alloc(0)))).toBe('0003ffff');
    expect(hex(encodeData(65536, Buffer.alloc(0)))).toBe('00030000'); // wraps
    expect(parsePacket(Buffer.from('0003ffff', 'hex'))).toEqual({ ok: true, packet: { op: 'DATA', block: 65535, data: Buffer.alloc(0) } });
  });

  it('ACK', () => {
    expect(hex(encodeAck(0))).toBe('00040000');
    expect(hex(encodeAck(258))).toBe('00040102');
    expect(parsePacket(Buffer.from('00040102', 'hex'))).toEqual({ ok: true, packet: { op: 'ACK', block: 258 } });
  });

  it('ERROR for every code 0..8', () => {
    for (let code = 0; code <= 8; code++) {
      const b = encodeError(code, 'msg');
      expect(hex(b)).toBe(hex(bytes(0, 5, 0, code, 'msg', 0)));
      expect(parsePacket(b)).toEqual({ ok: true, packet: { op: 'ERROR', code, message: 'msg' } });
    }
    expect(TftpErrorCode.OPTION_REFUSED).toBe(8);
  });

  it('ERROR without trailing NUL is accepted (lenient on client aborts)', () => {
    expect(parsePacket(bytes(0, 5, 0, 8, 'User aborted'))).toEqual({ ok: true, packet: { op: 'ERROR', code: 8, message: 'User aborted' } });
  });

  it('OACK for each option', () => {
    const b = encodeOack([['blksize', '1468'], ['tsize', '1048576'], ['timeout', '6'], ['windowsize', '16']]);
    expect(hex(b)).toBe(hex(bytes(0, 6, 'blksize', 0, '1468', 0, 'tsize', 0, '1048576', 0, 'timeout', 0, '6', 0, 'windowsize', 0, '16', 0)));
    expect(parsePacket(b)).toMatchObject({ ok: true, packet: { op: 'OACK', options: { blksize: '1468', tsize: '1048576', timeout: '6', windowsize: '16' } } });
    expect(hex(encodeOack({}))).toBe('0006');
  });
});

describe('malformed packets', () => {
  const cases: Array<[string, Buffer, PacketErrorReason]> = [
    ['empty', Buffer.alloc(0), 'short'],
    ['one byte', Buffer.from([0]), 'short'],
    ['RRQ opcode only', bytes(0, 1), 'short'],
    ['RRQ filename only', bytes(0, 1, 'f', 0), 'short'],
    ['RRQ unterminated filename', bytes(0, 1, 'file'), 'unterminated'],
    ['RRQ unterminated mode', bytes(0, 1, 'f', 0, 'octet'), 'unterminated'],
    ['RRQ unterminated option value', bytes(0, 1, 'f', 0, 'octet', 0, 'blksize', 0, '1468'), 'unterminated'],
    ['RRQ option without value', bytes(0, 1, 'f', 0, 'octet', 0, 'blksize', 0), 'odd_options'],
    ['RRQ duplicate option', bytes(0, 1, 'f', 0, 'octet', 0, 'blksize', 0, '1', 0, 'BlkSize', 0, '2', 0), 'duplicate_option'],
    ['RRQ empty option name', bytes(0, 1, 'f', 0, 'octet', 0, '', 0, '1', 0), 'odd_options'],
    ['RRQ empty filename', bytes(0, 1, 0, 'octet', 0), 'empty_filename'],
    ['RRQ empty mode', bytes(0, 1, 'f', 0, 0), 'empty_mode'],
    ['RRQ over 512 bytes', Buffer.concat([bytes(0, 1), Buffer.alloc(600, 0x61), bytes(0, 'octet', 0)]), 'oversized'],
    ['DATA short', bytes(0, 3, 0), 'short'],
    ['DATA oversized', Buffer.alloc(4 + 65465, 0).fill(3, 1, 2), 'oversized'],
    ['ACK short', bytes(0, 4, 1), 'short'],
    ['ERROR short', bytes(0, 5, 0), 'short'],
    ['OACK odd', bytes(0, 6, 'blksize', 0), 'odd_options'],
    ['OACK unterminated', bytes(0, 6, 'blksize', 0, '512'), 'unterminated'],
    ['opcode 0', bytes(0, 0, 'x', 0), 'unknown_opcode'],
    ['opcode 7', bytes(0, 7, 0, 0), 'unknown_opcode'],
    ['opcode 0xffff', bytes(0xff, 0xff), 'unknown_opcode'],
  ];
  it.each(cases)('%s', (_name, buf, reason) => {
    const r = parsePacket(buf);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.reason).toBe(reason);
  });
});

describe('fuzz', () => {
  const seed = Number(process.env.TFTP_FUZZ_SEED ?? 1234);
  const valid = [
    encodeRequest('RRQ', 'file.bin', 'octet', [['blksize', '1468'], ['tsize', '0'], ['windowsize', '8'], ['timeout', '3']]),
    encodeRequest('RRQ', 'missing', 'netascii'),
    encodeRequest('WRQ', 'up', 'octet', [['tsize', '10']]),
    encodeData(7, Buffer.from('abc')),
    encodeAck(3),
    encodeError(0, 'Early terminate'),
    encodeOack([['blksize', '512']]),
  ];

  function mutate(r: () => number): Buffer {
    const kind = Math.floor(r() * 5);
    if (kind === 0) return Buffer.from(Array.from({ length: Math.floor(r() * 600) }, () => Math.floor(r() * 256))); // noise
    const base = Buffer.from(valid[Math.floor(r() * valid.length)]);
    if (kind === 1) {
      const n = 1 + Math.floor(r() * 4);
      for (let i = 0; i < n && base.length > 0; i++) base[Math.floor(r() * base.length)] = Math.floor(r() * 256);
      return base;
    }
    if (kind === 2) return base.subarray(0, Math.floor(r() * base.length));
    if (kind === 3) return Buffer.concat([base, Buffer.alloc(Math.floor(r() * 600), Math.floor(r() * 256))]);
    const out = Buffer.from(base);
    out[Math.floor(r() * out.length)] = 0; // inject NUL
    return out;
  }

  it(`parsePacket never throws (seed ${seed})`, () => {
    const r = rng(seed);
    for (let i = 0; i < 20_000; i++) {
      const buf = mutate(r);
      expect(() => parsePacket(buf)).not.toThrow();
    }
  });

  it('a live server survives 3000 mutated packets and still serves', async () => {
    const data = randomBytes(70_000);
    const t = await startTftpServer({
      resolver: async (req) => (req.path === 'file.bin' ? { kind: 'buffer', data } : null),
      maxTransfersPerClient: 1000,
      maxTransfers: 1000,
      retries: 1,
      timing: { initialMs: 50, minMs: 20, maxMs: 100 },
    });
    const warnings: unknown[] = [];
    t.server.on('warning', (w) => warnings.push(w));
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
    sock.on('message', () => undefined);
    try {
      const r = rng(seed + 1);
      for (let i = 0; i < 3000; i++) {
        sock.send(mutate(r), t.port, '127.0.0.1');
        if (i % 100 === 99) await new Promise((res) => setImmediate(res));
      }
      await new Promise((res) => setTimeout(res, 300));
      expect(t.server.stats.malformed).toBeGreaterThan(100);
      const got = await tftpGet({ host: '127.0.0.1', port: t.port, filename: 'file.bin', blksize: 1468, tsize: true });
      expect(got.data!.equals(data)).toBe(true);
      expect(warnings).toEqual([]);
    } finally {
      sock.close();
      await t.close();
    }
  });
});
