import { describe, expect, it } from 'vitest';
import { WakeLimiter, magicPacket, wakeRoute } from '../../../lib/net/wake';

const MAC = '52:54:00:12:34:56';

describe('Wake-on-LAN', () => {
  it('builds the magic packet: 6 × FF, the MAC 16 times, then the SecureOn password', () => {
    const p = magicPacket('52-54-00-12-34-56');
    expect(p.length).toBe(102);
    expect(p.subarray(0, 6)).toEqual(Buffer.alloc(6, 0xff));
    for (let i = 0; i < 16; i++) expect(p.subarray(6 + i * 6, 12 + i * 6).toString('hex')).toBe('525400123456');
    expect(magicPacket(MAC, '01:02:03:04:05:06').subarray(102).toString('hex')).toBe('010203040506');
    expect(magicPacket(MAC, 'de-ad-be-ef').length).toBe(106);
    expect(() => magicPacket(MAC, 'secret')).toThrow(/4 or 6 bytes/);
    expect(() => magicPacket('not-a-mac')).toThrow();
  });

  it('aims at the broadcast address of the subnet the machine was last seen in, from our address there', () => {
    const ifs = [{ name: 'eth0', address: '10.0.0.5', netmask: '255.255.255.0' }, { name: 'vlan9', address: '10.9.8.1', netmask: '255.255.252.0' }];
    expect(wakeRoute('10.9.10.77', ifs, '10.0.0.5')).toEqual({ from: '10.9.8.1', to: '10.9.11.255', interface: 'vlan9' });
    // never seen, or seen elsewhere: the server's own subnet
    expect(wakeRoute(undefined, ifs, '10.0.0.5')).toEqual({ from: '10.0.0.5', to: '10.0.0.255', interface: 'eth0' });
    expect(wakeRoute('192.168.1.7', ifs, '10.0.0.5')).toEqual({ from: '10.0.0.5', to: '10.0.0.255', interface: 'eth0' });
    expect(wakeRoute(undefined, [], '10.0.0.5')).toEqual({ from: '0.0.0.0', to: '255.255.255.255' });
  });

  it('wakes a machine at most once every 5 s', () => {
    let now = 0;
    const l = new WakeLimiter(5000, () => now);
    expect(l.take(MAC)).toBe(true);
    now = 4999;
    expect(l.take('52-54-00-12-34-56')).toBe(false);
    expect(l.take('52:54:00:12:34:57')).toBe(true);
    now = 5000;
    expect(l.take(MAC)).toBe(true);
  });
});
