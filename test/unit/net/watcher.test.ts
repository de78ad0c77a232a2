import { describe, expect, it } from 'vitest';
import { chooseAddress, NetworkWatcher, type NetworkChange, type NetworkSnapshot } from '../../../lib/net/watcher';

const M = '255.255.255.0';
const eth = (address: string, name = 'eth0', netmask = M) => ({ name, address, netmask });

/** A watcher over a snapshot the test changes between polls. */
function rig(first: NetworkSnapshot, opts: { serverIp: string; pinned?: boolean; preferredInterface?: string }) {
  let snap = first;
  const changes: NetworkChange[] = [];
  const w = new NetworkWatcher({ ...opts, pinned: opts.pinned ?? false, read: () => snap, clock: () => Date.UTC(2026, 0, 1) });
  w.on('change', (c: NetworkChange) => changes.push(c));
  return { w, changes, set: (s: NetworkSnapshot) => (snap = s) };
}

describe('chooseAddress', () => {
  it('follows the default-route interface and keeps the current address while that interface has it', () => {
    const snap = { interfaces: [eth('10.57.0.1'), eth('10.57.0.2'), eth('172.17.0.1', 'docker0')], defaultRoute: 'eth0' };
    expect(chooseAddress(snap, '10.57.0.2')).toEqual({ address: '10.57.0.2', interface: 'eth0', reason: 'default route via eth0' });
    expect(chooseAddress(snap, '172.17.0.1')?.address).toBe('10.57.0.1');
  });
  it('prefers the named interface, and keeps a still-present address while there is no default route', () => {
    const snap = { interfaces: [eth('10.57.0.1'), eth('10.9.0.1', 'vlan9')], defaultRoute: 'eth0' };
    expect(chooseAddress(snap, '10.57.0.1', 'vlan9')).toMatchObject({ address: '10.9.0.1', reason: 'interface vlan9' });
    expect(chooseAddress({ interfaces: snap.interfaces }, '10.9.0.1')?.address).toBe('10.9.0.1');
    expect(chooseAddress({ interfaces: [] }, '10.9.0.1')).toBeUndefined();
  });
});

describe('NetworkWatcher', () => {
  it('reports a changed default-route address once, and nothing on a quiet poll', () => {
    const r = rig({ interfaces: [eth('10.57.0.1')], defaultRoute: 'eth0' }, { serverIp: '10.57.0.1' });
    expect(r.w.poll()).toEqual([]);
    r.set({ interfaces: [eth('10.57.0.9')], defaultRoute: 'eth0' });
    const got = r.w.poll();
    expect(got.map((c) => c.kind).sort()).toEqual(['address-added', 'address-changed', 'address-removed']);
    expect(got.find((c) => c.kind === 'address-changed')).toMatchObject({ address: '10.57.0.9', previous: '10.57.0.1', interface: 'eth0', at: '2026-01-01T00:00:00.000Z' });
    expect(r.w.state).toMatchObject({ advertised: '10.57.0.9', interface: 'eth0', pinned: false, lastChange: { kind: 'address-changed' } });
    expect(r.w.poll()).toEqual([]);
    expect(r.changes).toHaveLength(3);
  });

  it('does not move while a renewal drops the default route for a moment, then follows the new route', () => {
    const r = rig({ interfaces: [eth('10.57.0.1'), eth('10.60.0.1', 'wg0')], defaultRoute: 'eth0' }, { serverIp: '10.57.0.1' });
    r.set({ interfaces: [eth('10.57.0.1'), eth('10.60.0.1', 'wg0')] });
    expect(r.w.poll()).toEqual([]);
    r.set({ interfaces: [eth('10.57.0.1'), eth('10.60.0.1', 'wg0')], defaultRoute: 'wg0' });
    expect(r.w.poll()).toMatchObject([{ kind: 'address-changed', address: '10.60.0.1', previous: '10.57.0.1' }]);
  });

  it('reports added and removed addresses without moving the advertised one', () => {
    const r = rig({ interfaces: [eth('10.57.0.1')], defaultRoute: 'eth0' }, { serverIp: '10.57.0.1' });
    r.set({ interfaces: [eth('10.57.0.1'), eth('10.58.0.1', 'vlan58')], defaultRoute: 'eth0' });
    expect(r.w.poll()).toMatchObject([{ kind: 'address-added', address: '10.58.0.1', interface: 'vlan58', message: 'address 10.58.0.1/24 added on vlan58' }]);
    r.set({ interfaces: [eth('10.57.0.1')], defaultRoute: 'eth0' });
    expect(r.w.poll()).toMatchObject([{ kind: 'address-removed', address: '10.58.0.1', message: 'address 10.58.0.1 removed from vlan58' }]);
    expect(r.w.state.advertised).toBe('10.57.0.1');
  });

  it('never moves a pinned address; reports it missing once, with the fix, and back once', () => {
    const r = rig({ interfaces: [eth('10.57.0.1'), eth('10.58.0.1', 'eth1')], defaultRoute: 'eth0' }, { serverIp: '10.58.0.1', pinned: true });
    expect(r.w.state).toMatchObject({ advertised: '10.58.0.1', pinned: true, interface: 'eth1', reason: 'pinned' });
    expect(r.w.state.problem).toBeUndefined();
    r.set({ interfaces: [eth('10.57.0.1')], defaultRoute: 'eth0' });
    const gone = r.w.poll();
    expect(gone.map((c) => c.kind)).toEqual(['address-removed', 'pinned-missing']);
    expect(r.w.state.advertised).toBe('10.58.0.1');
    expect(r.w.state.problem).toMatch(/pinned server address 10\.58\.0\.1 is not on this host any more \(it has 10\.57\.0\.1 \(eth0\)\).*Fix: set NETBOOT_SERVER_IP/);
    expect(r.w.poll()).toEqual([]);
    r.set({ interfaces: [eth('10.57.0.1'), eth('10.58.0.1', 'eth1')], defaultRoute: 'eth0' });
    expect(r.w.poll().map((c) => c.kind)).toEqual(['address-added', 'pinned-restored']);
    expect(r.w.state.problem).toBeUndefined();
  });

  it('a pinned address the host lacks at start is a problem from the start; loopback is not', () => {
    expect(rig({ interfaces: [eth('10.57.0.1')] }, { serverIp: '10.1.1.1', pinned: true }).w.state.problem).toMatch(/10\.1\.1\.1/);
    expect(rig({ interfaces: [eth('10.57.0.1')] }, { serverIp: '127.0.0.1', pinned: true }).w.state.problem).toBeUndefined();
  });

  it('a reader that throws changes nothing', () => {
    const w = new NetworkWatcher({ serverIp: '10.57.0.1', pinned: false, read: () => { throw new Error('no /proc'); } });
    expect(w.poll()).toEqual([]);
    expect(w.state.advertised).toBe('10.57.0.1');
  });
});
