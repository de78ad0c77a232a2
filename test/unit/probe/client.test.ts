/**
 * The probe's client side, without a network: the packets each kind sends (checked with our own
 * server-side classifier), the command line, iPXE setting expansion and chain targets, config.txt
 * file names, and where DISCOVERs go.
 */
import { describe, expect, it } from 'vitest';
import { classify, decodeUserClass, encodePacket, getOption, parsePacket } from '../../../lib/dhcp/index';
import { buildBootServerRequest, buildDiscover, makeIdentity } from '../../../lib/probe/identity';
import { parseArgs, parseDuration } from '../../../lib/probe/args';
import { chainTargets, expandSettings, resolveUri } from '../../../lib/probe/ipxe-settings';
import { configTxtFiles, resolveNetwork } from '../../../lib/probe/run';
import { DEFAULT_PORTS, type ProbeKind } from '../../../lib/probe/types';
import { ProbeNetworkError } from '../../../lib/probe/network-error';

function roundTrip(kind: ProbeKind, mac?: string, serial?: string) {
  const id = makeIdentity(kind, mac, serial);
  const r = parsePacket(encodePacket(buildDiscover(id, 0x1234)));
  if (!r.ok) throw r.error;
  return { id, packet: r.packet, facts: classify(r.packet) };
}

describe('what each kind sends', () => {
  it.each([
    ['bios', 'PXEClient:Arch:00000:UNDI:002001', 0, 'pcbios', false],
    ['uefi', 'PXEClient:Arch:00007:UNDI:003000', 7, 'efi', false],
    ['arm64', 'PXEClient:Arch:00011:UNDI:003000', 11, 'efi', false],
    ['http', 'HTTPClient:Arch:00016:UNDI:003000', 16, 'efi', false],
    ['ipxe', 'PXEClient:Arch:00000:UNDI:002001', 0, 'pcbios', true],
  ] as const)('%s: option 60 %s, 93 = %d', (kind, vc, arch, platform, ipxe) => {
    const { packet, facts } = roundTrip(kind);
    expect(facts.vendorClass).toBe(vc);
    expect(facts.archs).toEqual([arch]);
    expect(facts.platform).toBe(platform);
    expect(facts.isIpxe).toBe(ipxe);
    expect(facts.pi).toBeUndefined();
    expect(facts.mac.startsWith('52:54:00:')).toBe(true);
    expect(getOption(packet, 97)).toHaveLength(17);
    expect(getOption(packet, 94)).toEqual(Buffer.from(arch === 0 ? [1, 2, 1] : [1, 3, 0]));
    expect(packet.flags & 0x8000).toBe(0x8000);
    if (ipxe) {
      expect(decodeUserClass(getOption(packet, 77)!)).toEqual(['iPXE']);
      expect(getOption(packet, 175)).toBeDefined();
    }
  });

  it('the default MAC is stable per host and kind', () => {
    expect(makeIdentity('bios').mac).toBe(makeIdentity('bios').mac);
    expect(makeIdentity('bios').mac).not.toBe(makeIdentity('uefi').mac);
  });

  it.each([
    ['pi3', 'b8:27:eb', 'pi3'],
    ['pi4', 'dc:a6:32', 'pi4'],
    ['pi5', '2c:cf:67', 'pi5'],
  ] as const)('%s: OUI %s, option 97 that our classifier reads as %s with the serial', (kind, oui, model) => {
    const { id, facts, packet } = roundTrip(kind, undefined, '9FFEFDEF');
    expect(id.mac.startsWith(oui)).toBe(true);
    expect(facts.pi).toMatchObject({ model, serial: '9ffefdef' });
    expect(getOption(packet, 60)?.toString()).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(getOption(packet, 55)).toEqual(expect.objectContaining({}));
    expect([...getOption(packet, 55)!]).toEqual(expect.arrayContaining([43, 60, 66, 128, 135]));
  });

  it('Pi 4/5 option 97: FourCC, board revision, MAC tail, serial (little-endian words)', () => {
    const id = makeIdentity('pi4', 'dc:a6:32:01:36:c2', '9ffefdef');
    const body = id.option97.subarray(1);
    expect(id.option97[0]).toBe(0);
    expect(body.subarray(0, 4).toString('latin1')).toBe('RPi4');
    expect(body.readUInt32LE(4)).toBe(0xc03111);
    expect(body.subarray(8, 12).toString('hex')).toBe('320136c2');
    expect(body.readUInt32LE(12)).toBe(0x9ffefdef);
  });

  it('Pi default serial = last 4 MAC bytes; a bad serial is refused', () => {
    expect(makeIdentity('pi5', '2c:cf:67:01:02:03').serial).toBe('67010203');
    expect(() => makeIdentity('pi4', undefined, 'xyz')).toThrow(/invalid Raspberry Pi serial/);
  });

  it('the 4011 REQUEST: type 3, ciaddr, same 60/93/97, optional boot item', () => {
    const id = makeIdentity('uefi');
    const r = parsePacket(encodePacket(buildBootServerRequest(id, 77, '10.0.0.9', { type: 0x8000, layer: 0 })));
    if (!r.ok) throw r.error;
    const f = classify(r.packet);
    expect(f.messageType).toBe(3);
    expect(r.packet).toMatchObject({ xid: 77, ciaddr: '10.0.0.9' });
    expect(f.vendorClass).toBe('PXEClient:Arch:00007:UNDI:003000');
    expect(getOption(r.packet, 43)?.toString('hex')).toBe('470480000000ff');
  });
});

