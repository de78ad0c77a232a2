/**
 * TFTP packet codec (RFC 1350, RFC 2347 options, OACK).
 *
 * `parsePacket` never throws: it returns `{ ok: true, packet }` or `{ ok: false, error }` where the error
 * says what was wrong with the bytes, so the server loop can count and drop a bad packet.
 *
 * Wire formats (all integers big-endian):
 *   RRQ/WRQ  | op(2) | filename | 0 | mode | 0 | [name | 0 | value | 0]... |
 *   DATA     | 3 | block(2) | data(0..blksize) |
 *   ACK      | 4 | block(2) |
 *   ERROR    | 5 | code(2) | message | 0 |
 *   OACK     | 6 | [name | 0 | value | 0]... |
 */

export const Opcode = {
  RRQ: 1,
  WRQ: 2,
  DATA: 3,
  ACK: 4,
  ERROR: 5,
  OACK: 6,
} as const;
export type OpcodeValue = (typeof Opcode)[keyof typeof Opcode];

/** Error codes: RFC 1350 (0..7) and RFC 2347 (8). */
export const TftpErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;
export type TftpErrorCodeValue = (typeof TftpErrorCode)[keyof typeof TftpErrorCode];

/** RFC 2347: "the request packet ... must not exceed 512 octets". */
export const MAX_REQUEST_BYTES = 512;
/** RFC 2348 upper bound for blksize; a DATA packet is at most 4 + 65464 bytes. */
export const MAX_BLKSIZE = 65464;
export const MIN_BLKSIZE = 8;
export const DEFAULT_BLKSIZE = 512;

/** Options as an ordered list of [name, value]; names keep the client's spelling. */
export type TftpOptionList = Array<[string, string]>;

export interface RequestPacket {
  op: 'RRQ' | 'WRQ';
  filename: string;
  /** Lower-cased transfer mode: 'octet', 'netascii', 'mail' or whatever the client sent. */
  mode: string;
  /** Option names lower-cased (RFC 2347 names are case-insensitive); values as sent. */
  options: Record<string, string>;
  /** Options in wire order with the client's spelling. */
  rawOptions: TftpOptionList;
}
export interface DataPacket {
  op: 'DATA';
  block: number;
  data: Buffer;
}
export interface AckPacket {
  op: 'ACK';
  block: number;
}
export interface ErrorPacket {
  op: 'ERROR';
  code: number;
  message: string;
}
export interface OackPacket {
  op: 'OACK';
  options: Record<string, string>;
  rawOptions: TftpOptionList;
}
export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

export type PacketErrorReason =
  | 'short'
  | 'unterminated'
  | 'unknown_opcode'
  | 'odd_options'
  | 'oversized'
  | 'duplicate_option'
  | 'empty_filename'
  | 'empty_mode';

/** What was wrong with a packet that could not be parsed. */
export interface PacketError {
  reason: PacketErrorReason;
  message: string;
  /** The opcode when it could be read. */
  opcode?: number;
}

export type ParseResult = { ok: true; packet: TftpPacket } | { ok: false; error: PacketError };

function fail(reason: PacketErrorReason, message: string, opcode?: number): ParseResult {
  return { ok: false, error: { reason, message, opcode } };
}

/**
 * Splits `buf[start..]` into NUL-terminated strings. Returns null when the last string lacks its NUL.
 * Strings are decoded as latin1 for option names/values (ASCII on the wire) and utf8 for the filename
 * by the caller.
 */
function splitStrings(buf: Buffer, start: number): Buffer[] | null {
  const parts: Buffer[] = [];
  let pos = start;
  while (pos < buf.length) {
    const nul = buf.indexOf(0, pos);
    if (nul < 0) return null;
    parts.push(buf.subarray(pos, nul));
    pos = nul + 1;
  }
  return parts;
}

function parseOptionPairs(parts: Buffer[], opcode: number): { options: Record<string, string>; raw: TftpOptionList } | PacketError {
  if (parts.length % 2 !== 0) {
    return { reason: 'odd_options', message: `option "${parts[parts.length - 1].toString('latin1')}" has no value`, opcode };
  }
  const options: Record<string, string> = Object.create(null) as Record<string, string>;
  const raw: TftpOptionList = [];
  for (let i = 0; i < parts.length; i += 2) {
    const name = parts[i].toString('latin1');
    const value = parts[i + 1].toString('latin1');
    const key = name.toLowerCase();
    if (key.length === 0) return { reason: 'odd_options', message: 'empty option name', opcode };
    if (Object.prototype.hasOwnProperty.call(options, key)) {
      return { reason: 'duplicate_option', message: `option "${key}" given twice`, opcode };
    }
    options[key] = value;
    raw.push([name, value]);
  }
  return { options, raw };
}

