/**
 * Does an EFI program (a kernel's EFI stub, shim, GRUB) carry an Authenticode signature? Read from
 * the PE file itself, no external tool: the DOS header points at the PE header, whose optional
 * header's data directory 4 (the certificate table, "security directory") gives the file offset and
 * size of WIN_CERTIFICATE entries; a signed image has at least one of type PKCS_SIGNED_DATA (2),
 * whose PKCS#7 SignedData carries the signer's certificates (their subjects name who signed it).
 *
 * This says whether a signature is there and who it claims to be from; it does not verify the
 * signature against a key (shim and the firmware do that at boot). That is enough to refuse, at save
 * time, a kernel that shim will certainly refuse ("bad shim signature").
 */
import { X509Certificate } from 'node:crypto';
import { open } from 'node:fs/promises';

export type PeSignature =
  | { kind: 'signed'; signers: string[]; certificateTableBytes: number }
  | { kind: 'unsigned'; reason: string }
  | { kind: 'not-pe'; reason: string };

const WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002;
const SECURITY_DIRECTORY = 4;

/** Where the certificate table is, from the headers alone (the first few KiB of the file). */
export function certificateTableOf(head: Buffer): { offset: number; size: number } | { error: PeSignature } {
  if (head.length < 0x40 || head.toString('latin1', 0, 2) !== 'MZ') return { error: { kind: 'not-pe', reason: 'no MZ header' } };
  const pe = head.readUInt32LE(0x3c);
  if (pe + 24 > head.length || head.toString('latin1', pe, pe + 4) !== 'PE\0\0') return { error: { kind: 'not-pe', reason: 'no PE header (not an EFI program)' } };
  const optSize = head.readUInt16LE(pe + 20);
  const opt = pe + 24;
  if (optSize < 2 || opt + optSize > head.length) return { error: { kind: 'not-pe', reason: 'PE optional header truncated' } };
  const magic = head.readUInt16LE(opt);
  // PE32 (0x10b) keeps NumberOfRvaAndSizes at 92 and the directories at 96; PE32+ (0x20b) at 108 / 112
  const [countAt, dirsAt] = magic === 0x20b ? [108, 112] : magic === 0x10b ? [92, 96] : [-1, -1];
  if (countAt < 0) return { error: { kind: 'not-pe', reason: `unknown PE optional header magic 0x${magic.toString(16)}` } };
  if (optSize < countAt + 4) return { error: { kind: 'unsigned', reason: 'no data directories' } };
  const dirs = head.readUInt32LE(opt + countAt);
  if (dirs <= SECURITY_DIRECTORY || optSize < dirsAt + (SECURITY_DIRECTORY + 1) * 8) return { error: { kind: 'unsigned', reason: 'no certificate table entry' } };
  const entry = opt + dirsAt + SECURITY_DIRECTORY * 8;
  const offset = head.readUInt32LE(entry);
  const size = head.readUInt32LE(entry + 4);
  if (offset === 0 || size === 0) return { error: { kind: 'unsigned', reason: 'no Authenticode signature (empty certificate table)' } };
  return { offset, size };
}

/** Reads one DER element at `at`: its tag, where its content starts and ends. */
function der(buf: Buffer, at: number): { tag: number; start: number; end: number } {
  if (at + 2 > buf.length) throw new Error('DER truncated');
  const tag = buf[at];
  let len = buf[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > buf.length) throw new Error('DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i];
    start += n;
  }
  if (start + len > buf.length) throw new Error('DER element runs past its container');
  return { tag, start, end: start + len };
}

function children(buf: Buffer, start: number, end: number): Array<{ tag: number; at: number; start: number; end: number }> {
  const out = [];
  for (let at = start; at < end;) {
    const el = der(buf, at);
    out.push({ ...el, at });
    at = el.end;
  }
  return out;
}

/** Subjects (CN, else the whole subject) of the certificates a PKCS#7 SignedData carries. */
export function pkcs7Signers(blob: Buffer): string[] {
  // ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
  const ci = der(blob, 0);
  const [, content] = children(blob, ci.start, ci.end);
  if (!content || content.tag !== 0xa0) return [];
  const sd = der(blob, content.start);
  // SignedData ::= SEQUENCE { version, digestAlgorithms, contentInfo, certificates [0] IMPLICIT ..., crls [1], signerInfos }
  const certs = children(blob, sd.start, sd.end).find((c) => c.tag === 0xa0);
  if (!certs) return [];
  const out: string[] = [];
  for (const c of children(blob, certs.start, certs.end)) {
    try {
      const subject = new X509Certificate(blob.subarray(c.at, c.end)).subject;
      out.push(/(?:^|\n)CN=([^\n]+)/.exec(subject)?.[1] ?? subject.replace(/\n/g, ', '));
    } catch {
      // an attribute certificate or something X509Certificate cannot read: not a signer we can name
    }
  }
  return out;
}

/** The signature status of a whole PE image in memory. */
export function peSignatureOf(file: Buffer): PeSignature {
  const where = certificateTableOf(file);
  if ('error' in where) return where.error;
  return readTable(where, (offset, size) => file.subarray(offset, offset + size), file.length);
}

function readTable(where: { offset: number; size: number }, read: (offset: number, size: number) => Buffer, fileSize: number): PeSignature {
  if (where.offset + where.size > fileSize) return { kind: 'unsigned', reason: `certificate table (${where.size} bytes at ${where.offset}) runs past the end of the file (${fileSize} bytes): truncated copy?` };
  const table = read(where.offset, where.size);
  const signers: string[] = [];
  let pkcs7 = 0;
  for (let at = 0; at + 8 <= table.length;) {
    const length = table.readUInt32LE(at);
    const type = table.readUInt16LE(at + 6);
    if (length < 8 || at + length > table.length) break;
    if (type === WIN_CERT_TYPE_PKCS_SIGNED_DATA) {
      pkcs7++;
      try {
        signers.push(...pkcs7Signers(table.subarray(at + 8, at + length)));
      } catch {
        // an unreadable blob still counts as present; shim decides whether it verifies
      }
    }
    at += (length + 7) & ~7;
  }
  if (pkcs7 === 0) return { kind: 'unsigned', reason: 'certificate table holds no PKCS#7 signature' };
  return { kind: 'signed', signers, certificateTableBytes: where.size };
}

/** The signature status of a file, reading only its headers and its certificate table. */
export async function peSignatureOfFile(file: string): Promise<PeSignature> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, 64 * 1024));
    await fh.read(head, 0, head.length, 0);
    const where = certificateTableOf(head);
    if ('error' in where) return where.error;
    if (where.offset + where.size > size) return readTable(where, () => Buffer.alloc(0), size);
    if (where.size > 16 * 1024 * 1024) return { kind: 'unsigned', reason: `certificate table of ${where.size} bytes is not a signature` };
    const table = Buffer.alloc(where.size);
    await fh.read(table, 0, where.size, where.offset);
    return readTable({ offset: 0, size: where.size }, () => table, where.size);
  } finally {
    await fh.close();
  }
}
