// @vitest-environment happy-dom
/**
 * The Vue parts of the fleet dashboard and their pure logic: the SSE parser (fetch-read stream),
 * how events move a machine's row, sorting and filtering, and the components rendering them.
 */
import { mount } from '@vue/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computed, isProxy, nextTick } from 'vue';
import DeviceTable from '../../editor-ui/src/components/DeviceTable.vue';
import HealthPanel from '../../editor-ui/src/components/HealthPanel.vue';
import MachineList from '../../editor-ui/src/components/MachineList.vue';
import { editorToken } from '../../editor-ui/src/lib/api';
import { applyEvent, BATCH_EVENT, createFleet, healthOf, view, type Machine } from '../../editor-ui/src/lib/fleet';
import { SseParser } from '../../editor-ui/src/lib/sse';

const MAC = '52:54:00:aa:00:01';

describe('SseParser', () => {
  it('splits frames across chunk boundaries, skips comments and remembers the last id', () => {
    const p = new SseParser();
    expect(p.push(': ping\n\nid: 7\nevent: dhcp.discover\nda')).toEqual([]);
    expect(p.push('ta: {"a":1}\n\nid: 8\r\nevent: stage\r\ndata: x\r\ndata: y\r\n\r\n')).toEqual([
      { id: '7', event: 'dhcp.discover', data: '{"a":1}' },
      { id: '8', event: 'stage', data: 'x\ny' },
    ]);
    expect(p.lastId).toBe('8');
  });
});