/** Decodes one datagram. Never throws. */
export function parsePacket(buf: Buffer): ParseResult {
  if (buf.length < 2) return fail('short', `packet of ${buf.length} bytes is shorter than an opcode`);
  const opcode = buf.readUInt16BE(0);
  switch (opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      const op = opcode === Opcode.RRQ ? 'RRQ' : 'WRQ';
      if (buf.length > MAX_REQUEST_BYTES) return fail('oversized', `${op} of ${buf.length} bytes exceeds ${MAX_REQUEST_BYTES}`, opcode);
      if (buf.length < 4) return fail('short', `${op} of ${buf.length} bytes is too short`, opcode);
      const parts = splitStrings(buf, 2);
      if (parts === null) return fail('unterminated', `${op} has a string without its terminating NUL`, opcode);
      if (parts.length < 2) return fail('short', `${op} lacks a mode`, opcode);
      const filename = parts[0].toString('utf8');
      if (filename.length === 0) return fail('empty_filename', `${op} has an empty filename`, opcode);
      const mode = parts[1].toString('latin1').toLowerCase();
      if (mode.length === 0) return fail('empty_mode', `${op} has an empty mode`, opcode);
      const opts = parseOptionPairs(parts.slice(2), opcode);
      if ('reason' in opts) return { ok: false, error: opts };
      return { ok: true, packet: { op, filename, mode, options: opts.options, rawOptions: opts.raw } };
    }
    case Opcode.DATA: {
      if (buf.length < 4) return fail('short', `DATA of ${buf.length} bytes is too short`, opcode);
      if (buf.length > 4 + MAX_BLKSIZE) return fail('oversized', `DATA of ${buf.length} bytes exceeds ${4 + MAX_BLKSIZE}`, opcode);
      return { ok: true, packet: { op: 'DATA', block: buf.readUInt16BE(2), data: buf.subarray(4) } };
    }
    case Opcode.ACK: {
      // Some stacks pad short frames; bytes after the block number are ignored.
      if (buf.length < 4) return fail('short', `ACK of ${buf.length} bytes is too short`, opcode);
      return { ok: true, packet: { op: 'ACK', block: buf.readUInt16BE(2) } };
    }
    case Opcode.ERROR: {
      if (buf.length < 4) return fail('short', `ERROR of ${buf.length} bytes is too short`, opcode);
      // Lenient on purpose: a client's ERROR without the trailing NUL (or with none at all) still
      // ends the transfer; the message stops at the first NUL if there is one.
      const rest = buf.subarray(4);
      const nul = rest.indexOf(0);
      const message = (nul < 0 ? rest : rest.subarray(0, nul)).toString('utf8').slice(0, 256);
      return { ok: true, packet: { op: 'ERROR', code: buf.readUInt16BE(2), message } };
    }
    case Opcode.OACK: {
      if (buf.length > MAX_REQUEST_BYTES) return fail('oversized', `OACK of ${buf.length} bytes exceeds ${MAX_REQUEST_BYTES}`, opcode);
      const parts = splitStrings(buf, 2);
      if (parts === null) return fail('unterminated', 'OACK has a string without its terminating NUL', opcode);
      const opts = parseOptionPairs(parts, opcode);
      if ('reason' in opts) return { ok: false, error: opts };
      return { ok: true, packet: { op: 'OACK', options: opts.options, rawOptions: opts.raw } };
    }
    default:
      return fail('unknown_opcode', `unknown opcode ${opcode}`, opcode);
  }
}

function optionBuffers(options: TftpOptionList | Record<string, string>): Buffer[] {
  const list = Array.isArray(options) ? options : Object.entries(options);
  const out: Buffer[] = [];
  for (const [name, value] of list) {
    out.push(Buffer.from(name, 'latin1'), Buffer.alloc(1), Buffer.from(value, 'latin1'), Buffer.alloc(1));
  }
  return out;
}

function opHeader(op: number, extra = 0): Buffer {
  const b = Buffer.alloc(2 + extra);
  b.writeUInt16BE(op, 0);
  return b;
}

export function encodeRequest(
  op: 'RRQ' | 'WRQ',
  filename: string,
  mode = 'octet',
  options: TftpOptionList | Record<string, string> = [],
): Buffer {
  return Buffer.concat([
    opHeader(op === 'RRQ' ? Opcode.RRQ : Opcode.WRQ),
    Buffer.from(filename, 'utf8'),
    Buffer.alloc(1),
    Buffer.from(mode, 'latin1'),
    Buffer.alloc(1),
    ...optionBuffers(options),
  ]);
}

export function encodeData(block: number, data: Buffer): Buffer {
  const b = Buffer.allocUnsafe(4 + data.length);
  b.writeUInt16BE(Opcode.DATA, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  data.copy(b, 4);
  return b;
}

export function encodeAck(block: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(Opcode.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function encodeError(code: number, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8');
  const b = Buffer.alloc(5 + msg.length);
  b.writeUInt16BE(Opcode.ERROR, 0);
  b.writeUInt16BE(code & 0xffff, 2);
  msg.copy(b, 4);
  return b;
}

export function encodeOack(options: TftpOptionList | Record<string, string>): Buffer {
  return Buffer.concat([opHeader(Opcode.OACK), ...optionBuffers(options)]);
}

/** Short human name of an error code, for logs. */
export function errorCodeName(code: number): string {
  switch (code) {
    case 0: return 'not defined';
    case 1: return 'file not found';
    case 2: return 'access violation';
    case 3: return 'disk full';
    case 4: return 'illegal operation';
    case 5: return 'unknown transfer ID';
    case 6: return 'file already exists';
    case 7: return 'no such user';
    case 8: return 'option negotiation refused';
    default: return `code ${code}`;
  }
}
