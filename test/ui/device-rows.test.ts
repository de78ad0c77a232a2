// @vitest-environment happy-dom
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The Devices table's hand-drawn rows (editor-ui/src/lib/device-rows.ts): what a row shows, that
 * a change writes only the texts that changed (the same text nodes stay), that row elements keep
 * their place as machines move through them, and that a row holding the keyboard focus is never
 * handed to another machine.
 */
import { describe, expect, it } from 'vitest';
import { DeviceRows, DeviceRowView, type RowContext } from '../../editor-ui/src/lib/device-rows';
import { machineFromRecord, type Machine } from '../../editor-ui/src/lib/fleet';
import { t } from '../../editor-ui/src/lib/i18n';

const ctx = (over: Partial<RowContext> = {}): RowContext => ({ now: 100_000, selected: '', canWrite: true, t, ...over });
const machine = (mac: string, over: Partial<Machine> = {}): Machine => ({ ...machineFromRecord({ mac, status: 'configured' }), ...over });
const cells = (tr: HTMLElement) => [...tr.querySelectorAll('td')].map((td) => td.textContent);

describe('DeviceRowView', () => {
  it('shows a machine in ten cells with the table roles, and its one-click action only to a user who may change things', () => {
    const row = new DeviceRowView(document);
    const m = machine('52:54:00:30:00:01', { hostname: 'pc1', status: 'unknown', arch: 'efi-x64', model: 'M720q', serial: 'S1', group: 'Rack 2', profileId: 'debian', labels: { rack: '2' }, stage: 'kernel', ip: '10.0.0.5', lastSeen: 95_000, transfer: { path: '/k', bytes: 25, size: 100 }, last: { startedAt: 1, outcome: 'failed', toOsMs: null, toMenuMs: null } });
    row.update(m, ctx());
    expect(row.el.getAttribute('role')).toBe('row');
    expect(row.el.tabIndex).toBe(0);
    expect(row.el.dataset.mac).toBe(m.mac);
    expect(row.el.className).toBe('unknown');
    expect([...row.el.querySelectorAll('td')].every((td) => td.getAttribute('role') === 'cell')).toBe(true);
    expect(cells(row.el)).toEqual([
      ` ${t('health.booting')}`, `pc1 ${t('unknownDevice')}${t('manage.register')}`, m.mac, 'efi-x64 · M720q S1', 'Rack 2', 'debian rack=2',
      t('stage.kernel'), t('outcome.failed'), '10.0.0.5', t('agoSeconds', { n: 5 }),
    ]);
    expect(row.el.querySelector('.nb-dot')!.className).toBe('nb-dot booting');
    expect(row.el.querySelector<HTMLElement>('button[data-quick=register]')).not.toBeNull();
    expect(row.el.querySelector<HTMLElement>('.nb-bar span')!.style.width).toBe('25%');
    expect(row.el.querySelector('[data-col=last-boot]')!.className).toBe('bad');
    expect(row.el.querySelector('td[title]')!.getAttribute('title')).toBe('M720q');
    // read-only: no button; selected: marked
    row.update(m, ctx({ canWrite: false, selected: m.mac }));
    expect(row.el.querySelector('button[data-quick]')).toBeNull();
    expect(row.el.className).toBe('selected unknown');
  });

  it('writes only what changed: the same text nodes stay, and parts a machine lacks leave the row', () => {
    const row = new DeviceRowView(document);
    const m = machine('52:54:00:30:00:02', { hostname: 'pc2', stage: 'dhcp', ip: '10.0.0.6', transfer: { path: '/k', bytes: 1, size: 2 }, labels: { a: '1' } });
    row.update(m, ctx());
    const texts = () => {
      const walker = document.createTreeWalker(row.el, 4 /* NodeFilter.SHOW_TEXT */);
      const out: Node[] = [];
      while (walker.nextNode()) out.push(walker.currentNode);
      return out;
    };
    const before = texts();
    const macText = before.find((n) => n.nodeValue === m.mac)!;
    const stageText = before.find((n) => n.nodeValue === t('stage.dhcp'))!;
    expect(stageText).toBeDefined();
    // the machine moves on: new words in the same nodes
    m.stage = 'script';
    m.transfer = null;
    m.labels = {};
    m.rev++;
    row.update(m, ctx());
    expect(cells(row.el)[6]).toBe(t('stage.script'));
    expect(row.el.querySelector('.nb-bar')).toBeNull();
    expect(row.el.querySelector('.nb-labels')).toBeNull();
    expect(texts().find((n) => n.nodeValue === m.mac)).toBe(macText);
    expect(texts().find((n) => n.nodeValue === t('stage.script'))).toBe(stageText);
    // another machine in the same row element: its words, the same nodes
    const other = machine('52:54:00:30:00:03', { hostname: 'pc3' });
    row.update(other, ctx());
    expect(row.el.dataset.mac).toBe(other.mac);
    expect(texts().find((n) => n.nodeValue === other.mac)).toBe(macText);
    // nothing changed: nothing is written (a text node set by hand stays as it is)
    macText.nodeValue = 'untouched';
    row.update(other, ctx());
    expect(macText.nodeValue).toBe('untouched');
  });
});