describe('the fleet rows', () => {
  it('an unknown MAC gets a row; stage, stall, arch and transfer follow the events', () => {
    const rows = new Map<string, Machine>();
    applyEvent(rows, { type: 'dhcp.discover', ts: 1000, mac: MAC, ip: '10.0.0.5', arch: 'efi-x64' });
    applyEvent(rows, { type: 'stage', ts: 1001, mac: MAC, to: 'firmware-tftp' });
    applyEvent(rows, { type: 'tftp.progress', ts: 1002, mac: MAC, path: 'ipxe.efi', bytes: 512, size: 2048 });
    const m = rows.get(MAC)!;
    expect(m).toMatchObject({ status: 'unknown', arch: 'efi-x64', ip: '10.0.0.5', stage: 'firmware-tftp', lastSeen: 1002, transfer: { bytes: 512, size: 2048 } });
    expect(healthOf(m)).toBe('booting');
    applyEvent(rows, { type: 'stall', ts: 1003, mac: MAC, stage: 'firmware-tftp' });
    expect(healthOf(m)).toBe('stalled');
    applyEvent(rows, { type: 'tftp.done', ts: 1004, mac: MAC });
    applyEvent(rows, { type: 'stage', ts: 1005, mac: MAC, to: 'failed' });
    expect(m.transfer).toBeNull();
    expect(healthOf(m)).toBe('failed');
    // an event without a MAC touches nothing
    expect(applyEvent(rows, { type: 'dhcp.rogue', ts: 1006 })).toBeUndefined();
    expect(rows.size).toBe(1);
  });

  it('batches events until the scheduled flush', () => {
    const jobs: (() => void)[] = [];
    const fleet = createFleet((fn) => jobs.push(fn));
    fleet.load([{ mac: MAC, hostname: 'node1', status: 'ready', lastSeen: '2026-12-05T08:00:00Z' }]);
    fleet.push({ type: 'stage', ts: Date.parse('2026-12-05T09:00:00Z'), mac: MAC, to: 'kernel' });
    fleet.push({ type: 'stage', ts: Date.parse('2026-12-05T09:00:01Z'), mac: MAC, to: 'os' });
    expect(jobs).toHaveLength(1);
    expect(fleet.rows.get(MAC)!.stage).toBe('');
    jobs[0]();
    expect(fleet.rows.get(MAC)).toMatchObject({ hostname: 'node1', status: 'ready', stage: 'os' });
  });

  it('keeps rows as plain objects, and views that read them follow every batch, load and clear', () => {
    const jobs: (() => void)[] = [];
    const fleet = createFleet((fn) => jobs.push(fn));
    fleet.load([{ mac: MAC, hostname: 'node1', status: 'ready' }]);
    // not a Vue proxy: sorting thousands of rows reads plain properties
    expect(isProxy(fleet.rows.get(MAC))).toBe(false);
    const stage = computed(() => fleet.rows.get(MAC)?.stage ?? 'gone');
    const size = computed(() => fleet.rows.size);
    expect([stage.value, size.value]).toEqual(['', 1]);
    fleet.push({ type: 'stage', ts: 1, mac: MAC, to: 'kernel' });
    fleet.push({ type: 'dhcp.discover', ts: 2, mac: '52:54:00:aa:00:02' });
    jobs.shift()!();
    expect([stage.value, size.value]).toEqual(['kernel', 2]);
    fleet.load([{ mac: '52:54:00:aa:00:03' }]);
    expect(size.value).toBe(3);
    fleet.clear();
    expect([stage.value, size.value]).toEqual(['gone', 0]);
  });

  it('announces each applied batch on the window with how many events it applied and when they happened', () => {
    const jobs: (() => void)[] = [];
    const fleet = createFleet((fn) => jobs.push(fn));
    const seen: Array<{ events: number; ts: number[] }> = [];
    const on = (e: Event) => seen.push((e as CustomEvent<{ events: number; ts: number[] }>).detail);
    window.addEventListener(BATCH_EVENT, on);
    try {
      fleet.push({ type: 'stage', ts: 1, mac: MAC, to: 'kernel' });
      fleet.push({ type: 'stage', ts: 2, mac: MAC, to: 'os' });
      jobs.shift()!();
      fleet.flush();
      expect(seen).toEqual([{ events: 2, ts: [1, 2] }]);
    } finally {
      window.removeEventListener(BATCH_EVENT, on);
    }
  });

  it('sorts by any column and filters on text', () => {
    const rows = new Map<string, Machine>();
    applyEvent(rows, { type: 'dhcp.discover', ts: 1, mac: '52:54:00:00:00:02', arch: 'bios' });
    applyEvent(rows, { type: 'dhcp.discover', ts: 3, mac: '52:54:00:00:00:01', arch: 'efi-x64' });
    applyEvent(rows, { type: 'dhcp.discover', ts: 2, mac: '52:54:00:00:00:03', arch: 'efi-arm64' });
    expect(view(rows.values()).map((m) => m.mac.slice(-2))).toEqual(['01', '03', '02']);
    expect(view(rows.values(), { sort: 'mac' }).map((m) => m.mac.slice(-2))).toEqual(['01', '02', '03']);
    expect(view(rows.values(), { sort: 'arch', desc: true }).map((m) => m.arch)).toEqual(['efi-x64', 'efi-arm64', 'bios']);
    expect(view(rows.values(), { filter: 'EFI' }).map((m) => m.mac.slice(-2))).toEqual(['01', '03']);
  });

  it('reads the editor\'s token, and nothing from a damaged entry', () => {
    expect(editorToken({ getItem: () => JSON.stringify({ access_token: 'abc' }) })).toBe('abc');
    expect(editorToken({ getItem: () => '{not json' })).toBeUndefined();
    expect(editorToken({ getItem: () => null })).toBeUndefined();
  });
});

/** Lets the virtualised table measure its scroll box and render (a tick and a timer). */
const settle = async () => {
  await nextTick();
  await new Promise((r) => setTimeout(r, 20));
  await nextTick();
};

