import { describe, expect, it } from 'vitest';
import { BootTimeline, MetricsHub, classifyPath, parseProgress, type NetbootEvent, type StageEvent, type StallEvent } from '../../../lib/metrics';
import { T0, biosBoot, fakeClock, play } from './scenario';

const MAC = '52:54:00:12:34:56';
const IP = '10.0.0.50';

function derived(hub: MetricsHub): (StageEvent | StallEvent)[] {
  const out: (StageEvent | StallEvent)[] = [];
  hub.bus.subscribe((e: NetbootEvent) => {
    if (e.type === 'stage' || e.type === 'stall' || e.type === 'stall.cleared') out.push(e);
  });
  return out;
}

describe('boot timeline', () => {
  it('derives the exact stage sequence and durations of a scripted BIOS boot', () => {
    const clock = fakeClock();
    const hub = new MetricsHub({ clock: clock.now });
    const seen = derived(hub);
    play(hub, clock, biosBoot(MAC, IP));

    expect(seen.map((e) => (e.type === 'stage' ? `${e.from ?? '-'}>${e.to}` : e.type))).toEqual([
      '->dhcp', 'dhcp>firmware-tftp', 'firmware-tftp>ipxe', 'ipxe>script', 'script>kernel', 'kernel>os', 'os>done',
    ]);
    const tl = hub.timelineOf(MAC.toUpperCase())!;
    expect(tl.current).toEqual({ bootId: 1, stage: 'os', outcome: 'done', stalled: false });
    expect(tl.boots).toHaveLength(1);
    const boot = tl.boots[0];
    expect(boot).toMatchObject({ id: 1, startedAt: T0, endedAt: T0 + 30_000, durationMs: 30_000, outcome: 'done', reason: 'check-in: ready', installProgress: 50 });
    expect(boot.stages.map((s) => [s.stage, s.start - T0, s.end! - T0, s.durationMs, s.bytes, s.rateBps])).toEqual([
      ['dhcp', 0, 1000, 1000, 0, 0],
      ['firmware-tftp', 1000, 3000, 2000, 70_000, 35_000],
      ['ipxe', 3000, 4000, 1000, 0, 0],
      ['script', 4000, 5000, 1000, 1000, 1000],
      ['kernel', 5000, 20_000, 15_000, 48_000_000, 3_200_000],
      ['os', 20_000, 30_000, 10_000, 0, 0],
    ]);
    expect(boot.bytes).toBe(48_071_000);
    // the JSON is what the API returns: plain data
    expect(JSON.parse(JSON.stringify(tl))).toEqual(tl);
    hub.close();
  });

  it('raises a stall once after the threshold and clears it when progress resumes', () => {
    const clock = fakeClock();
    const hub = new MetricsHub({ clock: clock.now, stallMs: 180_000 });
    const seen = derived(hub);
    play(hub, clock, biosBoot(MAC, IP).slice(0, 5)); // stuck after tftp.start of undionly.kpxe at +1000

    hub.tick(T0 + 1000 + 179_999);
    expect(seen.filter((e) => e.type === 'stall')).toHaveLength(0);
    hub.tick(T0 + 1000 + 180_000);
    hub.tick(T0 + 1000 + 240_000);
    hub.tick(T0 + 1000 + 390_000);
    const stalls = seen.filter((e): e is StallEvent => e.type === 'stall');
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toMatchObject({ mac: MAC, stage: 'firmware-tftp', quietMs: 180_000, ts: T0 + 181_000, bootId: 1 });
    expect(hub.device(MAC)).toMatchObject({ stalled: true, stage: 'firmware-tftp' });
    expect(hub.device(MAC)!.warnings).toContain('stalled:firmware-tftp');
    expect(hub.summary()).toMatchObject({ stalled: 1, booting: 0 });

    clock.set(T0 + 400_000);
    hub.publish({ type: 'tftp.done', ip: IP, port: 2070, path: 'undionly.kpxe', bytes: 70_000 });
    const cleared = seen.filter((e) => e.type === 'stall.cleared');
    expect(cleared).toHaveLength(1);
    expect(cleared[0]).toMatchObject({ mac: MAC, stage: 'firmware-tftp', quietMs: 399_000 });
    expect(hub.device(MAC)!.stalled).toBe(false);

    hub.tick(T0 + 400_000 + 179_000);
    expect(seen.filter((e) => e.type === 'stall')).toHaveLength(1);
    hub.tick(T0 + 400_000 + 181_000);
    expect(seen.filter((e) => e.type === 'stall')).toHaveLength(2);
    const tl = hub.timelineOf(MAC)!;
    expect(tl.boots[0].stalls).toEqual([
      { stage: 'firmware-tftp', since: T0 + 1000, detectedAt: T0 + 181_000, clearedAt: T0 + 400_000 },
      { stage: 'firmware-tftp', since: T0 + 400_000, detectedAt: T0 + 581_000, clearedAt: null },
    ]);
    hub.close();
  });

  it('does not call a running OS stalled, but does an installer that stops reporting', () => {
    const clock = fakeClock();
    const tl = new BootTimeline({ clock: clock.now, stallMs: 1000 });
    const ev = (ts: number, e: Record<string, unknown>) => tl.observe({ ts: T0 + ts, mac: MAC, ...e } as NetbootEvent);
    ev(0, { type: 'dhcp.discover', isIpxe: false, clientClass: 'PXEClient' });
    ev(10, { type: 'http.done', path: '/k/vmlinuz', bytes: 10 });
    ev(20, { type: 'dhcp.discover', isIpxe: false, clientClass: 'other' }); // the OS getting its address
    expect(tl.current(MAC)).toMatchObject({ stage: 'os', outcome: 'active' });
    expect(tl.tick(T0 + 10_000)).toEqual([]);
    ev(20_000, { type: 'boot.log', line: 'progress: 12%' });
    expect(tl.tick(T0 + 21_500).map((e) => e.type)).toEqual(['stall']);
  });

  it('starts a new boot on a PXE discover after a finished boot, and fails a boot that starts over', () => {
    const clock = fakeClock();
    const hub = new MetricsHub({ clock: clock.now, maxBoots: 2 });
    const seen = derived(hub);
    play(hub, clock, biosBoot(MAC, IP));
    // a late OS log after the boot finished neither revives it nor starts another
    play(hub, clock, [[31_000, { type: 'boot.log', mac: MAC, line: 'still here' }]]);
    expect(hub.timelineOf(MAC)!.boots).toHaveLength(1);

    const second = T0 + 100_000;
    play(hub, clock, biosBoot(MAC, IP).slice(0, 12), second); // up to the kernel start
    expect(hub.timelineOf(MAC)!.current).toMatchObject({ bootId: 2, stage: 'kernel', outcome: 'active' });
    // machine reset mid-download: a new PXE discover
    play(hub, clock, [[0, { type: 'dhcp.discover', mac: MAC, isIpxe: false, clientClass: 'PXEClient', arch: 'bios' }]], second + 60_000);
    const tl = hub.timelineOf(MAC)!;
    expect(tl.boots.map((b) => [b.id, b.outcome, b.reason])).toEqual([[2, 'failed', 'restarted'], [3, 'active', null]]); // maxBoots 2
    expect(seen.filter((e) => e.type === 'stage' && (e.to === 'failed' || e.to === 'done')).map((e) => (e as StageEvent).to)).toEqual(['done', 'failed']);
    hub.close();
  });

  it('follows a Raspberry Pi: firmware files, kernel, then the OS', () => {
    const tl = new BootTimeline();
    const pi = 'dc:a6:32:01:02:03';
    const files = ['1234abcd/start4.elf', '1234abcd/config.txt', '1234abcd/bcm2711-rpi-4-b.dtb', '1234abcd/overlays/vc4-kms-v3d.dtbo', '1234abcd/kernel8.img', '1234abcd/initramfs8', '1234abcd/cmdline.txt'];
    tl.observe({ type: 'dhcp.discover', ts: T0, mac: pi, isIpxe: false, clientClass: 'PXEClient', isPi: true });
    files.forEach((path, i) => tl.observe({ type: 'tftp.done', ts: T0 + 1000 + i * 100, mac: pi, path, bytes: 100 }));
    tl.observe({ type: 'checkin', ts: T0 + 9000, mac: pi, action: 'installing' });
    const json = tl.toJSON(pi, T0 + 9500)!;
    expect(json.boots[0].stages.map((s) => s.stage)).toEqual(['dhcp', 'firmware-tftp', 'kernel', 'os']);
    expect(json.boots[0].outcome).toBe('active');
    expect(json.boots[0].stages[3]).toMatchObject({ end: null, durationMs: 500 });
  });

  it('takes iSCSI as the last stage of a sanboot', () => {
    const tl = new BootTimeline();
    tl.observe({ type: 'dhcp.discover', ts: T0, mac: MAC, isIpxe: true });
    tl.observe({ type: 'http.done', ts: T0 + 100, mac: MAC, path: '/boot/sanboot.ipxe', bytes: 300 });
    tl.observe({ type: 'iscsi.login', ts: T0 + 500, mac: MAC, target: 'iqn.2026-01.lan.netboot:win11' });
    tl.observe({ type: 'checkin', ts: T0 + 60_000, mac: MAC });
    expect(tl.toJSON(MAC)!.boots[0]).toMatchObject({ outcome: 'done', stage: 'iscsi' });
    expect(tl.toJSON(MAC)!.boots[0].stages.map((s) => s.stage)).toEqual(['ipxe', 'script', 'iscsi']);
  });
});

