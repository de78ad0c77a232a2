import { normalizeMac } from '../core/mac';
import type { Device, Group } from '../store/schema';

/**
 * Group selectors (Matchbox style), pure and without the store, so the boot policy and the
 * dashboard (which shows each machine's group) decide group membership with one piece of code.
 */

/** Selector keys that name a device field; any other key names one of its labels. */
export const SELECTOR_KEYS = ['mac', 'uuid', 'serial', 'arch', 'serviceTag', 'hostname'] as const;

/** What a selector match needs of a device. */
export type Selectable = Pick<Device, 'mac' | 'macs' | 'labels'> & Partial<Pick<Device, 'uuid' | 'serial' | 'arch' | 'serviceTag' | 'hostname'>>;
type Grouping = Pick<Group, 'id' | 'selector' | 'isDefault'>;

function deviceValue(device: Selectable, key: string): string | undefined {
  if ((SELECTOR_KEYS as readonly string[]).includes(key)) {
    const v = (device as unknown as Record<string, unknown>)[key];
    return typeof v === 'string' ? v : undefined;
  }
  return device.labels[key];
}

export function selectorMatches(device: Selectable, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, want]) => {
    if (key === 'mac') {
      try {
        const mac = normalizeMac(want);
        return device.mac === mac || (device.macs ?? []).includes(mac);
      } catch {
        return false;
      }
    }
    const have = deviceValue(device, key);
    if (have === undefined) return false;
    return key === 'uuid' || key === 'serial' ? have.toLowerCase() === want.toLowerCase() : have === want;
  });
}

/**
 * The group of a device: among non-default groups whose every selector key equals the device's
 * field or label, the one with the most keys (ties: the lowest id); otherwise the default group.
 * A group with an empty selector matches nothing unless it is the default.
 */
export function matchGroup<G extends Grouping>(device: Selectable, groups: readonly G[]): G | undefined {
  const candidates = groups
    .filter((g) => !g.isDefault && Object.keys(g.selector).length > 0 && selectorMatches(device, g.selector))
    .sort((a, b) => Object.keys(b.selector).length - Object.keys(a.selector).length || a.id.localeCompare(b.id));
  return candidates[0] ?? groups.find((g) => g.isDefault);
}

/**
 * The labels that put a device in a group, when its selector names labels only (a selector on a
 * field such as `arch` or `mac` describes machines; it cannot be assigned). Undefined: not assignable.
 */
export function labelsForGroup(group: Pick<Group, 'selector' | 'isDefault'>): Record<string, string> | undefined {
  const keys = Object.keys(group.selector);
  if (group.isDefault || !keys.length || keys.some((k) => (SELECTOR_KEYS as readonly string[]).includes(k))) return undefined;
  return { ...group.selector };
}
