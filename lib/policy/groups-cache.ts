import { listAll } from '../store/list-all';
import type { Group } from '../store/schema';
import type { InventoryStore } from '../store/types';

type GroupStore = Pick<InventoryStore, 'groups'> & Partial<Pick<InventoryStore, 'onChange'>>;

interface Cached {
  groups?: Promise<readonly Group[]>;
  /** Bumped by every groups change: a list that was in flight meanwhile is not kept. */
  version: number;
}

const caches = new WeakMap<object, Cached>();

/**
 * Every group, for matching a machine to its group on each check-in and DHCP answer. The list is
 * kept until the store announces a change to groups (or `all`), from this server or, on PostgreSQL,
 * from another one through the change feed: a check-in no longer copies every group of the
 * inventory out of the store (with 200 groups that was the biggest cost of a check-in). The groups
 * returned are shared: callers read them and copy what they hand on. A store without change
 * announcements is asked every time.
 */
export function cachedGroups(store: GroupStore): Promise<readonly Group[]> {
  if (!store.onChange) return listAll((q) => store.groups.list(q));
  let c = caches.get(store);
  if (!c) {
    const entry: Cached = { version: 0 };
    store.onChange((change) => {
      if (change !== 'groups' && change !== 'all') return;
      entry.version++;
      entry.groups = undefined;
    });
    caches.set(store, entry);
    c = entry;
  }
  if (!c.groups) {
    const entry = c;
    const version = entry.version;
    const loading = listAll((q) => store.groups.list(q)).then((groups) => Object.freeze(groups.map((g) => Object.freeze(g))));
    entry.groups = loading;
    // a failed read, or one overtaken by a change, is not kept
    loading.then((g) => {
      if (entry.version !== version && entry.groups === loading) entry.groups = undefined;
      return g;
    }, () => {
      if (entry.groups === loading) entry.groups = undefined;
    });
    return loading;
  }
  return c.groups;
}
