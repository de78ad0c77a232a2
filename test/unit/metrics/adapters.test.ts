import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { MetricsHub, fromDhcp, fromTftp, macFromPath, toBootEventRecord, wireDhcp, wireTftp } from '../../../lib/metrics';
import { T0, fakeClock } from './scenario';

const MAC = '52:54:00:12:34:56';

describe('server adapters', () => {
  it('maps DHCP server events, ignoring addresses that say nothing', () => {
    const facts = { mac: MAC, xid: 7, archName: 'efi-x86_64', clientClass: 'PXEClient', isIpxe: false, ciaddr: '0.0.0.0', relayed: false };
    expect(fromDhcp('discover', { facts, rinfo: { address: '0.0.0.0', port: 68 } }, T0)).toEqual({
      type: 'dhcp.discover', ts: T0, mac: MAC, isIpxe: false, arch: 'efi-x86_64', clientClass: 'PXEClient', xid: 7, uuid: undefined, isPi: false,
    });
    expect(fromDhcp('ack', { facts, reply: { yiaddr: '10.0.0.9' } })).toMatchObject({ type: 'dhcp.ack', yiaddr: '10.0.0.9' });
    expect(fromDhcp('request', { facts: { ...facts, ciaddr: '10.0.0.9' }, rinfo: { address: '10.0.0.9', port: 68 } })).toMatchObject({ ciaddr: '10.0.0.9', ip: '10.0.0.9' });
    expect(fromDhcp('request', { facts: { ...facts, relayed: true }, rinfo: { address: '10.1.0.1', port: 67 } })).not.toHaveProperty('ip');
    expect(fromDhcp('release', { facts })).toBeUndefined();
  });

  it('maps TFTP server events and reads MACs from per-MAC paths', () => {
    const client = { address: '10.0.0.9', port: 2000 };
    expect(fromTftp('request', { path: 'undionly.kpxe', client, direction: 'read' }, T0)).toEqual({ type: 'tftp.start', ts: T0, path: 'undionly.kpxe', ip: '10.0.0.9', port: 2000, direction: 'read' });
    expect(fromTftp('progress', { path: 'a', client, bytesAcked: 512, size: 1024 })).toMatchObject({ type: 'tftp.progress', bytes: 512, size: 1024 });
    expect(fromTftp('aborted', { path: 'a', client, bytes: 5, reason: 'timeout' })).toMatchObject({ type: 'tftp.abort', reason: 'timeout', bytes: 5 });
    expect(fromTftp('oack', { path: 'a', client })).toBeUndefined();
    expect(macFromPath('dc-a6-32-01-02-03/start4.elf')).toBe('dc:a6:32:01:02:03');
    expect(macFromPath('pxelinux.cfg/01-52-54-00-12-34-56')).toBe(MAC);
    expect(macFromPath('1234abcdef12/start4.elf')).toBeUndefined();
  });

  it('wires emitters to a hub and unwires them', () => {
    const clock = fakeClock();
    const hub = new MetricsHub({ clock: clock.now });
    const dhcp = new EventEmitter();
    const tftp = new EventEmitter();
    const errors: unknown[] = [];
    const offD = wireDhcp(dhcp, hub, (e) => errors.push(e));
    const offT = wireTftp(tftp, hub, (e) => errors.push(e));
    dhcp.emit('ack', { facts: { mac: MAC, isIpxe: false, clientClass: 'PXEClient' }, reply: { yiaddr: '10.0.0.9' } });
    tftp.emit('done', { path: 'undionly.kpxe', client: { address: '10.0.0.9', port: 2000 }, bytes: 100, durationMs: 5 });
    tftp.emit('done', { path: 'x', client: { address: '10.0.0.9', port: 1 }, bytes: -5 });
    expect(errors).toHaveLength(1);
    expect(hub.device(MAC)!.network.txBytes).toBe(100);
    offD();
    offT();
    expect(dhcp.listenerCount('ack') + tftp.listenerCount('done')).toBe(0);
    hub.close();
  });

  it('persists events to the store as BootEvent records, skipping progress', async () => {
    const records: unknown[] = [];
    const hub = new MetricsHub({ clock: () => T0, store: { appendEvent: async (r) => void records.push(r) } });
    hub.publish({ type: 'tftp.progress', mac: MAC, path: 'a', bytes: 1 });
    hub.publish({ type: 'decision', mac: MAC, action: 'boot', profile: 'debian' });
    await Promise.resolve();
    expect(records).toEqual([toBootEventRecord({ type: 'decision', ts: T0, mac: MAC, action: 'boot', profile: 'debian' })]);
    expect(records[0]).toEqual({ type: 'decision', ts: new Date(T0).toISOString(), mac: MAC, message: 'decision boot profile=debian', data: { action: 'boot', profile: 'debian' } });
    hub.close();
    expect(hub.publish({ type: 'log', line: 'after close' })).toBeUndefined();
  });
});
