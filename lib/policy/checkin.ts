import { NetbootError } from '../core/errors';
import type { Device, Group, Image, InventoryStore, Profile } from '../store';
import { matchGroup } from './group-match';
import { cachedGroups } from './groups-cache';
export { matchGroup } from './group-match';
import { parseFacts, type MachineFacts } from './facts';
import { makeRoomForUnconfirmed } from './growth';

/**
 * The boot policy: machine facts → the device, its group, what it boots, and which of the
 * check-in node's three outputs the message takes. Pure apart from the store it is given.
 *
 * Order of precedence for a known device:
 *   1. a boot-once override (`device.bootOnce`), when enabled; it is cleared as it is used;
 *   2. the device's own image / profile;
 *   3. the image / profile of its group (most specific matching selector, else the default group);
 *   4. nothing: show the menu.
 * A profile together with an image means "install onto that image": the iPXE renderer attaches
 * the iSCSI disk (`sanhook`) before starting the profile.
 */
export type CheckInAction = 'boot_image' | 'boot_profile' | 'show_menu' | 'local' | 'register';

/** 1: known with an image or profile; 2: known without one; 3: unknown. */
export type CheckInOutput = 1 | 2 | 3;

export interface CheckInDecision {
  action: CheckInAction;
  output: CheckInOutput;
  known: boolean;
  /** Where the assignment came from. */
  source: 'bootOnce' | 'device' | 'group' | 'site' | 'none';
  imageId?: string;
  profileId?: string;
  /** True when this check-in created the device (register unknown). */
  registered?: boolean;
  /** True when a boot-once override was used (and cleared). */
  bootOnce?: boolean;
  /** True when the input carried no identifier at all (no MAC, UUID, serial or service tag). */
  anonymous?: boolean;
  /** Set when the machine is pinned to another site: that site's servers boot it, this one only sends it to its disk. */
  pinnedTo?: string;
}

export interface CheckInResult {
  device?: Device;
  group?: Group;
  profile?: Profile;
  image?: Image;
  /** Kernel parameters: the group's `params` under the device's `paramsOverride` (null removes). */
  params: Record<string, string | null>;
  decision: CheckInDecision;
  facts: MachineFacts;
  /** Facts of a known device that differ from what it reported before (each also a boot event). */
  changes?: FactChange[];
  /** Unconfirmed devices removed to make room for this one (growth cap). */
  evicted?: string[];
}

export interface FactChange {
  field: 'arch' | 'firmware';
  from: string;
  to: string;
}

export interface CheckInOptions {
  /** Create unknown machines in the inventory with status `enrolled`. */
  registerUnknown?: boolean;
  /** Honour `device.bootOnce` and clear it. Default true. */
  useBootOnce?: boolean;
  /** Record the check-in (last seen, IP, arch) on the device. Default true. */
  touch?: boolean;
  /**
   * Where the facts come from. `http`: an anonymous request (docs/security.md): the IP is the
   * connection's, a given MAC is the only key when present, and arch, firmware and host name are
   * kept as `device.reported`, never in the selector fields. `trusted` (default): a DHCP packet or
   * TFTP path through the flow, which may set arch and firmware.
   */
  source?: 'http' | 'trusted';
  /** This boot server's site: a machine pinned to another site is sent to its local disk, nothing else. */
  site?: string;
}

type CheckInStore = Pick<InventoryStore, 'devices' | 'groups' | 'images' | 'profiles'> & Partial<Pick<InventoryStore, 'appendEvent' | 'getSettings'>>;

/** Query keys a client may not use to claim an address: the connection's own address counts. */
const CLAIMED_IP_KEYS = ['ip', 'clientIp'];

// ---------------------------------------------------------------------------------------------

async function lookup<T>(what: string, id: string | null | undefined, get: (id: string) => Promise<T | undefined>): Promise<T | undefined> {
  if (!id) return undefined;
  const rec = await get(id);
  if (!rec) throw new NetbootError('not_found', `check-in: the assigned ${what} "${id}" does not exist`, { field: `${what}Id`, id });
  return rec;
}

/**
 * One check-in: find the machine, record it, decide. `input` is anything `parseFacts` accepts;
 * it needs at least one identifier (MAC, UUID, Pi serial, service tag).
 */
