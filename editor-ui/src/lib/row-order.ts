/**
 * The Devices table's rows in order (filtered and sorted), kept current as the fleet changes by
 * moving only the rows a change touched. A boot storm changes a few hundred of 5 000 rows per
 * batch; sorting all of them again for each batch was most of a dashboard's script time. A
 * changed row whose sort value and filter match are what they were stays where it is; the others
 * leave and are merged back in at their new place (a binary search each for a few, one merge pass
 * for many). A new filter or sort, a load or new groups rebuild the order.
 */
import { atSite, compareText, compareValues, matchesFilter, sortValue, type Machine, type SortKey, type SortValue } from './fleet';

export interface RowQuery {
  filter: string;
  sort: SortKey;
  desc: boolean;
  /** Only this site's machines ('' or absent: every site's). */
  site?: string;
}

/** Up to this many moving rows are spliced in place; more are merged in one pass. */
const SPLICE_MAX = 16;

export class RowOrder {
  /** The rows that pass the filter, in order. A new array after a rebuild or a merge: read it again after each call. */
  rows: Machine[] = [];
  /** Each row's sort value when it took its place (what its neighbours were compared with). */
  private readonly vals = new Map<Machine, SortValue>();
  private q = '';
  private site = '';
  private key: SortKey = 'lastSeen';
  private sign = -1;

  constructor(query?: Partial<RowQuery>) {
    if (query) this.setQuery(query);
  }

  /** A new filter or sort: call `rebuild` after it. */
  setQuery(query: Partial<RowQuery>): void {
    this.q = (query.filter ?? '').trim().toLowerCase();
    this.site = query.site ?? '';
    this.key = query.sort ?? 'lastSeen';
    this.sign = (query.desc ?? this.key === 'lastSeen') ? -1 : 1;
  }

  rebuild(all: Iterable<Machine>): void {
    this.vals.clear();
    const pairs: Array<{ v: SortValue; m: Machine }> = [];
    for (const m of all) {
      if (!matchesFilter(m, this.q) || !atSite(m, this.site)) continue;
      const v = sortValue(m, this.key);
      pairs.push({ v, m });
      this.vals.set(m, v);
    }
    pairs.sort((a, b) => this.sign * compareValues(a.v, b.v) || compareText(a.m.mac, b.m.mac));
    this.rows = pairs.map((p) => p.m);
  }

  /** The rows in `changed` changed (each may also be new): returns whether the order or the set of rows moved. */
  update(changed: Iterable<Machine>): boolean {
    const leaving = new Set<Machine>();
    const coming: Array<{ m: Machine; v: SortValue }> = [];
    for (const m of changed) {
      const was = this.vals.get(m);
      const inside = was !== undefined;
      if (!matchesFilter(m, this.q) || !atSite(m, this.site)) {
        if (inside) leaving.add(m);
        continue;
      }
      const v = sortValue(m, this.key);
      if (inside) {
        if (v === was) continue;
        leaving.add(m);
      }
      coming.push({ m, v });
    }
    if (!leaving.size && !coming.length) return false;
    if (leaving.size + coming.length <= SPLICE_MAX) {
      for (const m of leaving) {
        this.rows.splice(this.indexOf(m), 1);
        this.vals.delete(m);
      }
      for (const { m, v } of coming) {
        this.rows.splice(this.insertionPoint(m, v), 0, m);
        this.vals.set(m, v);
      }
      return true;
    }
    const kept = leaving.size ? this.rows.filter((m) => !leaving.has(m)) : this.rows;
    for (const m of leaving) this.vals.delete(m);
    coming.sort((a, b) => this.order(a.v, a.m, b.v, b.m));
    const out: Machine[] = new Array(kept.length + coming.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < kept.length && j < coming.length) {
      const a = kept[i];
      out[k++] = this.order(this.vals.get(a)!, a, coming[j].v, coming[j].m) <= 0 ? kept[i++] : coming[j++].m;
    }
    while (i < kept.length) out[k++] = kept[i++];
    while (j < coming.length) out[k++] = coming[j++].m;
    for (const { m, v } of coming) this.vals.set(m, v);
    this.rows = out;
    return true;
  }

  private order(va: SortValue, a: Machine, vb: SortValue, b: Machine): number {
    return this.sign * compareValues(va, vb) || compareText(a.mac, b.mac);
  }

  /** The first place whose row sorts at or after (v, m). */
  private insertionPoint(m: Machine, v: SortValue): number {
    let lo = 0;
    let hi = this.rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.rows[mid];
      if (this.order(this.vals.get(r)!, r, v, m) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private indexOf(m: Machine): number {
    const i = this.insertionPoint(m, this.vals.get(m)!);
    return this.rows[i] === m ? i : this.rows.indexOf(m);
  }
}
