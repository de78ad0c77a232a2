import { describe, expect, it } from 'vitest';
import { DeviceMetrics, MetricsHub, SlidingWindow } from '../../../lib/metrics';
import { T0, biosBoot, fakeClock, play } from './scenario';

const MAC = '52:54:00:12:34:56';
const IP = '10.0.0.50';

describe('sliding-window rates', () => {
  it('counts only bytes inside the window', () => {
    const w = new SlidingWindow(10_000);
    w.add(T0, 10_000);
    expect(w.rate(T0)).toBe(1000);
    w.add(T0 + 5000, 20_000);
    expect(w.rate(T0 + 5000)).toBe(3000);
    expect(w.rate(T0 + 9999)).toBe(3000);
    expect(w.rate(T0 + 10_000)).toBe(2000); // the first sample left the window
    expect(w.rate(T0 + 15_000)).toBe(0);
  });

  it('gives per-device tx/rx rates from transfer deltas without double counting', () => {
    const clock = fakeClock();
    const dm = new DeviceMetrics({ clock: clock.now, rateWindowMs: 10_000 });
    dm.observe({ type: 'tftp.done', ts: T0, mac: MAC, ip: IP, port: 1, path: 'undionly.kpxe', bytes: 10_000 });
    dm.observe({ type: 'http.start', ts: T0 + 1000, mac: MAC, ip: IP, path: '/k/vmlinuz', size: 20_000 });
    dm.observe({ type: 'http.progress', ts: T0 + 3000, mac: MAC, ip: IP, path: '/k/vmlinuz', bytes: 5000 });
    dm.observe({ type: 'http.done', ts: T0 + 5000, mac: MAC, ip: IP, path: '/k/vmlinuz', bytes: 20_000 });
    dm.observe({ type: 'http.done', ts: T0 + 6000, mac: MAC, ip: IP, path: '/api/v1/boot/winpe/logs/upload', bytes: 4000, direction: 'write' });

    expect(dm.get(MAC, T0 + 6000)!.network).toEqual({ txBytes: 30_000, rxBytes: 4000, txRate: 3000, rxRate: 400 });
    expect(dm.get(MAC, T0 + 10_500)!.network).toMatchObject({ txBytes: 30_000, txRate: 2000 });
    expect(dm.get(MAC, T0 + 16_500)!.network).toMatchObject({ txRate: 0, rxRate: 0 });
    expect(dm.get(MAC, T0 + 16_500)!.sources.network).toBe('tftp+http');
    expect(dm.summary().bytesServed).toBe(30_000);
  });
});

describe('device metrics', () => {
  it('reports a booting machine with sources, confidence and install progress', () => {
    const clock = fakeClock();
    const hub = new MetricsHub({ clock: clock.now });
    const steps = biosBoot(MAC, IP);
    play(hub, clock, steps.slice(0, 15)); // mid-initrd: 20 MB of 40 MB
    let d = hub.device(MAC)!;
    expect(d).toMatchObject({ mac: MAC, connection: 'online', stage: 'kernel', outcome: 'active', stalled: false, installProgress: 50 });
    expect(d.sources).toMatchObject({ network: 'tftp+http', installProgress: 'transfer', stage: 'timeline', disk: 'none' });
    expect(d.attribution).toEqual({ confidence: 'high', ambiguous: false });
    expect(d.disk).toBeNull();
    expect(hub.summary()).toMatchObject({ devices: 1, booting: 1, ready: 0 });

    play(hub, clock, steps.slice(15));
    d = hub.device(MAC)!;
    expect(d).toMatchObject({ stage: 'os', outcome: 'done', installProgress: 50, network: { txBytes: 48_071_000 } });
    expect(d.sources.installProgress).toBe('log');
    expect(hub.summary()).toMatchObject({ devices: 1, booting: 0, ready: 1, failed: 0, stalled: 0, bytesServed: 48_071_000 });
    const debug = hub.debugView();
    expect(debug.devices[MAC].network).toMatchObject({ source: 'tftp+http', confidence: 'high', ambiguous: false });
    expect(debug.devices[MAC].connection.counts.direct).toBeGreaterThan(0);
    expect(debug.attribution).toContainEqual(expect.objectContaining({ ip: IP, mac: MAC, source: 'dhcp', confidence: 'high' }));

    clock.advance(120_000);
    expect(hub.device(MAC)!.connection).toBe('idle');
    clock.advance(600_000);
    expect(hub.device(MAC)!.connection).toBe('offline');
    hub.close();
  });

  it('takes disk figures from iSCSI events and stays online while a session is up', () => {
    const clock = fakeClock();
    const hub = new MetricsHub({ clock: clock.now });
    hub.publish({ type: 'iscsi.login', mac: MAC, target: 'iqn.2026-01.lan:win' });
    clock.advance(30_000);
    hub.publish({ type: 'iscsi.stats', mac: MAC, target: 'iqn.2026-01.lan:win', readBytes: 1000, writeBytes: 5000 });
    clock.advance(3_600_000);
    const d = hub.device(MAC)!;
    expect(d).toMatchObject({ connection: 'online', disk: { readBytes: 1000, writeBytes: 5000 } });
    expect(d.sources.disk).toBe('iscsi');
    hub.publish({ type: 'iscsi.logout', mac: MAC, target: 'iqn.2026-01.lan:win' });
    clock.advance(700_000);
    expect(hub.device(MAC)!.connection).toBe('offline');
    hub.close();
  });

  it('lists what changed since the last look and keeps warnings as codes', () => {
    const dm = new DeviceMetrics();
    dm.observe({ type: 'tftp.abort', ts: T0, mac: MAC, ip: IP, path: 'ipxe.efi', reason: 'timeout', bytes: 10 });
    dm.observe({ type: 'boot.log', ts: T0, mac: '52:54:00:00:00:02', line: 'disk full', level: 'error' });
    expect(dm.takeChanged().sort()).toEqual(['52:54:00:00:00:02', MAC]);
    expect(dm.takeChanged()).toEqual([]);
    expect(dm.get(MAC, T0)!.warnings).toEqual(['tftp-abort:ipxe.efi']);
    expect(dm.get('52:54:00:00:00:02', T0)!.warnings).toEqual(['log-error:disk full']);
  });
});
