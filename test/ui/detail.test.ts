// @vitest-environment happy-dom
/**
 * The dashboard's newer parts without a browser: the boot log's lines (stored and live, merged
 * once), each row's group by the boot policy's own selector rule, the health panel's rogue-DHCP
 * and tgtd lines, and a disk copy's progress bar fed by `disk.progress` events.
 */
import { flushPromises, mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import DisksView from '../../editor-ui/src/components/DisksView.vue';
import HealthPanel from '../../editor-ui/src/components/HealthPanel.vue';
import type { Client } from '../../editor-ui/src/lib/api';
import { createFleet, view } from '../../editor-ui/src/lib/fleet';
import { fromLive, fromStored, merge } from '../../editor-ui/src/lib/log';

describe('the boot log lines', () => {
  it('a stored event and the same event from the stream make one line; progress ticks are left out', () => {
    const stored = fromStored({ seq: 4, ts: new Date(5000).toISOString(), type: 'boot.log', mac: 'aa:00:00:00:00:01', message: 'unpacking' })!;
    expect(stored).toMatchObject({ ts: 5000, type: 'boot.log', text: 'unpacking', level: 'info' });
    const live = fromLive({ type: 'boot.log', ts: 5000, mac: 'aa:00:00:00:00:01', line: 'unpacking' })!;
    const next = fromLive({ type: 'boot.log', ts: 6000, mac: 'aa:00:00:00:00:01', line: 'configuring', level: 'warn' })!;
    expect(merge([stored], [live, next]).map((l) => l.text)).toEqual(['unpacking', 'configuring']);
    expect(merge([stored], [next])[1].level).toBe('warn');
    expect(fromLive({ type: 'tftp.progress', ts: 1, mac: 'aa:00:00:00:00:01', path: 'ipxe.efi', bytes: 1, size: 2 })).toBeUndefined();
    // an event with no message says its facts
    expect(fromStored({ seq: 5, ts: new Date(1).toISOString(), type: 'stage', data: { to: 'kernel', path: '/boot/vmlinuz' } })!.text).toBe('to=kernel path=/boot/vmlinuz');
  });

  it('an uploaded log keeps its name, size and text; only the newest lines stay', () => {
    const up = fromStored({ seq: 9, ts: new Date(1).toISOString(), type: 'boot.log_upload', message: 'uploaded setupact.log (12 bytes)', data: { name: 'setupact.log', bytes: 12, text: 'Setup begins' } })!;
    expect(up.upload).toEqual({ name: 'setupact.log', bytes: 12, text: 'Setup begins' });
    const many = Array.from({ length: 30 }, (_, i) => fromLive({ type: 'boot.log', ts: i, line: `line ${i}` })!);
    const kept = merge([], many, 10);
    expect(kept).toHaveLength(10);
    expect(kept[0].text).toBe('line 20');
  });
});

describe('groups on the rows', () => {
  it('each row is in the group the boot policy would choose: most selector keys, else the default', () => {
    const fleet = createFleet((fn) => fn());
    fleet.load([
      { mac: 'aa:00:00:00:00:01', labels: { rack: '2' }, arch: 'x86_64' },
      { mac: 'aa:00:00:00:00:02', labels: { rack: '2' }, arch: 'arm64' },
      { mac: 'aa:00:00:00:00:03', labels: {} },
    ]);
    fleet.setGroups([
      { id: 'rack2', name: 'Rack 2', selector: { rack: '2' } },
      { id: 'rack2-x64', name: 'Rack 2 PCs', selector: { rack: '2', arch: 'x86_64' } },
      { id: 'rest', name: 'Everything else', selector: {}, isDefault: true },
    ]);
    const group = (mac: string) => fleet.rows.get(mac)!.group;
    expect(group('aa:00:00:00:00:01')).toBe('Rack 2 PCs');
    expect(group('aa:00:00:00:00:02')).toBe('Rack 2');
    expect(group('aa:00:00:00:00:03')).toBe('Everything else');
    // a reload with new labels moves the row
    fleet.load([{ mac: 'aa:00:00:00:00:03', labels: { rack: '2' } }]);
    expect(group('aa:00:00:00:00:03')).toBe('Rack 2');
    // the filter finds rows by group and label, the sort orders by group
    expect(view(fleet.rows.values(), { filter: 'rack 2 pcs' }).map((m) => m.mac)).toEqual(['aa:00:00:00:00:01']);
    expect(view(fleet.rows.values(), { filter: 'rack=2' })).toHaveLength(3);
    expect(view(fleet.rows.values(), { sort: 'group' }).map((m) => m.group)).toEqual(['Rack 2', 'Rack 2', 'Rack 2 PCs']);
  });

  it('a machine\'s last kept boot reaches its row', () => {
    const fleet = createFleet((fn) => fn());
    fleet.load([{ mac: 'aa:00:00:00:00:01' }]);
    fleet.setLast({ 'aa:00:00:00:00:01': { startedAt: 1, outcome: 'done', toOsMs: 8000, toMenuMs: 900 }, 'aa:00:00:00:00:09': { startedAt: 1, outcome: 'done', toOsMs: 1, toMenuMs: 1 } });
    expect(fleet.rows.get('aa:00:00:00:00:01')!.last).toMatchObject({ toOsMs: 8000 });
    expect(fleet.rows.has('aa:00:00:00:00:09')).toBe(false);
  });
});

describe('HealthPanel, other DHCP servers and tgtd', () => {
  it('warns of another DHCP server and says tgtd\'s state', () => {
    const w = mount(HealthPanel, { props: { status: {
      status: 'ready', ports: [],
      rogueDhcp: [{ server: '192.168.1.1', at: Date.UTC(2026, 11, 5, 12), detail: 'offers addresses, boot file pxelinux.0' }],
      iscsi: { state: 'failed', error: 'tgtd is not installed: apt-get install tgt', targets: 0, sessions: 0 },
    } } });
    const rogue = w.find('[data-test=rogue-dhcp]');
    expect(rogue.attributes('role')).toBe('alert');
    expect(rogue.text()).toContain('192.168.1.1');
    expect(rogue.text()).toContain('pxelinux.0');
    expect(w.find('[data-test=tgtd-state]').text()).toContain('failed');
    expect(w.find('[data-test=tgtd-state]').text()).toContain('apt-get install tgt');
    w.unmount();
  });
});

describe('DisksView, a copy under way', () => {
  it('shows the copy\'s progress from disk.progress events and reloads the disks when it is whole', async () => {
    let loads = 0;
    const client = {
      root: '/', token: () => 't',
      get: async () => { loads++; return { status: { state: 'ready', targets: 1, sessions: 0 }, targets: [] }; },
      send: async () => ({}), text: async () => '', canWrite: async () => true,
    } as unknown as Client;
    const fleet = createFleet((fn) => fn());
    const w = mount(DisksView, { props: { client, canWrite: true, fleet } });
    await flushPromises();
    expect(loads).toBe(1);
    fleet.push({ type: 'disk.progress', ts: 1, image: 'win11-copy', from: 'win11', bytes: 9 * 1024 ** 3, size: 20 * 1024 ** 3 });
    await flushPromises();
    const bar = w.find('[data-test=copy-progress]');
    expect(bar.attributes('data-disk')).toBe('win11-copy');
    expect(bar.text()).toContain('45%');
    expect(bar.text()).toContain('9.0 GiB / 20 GiB');
    expect(bar.find('[role=progressbar]').attributes('aria-valuenow')).toBe('45');
    fleet.push({ type: 'disk.progress', ts: 2, image: 'win11-copy', from: 'win11', bytes: 20 * 1024 ** 3, size: 20 * 1024 ** 3 });
    await flushPromises();
    expect(w.find('[data-test=copy-progress]').exists()).toBe(false);
    expect(loads).toBe(2);
    w.unmount();
  });
});
