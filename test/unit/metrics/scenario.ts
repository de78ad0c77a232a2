/** Scripted boots for the metrics tests: synthetic events with offsets from a fixed start. */
import type { NetbootEventInput } from '../../../lib/metrics';

export const T0 = Date.UTC(2026, 0, 15, 9, 0, 0);

/** A clock the test moves by hand. */
export function fakeClock(start = T0): { now: () => number; set(t: number): void; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    set(v) {
      t = v;
    },
    advance(ms) {
      t += ms;
    },
  };
}

export type Step = [offsetMs: number, event: NetbootEventInput];

/**
 * A BIOS PC booting Debian through iPXE: PXE DHCP → TFTP undionly.kpxe → iPXE DHCP → menu.ipxe →
 * vmlinuz + initrd over HTTP → installer log → check-in "ready". TFTP and HTTP carry only the IP;
 * the MAC comes from attribution.
 */
export function biosBoot(mac: string, ip: string): Step[] {
  return [
    [0, { type: 'dhcp.discover', mac, isIpxe: false, clientClass: 'PXEClient', arch: 'bios' }],
    [200, { type: 'dhcp.offer', mac, isIpxe: false, clientClass: 'PXEClient', arch: 'bios', yiaddr: ip }],
    [400, { type: 'dhcp.request', mac, isIpxe: false, clientClass: 'PXEClient', arch: 'bios', requestedIp: ip }],
    [600, { type: 'dhcp.ack', mac, isIpxe: false, clientClass: 'PXEClient', arch: 'bios', yiaddr: ip }],
    [1000, { type: 'tftp.start', ip, port: 2070, path: 'undionly.kpxe', size: 70_000 }],
    [1500, { type: 'tftp.progress', ip, port: 2070, path: 'undionly.kpxe', bytes: 40_000, size: 70_000 }],
    [2000, { type: 'tftp.done', ip, port: 2070, path: 'undionly.kpxe', bytes: 70_000, durationMs: 1000 }],
    [3000, { type: 'dhcp.discover', mac, isIpxe: true, clientClass: 'PXEClient', arch: 'bios' }],
    [3200, { type: 'dhcp.ack', mac, isIpxe: true, clientClass: 'PXEClient', arch: 'bios', yiaddr: ip }],
    [4000, { type: 'http.start', ip, path: `/boot/menu.ipxe?mac=${mac}` }],
    [4100, { type: 'http.done', ip, path: `/boot/menu.ipxe?mac=${mac}`, bytes: 1000, status: 200 }],
    [5000, { type: 'http.start', ip, path: '/boot/assets/debian/vmlinuz', size: 8_000_000 }],
    [7000, { type: 'http.done', ip, path: '/boot/assets/debian/vmlinuz', bytes: 8_000_000, status: 200 }],
    [7100, { type: 'http.start', ip, path: '/boot/assets/debian/initrd.gz', size: 40_000_000 }],
    [11_000, { type: 'http.progress', ip, path: '/boot/assets/debian/initrd.gz', bytes: 20_000_000, size: 40_000_000 }],
    [15_000, { type: 'http.done', ip, path: '/boot/assets/debian/initrd.gz', bytes: 40_000_000, status: 200 }],
    [20_000, { type: 'boot.log', ip, line: 'installer: progress=50', level: 'info' }],
    [30_000, { type: 'checkin', mac, ip, action: 'ready' }],
  ];
}

/** Publishes each step at T0 + offset, setting the clock first. */
export function play(hub: { publish(e: NetbootEventInput): unknown }, clock: { set(t: number): void }, steps: Step[], start = T0): void {
  for (const [offset, ev] of steps) {
    clock.set(start + offset);
    hub.publish({ ...ev, ts: start + offset } as NetbootEventInput);
  }
}
