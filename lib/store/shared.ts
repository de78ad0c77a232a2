import * as path from 'node:path';
import { JsonInventoryStore, type JsonStoreOptions } from './json-store';

/**
 * One store object per file per process, shared by reference count. lowdb must not have two
 * instances on one file (they would race on the temp file), and Node-RED may create the new
 * `netboot-server` node of a redeploy before the old one has finished closing.
 */
interface Entry { store: Promise<JsonInventoryStore>; refs: number }
const open = new Map<string, Entry>();
const closing = new Map<string, Promise<void>>();

export interface SharedStoreHandle {
  store: JsonInventoryStore;
  release(): Promise<void>;
}

export async function openSharedStore(file: string, opts: JsonStoreOptions = {}): Promise<SharedStoreHandle> {
  const key = path.resolve(file);
  let entry = open.get(key);
  if (!entry) {
    // a previous instance on this file may still be writing its last changes
    await closing.get(key);
    entry = open.get(key);
  }
  if (!entry) {
    entry = { store: JsonInventoryStore.open(key, opts), refs: 0 };
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
