import * as path from 'node:path';
import { NetbootError } from '../core/errors';
import { JsonInventoryStore, type JsonStoreOptions } from './json-store';
import { PgInventoryStore } from './pg-store';
import type { InventoryStore } from './types';
import { isDatabaseUrl, isOtherUrl } from './url';

/**
 * One store object per file (or database URL) per process, shared by reference count. lowdb must
 * not have two instances on one file (they would race on the temp file), and Node-RED may create the
 * new `netboot-server` node of a redeploy before the old one has finished closing. A
 * `postgres://` URL opens the PostgreSQL inventory (pg-store.ts) instead of a file.
 */
interface Entry { store: Promise<InventoryStore>; refs: number }

/** Opens the inventory at `where`: a JSON file (a path, or `file:path`) or `postgres://…`. */
export async function openStoreAt(where: string, opts: JsonStoreOptions = {}): Promise<InventoryStore> {
  if (isDatabaseUrl(where)) return PgInventoryStore.open(where, opts);
  const file = where.startsWith('file:') ? where.slice(5) : where;
  if (!file || isOtherUrl(file)) throw new NetbootError('validation', `inventory "${where}" is not a store this version knows; give a JSON file (file:path/inventory.json) or postgres://user@host/db`, { field: 'store' });
  return JsonInventoryStore.open(file, opts);
}
const open = new Map<string, Entry>();
const closing = new Map<string, Promise<void>>();

export interface SharedStoreHandle {
  store: InventoryStore;
  release(): Promise<void>;
}

export async function openSharedStore(file: string, opts: JsonStoreOptions = {}): Promise<SharedStoreHandle> {
  // one entry per database URL or per absolute file path; another scheme goes through to be refused
  const key = isDatabaseUrl(file) || isOtherUrl(file) ? file : path.resolve(file.replace(/^file:/, ''));
  let entry = open.get(key);
  if (!entry) {
    // a previous instance on this file may still be writing its last changes
    await closing.get(key);
    entry = open.get(key);
  }
  if (!entry) {
    entry = { store: openStoreAt(key, opts), refs: 0 };
    open.set(key, entry);
    entry.store.catch(() => open.delete(key));
  }
  entry.refs++;
  const current = entry;
  const store = await current.store.catch((err) => {
    current.refs--;
    throw err;
  });
  let released = false;
  return {
    store,
    release: async () => {
      if (released) return;
      released = true;
      current.refs--;
      if (current.refs === 0 && open.get(key) === current) {
        open.delete(key);
        const done = store.close().finally(() => closing.delete(key));
        closing.set(key, done);
        await done;
      } else {
        await store.flush().catch(() => undefined);
      }
    },
  };
}
