import { describe, expect, it } from 'vitest';
import { bootAnswer, classify, parsePacket, resolveBootConfig } from '../../helpers/dhcp-imports';
import { HTTP_X64, PXE_BIOS, clientPacket, fixtureBytes, piUuid } from '../../../support/dhcp-packets';

function facts(name: string) {
  const r = parsePacket(fixtureBytes(name));
  if (!r.ok) throw r.error;
  return classify(r.packet);
}

describe('classify', () => {
  it('BIOS iPXE capture', () => {
    expect(facts('bios-ipxe-discover')).toMatchObject({
      mac: '52:54:00:7a:f4:af',
      xid: 0xdabfe25d,
      arch: 0,
      archName: 'bios',
      clientClass: 'PXEClient',
      isIpxe: true,
      platform: 'pcbios',
      buildarch: 'i386',
      uuid: '00000000-0000-0000-0000-000000000000',
      ndi: { type: 1, major: 2, minor: 1 },
    });
  });

  it('OVMF, iPXE EFI, AAVMF and HTTP boot captures', () => {
    expect(facts('ovmf-discover')).toMatchObject({ arch: 7, archName: 'efi-x64', isIpxe: false, platform: 'efi', buildarch: 'x86_64' });
    expect(facts('ipxe-efi-discover')).toMatchObject({ arch: 7, isIpxe: true });
    expect(facts('aavmf-discover')).toMatchObject({ arch: 11, archName: 'efi-arm64', buildarch: 'arm64' });
    expect(facts('httpclient-discover')).toMatchObject({ arch: 16, archName: 'http-x64', clientClass: 'HTTPClient', isHttpBoot: true });
  });

  it('IANA names', () => {
    const names: Record<number, string> = { 0: 'bios', 6: 'efi-ia32', 7: 'efi-x64', 9: 'efi-x64', 10: 'efi-arm32', 11: 'efi-arm64', 15: 'http-ia32', 16: 'http-x64', 18: 'http-arm32', 19: 'http-arm64', 20: 'bios-http', 25: 'efi-riscv32', 27: 'efi-riscv64', 99: 'arch-99' };
    for (const [a, n] of Object.entries(names)) {
      expect(classify(clientPacket({ mac: '52:54:00:00:00:01', arch: Number(a) })).archName).toBe(n);
    }
  });

  it('arch from option 60 when 93 is missing; other clients', () => {
    expect(classify(clientPacket({ mac: '52:54:00:00:00:01', vendorClass: 'PXEClient:Arch:00011:UNDI:003000' })).arch).toBe(11);
    expect(classify(clientPacket({ mac: '52:54:00:00:00:01', vendorClass: 'udhcp 1.35.0' }))).toMatchObject({ clientClass: 'other', arch: undefined, archName: 'unknown' });
  });

  it('Raspberry Pi: OUI, option 97 FourCC, serial, and no Pi for EFI archs', () => {
    expect(classify(clientPacket({ mac: 'B8:27:EB:00:00:01', vendorClass: PXE_BIOS, arch: 0 })).pi).toEqual({ model: 'pi3', via: 'oui', serial: undefined, boardRevision: undefined });
    const serial3bp = Buffer.alloc(16);
    for (let i = 0; i < 4; i++) serial3bp.writeUInt32LE(0x9ffefdef, i * 4);
    expect(classify(clientPacket({ mac: 'b8:27:eb:00:00:02', vendorClass: PXE_BIOS, arch: 0, uuid: serial3bp })).pi?.serial).toBe('9ffefdef');
    const pi4 = classify(clientPacket({ mac: 'dc:a6:32:01:36:c2', vendorClass: PXE_BIOS, arch: 0, uuid: piUuid(4, 0xc03111, 'dc:a6:32:01:36:c2', 0x9ffefdef) }));
    expect(pi4.pi).toEqual({ model: 'pi4', via: 'both', serial: '9ffefdef', boardRevision: 0xc03111 });
    expect(pi4).toMatchObject({ platform: 'rpi', buildarch: 'arm64' });
    // option 97 alone is enough (e.g. MAC_ADDRESS override)
    expect(classify(clientPacket({ mac: '02:00:00:00:00:01', vendorClass: PXE_BIOS, arch: 0, uuid: piUuid(5, 0xd04170, '02:00:00:00:00:01', 1) })).pi).toMatchObject({ model: 'pi5', via: 'option97', serial: '00000001' });
    for (const oui of ['e4:5f:01', '28:cd:c1', 'd8:3a:dd', '2c:cf:67']) {
      expect(classify(clientPacket({ mac: `${oui}:00:00:01`, vendorClass: PXE_BIOS, arch: 0 })).pi).toBeDefined();
    }
    // piPXE / UEFI on a Pi is a normal arm64 client
    expect(classify(clientPacket({ mac: 'dc:a6:32:00:00:01', vendorClass: 'PXEClient:Arch:00011:UNDI:003000', arch: 11 })).pi).toBeUndefined();
  });
});

describe('boot answer defaults', () => {
  const cfg = resolveBootConfig({ httpPort: 8080, files: { efiX64: 'snponly.efi' } });
  it('configurable UEFI x64 file and HTTP port', () => {
    const f = classify(clientPacket({ mac: '52:54:00:00:00:01', vendorClass: 'PXEClient:Arch:00007:UNDI:003000', arch: 7 }));
    expect(bootAnswer(f, '10.1.1.1', cfg).answer?.filename).toBe('snponly.efi');
    const h = classify(clientPacket({ mac: '52:54:00:00:00:01', vendorClass: HTTP_X64, arch: 16 }));
    expect(bootAnswer(h, '10.1.1.1', cfg).answer).toMatchObject({ kind: 'http-boot', filename: 'http://10.1.1.1:8080/boot/assets/ipxe.efi', vendorClass: 'HTTPClient' });
    const i = classify(clientPacket({ mac: '52:54:00:00:00:01', vendorClass: PXE_BIOS, arch: 0, userClass: 'iPXE' }));
    expect(bootAnswer(i, '10.1.1.1', cfg).answer?.filename).toBe('http://10.1.1.1:8080/boot/menu.ipxe?mac=${netX/mac:hexhyp}&uuid=${uuid}&arch=${buildarch}&platform=${platform}');
  });
});
