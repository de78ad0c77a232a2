import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Journal } from '../../lib/store/journal';
import type { InventoryData } from '../../lib/store/schema';

/** What a data folder's JSON store holds on disk: inventory.json with its journal replayed (read only). */
export function inventoryOnDisk(dir: string): InventoryData {
  const data = JSON.parse(readFileSync(path.join(dir, 'inventory.json'), 'utf8')) as InventoryData;
  const journal = path.join(dir, 'inventory.journal.jsonl');
  return Journal.applyText(data, existsSync(journal) ? readFileSync(journal, 'utf8') : '');
}

/** The raw text of the store's files (the file written whole and its journal), e.g. to look for what must not be there. */
export function inventoryFilesText(dir: string): string {
  return ['inventory.json', 'inventory.journal.jsonl'].map((f) => path.join(dir, f)).filter((f) => existsSync(f)).map((f) => readFileSync(f, 'utf8')).join('\n');
}
