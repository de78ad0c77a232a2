import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { peSignatureOf, peSignatureOfFile } from '../../../lib/core/pe-signature';

/**
 * Real files from Debian packages (CI installs them, .ci/run): a signed kernel (linux-image-*-amd64,
 * not "-unsigned"), Microsoft-signed shim and its unsigned build (shim-signed / shim-unsigned),
 * Debian-signed GRUB, unsigned iPXE. sbattach (sbsigntool) removes a signature independently of us.
 */
const kernel = readdirSync('/boot').filter((f) => /^vmlinuz-.*-amd64$/.test(f)).map((f) => path.join('/boot', f))[0];
const tmp = mkdtempSync(path.join(tmpdir(), 'pe-sig-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('Authenticode signature in a PE file', () => {
  it('finds Debian\'s signature on the distribution kernel (/boot/vmlinuz-*-amd64)', async () => {
    expect(kernel, 'no /boot/vmlinuz-*-amd64: apt-get install linux-image-cloud-amd64 (CI does)').toBeTruthy();
    const sig = await peSignatureOfFile(kernel);
    expect(sig.kind).toBe('signed');
    if (sig.kind === 'signed') expect(sig.signers.join(' | ')).toMatch(/Debian Secure Boot/);
    // the in-memory reader agrees with the file reader
    expect(peSignatureOf(readFileSync(kernel)).kind).toBe('signed');
  });

  it('calls the same kernel unsigned once sbattach --remove took its signature off', async () => {
    const stripped = path.join(tmp, 'vmlinuz-unsigned');
    copyFileSync(kernel, stripped);
    execFileSync('sbattach', ['--remove', stripped]);
    const sig = await peSignatureOfFile(stripped);
    expect(sig.kind).toBe('unsigned');
    expect(peSignatureOf(readFileSync(stripped)).kind).toBe('unsigned');
  });

  it('tells Microsoft-signed shim from the unsigned build of the same shim', async () => {
    const signed = await peSignatureOfFile('/usr/lib/shim/shimx64.efi.signed');
    expect(signed.kind).toBe('signed');
    if (signed.kind === 'signed') expect(signed.signers.join(' | ')).toMatch(/Microsoft/);
    expect((await peSignatureOfFile('/usr/lib/shim/shimx64.efi')).kind).toBe('unsigned');
  });

  it('finds Debian\'s signature on the signed GRUB netboot image and none on Debian\'s iPXE', async () => {
    expect((await peSignatureOfFile('/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed')).kind).toBe('signed');
    expect(existsSync('/usr/lib/ipxe/ipxe.efi')).toBe(true);
    expect((await peSignatureOfFile('/usr/lib/ipxe/ipxe.efi')).kind).toBe('unsigned');
  });

  it('says "not-pe" for a file that is no EFI program, and survives a truncated one', async () => {
    const text = path.join(tmp, 'text');
    writeFileSync(text, 'hello, not a kernel\n');
    expect(await peSignatureOfFile(text)).toMatchObject({ kind: 'not-pe' });
    // a legacy-only image: MZ but no PE header
    const mz = Buffer.alloc(256);
    mz.write('MZ', 0, 'latin1');
    mz.writeUInt32LE(0x80, 0x3c);
    expect(peSignatureOf(mz)).toMatchObject({ kind: 'not-pe' });
    // the signed kernel cut before its certificate table (e.g. an interrupted copy)
    const whole = readFileSync(kernel);
    const cut = path.join(tmp, 'cut');
    writeFileSync(cut, whole.subarray(0, whole.length - 100));
    const sig = await peSignatureOfFile(cut);
    expect(sig.kind).toBe('unsigned');
    if (sig.kind === 'unsigned') expect(sig.reason).toMatch(/runs past the end/);
    // random bytes after a valid header prefix never throw
    for (let i = 0; i < 200; i++) {
      const junk = Buffer.from(whole.subarray(0, 4096));
      for (let j = 0; j < 20; j++) junk[(i * 131 + j * 977) % 4096] = (i * 7 + j) & 0xff;
      expect(() => peSignatureOf(junk)).not.toThrow();
    }
  });
});
