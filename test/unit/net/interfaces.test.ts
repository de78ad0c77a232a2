import { describe, expect, it } from 'vitest';
import { defaultRouteInterface, replyAddressFor } from '../../../lib/net/interfaces';

describe('replyAddressFor', () => {
  const ifaces = [{ address: '10.0.0.5', netmask: '255.255.255.0' }, { address: '192.168.7.1', netmask: '255.255.252.0' }];
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['127.3.4.5', '127.0.0.1'],
    ['10.0.0.77', '10.0.0.5'],
    ['192.168.5.9', '192.168.7.1'],
    ['172.16.0.9', '10.9.9.9'], // behind a router or relay: the advertised address
    ['::ffff:10.0.0.7', '10.9.9.9'],
  ])('a client at %s is answered from %s', (client, want) => {
    expect(replyAddressFor(client, ifaces, '10.9.9.9')).toBe(want);
  });
});

describe('defaultRouteInterface', () => {
  it('takes the default route with the lowest metric from /proc/net/route', () => {
    const table = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0',
      'eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0',
      'eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
    ].join('\n');
    expect(defaultRouteInterface(table)).toBe('eth0');
    expect(defaultRouteInterface('Iface\tDestination\n')).toBeUndefined();
  });
});
