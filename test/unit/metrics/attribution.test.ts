import { describe, expect, it } from 'vitest';
import { AttributionTable, MetricsHub, type NetbootEvent } from '../../../lib/metrics';
import { T0, fakeClock } from './scenario';

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';
const IP = '10.0.0.77';

describe('IP → MAC attribution', () => {
  it('learns from DHCP ack, request ciaddr, offer and check-ins with the matching confidence', () => {
    const clock = fakeClock();
    const t = new AttributionTable({ clock: clock.now });
    t.observe({ type: 'dhcp.ack', ts: T0, mac: A, isIpxe: false, yiaddr: '10.0.0.1' });
    t.observe({ type: 'dhcp.request', ts: T0, mac: B, isIpxe: false, ciaddr: '10.0.0.2' });
    t.observe({ type: 'dhcp.offer', ts: T0, mac: A, isIpxe: false, yiaddr: '10.0.0.3' });
    t.observe({ type: 'checkin', ts: T0, mac: B, ip: '10.0.0.4' });
    t.observe({ type: 'http.done', ts: T0, mac: A, ip: '10.0.0.5', path: '/x' });
    t.observe({ type: 'dhcp.discover', ts: T0, mac: A, isIpxe: false, ip: '10.0.0.6' });
    expect(t.attribute('10.0.0.1')).toMatchObject({ mac: A, source: 'dhcp', confidence: 'high' });
    expect(t.attribute('10.0.0.2')).toMatchObject({ mac: B, source: 'dhcp', confidence: 'high' });
    expect(t.attribute('10.0.0.3')).toMatchObject({ mac: A, source: 'dhcp', confidence: 'medium' });
    expect(t.attribute('10.0.0.4')).toMatchObject({ mac: B, source: 'checkin', confidence: 'medium' });
    expect(t.attribute('10.0.0.5')).toMatchObject({ mac: A, source: 'event', confidence: 'low' });
    expect(t.attribute('10.0.0.6')).toBeUndefined();
    expect(t.attribute('0.0.0.0')).toBeUndefined();
  });

  it('marks two MACs behind one IP as ambiguous and never guesses', () => {
    const clock = fakeClock();
    const hub = new MetricsHub({ clock: clock.now });
    hub.publish({ type: 'dhcp.ack', mac: A, isIpxe: false, yiaddr: IP });
    clock.advance(60_000);
    hub.publish({ type: 'dhcp.ack', mac: B, isIpxe: false, yiaddr: IP });
    clock.advance(1000);
    expect(hub.attribution.attribute(IP)).toEqual({ ambiguous: true, macs: [A, B] });

    const r = hub.publish({ type: 'tftp.done', ip: IP, port: 3000, path: 'undionly.kpxe', bytes: 70_000 })!;
    expect(r.event.mac).toBeUndefined();
    expect(r.event.attributed).toEqual({ ambiguous: true, macs: [A, B] });
    // neither machine is credited the bytes; both show the ambiguity
    for (const mac of [A, B]) {
      const d = hub.device(mac)!;
      expect(d.network.txBytes).toBe(0);
      expect(d.attribution.ambiguous).toBe(true);
      expect(d.warnings).toContain(`ambiguous-ip:${IP}`);
      expect(hub.debugView().devices[mac].network).toMatchObject({ ambiguous: true, confidence: null, source: 'none' });
    }
    expect(hub.timelineOf(A)!.boots.flatMap((b) => b.stages.map((s) => s.stage))).not.toContain('firmware-tftp');
    expect(hub.summary().bytesServed).toBe(70_000);

    // once A's claim is out of the window, B alone holds the address
    clock.set(T0 + 600_000 + 1);
    expect(hub.attribution.attribute(IP)).toMatchObject({ mac: B, source: 'dhcp', confidence: 'medium' }); // older than half the window
    hub.close();
  });

  it('lowers confidence in the second half of the window and forgets after it', () => {
    const clock = fakeClock();
    const t = new AttributionTable({ clock: clock.now, windowMs: 1000 });
    t.learn(IP, A, 'dhcp', 'high', T0);
    expect(t.attribute(IP, T0 + 400)).toMatchObject({ confidence: 'high', ageMs: 400 });
    expect(t.attribute(IP, T0 + 600)).toMatchObject({ confidence: 'medium' });
    expect(t.attribute(IP, T0 + 1000)).toBeUndefined();
    t.prune(T0 + 1000);
    expect(t.size).toBe(0);
  });

  it('fills the MAC of an IP-only event and keeps how it knows', () => {
    const clock = fakeClock();
    const hub = new MetricsHub({ clock: clock.now });
    hub.publish({ type: 'dhcp.ack', mac: A.toUpperCase(), isIpxe: true, yiaddr: IP });
    const r = hub.publish({ type: 'http.start', ip: IP, path: '/boot/menu.ipxe' })!;
    expect(r.event).toMatchObject({ mac: A, attributed: { source: 'dhcp', confidence: 'high' } });
    const direct = hub.publish({ type: 'http.done', ip: IP, mac: B, path: '/x', bytes: 1 })!;
    expect(direct.event.attributed).toBeUndefined();
    hub.close();
  });

  it('keeps a long transfer on the MAC it started with after the DHCP claim expires', () => {
    const clock = fakeClock();
    const hub = new MetricsHub({ clock: clock.now, attributionWindowMs: 60_000 });
    hub.publish({ type: 'dhcp.ack', mac: A, isIpxe: true, yiaddr: IP });
    hub.publish({ type: 'http.start', ip: IP, path: '/img/install.iso', size: 4e9, requestId: 'r1' });
    for (let i = 1; i <= 10; i++) {
      clock.advance(50_000);
      hub.tick();
      hub.publish({ type: 'http.progress', ip: IP, path: '/img/install.iso', bytes: i * 1e8, requestId: 'r1' });
    }
    const done = hub.publish({ type: 'http.done', ip: IP, path: '/img/install.iso', bytes: 4e9, requestId: 'r1' })!;
    expect(done.event.mac).toBe(A);
    expect(hub.device(A)!.network.txBytes).toBe(4e9);
    // a new request from the same IP is no longer attributed
    const later = hub.publish({ type: 'http.start', ip: IP, path: '/other' })!;
    expect(later.event.mac).toBeUndefined();
    hub.close();
  });

  it('rejects hostile input at the boundary', () => {
    const hub = new MetricsHub();
    expect(() => hub.publish({ type: 'nope' } as unknown as NetbootEvent)).toThrow(/unknown event type/);
    expect(() => hub.publish({ type: 'boot.log', line: 'x', mac: 'not-a-mac' })).toThrow(/invalid MAC/);
    expect(() => hub.publish({ type: 'tftp.done', path: 'x', bytes: -1 })).toThrow(/non-negative/);
    expect(() => hub.publish({ type: 'tftp.done', path: 'x', ts: Number.NaN })).toThrow(/ts/);
    const long = hub.publish({ type: 'boot.log', line: 'a'.repeat(10_000), level: 'shout' as 'info' })!;
    expect((long.event as { line: string }).line.length).toBeLessThan(4200);
    expect((long.event as { level?: string }).level).toBeUndefined();
    hub.close();
  });
});
