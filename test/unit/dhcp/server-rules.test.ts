import { describe, expect, it } from 'vitest';
import type { RemoteInfo } from 'node:dgram';
import { DhcpServer, LeasePool, MessageType, build, classify, directedBroadcast, parsePacket } from '../../helpers/dhcp-imports';
import { PXE_BIOS, PXE_EFI_X64, clientBytes, clientPacket } from '../../../support/dhcp-packets';

const from = (address: string, port = 68): RemoteInfo => ({ address, port, family: 'IPv4', size: 300 });
const IFACES = [
  { address: '10.0.0.1', netmask: '255.255.255.0' },
  { address: '10.1.0.1', netmask: '255.255.0.0' },
];

function server(extra: Record<string, unknown> = {}) {
  return new DhcpServer({ mode: 'proxy', interfaces: IFACES, defaultInterface: '10.1.0.1', rateLimit: { perMac: false, perSource: false }, ...extra });
}

describe('DhcpServer: interface choice and destinations', () => {
  it('picks the interface by server id, giaddr, ciaddr, source, then the default', () => {
    const s = server();
    const pick = (spec: Parameters<typeof clientPacket>[0], src = '0.0.0.0') => {
      const p = clientPacket(spec);
      return s.pickInterface(p, classify(p), from(src)).address;
    };
    const mac = '52:54:00:00:00:01';
    expect(pick({ mac, type: 3, serverId: '10.0.0.1' })).toBe('10.0.0.1');
    expect(pick({ mac, giaddr: '10.0.0.254' })).toBe('10.0.0.1');
    expect(pick({ mac, giaddr: '192.168.7.1' })).toBe('10.1.0.1');
    expect(pick({ mac, ciaddr: '10.0.0.77' })).toBe('10.0.0.1');
    expect(pick({ mac }, '10.0.0.50')).toBe('10.0.0.1');
    expect(pick({ mac })).toBe('10.1.0.1');
    expect(() => server({ defaultInterface: '10.9.9.9' })).toThrow(/defaultInterface/);
  });

  it('default destinations: broadcast, relay, boot-server source, ciaddr, NAK, directed', async () => {
    const s = server();
    const dest = async (bytes: Buffer, src: RemoteInfo, via: 'dhcp' | 'boot' = 'dhcp') => {
      const o = await s.handlePacket(bytes, src, via);
      if (o.action !== 'replied') throw new Error(`not replied: ${JSON.stringify(o)}`);
      return o.destination;
    };
    const bios = { mac: '52:54:00:00:00:02', vendorClass: PXE_BIOS, arch: 0 };
    expect(await dest(clientBytes(bios), from('0.0.0.0'))).toEqual({ address: '255.255.255.255', port: 68 });
    expect(await dest(clientBytes({ ...bios, giaddr: '10.0.0.254' }), from('10.0.0.254', 67))).toEqual({ address: '10.0.0.254', port: 67 });
    expect(await dest(clientBytes({ ...bios, type: 3, ciaddr: '10.0.0.60' }), from('10.0.0.60', 4011), 'boot')).toEqual({ address: '10.0.0.60', port: 4011 });
    expect(await dest(clientBytes({ ...bios, type: 3, serverId: '10.0.0.1', ciaddr: '10.0.0.61' }), from('10.0.0.61'))).toEqual({ address: '10.0.0.61', port: 68 });
    const d = server({ broadcast: 'directed' });
    const o = await d.handlePacket(clientBytes({ ...bios, mac: '52:54:00:00:00:03' }), from('0.0.0.0'), 'dhcp');
    expect(o.action === 'replied' && o.destination).toEqual({ address: '10.1.255.255', port: 68 });
    expect(directedBroadcast({ address: '10.0.0.1', netmask: '255.255.255.0' })).toBe('10.0.0.255');

    const pool = await LeasePool.open({ rangeStart: '10.0.0.100', rangeEnd: '10.0.0.110', netmask: '255.255.255.0' });
    const f = new DhcpServer({ mode: 'full', interfaces: [{ ...IFACES[0], pool }], rateLimit: { perMac: false, perSource: false } });
    const nak = await f.handlePacket(clientBytes({ mac: '52:54:00:00:00:04', type: 3, requestedIp: '192.168.0.9' }), from('0.0.0.0'), 'dhcp');
    expect(nak.action === 'replied' && [nak.type, nak.destination]).toEqual([MessageType.NAK, { address: '255.255.255.255', port: 68 }]);
  });

  it('the reply bytes parse back, carry 54 of the chosen interface, and a UEFI offer has no 43', async () => {
    const s = server();
    const o = await s.handlePacket(clientBytes({ mac: '52:54:00:00:00:05', vendorClass: PXE_EFI_X64, arch: 7, giaddr: '10.0.0.254', extra: [build.raw(82, Buffer.from([1, 1, 7]))] }), from('10.0.0.254', 67), 'dhcp');
    if (o.action !== 'replied') throw new Error('no reply');
    const r = parsePacket(o.bytes);
    expect(r.ok).toBe(true);
    expect(o.reply.siaddr).toBe('10.0.0.1');
    expect(o.reply.options.map((x) => x.code)).toEqual([53, 54, 60, 67, 82]);
  });

  it('RELEASE and DECLINE update the pool without a reply', async () => {
    const pool = await LeasePool.open({ rangeStart: '10.0.0.100', rangeEnd: '10.0.0.101', netmask: '255.255.255.0' });
    const f = new DhcpServer({ mode: 'full', interfaces: [{ ...IFACES[0], pool }], rateLimit: { perMac: false, perSource: false } });
    const mac = '52:54:00:00:00:06';
    await f.handlePacket(clientBytes({ mac, type: 3, requestedIp: '10.0.0.100' }), from('0.0.0.0'), 'dhcp');
    expect(pool.leases()).toMatchObject([{ ip: '10.0.0.100', state: 'bound' }]);
    const events: string[] = [];
    f.on('release', () => events.push('release'));
    f.on('decline', () => events.push('decline'));
    expect(await f.handlePacket(clientBytes({ mac, type: 7, ciaddr: '10.0.0.100', serverId: '10.0.0.1' }), from('10.0.0.100'), 'dhcp')).toEqual({ action: 'handled' });
    expect(pool.leases()).toMatchObject([{ ip: '10.0.0.100', state: 'released' }]);
    expect(await f.handlePacket(clientBytes({ mac, type: 4, requestedIp: '10.0.0.101', serverId: '10.0.0.1' }), from('0.0.0.0'), 'dhcp')).toEqual({ action: 'handled' });
    expect(pool.leases().find((l) => l.ip === '10.0.0.101')).toMatchObject({ state: 'declined' });
    expect(events).toEqual(['release', 'decline']);
  });
});

