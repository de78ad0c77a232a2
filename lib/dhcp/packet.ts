/**
 * DHCPv4 / BOOTP codec (RFC 2131, 2132, 3396).
 *
 * - `parsePacket` never throws: it returns `{ ok: true, packet }` or `{ ok: false, error }` with a
 *   typed `DhcpParseError` (truncated, bad_cookie, overlong_option, overload_loop). Work is bounded
 *   by the input length: every loop advances at least one byte and the overload fields are visited
 *   at most once each.
 * - Options that appear several times are concatenated (RFC 3396) and kept once, in the order of
 *   their first appearance. Unknown options are kept as raw bytes.
 * - Option overload (52) pulls further options from `file` (value 1), `sname` (2) or both (3, file
 *   first, then sname). Overloaded fields are reported as empty strings.
 * - `encodePacket` writes options in the given order, splits values longer than 255 bytes over
 *   several instances, ends with END and pads the packet to the 300-byte BOOTP minimum. It does not
 *   overload `file`/`sname` on output.
 */
import { NetbootError } from '../core/errors';

export const BOOTP_MIN_SIZE = 300;
export const BOOTP_HEADER_SIZE = 236;
export const MAGIC_COOKIE = 0x63825363;
export const OPTIONS_OFFSET = 240;
const SNAME_OFFSET = 44;
const SNAME_SIZE = 64;
const FILE_OFFSET = 108;
const FILE_SIZE = 128;

export const OP_REQUEST = 1;
export const OP_REPLY = 2;
export const FLAG_BROADCAST = 0x8000;

const OPT_PAD = 0;
const OPT_OVERLOAD = 52;
const OPT_END = 255;

/** One option after RFC 3396 concatenation. */
export interface DhcpOption {
  code: number;
  data: Buffer;
}

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** All 16 bytes of the chaddr field. */
  chaddr: Buffer;
  /** Server host name (up to the first NUL, latin1); '' when overloaded. */
  sname: string;
  /** Boot file name (up to the first NUL, latin1); '' when overloaded. */
  file: string;
  options: DhcpOption[];
}

export type DhcpParseErrorReason = 'truncated' | 'bad_cookie' | 'overlong_option' | 'overload_loop';

export class DhcpParseError extends NetbootError {
  readonly reason: DhcpParseErrorReason;
  constructor(reason: DhcpParseErrorReason, message: string, details: Record<string, unknown> = {}) {
    super('protocol', `parsing DHCP packet: ${message}`, { reason, ...details });
    this.name = 'DhcpParseError';
    this.reason = reason;
  }
}

export type ParseResult = { ok: true; packet: DhcpPacket } | { ok: false; error: DhcpParseError };

export function ipFromBytes(buf: Uint8Array, offset = 0): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isIPv4(ip: string): boolean {
  const m = IPV4.exec(ip);
  return m !== null && m.slice(1).every((p) => Number(p) <= 255);
}

export function ipToBytes(ip: string): Buffer {
  const m = IPV4.exec(ip);
  if (!m || !m.slice(1).every((p) => Number(p) <= 255)) {
    throw new NetbootError('validation', `invalid IPv4 address "${String(ip).slice(0, 40)}"`, { value: ip });
  }
  return Buffer.from(m.slice(1).map(Number));
}

export function ipToInt(ip: string): number {
  const b = ipToBytes(ip);
  return b.readUInt32BE(0);
}

export function intToIp(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return ipFromBytes(b);
}

function cString(buf: Buffer, offset: number, size: number): string {
  const field = buf.subarray(offset, offset + size);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('latin1');
}

type Region = 'options' | 'file' | 'sname';

/**
 * Walks one option region, appending raw fragments to `acc` (code → fragments, insertion-ordered).
 * Returns an error or undefined.
 */
function walkRegion(buf: Buffer, start: number, end: number, region: Region, acc: Map<number, Buffer[]>): DhcpParseError | undefined {
  let i = start;
  while (i < end) {
    const code = buf[i];
    if (code === OPT_PAD) {
      i += 1;
      continue;
    }
    if (code === OPT_END) return undefined;
    if (i + 1 >= end) {
      return new DhcpParseError('overlong_option', `option ${code} in ${region} at offset ${i} has no length byte`, { code, offset: i, region });
    }
    const len = buf[i + 1];
    if (i + 2 + len > end) {
      return new DhcpParseError('overlong_option', `option ${code} in ${region} at offset ${i}: length ${len} runs past the end of the field (${end - i - 2} bytes left)`, { code, offset: i, length: len, region });
    }
    if (code === OPT_OVERLOAD && region !== 'options') {
      return new DhcpParseError('overload_loop', `option 52 (overload) inside the overloaded ${region} field`, { region, offset: i });
    }
    const frag = buf.subarray(i + 2, i + 2 + len);
    const list = acc.get(code);
    if (list) list.push(frag);
    else acc.set(code, [frag]);
    i += 2 + len;
  }
  return undefined;
}

