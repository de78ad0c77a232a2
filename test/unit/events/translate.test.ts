import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { fromDhcp, fromHttp, fromStored, fromTftp, macFromPath, previousName, toBootEventRecord, wireDhcp, wireHttp, wireTftp } from '../../../lib/events';
import { MetricsHub } from '../../../lib/metrics';
import { T0, fakeClock } from '../metrics/scenario';

const MAC = '52:54:00:12:34:56';

describe('translation from each server part to the vocabulary', () => {
  it('maps DHCP server events, ignoring addresses that say nothing', () => {
    const facts = { mac: MAC, xid: 7, archName: 'efi-x64', clientClass: 'PXEClient', isIpxe: false, ciaddr: '0.0.0.0', relayed: false };
    expect(fromDhcp('discover', { facts, rinfo: { address: '0.0.0.0', port: 68 } }, T0)).toEqual({
      type: 'dhcp.discover', ts: T0, mac: MAC, isIpxe: false, arch: 'efi-x64', clientClass: 'PXEClient', xid: 7, uuid: undefined, isPi: false,
    });
    expect(fromDhcp('ack', { facts, reply: { yiaddr: '10.0.0.9', siaddr: '10.0.0.1', file: 'ipxe.efi' } })).toMatchObject({ type: 'dhcp.ack', yiaddr: '10.0.0.9', siaddr: '10.0.0.1', file: 'ipxe.efi' });
    // a reply's destination is not the client's address
    expect(fromDhcp('offer', { facts, reply: { yiaddr: '0.0.0.0' }, rinfo: { address: '255.255.255.255', port: 68 } })).not.toHaveProperty('ip');
    expect(fromDhcp('request', { facts: { ...facts, ciaddr: '10.0.0.9' }, rinfo: { address: '10.0.0.9', port: 68 } })).toMatchObject({ ciaddr: '10.0.0.9', ip: '10.0.0.9' });
    expect(fromDhcp('request', { facts: { ...facts, relayed: true }, rinfo: { address: '10.1.0.1', port: 67 } })).not.toHaveProperty('ip');
    expect(fromDhcp('release', { facts, rinfo: { address: '10.0.0.9', port: 68 }, via: 'dhcp' })).toMatchObject({ type: 'dhcp.release', ip: '10.0.0.9', via: 'dhcp' });
    expect(fromDhcp('pi', { facts })).toBeUndefined();
    const pi = { model: 'pi4', via: 'both', serial: '9ffefdef' };
    expect(fromDhcp('discover', { facts: { ...facts, archName: 'bios', pi } })).toMatchObject({ arch: 'bios', isPi: true, pi });
  });

  it('maps what DHCP ignores, cannot parse, or sees from another server', () => {
    expect(fromDhcp('ignored', { reason: 'not-pxe', facts: { mac: MAC }, detail: 'no option 60' } as never)).toEqual({ type: 'dhcp.ignored', ts: undefined, mac: MAC, reason: 'not-pxe', detail: 'no option 60' });
    expect(fromDhcp('malformed', { error: new Error('truncated'), rinfo: { address: '10.0.0.7', port: 68 } } as never)).toMatchObject({ type: 'dhcp.malformed', reason: 'truncated', ip: '10.0.0.7' });
    const rogue = fromDhcp('rogue', { serverId: '10.0.0.254', sourceIp: '10.0.0.254', messageType: 'OFFER', offersAddress: true, isProxy: false } as never);
    expect(rogue).toMatchObject({ type: 'dhcp.rogue', server: '10.0.0.254', ip: '10.0.0.254', offers: { messageType: 'OFFER', offersAddress: true, isProxy: false } });
  });

  it('maps HTTP asset transfers, and what the inventory records', () => {
    expect(fromHttp('http.start', { ip: '::ffff:10.0.0.9', path: 'debian/vmlinuz', requestId: 'r1' }, T0)).toEqual({ type: 'http.start', ts: T0, path: 'debian/vmlinuz', ip: '10.0.0.9', requestId: 'r1' });
    expect(fromHttp('http.done', { ip: '10.0.0.9', path: 'a', requestId: 'r1', bytes: 10, size: 10, status: 200, durationMs: 3 })).toMatchObject({ bytes: 10, size: 10, status: 200, durationMs: 3 });
    expect(fromHttp('http.other', { path: 'a' })).toBeUndefined();
    const ts = new Date(T0).toISOString();
    expect(fromStored({ type: 'boot.log', ts, mac: MAC, message: 'installing', data: { progress: 40 } })).toEqual({ type: 'boot.log', ts: T0, mac: MAC, level: 'info', line: 'installing progress=40' });
    // an uploaded log's text stays in the store
    expect(fromStored({ type: 'boot.log_upload', ts, mac: MAC, message: 'uploaded setupact.log (5 bytes)', data: { name: 'setupact.log', bytes: 5, text: 'hello' } })).toEqual({ type: 'boot.log_upload', ts: T0, mac: MAC, line: 'uploaded setupact.log (5 bytes)', name: 'setupact.log', bytes: 5 });
    expect(fromStored({ type: 'facts.changed', ts, mac: MAC, message: 'arch changed', data: { field: 'arch', from: 'x86_64', to: 'arm64', source: 'http' } })).toMatchObject({ type: 'facts.changed', changes: { arch: { from: 'x86_64', to: 'arm64' } } });
    expect(fromStored({ type: 'enroll.conflict', ts, mac: MAC, data: { from: '52:54:00:00:00:09', fields: ['uuid'] } })).toMatchObject({ type: 'enroll.conflict', from: '52:54:00:00:00:09', fields: ['uuid'] });
    expect(fromStored({ type: 'device.evicted', ts, mac: MAC, message: 'removed' })).toMatchObject({ type: 'device.evicted', mac: MAC });
    // what the bus itself stored (it was on the bus first) is not published again
    expect(fromStored({ type: 'decision', ts, mac: MAC })).toBeUndefined();
    expect(fromStored({ type: 'dhcp.ack', ts, mac: MAC })).toBeUndefined();
  });

  it('names the previous names of renamed events', () => {
    expect(previousName('tftp.start')).toBe('tftp.request');
    expect(previousName('tftp.abort')).toBe('tftp.aborted');
    expect(previousName('boot.log')).toBe('log');
    expect(previousName('tftp.done')).toBe('tftp.done');
  });

  it('maps TFTP server events and reads MACs from per-MAC paths', () => {
    const client = { address: '10.0.0.9', port: 2000 };
    expect(fromTftp('request', { path: 'undionly.kpxe', client, direction: 'read' }, T0)).toEqual({ type: 'tftp.start', ts: T0, path: 'undionly.kpxe', ip: '10.0.0.9', port: 2000, direction: 'read' });
    expect(fromTftp('progress', { path: 'a', client, bytesAcked: 512, size: 1024 })).toMatchObject({ type: 'tftp.progress', bytes: 512, size: 1024 });
    expect(fromTftp('aborted', { path: 'a', client, bytes: 5, reason: 'timeout' })).toMatchObject({ type: 'tftp.abort', reason: 'timeout', bytes: 5 });
    expect(fromTftp('oack', { path: 'a', client, options: { blksize: '1468' } })).toMatchObject({ type: 'tftp.oack', options: { blksize: '1468' } });
    expect(fromTftp('done', { path: 'a', client, bytes: 9, durationMs: 2, rateBps: 4500, retransmits: 1, timeouts: 0, blksize: 1468, windowsize: 4 })).toMatchObject({ rateBps: 4500, retransmits: 1, timeouts: 0, blksize: 1468, windowsize: 4 });
    expect(fromTftp('malformed', { client, reason: 'short packet' })).toMatchObject({ type: 'tftp.malformed', path: '', reason: 'short packet' });
    expect(fromTftp('refused', { path: '.ssh/id', client, code: 2, reason: 'dotfile' })).toMatchObject({ type: 'tftp.refused', code: 2 });
    expect(fromTftp('warning', { path: 'a', client })).toBeUndefined();
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
    const http = new EventEmitter();
    const offD = wireDhcp(dhcp, hub, (e) => errors.push(e));
    const offT = wireTftp(tftp, hub, (e) => errors.push(e));
    const offH = wireHttp(http, hub, (e) => errors.push(e));
    dhcp.emit('ack', { facts: { mac: MAC, isIpxe: false, clientClass: 'PXEClient' }, reply: { yiaddr: '10.0.0.9' } });
    tftp.emit('done', { path: 'undionly.kpxe', client: { address: '10.0.0.9', port: 2000 }, bytes: 100, durationMs: 5 });
    tftp.emit('done', { path: 'x', client: { address: '10.0.0.9', port: 1 }, bytes: -5 });
    http.emit('http.done', { ip: '10.0.0.9', path: 'debian/vmlinuz', requestId: 'r', bytes: 50, status: 200, durationMs: 1 });
    expect(errors).toHaveLength(1);
    expect(hub.device(MAC)!.network.txBytes).toBe(150);
    offD();
    offT();
    offH();
    expect(dhcp.listenerCount('ack') + tftp.listenerCount('done') + http.listenerCount('http.done')).toBe(0);
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
    expect(hub.publish({ type: 'boot.log', line: 'after close' })).toBeUndefined();
  });
});
