/**
 * The Devices table's order kept by moving only changed rows (editor-ui/src/lib/row-order.ts):
 * after any sequence of changes it is exactly what sorting and filtering every row again gives.
 */
import { describe, expect, it } from 'vitest';
import { applyEvent, view, type BootEvent, type Machine, type SortKey } from '../../editor-ui/src/lib/fleet';
import { RowOrder } from '../../editor-ui/src/lib/row-order';

/** A small deterministic random source, so a failure repeats. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

const STAGES = ['dhcp', 'firmware-tftp', 'script', 'kernel', 'os', 'done', 'failed'];

function randomEvent(r: () => number, macs: number, ts: number): BootEvent {
  const mac = `52:54:00:00:${Math.floor(r() * macs).toString(16).padStart(4, '0').replace(/(..)(..)/, '$1:$2')}`;
  const kind = Math.floor(r() * 5);
  if (kind === 0) return { type: 'dhcp.discover', ts, mac, arch: r() < 0.5 ? 'bios' : 'efi-x64', ip: `10.0.0.${Math.floor(r() * 250)}` };
  if (kind === 1) return { type: 'stage', ts, mac, to: STAGES[Math.floor(r() * STAGES.length)] };
  if (kind === 2) return { type: 'stall', ts, mac };
  if (kind === 3) return { type: 'checkin', ts, mac, hostname: `host-${Math.floor(r() * 30)}` };
  // an old event: the row changes but its last-seen time does not
  return { type: 'stall.cleared', ts: ts - 1_000_000, mac };
}

describe('RowOrder', () => {
  const queries: Array<{ filter: string; sort: SortKey; desc: boolean }> = [
    { filter: '', sort: 'lastSeen', desc: true },
    { filter: '', sort: 'status', desc: false },
    { filter: 'efi', sort: 'hostname', desc: false },
    { filter: 'host-1', sort: 'stage', desc: true },
    { filter: '', sort: 'ip', desc: false },
  ];
  for (const q of queries) {
    it(`matches a full sort after every batch (filter "${q.filter}", by ${q.sort}${q.desc ? ' descending' : ''})`, () => {
      const r = rng(q.sort.length * 7 + q.filter.length);
      const rows = new Map<string, Machine>();
      const order = new RowOrder(q);
      order.rebuild(rows.values());
      let ts = 1_000_000;
      // small batches (spliced in place) and big ones (merged)
      for (const size of [1, 3, 40, 2, 200, 5, 1, 120, 9, 17]) {
        const changed = new Set<Machine>();
        for (let i = 0; i < size; i++) {
          const m = applyEvent(rows, randomEvent(r, 300, ts += Math.floor(r() * 3)));
          if (m) changed.add(m);
        }
        order.update(changed);
        expect(order.rows.map((m) => m.mac)).toEqual(view(rows.values(), q).map((m) => m.mac));
      }
    });
  }

  it('leaves the order alone when no changed row moved', () => {
    const rows = new Map<string, Machine>();
    const a = applyEvent(rows, { type: 'stage', ts: 1, mac: '52:54:00:00:00:01', to: 'dhcp' })!;
    applyEvent(rows, { type: 'stage', ts: 2, mac: '52:54:00:00:00:02', to: 'dhcp' });
    const order = new RowOrder({ sort: 'lastSeen', desc: true });
    order.rebuild(rows.values());
    const before = order.rows;
    applyEvent(rows, { type: 'stage', ts: 1, mac: a.mac, to: 'script' });
    expect(order.update([a])).toBe(false);
    expect(order.rows).toBe(before);
  });
});

describe('RowOrder by site', () => {
  it('keeps one site\'s machines: pinned there, or unpinned and seen last by its server; events move them', () => {
    const rows = new Map<string, Machine>();
    const order = new RowOrder({ filter: '', sort: 'mac', desc: false, site: 'rack-b' });
    const add = (mac: string, site: string, lastSite: string) => {
      const m = { ...(applyEvent(rows, { type: 'checkin', ts: 1, mac }) as Machine), site, lastSite };
      rows.set(mac, m);
      return m;
    };
    add('52:54:00:00:00:01', 'rack-b', 'rack-a'); // pinned to b, even seen by a
    add('52:54:00:00:00:02', '', 'rack-b'); // seen by b
    add('52:54:00:00:00:03', '', 'rack-a'); // seen by a
    add('52:54:00:00:00:04', 'rack-a', 'rack-b'); // pinned elsewhere
    order.rebuild(rows.values());
    expect(order.rows.map((m) => m.mac)).toEqual(['52:54:00:00:00:01', '52:54:00:00:00:02']);
    // machine 3 boots through site b's server: its events carry the site
    const moved = applyEvent(rows, { type: 'dhcp.discover', ts: 2, mac: '52:54:00:00:00:03', site: 'rack-b' })!;
    order.update([moved]);
    expect(order.rows.map((m) => m.mac)).toEqual(['52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:03']);
    // every site
    order.setQuery({ filter: '', sort: 'mac', desc: false });
    order.rebuild(rows.values());
    expect(order.rows).toHaveLength(4);
  });
});
