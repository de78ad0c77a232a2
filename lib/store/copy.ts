import { NetbootError } from '../core/errors';
import type { InventoryExport, InventoryStore } from './types';

/**
 * `netboot-store copy`: the whole inventory from one store to another (the JSON file to PostgreSQL
 * when a second boot server joins, or back), then both exported and compared. What moves: devices,
 * images, profiles, groups, sessions, config documents, settings and the kept boots. What does not:
 * the event log (history, and bounded anyway) and build records (their artifacts are files of the
 * server that built them).
 */
type Closable = InventoryStore & { close(): Promise<void> };

export interface CopyReport {
  devices: number;
  images: number;
  profiles: number;
  groups: number;
  boots: number;
  /** Fields where the target's export differs from the source's (empty: the copy is whole). */
  differences: string[];
}

/** Compares two exports, record by record; returns where they differ (`devices[aa:…]`, `settings`). */
export function compareExports(a: InventoryExport, b: InventoryExport): string[] {
  const out: string[] = [];
  const keyed = (items: Array<Record<string, unknown>>, key: string) => new Map(items.map((r) => [String(r[key]), JSON.stringify(sortKeys(r))]));
  for (const [name, key] of [['devices', 'mac'], ['images', 'id'], ['profiles', 'id'], ['groups', 'id'], ['sessions', 'id'], ['configs', 'id']] as const) {
    const x = keyed((a[name] ?? []) as unknown as Array<Record<string, unknown>>, key);
    const y = keyed((b[name] ?? []) as unknown as Array<Record<string, unknown>>, key);
    for (const id of new Set([...x.keys(), ...y.keys()])) if (x.get(id) !== y.get(id)) out.push(`${name}[${id}]`);
  }
  if (JSON.stringify(sortKeys(a.settings)) !== JSON.stringify(sortKeys(b.settings))) out.push('settings');
  return out;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}

/** Copies `from` into `to` (which must be empty unless `replace`), then checks both exports match. */
export async function copyInventory(from: Closable, to: Closable, opts: { replace?: boolean } = {}): Promise<CopyReport> {
  const existing = await to.exportAll();
  const filled = existing.devices.length + existing.images.length + existing.profiles.length + existing.groups.length;
  if (filled && !opts.replace) throw new NetbootError('conflict', `the target already holds ${existing.devices.length} devices and ${filled - existing.devices.length} other records: copy into an empty store, or pass --replace`, { field: 'to' });
  const doc = await from.exportAll();
  const counts = await to.importAll(doc, 'replace', { keepReported: true });
  const boots = await from.bootsSince(0);
  for (const b of boots) await to.recordBoot(b);
  const differences = compareExports(doc, await to.exportAll());
  return { ...counts, boots: boots.length, differences };
}