describe('the components', () => {
  // happy-dom lays nothing out: give the Devices table's scroll box the size a 1280×800 page gives it
  const sizes = { clientHeight: 600, clientWidth: 1000 } as const;
  const saved = Object.fromEntries(Object.keys(sizes).map((k) => [k, Object.getOwnPropertyDescriptor(HTMLElement.prototype, k) ?? Object.getOwnPropertyDescriptor(Element.prototype, k)]));
  beforeAll(() => {
    for (const [k, v] of Object.entries(sizes)) {
      const orig = saved[k];
      Object.defineProperty(HTMLElement.prototype, k, {
        configurable: true,
        get(this: HTMLElement) {
          return this.dataset?.test === 'devices-scroll' ? v : (orig?.get?.call(this) ?? 0);
        },
      });
    }
  });
  afterAll(() => {
    for (const k of Object.keys(sizes)) {
      if (saved[k]) Object.defineProperty(HTMLElement.prototype, k, saved[k]!);
      else delete (HTMLElement.prototype as unknown as Record<string, unknown>)[k];
    }
  });

  it('MachineList shows each machine with its stage, colour and transfer, and says when there are none', async () => {
    const fleet = createFleet((fn) => fn());
    const w = mount(MachineList, { props: { fleet, now: 10_000 } });
    expect(w.text()).toContain('No machine has been seen yet');
    fleet.push({ type: 'dhcp.discover', ts: 5_000, mac: MAC, arch: 'efi-x64' });
    fleet.push({ type: 'stage', ts: 5_000, mac: MAC, to: 'kernel' });
    fleet.push({ type: 'http.progress', ts: 5_000, mac: MAC, path: 'vmlinuz', bytes: 50, size: 200 });
    await nextTick();
    const row = w.get(`[data-mac="${MAC}"]`);
    expect(row.text()).toContain('efi-x64');
    expect(row.text()).toContain('kernel/initrd');
    expect(row.text()).toContain('5 s ago');
    expect(row.text()).toContain('not in the inventory');
    expect(row.get('.nb-dot').classes()).toContain('booting');
    expect(row.get('.nb-bar span').attributes('style')).toContain('width: 25%');
  });

  it('DeviceTable sorts on a header click and filters as one types', async () => {
    const fleet = createFleet((fn) => fn());
    fleet.load([
      { mac: '52:54:00:00:00:02', hostname: 'beta', status: 'ready' },
      { mac: '52:54:00:00:00:01', hostname: 'alpha', status: 'ready' },
    ]);
    const w = mount(DeviceTable, { props: { fleet, now: 0 }, attachTo: document.body });
    await settle();
    const macs = () => w.findAll('tbody tr[data-mac]').map((r) => r.attributes('data-mac'));
    await w.get('[data-sort=hostname]').trigger('click');
    expect(macs()).toEqual(['52:54:00:00:00:01', '52:54:00:00:00:02']);
    expect(w.get('th[aria-sort=ascending]').text()).toContain('Name');
    await w.get('[data-sort=hostname]').trigger('click');
    expect(macs()).toEqual(['52:54:00:00:00:02', '52:54:00:00:00:01']);
    await w.get('[data-test=filter]').setValue('alp');
    expect(macs()).toEqual(['52:54:00:00:00:01']);
    expect(w.get('[data-test=shown]').text()).toBe('1 of 2');
    await w.get('tbody tr[data-mac]').trigger('click');
    expect(w.emitted('select')).toEqual([['52:54:00:00:00:01']]);
  });

  it('DeviceTable keeps only a window of rows in the page at 5 000 machines, and sorting and filtering still see them all', async () => {
    const fleet = createFleet((fn) => fn());
    fleet.load(Array.from({ length: 5000 }, (_, i) => ({ mac: `52:54:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, hostname: `node-${String(i).padStart(4, '0')}`, status: 'ready' })));
    const w = mount(DeviceTable, { props: { fleet, now: 0 }, attachTo: document.body });
    await settle();
    const macs = () => w.findAll('tbody tr[data-mac]').map((r) => r.attributes('data-mac'));
    const shown = macs();
    expect(shown.length).toBeGreaterThan(10);
    expect(shown.length).toBeLessThan(60); // 600 px of 31 px rows, plus the overscan: not 5 000
    expect(w.get('[data-test=shown]').text()).toBe('5000 of 5000');
    // the spacer below stands for the rows not in the page
    const pad = w.findAll('tbody.nb-pad').at(-1)!.element as HTMLElement;
    expect(Number.parseInt(pad.style.height, 10)).toBeGreaterThan(100_000);
    // sorting by name descending brings the last machine to the top, though it was never in the page
    await w.get('[data-sort=hostname]').trigger('click');
    await w.get('[data-sort=hostname]').trigger('click');
    expect(w.find('tbody tr[data-mac]').text()).toContain('node-4999');
    await w.get('[data-test=filter]').setValue('node-2500');
    expect(macs()).toHaveLength(1);
    w.unmount();
  });

  it('DeviceTable holds its order while a row has the keyboard focus, and lets go when that row is scrolled out of the page', async () => {
    const fleet = createFleet((fn) => fn());
    fleet.load(Array.from({ length: 500 }, (_, i) => ({ mac: `52:54:00:02:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, hostname: `n-${i}`, status: 'ready', lastSeen: new Date(1_000_000 + i * 1000).toISOString() })));
    const w = mount(DeviceTable, { props: { fleet, now: 0 }, attachTo: document.body });
    await settle();
    const first = () => w.find('tbody tr[data-mac]').element as HTMLElement;
    const top = first().dataset.mac;
    first().focus();
    await settle();
    expect(w.find('[data-test=order-held]').exists()).toBe(true);
    // a new machine: counted, but nothing moves under the focus
    fleet.push({ type: 'dhcp.discover', mac: '52:54:00:02:ff:ff', ts: 5_000_000 });
    await settle();
    expect(w.get('[data-test=shown]').text()).toBe('500 of 501');
    expect(first().dataset.mac).toBe(top);
    expect((document.activeElement as HTMLElement).dataset.mac).toBe(top);
    // scrolled far down: the focused row leaves the page, and the order is live again
    const scroller = w.get('[data-test=devices-scroll]').element as HTMLElement;
    scroller.scrollTop = 31 * 300;
    scroller.dispatchEvent(new Event('scroll'));
    await settle();
    expect(w.find('[data-test=order-held]').exists()).toBe(false);
    expect(w.get('[data-test=shown]').text()).toBe('501 of 501');
    w.unmount();
  });

  it('HealthPanel shows the DHCP mode, the address, each port\'s state and which clients can boot', () => {
    const w = mount(HealthPanel, { props: { status: {
      status: 'ready', dhcpMode: 'proxy',
      network: { advertised: '192.168.1.10', interface: 'eth0', reason: 'default route', pinned: false },
      ports: [
        { key: 'tftp', purpose: 'TFTP', port: 69, boundPort: 69, address: '0.0.0.0', state: 'listening' },
        { key: 'dhcp', purpose: 'DHCP', port: 67, address: '0.0.0.0', state: 'failed', error: 'EACCES' },
      ],
      bootPrograms: [{ id: 'bios', label: 'BIOS', ready: true }, { id: 'uefi-arm64', label: 'arm64 UEFI', ready: false, fix: 'apt install ipxe' }],
    } } });
    expect(w.get('[data-test=dhcp-mode]').text()).toBe('proxy');
    expect(w.get('[data-test=address]').text()).toContain('192.168.1.10 (eth0)');
    expect(w.get('[data-port=tftp]').text()).toBe('tftp 69 · listening');
    expect(w.get('[data-port=dhcp]').classes()).toContain('bad');
    expect(w.get('[data-port=dhcp]').attributes('title')).toBe('EACCES');
    expect(w.findAll('.nb-ports')[1].text()).toContain('arm64 UEFI');
  });
});
