import { describe, expect, it } from 'vitest';
import { MetricsHub } from '../../../lib/metrics';
import type { NetbootEvent } from '../../../lib/events';
import { SecureBootSuspect } from '../../../lib/metrics/secureboot-suspect';

const MAC = '52:54:00:5b:00:01';
const IP = '10.0.0.50';
const discover = (ts: number, extra: Partial<NetbootEvent> = {}) => ({ type: 'dhcp.discover', ts, mac: MAC, arch: 'efi-x64', clientClass: 'PXEClient', isIpxe: false, ...extra }) as NetbootEvent;
const done = (ts: number, path = 'ipxe.efi') => ({ type: 'tftp.done', ts, mac: MAC, ip: IP, path, bytes: 1_000_000, size: 1_000_000 }) as NetbootEvent;

/** Feeds events in order; returns what the detector made of them. */
function run(events: NetbootEvent[], windowMs?: number) {
  const d = new SecureBootSuspect({ windowMs });
  return events.map((e) => d.observe(e)).filter(Boolean);
}

describe('secureboot.suspected', () => {
  it('fires when a UEFI x64 firmware fetched iPXE completely and sends a fresh DISCOVER without running it', () => {
    const out = run([discover(0), done(2_000), discover(4_500)]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: 'secureboot.suspected', mac: MAC, ip: IP, file: 'ipxe.efi', afterMs: 2_500 });
    expect((out[0] as { message: string }).message).toMatch(/mark it secureBoot/);
    // its next boot option (UEFI HTTP boot) is a fresh start as well
    expect(run([discover(0), done(2_000), discover(4_500, { arch: 'http-x64', clientClass: 'HTTPClient' })])).toHaveLength(1);
    // snponly.efi and a file under a folder count too
    expect(run([discover(0), done(1_000, 'efi/snponly.efi'), discover(3_000)])).toHaveLength(1);
  });

  it('stays quiet when iPXE ran (its DHCP, an HTTP fetch, a check-in), for BIOS and HTTP boot, other files, or too late', () => {
    expect(run([discover(0), done(1_000), discover(3_000, { isIpxe: true, clientClass: 'PXEClient' }), discover(60_000)])).toHaveLength(0);
    expect(run([discover(0), done(1_000), { type: 'http.start', ts: 2_000, mac: MAC, path: '/boot/menu.ipxe' } as NetbootEvent, discover(3_000)])).toHaveLength(0);
    expect(run([discover(0), done(1_000), { type: 'checkin', ts: 2_000, mac: MAC } as NetbootEvent, discover(3_000)])).toHaveLength(0);
    expect(run([discover(0, { arch: 'bios' }), done(1_000, 'undionly.kpxe'), discover(3_000, { arch: 'bios' })])).toHaveLength(0);
    expect(run([discover(0), done(1_000, 'shimx64.efi'), discover(3_000)])).toHaveLength(0);
    expect(run([discover(0), done(1_000), discover(62_000)], 60_000)).toHaveLength(0);
    // a transfer that never finished (tftp.abort) is not a refusal
    expect(run([discover(0), { type: 'tftp.abort', ts: 1_000, mac: MAC, path: 'ipxe.efi' } as NetbootEvent, discover(3_000)])).toHaveLength(0);
    // a REQUEST is the same DHCP exchange, not a fresh start
    expect(run([discover(0), done(1_000), { ...discover(2_000), type: 'dhcp.request' } as NetbootEvent])).toHaveLength(0);
  });

  it('a storm of BIOS machines does not push a UEFI x64 machine out of what it follows', () => {
    const bios = Array.from({ length: 12_000 }, (_, i) => {
      const mac = `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
      return [discover(1_000, { mac, arch: 'bios' }), { ...discover(1_000, { mac, arch: 'bios' }), type: 'dhcp.offer' } as NetbootEvent];
    }).flat();
    const out = run([discover(0), ...bios, done(2_000), discover(4_500)]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: 'secureboot.suspected', mac: MAC });
  });

  it('fires once per refusal: every round trip of a looping machine is one event', () => {
    const out = run([discover(0), done(1_000), discover(3_000), done(4_000), discover(6_000), discover(7_000)]);
    expect(out).toHaveLength(2);
  });

  it('reaches the timeline as a notice and Prometheus as a counter through the hub', async () => {
    const hub = new MetricsHub({ stallMs: 60_000 });
    const d = new SecureBootSuspect();
    hub.bus.subscribe((e) => {
      const s = d.observe(e);
      if (s) hub.publish(s);
    });
    for (const e of [discover(Date.now()), done(Date.now()), discover(Date.now())]) hub.publish(e);
    expect(hub.timelineOf(MAC)?.notices.map((n) => n.type)).toContain('secureboot.suspected');
    expect(await hub.prometheus.registry.metrics()).toMatch(/^netboot_secureboot_suspected_total 1$/m);
    hub.close();
  });
});