export function parsePacket(input: Uint8Array): ParseResult {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < OPTIONS_OFFSET) {
    return { ok: false, error: new DhcpParseError('truncated', `${buf.length} bytes, need at least ${OPTIONS_OFFSET}`, { length: buf.length }) };
  }
  const cookie = buf.readUInt32BE(BOOTP_HEADER_SIZE);
  if (cookie !== MAGIC_COOKIE) {
    return { ok: false, error: new DhcpParseError('bad_cookie', `magic cookie 0x${cookie.toString(16).padStart(8, '0')}, want 0x63825363`, { cookie }) };
  }
  const acc = new Map<number, Buffer[]>();
  let err = walkRegion(buf, OPTIONS_OFFSET, buf.length, 'options', acc);
  if (err) return { ok: false, error: err };

  let overload = 0;
  const ov = acc.get(OPT_OVERLOAD);
  if (ov) {
    const v = Buffer.concat(ov);
    if (v.length !== 1 || v[0] < 1 || v[0] > 3) {
      return { ok: false, error: new DhcpParseError('overlong_option', `option 52 (overload) must be one byte 1..3, got ${v.toString('hex') || 'empty'}`, { value: v.toString('hex') }) };
    }
    overload = v[0];
    // RFC 2131: file first, then sname.
    if (overload & 1) {
      err = walkRegion(buf, FILE_OFFSET, FILE_OFFSET + FILE_SIZE, 'file', acc);
      if (err) return { ok: false, error: err };
    }
    if (overload & 2) {
      err = walkRegion(buf, SNAME_OFFSET, SNAME_OFFSET + SNAME_SIZE, 'sname', acc);
      if (err) return { ok: false, error: err };
    }
  }

  const options: DhcpOption[] = [];
  for (const [code, frags] of acc) {
    options.push({ code, data: frags.length === 1 ? Buffer.from(frags[0]) : Buffer.concat(frags) });
  }

  const packet: DhcpPacket = {
    op: buf[0],
    htype: buf[1],
    hlen: buf[2],
    hops: buf[3],
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipFromBytes(buf, 12),
    yiaddr: ipFromBytes(buf, 16),
    siaddr: ipFromBytes(buf, 20),
    giaddr: ipFromBytes(buf, 24),
    chaddr: Buffer.from(buf.subarray(28, 44)),
    sname: overload & 2 ? '' : cString(buf, SNAME_OFFSET, SNAME_SIZE),
    file: overload & 1 ? '' : cString(buf, FILE_OFFSET, FILE_SIZE),
    options,
  };
  return { ok: true, packet };
}

function writeField(out: Buffer, offset: number, size: number, value: string, name: string): void {
  const bytes = Buffer.from(value, 'latin1');
  if (bytes.length > size) {
    throw new NetbootError('validation', `encoding DHCP packet: ${name} is ${bytes.length} bytes, at most ${size} fit`, { field: name, length: bytes.length });
  }
  bytes.copy(out, offset);
}

/** Encodes a packet. Throws `NetbootError('validation')` only for values that cannot be represented (our own bug). */
export function encodePacket(p: DhcpPacket): Buffer {
  const chunks: Buffer[] = [];
  let optLen = 0;
  for (const o of p.options) {
    if (o.code === OPT_PAD || o.code === OPT_END || !Number.isInteger(o.code) || o.code < 0 || o.code > 255) {
      throw new NetbootError('validation', `encoding DHCP packet: option code ${o.code} cannot be carried`, { code: o.code });
    }
    if (o.data.length === 0) {
      const b = Buffer.from([o.code, 0]);
      chunks.push(b);
      optLen += 2;
      continue;
    }
    for (let off = 0; off < o.data.length; off += 255) {
      const part = o.data.subarray(off, Math.min(off + 255, o.data.length));
      chunks.push(Buffer.from([o.code, part.length]), part);
      optLen += 2 + part.length;
    }
  }
  const total = Math.max(BOOTP_MIN_SIZE, OPTIONS_OFFSET + optLen + 1);
  const out = Buffer.alloc(total);
  out[0] = p.op;
  out[1] = p.htype;
  out[2] = p.hlen;
  out[3] = p.hops;
  out.writeUInt32BE(p.xid >>> 0, 4);
  out.writeUInt16BE(p.secs & 0xffff, 8);
  out.writeUInt16BE(p.flags & 0xffff, 10);
  ipToBytes(p.ciaddr).copy(out, 12);
  ipToBytes(p.yiaddr).copy(out, 16);
  ipToBytes(p.siaddr).copy(out, 20);
  ipToBytes(p.giaddr).copy(out, 24);
  p.chaddr.subarray(0, 16).copy(out, 28);
  writeField(out, SNAME_OFFSET, SNAME_SIZE, p.sname, 'sname');
  writeField(out, FILE_OFFSET, FILE_SIZE, p.file, 'file');
  out.writeUInt32BE(MAGIC_COOKIE, BOOTP_HEADER_SIZE);
  let pos = OPTIONS_OFFSET;
  for (const c of chunks) {
    c.copy(out, pos);
    pos += c.length;
  }
  out[pos] = OPT_END;
  return out;
}

/** A blank packet with zero addresses, for builders and tests. */
export function emptyPacket(op: number = OP_REQUEST): DhcpPacket {
  return {
    op,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: Buffer.alloc(16),
    sname: '',
    file: '',
    options: [],
  };
}
