/**
 * The groups a check-in matches against are read once and kept until the store announces a change
 * to groups: a new group, an edited selector and a removed group all count at the next check-in,
 * and a list overtaken by a change while it was read is not kept.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkIn } from '../../../lib/policy/checkin';
import { cachedGroups } from '../../../lib/policy/groups-cache';
import { JsonInventoryStore } from '../../../lib/store';

describe('cached groups', () => {
  let dir: string;
  let store: JsonInventoryStore;
  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-groups-cache-'));
    store = await JsonInventoryStore.open(path.join(dir, 'inventory.json'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the groups once, and again after each change to them', async () => {
    let lists = 0;
    const counting = Object.create(store) as JsonInventoryStore;
    Object.defineProperty(counting, 'groups', { value: { ...store.groups, list: (q: Parameters<typeof store.groups.list>[0]) => (lists++, store.groups.list(q)) } });
    await store.groups.create({ id: 'rack1', name: 'rack 1', selector: { rack: '1' } });
    expect((await cachedGroups(counting)).map((g) => g.id)).toEqual(['rack1']);
    await cachedGroups(counting);
    expect(lists).toBe(1);
    await store.groups.update('rack1', { selector: { rack: '2' } });
    expect((await cachedGroups(counting)).map((g) => g.selector)).toEqual([{ rack: '2' }]);
    expect(lists).toBe(2);
    // a change elsewhere is not a reason to read them again
    await store.devices.create({ mac: '02:00:00:00:00:09' });
    await cachedGroups(counting);
    expect(lists).toBe(2);
  });

  it('a check-in sees a group created, edited and removed since the last one', async () => {
    await store.profiles.create({ id: 'p1', name: 'one', type: 'custom', kernel: 'k1' });
    await store.profiles.create({ id: 'p2', name: 'two', type: 'custom', kernel: 'k2' });
    await store.devices.create({ mac: '02:00:00:00:00:01', labels: { rack: '1' } });
    const profileOf = async () => (await checkIn(store, { mac: '02:00:00:00:00:01' })).profile?.id;
    expect(await profileOf()).toBeUndefined();
    await store.groups.create({ id: 'rack1', name: 'rack 1', selector: { rack: '1' }, profileId: 'p1' });
    expect(await profileOf()).toBe('p1');
    await store.groups.update('rack1', { profileId: 'p2' });
    expect(await profileOf()).toBe('p2');
    // the decision's group is its own copy: changing it changes nothing kept
    const r = await checkIn(store, { mac: '02:00:00:00:00:01' });
    r.group!.profileId = 'p1';
    expect(await profileOf()).toBe('p2');
    await store.groups.remove('rack1');
    expect(await profileOf()).toBeUndefined();
  });
});