export async function checkIn(store: CheckInStore, input: unknown, opts: CheckInOptions = {}, extra: { ip?: string; filename?: string } = {}): Promise<CheckInResult> {
  const http = opts.source === 'http';
  let given = input;
  if (http && input && typeof input === 'object' && !Array.isArray(input)) {
    given = Object.fromEntries(Object.entries(input).filter(([k]) => !CLAIMED_IP_KEYS.includes(k)));
  }
  const facts = parseFacts(given, extra);
  if (!facts.mac && !facts.uuid && !facts.serial && !facts.serviceTag) {
    // nothing to look up: an anonymous request is treated as unknown (the iPXE renderer then asks
    // iPXE to send its identity); a malformed identifier was already an error in parseFacts
    return { params: {}, facts, decision: { action: 'show_menu', output: 3, known: false, source: 'none', anonymous: true } };
  }
  // over HTTP a MAC, when given, is the only key: another device's UUID or serial finds nothing
  let device = await store.devices.find(http && facts.mac ? { mac: facts.mac } : { mac: facts.mac, uuid: facts.uuid, serial: facts.serial, serviceTag: facts.serviceTag });
  const known = device !== undefined;
  let registered = false;
  let evicted: string[] = [];

  if (!device && opts.registerUnknown && facts.mac) {
    // an identifier another device holds is not copied onto the new one
    const free = async (keys: { uuid?: string; serial?: string; serviceTag?: string }) => !(await store.devices.find(keys));
    evicted = await makeRoomForUnconfirmed(store);
    device = await store.devices.create({
      mac: facts.mac,
      status: 'enrolled',
      ...(facts.uuid && await free({ uuid: facts.uuid }) ? { uuid: facts.uuid } : {}),
      ...(facts.serial && await free({ serial: facts.serial }) ? { serial: facts.serial } : {}),
      ...(facts.serviceTag && await free({ serviceTag: facts.serviceTag }) ? { serviceTag: facts.serviceTag } : {}),
      ...(facts.hostname ? { hostname: facts.hostname } : {}),
      ...(facts.deviceType !== 'other' ? { labels: { 'device-type': facts.deviceType } } : {}),
    });
    registered = true;
  }
  let changes: FactChange[] | undefined;
  if (device && opts.touch !== false) {
    const before = device;
    device = http
      ? await store.devices.touch(device.mac, { ip: facts.ip, ...(opts.site ? { site: opts.site } : {}), reported: { arch: facts.arch, firmware: facts.platform, hostname: facts.hostname } })
      : await store.devices.touch(device.mac, { ip: facts.ip, ...(opts.site ? { site: opts.site } : {}), arch: facts.arch, firmware: facts.platform, hostname: facts.hostname });
    if (known) changes = await recordChanges(store, before, facts, http, extra.ip);
  }

  if (!device || !known) {
    return {
      device,
      params: {},
      facts,
      decision: { action: 'show_menu', output: 3, known: false, source: 'none', ...(registered ? { registered } : {}) },
      ...(evicted.length ? { evicted } : {}),
    };
  }

  // pinned to another site's servers: nothing from this one but its own disk (and no boot-once spent)
  if (opts.site && device.site && device.site !== opts.site) {
    return { device, params: {}, facts, decision: { action: 'local', output: 2, known: true, source: 'site', pinnedTo: device.site } };
  }

  const matched = matchGroup(device, await cachedGroups(store));
  // the cached groups are shared: the decision carries a copy of its own
  const group = matched ? structuredClone(matched) : undefined;
  const seen = changes?.length ? { changes } : {};
  const params: Record<string, string | null> = { ...(group?.params ?? {}), ...(device.paramsOverride ?? {}) };

  const once = opts.useBootOnce !== false ? device.bootOnce : undefined;
  if (once) {
    device = await store.devices.update(device.mac, { bootOnce: null });
    const image = await lookup('image', once.imageId, (id) => store.images.get(id));
    const profile = await lookup('profile', once.profileId, (id) => store.profiles.get(id));
    const boots = once.action === 'boot_image' || once.action === 'boot_profile';
    return {
      device, group, image, profile, params, facts, ...seen,
      decision: {
        action: once.action, output: boots ? 1 : 2, known: true, source: 'bootOnce', bootOnce: true,
        ...(once.imageId ? { imageId: once.imageId } : {}), ...(once.profileId ? { profileId: once.profileId } : {}),
      },
    };
  }

  const own = Boolean(device.imageId || device.profileId);
  const from = own ? device : group;
  const source: CheckInDecision['source'] = own ? 'device' : from && (from.imageId || from.profileId) ? 'group' : 'none';
  const image = await lookup('image', from?.imageId, (id) => store.images.get(id));
  const profile = await lookup('profile', from?.profileId, (id) => store.profiles.get(id));
  if (!image && !profile) {
    return { device, group, params, facts, ...seen, decision: { action: 'show_menu', output: 2, known: true, source: 'none' } };
  }
  // an installer reported completion with this profile (lib/policy/configs.ts installDone): boot the
  // local disk from now on instead of installing again; removing the label reinstalls
  if (profile && !image && device.labels['netboot.installed'] === profile.id) {
    return { device, group, profile, params, facts, ...seen, decision: { action: 'local', output: 2, known: true, source, profileId: profile.id } };
  }
  return {
    device, group, image, profile, params, facts, ...seen,
    decision: {
      action: profile ? 'boot_profile' : 'boot_image', output: 1, known: true, source,
      ...(image ? { imageId: image.id } : {}), ...(profile ? { profileId: profile.id } : {}),
    },
  };
}