describe('DhcpServer: allowlist', () => {
  it('answers relays and sources in the list, ignores others; a local broadcast without an address has none to check', async () => {
    const allowed = new Set(['10.0.0.254', '10.0.0.60']);
    const s = server({ allow: (a: string) => allowed.has(a) });
    const bios = { mac: '52:54:00:00:00:09', vendorClass: PXE_BIOS, arch: 0 };
    expect((await s.handlePacket(clientBytes({ ...bios, giaddr: '10.0.0.254' }), from('10.0.0.254', 67), 'dhcp')).action).toBe('replied');
    const refused = await s.handlePacket(clientBytes({ ...bios, giaddr: '192.168.7.1' }), from('192.168.7.1', 67), 'dhcp');
    expect(refused).toMatchObject({ action: 'ignored', reason: 'not-allowed', detail: '192.168.7.1 is not in the allowlist' });
    expect((await s.handlePacket(clientBytes({ ...bios, type: 3, ciaddr: '10.0.0.61' }), from('10.0.0.61', 4011), 'boot')).action).toBe('ignored');
    expect((await s.handlePacket(clientBytes({ ...bios, type: 3, ciaddr: '10.0.0.60' }), from('10.0.0.60', 4011), 'boot')).action).toBe('replied');
    expect((await s.handlePacket(clientBytes(bios), from('0.0.0.0'), 'dhcp')).action).toBe('replied');
  });
});

describe('DhcpServer: machines only', () => {
  it('ignores broadcast, multicast and all-zero client hardware addresses', async () => {
    const s = server();
    for (const mac of ['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '00:00:00:00:00:00']) {
      expect(await s.handlePacket(clientBytes({ mac, vendorClass: PXE_BIOS, arch: 0 }), from('0.0.0.0'), 'dhcp')).toMatchObject({ action: 'ignored', reason: 'not-a-device' });
    }
    expect((await s.handlePacket(clientBytes({ mac: '52:54:00:00:00:0a', vendorClass: PXE_BIOS, arch: 0 }), from('0.0.0.0'), 'dhcp')).action).toBe('replied');
  });
});
