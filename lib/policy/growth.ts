import type { Device, InventoryStore } from '../store';

/**
 * Growth caps for what anonymous requests may create. An *unconfirmed* device is one only machines
 * have touched: status `enrolled`, nothing assigned (image, profile, boot-once), no labels, no notes.
 * When a new one would pass the cap (setting `maxUnconfirmedDevices`), the oldest unconfirmed ones
 * are removed first; an admin's device is never evicted.
 */
export const DEFAULT_MAX_UNCONFIRMED = 1000;

export function isUnconfirmed(d: Device): boolean {
  return d.status === 'enrolled' && !d.imageId && !d.profileId && !d.bootOnce && Object.keys(d.labels ?? {}).length === 0 && !d.notes && !d.ipReservation;
}

type GrowthStore = Pick<InventoryStore, 'devices'> & Partial<Pick<InventoryStore, 'getSettings' | 'appendEvent'>>;

/** Makes room for one more unconfirmed device; returns the MACs it removed (oldest first). */
export async function makeRoomForUnconfirmed(store: GrowthStore, cap?: number): Promise<string[]> {
  const max = cap ?? ((await store.getSettings?.()) as { maxUnconfirmedDevices?: number } | undefined)?.maxUnconfirmedDevices ?? DEFAULT_MAX_UNCONFIRMED;
  const unconfirmed: Device[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await store.devices.list({ filter: { status: 'enrolled' }, offset, limit: 1000 });
    unconfirmed.push(...page.items.filter(isUnconfirmed));
    if (offset + page.items.length >= page.total || page.items.length === 0) break;
  }
  const excess = unconfirmed.length - max + 1;
  if (excess <= 0) return [];
  const oldest = unconfirmed.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).slice(0, excess);
  for (const d of oldest) {
    await store.devices.remove(d.mac);
    await store.appendEvent?.({ type: 'device.evicted', mac: d.mac, message: `removed: more than ${max} unconfirmed devices, and this was the oldest` });
  }
  return oldest.map((d) => d.mac);
}