describe('command line', () => {
  it.each([
    [['--as', 'pi4', '--json'], { kind: 'run', json: true, options: { kind: 'pi4' } }],
    [['--as=uefi', '--server=10.0.0.5', '--unicast', '--timeout', '500ms', '--proxy-port', '14011'], { kind: 'run', options: { kind: 'uefi', server: '10.0.0.5', unicast: true, timeoutMs: 500, offerWindowMs: 500, ports: { proxy: 14011 } } }],
    [['--as', 'bios', '--timeout', '2', '--window', '4s'], { kind: 'run', options: { timeoutMs: 2000, offerWindowMs: 4000 } }],
    [['--as', 'pi3', '--files', 'config.txt, start.elf ,overlays/x.dtbo', '--serial', '0x1234abcd', '--mac', 'B8-27-EB-00-00-01'], { kind: 'run', options: { files: ['config.txt', 'start.elf', 'overlays/x.dtbo'], serial: '0x1234abcd', mac: 'B8-27-EB-00-00-01' } }],
    [['-h'], { kind: 'help' }],
  ])('%j', (argv, want) => {
    expect(parseArgs(argv)).toMatchObject(want);
  });

  it.each([
    [[], /--as KIND is required/],
    [['--as', 'toaster'], /not one of bios, uefi/],
    [['--as', 'bios', '--mac', 'zz'], /not a MAC/],
    [['--as', 'bios', '--server', '10.0.0'], /not an IPv4/],
    [['--as', 'bios', '--unicast'], /needs --server/],
    [['--as', 'bios', '--tftp-port', '70000'], /not a port/],
    [['--as', 'bios', '--timeout', 'soon'], /not a duration/],
    [['--as', 'bios', '--files', 'a'], /only applies to --as pi3/],
    [['--as', 'pi4', '--files', '../etc/passwd'], /not a relative file name/],
    [['--as', 'pi4', '--serial', '123456789'], /up to 8 hex/],
    [['--as', 'pi4', '--bogus'], /unknown argument/],
    [['--as', 'pi4', '--as', 'pi5'], /given twice/],
    [['--as'], /needs a value/],
    [['--as', 'pi4', 'stray'], /unknown argument "stray"/],
    [['--as', 'pi4', '--json=1'], /--json takes no value/],
    [['--as', 'bios', '--mac', '-x'], /--mac needs a value/],
  ])('%j → usage error', (argv, msg) => {
    const r = parseArgs(argv);
    expect(r.kind).toBe('error');
    expect(r.kind === 'error' && r.message).toMatch(msg);
  });

  it('durations', () => {
    expect([parseDuration('3s'), parseDuration('250ms'), parseDuration('1.5'), parseDuration('0'), parseDuration('-1'), parseDuration('9999s')]).toEqual([3000, 250, 1500, undefined, undefined, undefined]);
  });
});

describe('iPXE settings and chain targets', () => {
  const s = { mac: '52:54:00:12:34:56', uuid: '00112233-4455-6677-8899-aabbccddeeff', buildarch: 'i386', platform: 'pcbios', hostname: 'a b' };
  it('expands like iPXE: types, scopes, unknown names are empty', () => {
    expect(expandSettings('/m?mac=${netX/mac:hexhyp}&r=${net0/mac:hexraw}&m=${mac}&u=${uuid}&a=${buildarch}&p=${platform}&h=${hostname:uristring}&x=${nope}', s)).toBe(
      '/m?mac=52-54-00-12-34-56&r=525400123456&m=52:54:00:12:34:56&u=00112233-4455-6677-8899-aabbccddeeff&a=i386&p=pcbios&h=a%20b&x=',
    );
  });
  it('finds chain URIs, skipping options and comments', () => {
    const script = '#!ipxe\n# chain http://no\n:start\nchain --autofree --name x http://a/b.ipxe || goto start\nisset ${x} && chain -t 5000 next.ipxe\nkernel http://k\n';
    expect(chainTargets(script)).toEqual(['http://a/b.ipxe', 'next.ipxe']);
    expect(resolveUri('next.ipxe', 'http://srv:8080/boot/menu.ipxe?x=1')).toBe('http://srv:8080/boot/next.ipxe');
  });
});

describe('config.txt files', () => {
  it('takes kernel= and initramfs, ignores comments and unsafe names', () => {
    expect(configTxtFiles('# kernel=old.img\narm_64bit=1\nkernel=kernel8.img\ninitramfs initrd.img followkernel\nkernel=../../etc/shadow\n[pi5]\nkernel=kernel_2712.img\n')).toEqual(['kernel8.img', 'initrd.img', 'kernel_2712.img']);
  });
});

describe('where DISCOVERs go', () => {
  const ifaces = { eth0: [{ address: '10.77.0.2', netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: '10.77.0.2/24' }] } as unknown as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>;
  it.each([
    [{}, '0.0.0.0', '255.255.255.255'],
    [{ interface: 'eth0' }, '10.77.0.2', '10.77.0.255'],
    [{ server: '127.0.0.1' }, '0.0.0.0', '127.0.0.1'],
    [{ server: '10.77.0.1' }, '0.0.0.0', '255.255.255.255'],
    [{ server: '10.77.0.1', unicast: true, interface: 'eth0' }, '10.77.0.2', '10.77.0.1'],
  ])('%j', (opts, bind, target) => {
    const n = resolveNetwork(opts, DEFAULT_PORTS, ifaces);
    expect(n.bindAddress).toBe(bind);
    expect(n.targets).toEqual([{ address: target, port: 67 }]);
  });
  it('an unknown interface is a network error naming the ones there are', () => {
    expect(() => resolveNetwork({ interface: 'wlan9' }, DEFAULT_PORTS, ifaces)).toThrow(ProbeNetworkError);
    expect(() => resolveNetwork({ interface: 'wlan9' }, DEFAULT_PORTS, ifaces)).toThrow(/have: eth0/);
  });
});
