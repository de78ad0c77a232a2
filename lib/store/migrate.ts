import { NetbootError } from '../core/errors';
import { emptyInventory, SCHEMA_VERSION, type InventoryData } from './schema';

/**
 * Brings a parsed inventory file up to `SCHEMA_VERSION`. Each step takes the document of version
 * N and returns version N+1; a file from a newer program is refused rather than guessed at.
 */
const steps: Record<number, (doc: Record<string, unknown>) => Record<string, unknown>> = {
  // 0 → 1: files written before the version field existed; fill in what is missing.
  0: (doc) => ({ ...emptyInventory(), events: [], ...doc, schemaVersion: 1 }),
  // 1 → 2: finished boots are kept per device (the metrics timeline survives a restart)
  1: (doc) => ({ ...doc, boots: Array.isArray(doc.boots) ? doc.boots : [], schemaVersion: 2 }),
  // 2 → 3: events move to their own append-only file; the store imports `events` and drops them
  2: (doc) => ({ ...doc, schemaVersion: 3 }),
};

export function migrate(raw: unknown, file: string): { data: InventoryData; from: number } {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new NetbootError('store_corrupt', `inventory ${file}: top level must be an object`, { file });
  }
  let doc = raw as Record<string, unknown>;
  const from = typeof doc.schemaVersion === 'number' ? doc.schemaVersion : 0;
  if (!Number.isInteger(from) || from < 0) throw new NetbootError('store_corrupt', `inventory ${file}: bad schemaVersion ${String(doc.schemaVersion)}`, { file });
  if (from > SCHEMA_VERSION) {
    throw new NetbootError('store_corrupt', `inventory ${file} has schema version ${from}, newer than this program's ${SCHEMA_VERSION}: upgrade the package instead of running an older one on it`, { file, version: from });
  }
  for (let v = from; v < SCHEMA_VERSION; v++) doc = steps[v](doc);
  for (const key of ['devices', 'images', 'profiles', 'groups', 'sessions', 'boots'] as const) {
    if (!Array.isArray(doc[key])) throw new NetbootError('store_corrupt', `inventory ${file}: "${key}" must be an array`, { file, field: key });
  }
  // collections added within schema 3 (config documents, builds): absent in files written before them
  for (const key of ['configs', 'builds'] as const) {
    if (doc[key] === undefined) doc[key] = [];
    else if (!Array.isArray(doc[key])) throw new NetbootError('store_corrupt', `inventory ${file}: "${key}" must be an array`, { file, field: key });
  }
  return { data: doc as unknown as InventoryData, from };
}