/** What differs from before (arch, firmware), each recorded as a `facts.changed` boot event. */
async function recordChanges(store: CheckInStore, before: Device, facts: MachineFacts, http: boolean, ip?: string): Promise<FactChange[]> {
  const now = { arch: facts.arch, firmware: facts.platform };
  const out: FactChange[] = [];
  for (const field of ['arch', 'firmware'] as const) {
    const from = (http ? before.reported?.[field] : undefined) ?? before[field];
    const to = now[field];
    if (from && to && from !== to) out.push({ field, from, to });
  }
  for (const c of out) {
    await store.appendEvent?.({
      type: 'facts.changed', mac: before.mac, ...(ip ? { ip: ip.replace(/^::ffff:/, '') } : {}),
      message: `${c.field} changed from ${c.from} to ${c.to}${http ? ' (reported over HTTP)' : ''}`,
      data: { ...c, source: http ? 'http' : 'trusted' },
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The check-in answer (GET /api/v1/boot/check-in)

export interface AnswerContext {
  /** Base URL of this server, e.g. http://10.0.0.5:1880. */
  baseUrl: string;
}

const MESSAGES: Record<CheckInAction, string> = {
  boot_image: 'Known device: booting its image.',
  boot_profile: 'Known device: booting its profile.',
  show_menu: 'Unknown device. Please register or select boot option.',
  local: 'Booting from the local disk.',
  register: 'Registering this device.',
};

/**
 * The JSON answer of the seed's check-in endpoint:
 * `{"action":"boot_image","image_id":…,"kernel_set":…}`, `{"action":"show_menu","device_type":…,"message":…}`,
 * plus `boot_profile`, `local` and `register`. Every answer carries `mac`, `known` and `device_type`.
 */
export function checkInAnswer(result: Pick<CheckInResult, 'decision' | 'device' | 'facts' | 'image' | 'profile'>, ctx: AnswerContext): Record<string, unknown> {
  const { decision, device, facts, image, profile } = result;
  const base = ctx.baseUrl.replace(/\/+$/, '');
  const mac = device?.mac ?? facts.mac;
  const deviceType = facts.deviceType !== 'other' ? facts.deviceType : device?.labels['device-type'] ?? 'other';
  const common = { mac: mac ?? null, known: decision.known, device_type: deviceType };
  const dashed = mac ? `?mac=${mac.replace(/:/g, '-')}` : '';
  switch (decision.action) {
    case 'boot_image':
      return {
        action: 'boot_image', ...common, image_id: image?.id ?? null,
        ...(image?.path ? { image_path: image.path } : {}),
        ...(image?.iqn ? { iqn: image.iqn } : {}),
        kernel_set: profile?.id ?? 'default',
        script_url: `${base}/boot/menu.ipxe${dashed}`,
      };
    case 'boot_profile':
      return {
        action: 'boot_profile', ...common, profile_id: profile?.id ?? null, profile_type: profile?.type ?? null,
        ...(image ? { image_id: image.id } : {}),
        kernel_set: profile?.id ?? 'default',
        script_url: `${base}/boot/${profile?.id ?? 'menu'}.ipxe${dashed}`,
      };
    case 'show_menu':
      return {
        action: 'show_menu', ...common,
        message: decision.known ? 'Known device without an image or profile. Select a boot option.' : MESSAGES.show_menu,
        menu_url: `${base}/boot/menu.ipxe${dashed}`,
        ...(decision.registered ? { registered: true } : {}),
      };
    case 'local':
      return { action: 'local', ...common, message: MESSAGES.local };
    case 'register':
      return { action: 'register', ...common, message: MESSAGES.register, register_url: `${base}/boot/register.ipxe${dashed}`, enroll_url: `${base}/api/v1/enroll` };
  }
}