describe('DeviceRows', () => {
  const ms = Array.from({ length: 40 }, (_, i) => machine(`52:54:00:31:00:${i.toString(16).padStart(2, '0')}`, { hostname: `n${i}` }));
  const macs = (body: HTMLElement) => [...body.children].map((tr) => (tr as HTMLElement).dataset.mac);

  it('keeps each row element at its place while machines move through it, and moves only the rows a scroll frees', async () => {
    const body = document.createElement('tbody');
    document.body.appendChild(body);
    const rows = new DeviceRows(body);
    rows.draw(0, ms.slice(0, 10), ctx());
    expect(macs(body)).toEqual(ms.slice(0, 10).map((m) => m.mac));
    const els = [...body.children];
    // a batch puts two new machines on top: the same elements, new machines in them
    const fresh = [machine('52:54:00:32:00:01'), machine('52:54:00:32:00:02')];
    rows.draw(0, [...fresh, ...ms.slice(0, 8)], ctx());
    expect(macs(body)).toEqual([...fresh, ...ms.slice(0, 8)].map((m) => m.mac));
    expect([...body.children]).toEqual(els);
    // scrolled three rows down: the seven rows that stay keep their elements (none is moved), three come in at the bottom
    const moved: Node[] = [];
    const observer = new MutationObserver((records) => { for (const r of records) moved.push(...r.addedNodes); });
    observer.observe(body, { childList: true });
    rows.draw(3, ms.slice(3, 13), ctx());
    await Promise.resolve();
    observer.disconnect();
    expect(moved).toHaveLength(3);
    expect(new Set(moved)).toEqual(new Set(els.slice(0, 3)));
    expect(macs(body)).toEqual(ms.slice(3, 13).map((m) => m.mac));
    expect([...body.children].slice(0, 7)).toEqual(els.slice(3, 10));
    expect(rows.size).toBe(10);
    // fewer rows than before: the rest leave
    rows.draw(0, ms.slice(0, 2), ctx());
    expect(macs(body)).toEqual(ms.slice(0, 2).map((m) => m.mac));
    body.remove();
  });

  it('never hands the focused row element to another machine: it leaves with its place', () => {
    const body = document.createElement('tbody');
    document.body.appendChild(body);
    const rows = new DeviceRows(body);
    rows.draw(0, ms.slice(0, 10), ctx());
    const focused = body.children[0] as HTMLElement;
    focused.focus();
    expect(document.activeElement).toBe(focused);
    rows.draw(5, ms.slice(5, 15), ctx());
    expect(focused.isConnected).toBe(false);
    expect(macs(body)).toEqual(ms.slice(5, 15).map((m) => m.mac));
    expect([...body.children].includes(focused)).toBe(false);
    body.remove();
  });
});