describe('classifyPath', () => {
  it.each([
    ['undionly.kpxe', 'firmware-tftp'],
    ['ipxe.efi', 'firmware-tftp'],
    ['/efi/snponly.efi', 'firmware-tftp'],
    ['bootx64.efi', 'firmware-tftp'],
    ['bootcode.bin', 'firmware-tftp'],
    ['abcd1234/start4.elf', 'firmware-tftp'],
    ['/boot/menu.ipxe?mac=aa:bb', 'script'],
    ['pxelinux.cfg/01-aa-bb-cc-dd-ee-ff', 'script'],
    ['/assets/ubuntu/vmlinuz', 'kernel'],
    ['/assets/ubuntu/initrd.img', 'kernel'],
    ['/winpe/boot.wim', 'kernel'],
    ['/winpe/wimboot', 'kernel'],
    ['kernel8.img', 'kernel'],
    ['/assets/live/filesystem.squashfs', 'kernel'],
    ['/api/v1/boot/winpe/logs/upload', undefined],
    ['readme.txt', undefined],
  ])('%s → %s', (path, stage) => {
    expect(classifyPath(path)).toBe(stage);
  });

  it('parses progress lines', () => {
    expect(parseProgress('progress=42')).toBe(42);
    expect(parseProgress('Setup Progress: 99.5 %')).toBe(99.5);
    expect(parseProgress('progress=250')).toBe(100);
    expect(parseProgress('no numbers here')).toBeUndefined();
  });
});
