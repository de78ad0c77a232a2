import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BOOT_PROGRAMS, CLIENT_CLASSES, bootReadiness, describeReadiness, findProgram, programFor, systemProgram } from '../../../lib/boot-programs/catalog';

const ASSETS = '/srv/netboot/assets';
/** A machine whose files are exactly `have`. */
const host = (...have: string[]) => async (p: string) => have.includes(p);

describe('boot programs', () => {
  it('the user\'s file in the assets folder wins; then the distributions\' packages in order', async () => {
    expect(await findProgram('ipxe.efi', ASSETS, host(path.join(ASSETS, 'ipxe.efi'), '/usr/lib/ipxe/ipxe.efi'))).toEqual({ name: 'ipxe.efi', path: path.join(ASSETS, 'ipxe.efi'), source: 'assets' });
    expect(await findProgram('ipxe.efi', ASSETS, host('/usr/lib/ipxe/ipxe.efi', '/usr/share/ipxe/ipxe-x86_64.efi'))).toEqual({ name: 'ipxe.efi', path: '/usr/lib/ipxe/ipxe.efi', source: 'system' });
    expect(await findProgram('ipxe.efi', ASSETS, host('/usr/share/ipxe/ipxe-x86_64.efi'))).toMatchObject({ path: '/usr/share/ipxe/ipxe-x86_64.efi', source: 'system' });
    expect(await findProgram('ipxe.efi', ASSETS, host())).toBeUndefined();
    // Secure Boot: Debian's signed network GRUB is served under the name shim loads
    expect(await findProgram('grubx64.efi', ASSETS, host('/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed'))).toMatchObject({ source: 'system' });
  });

  it('serves from the packages only the boot programs it knows, at the root', async () => {
    const all = host('/usr/lib/ipxe/undionly.kpxe', '/etc/passwd');
    expect(await systemProgram('undionly.kpxe', all)).toBe('/usr/lib/ipxe/undionly.kpxe');
    expect(await systemProgram('/undionly.kpxe', all)).toBe('/usr/lib/ipxe/undionly.kpxe');
    expect(await systemProgram('x/undionly.kpxe', all)).toBeUndefined();
    expect(await systemProgram('passwd', all)).toBeUndefined();
    expect(await systemProgram('../../etc/passwd', all)).toBeUndefined();
    expect(programFor('snponly.efi')?.name).toBe('snponly.efi');
    // every program has a fix, and every class's files are in the catalog
    for (const p of BOOT_PROGRAMS) expect(p.fix.length).toBeGreaterThan(10);
    for (const c of CLIENT_CLASSES) for (const n of c.needs) expect(BOOT_PROGRAMS.some((p) => p.name === n), n).toBe(true);
    // the registration image is made, never taken from the system
    expect(programFor('registration/vmlinuz')).toBeUndefined();
  });

  it('says which class can boot, from where, and for each that cannot, the missing file and the fix', async () => {
    const debian = host('/usr/lib/ipxe/undionly.kpxe', '/usr/lib/ipxe/ipxe.efi', '/usr/lib/ipxe/snponly.efi', '/usr/lib/shim/shimx64.efi.signed');
    const table = await bootReadiness(ASSETS, debian);
    expect(table.map((c) => [c.id, c.ready])).toEqual([
      ['bios', true], ['uefi-x64', true], ['uefi-x64-http', true], ['uefi-x64-secureboot', false], ['uefi-arm64', false], ['pi3', false], ['pi4', false], ['pi5', true], ['registration', false], ['registration-pi', false],
    ]);
    expect(table.find((c) => c.id === 'registration')).toMatchObject({ missing: 'registration/vmlinuz', fix: expect.stringMatching(/^npm run build:registration/) });
    expect(table.find((c) => c.id === 'uefi-x64-secureboot')).toMatchObject({ missing: 'grubx64.efi', fix: expect.stringContaining('grub-efi-amd64-signed'), files: [{ name: 'shimx64.efi', source: 'system' }] });
    expect(table.find((c) => c.id === 'pi4')).toMatchObject({ missing: 'start4.elf', fix: expect.stringContaining('raspi-firmware') });
    const lines = describeReadiness(table);
    expect(lines[0]).toBe('BIOS: ready (undionly.kpxe from /usr/lib/ipxe/undionly.kpxe)');
    expect(lines[4]).toMatch(/^arm64 UEFI: cannot boot: ipxe-arm64\.efi is missing\. Fix: /);

    // a fresh machine: nothing installed, nothing copied
    const empty = await bootReadiness(ASSETS, host());
    expect(empty.find((c) => c.id === 'bios')).toMatchObject({ ready: false, missing: 'undionly.kpxe', fix: expect.stringContaining('sudo apt install ipxe') });
    // the user's own copy counts
    const built = host(path.join(ASSETS, 'undionly.kpxe'), path.join(ASSETS, 'registration/vmlinuz'), path.join(ASSETS, 'registration/initrd.img'));
    const own = await bootReadiness(ASSETS, built, async () => 'x86_64');
    expect(own.find((c) => c.id === 'bios')).toMatchObject({ ready: true, files: [{ source: 'assets' }] });
    expect(own.find((c) => c.id === 'registration')).toMatchObject({ ready: true });
    // an x86-64 image does not run on a Pi: said so, with the way to get an arm64 one
    expect(own.find((c) => c.id === 'registration-pi')).toMatchObject({ ready: false, missing: 'an arm64 registration image', fix: expect.stringMatching(/^the image here is for x86_64: build the registration image on an arm64 host/) });
    const arm = await bootReadiness(ASSETS, built, async (p) => (p === path.join(ASSETS, 'registration', 'arch') ? 'aarch64' : undefined));
    expect(arm.find((c) => c.id === 'registration-pi')).toMatchObject({ ready: true });
  });
});
