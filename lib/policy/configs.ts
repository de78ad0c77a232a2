import { NetbootError } from '../core/errors';
import { normalizeMac } from '../core/mac';
import { CONTENT_TYPES, renderConfig, type RenderedConfig } from '../render/config';
import type { ConfigDoc, ConfigFormat, Device, Group, InventoryStore, Profile } from '../store';
import { matchGroup } from './checkin';
import { cachedGroups } from './groups-cache';
import type { ConfigTokens } from './config-token';

/**
 * Installer configuration documents for one machine (docs/configs.md):
 *
 * - which documents: its group's `configs`, then its profile's; of each format the first wins, so a
 *   group's Talos config replaces the profile's for that group's machines;
 * - which values: `mac`, `hostname`, `ip`, `arch`, `uuid`, `serial`, `device.*`, `labels.*`,
 *   `params.*` (the profile's params, under the group's, under the device's overrides: the most
 *   specific wins, as in Matchbox), and `secrets.*` from the server's credentials;
 * - which kernel arguments point the installer at them, each URL carrying a per-boot token bound to
 *   the machine (lib/policy/config-token.ts).
 */

export interface MachineConfigs {
  device: Device;
  group?: Group;
  profile?: Profile;
  docs: ConfigDoc[];
}

export async function configsFor(store: InventoryStore, rawMac: string): Promise<MachineConfigs | undefined> {
  const mac = normalizeMac(rawMac);
  const device = await store.devices.get(mac);
  if (!device) return undefined;
  const group = matchGroup(device, await cachedGroups(store));
  const profileId = device.profileId ?? group?.profileId ?? undefined;
  const profile = profileId ? await store.profiles.get(profileId) : undefined;
  const seen = new Set<ConfigFormat>();
  const docs: ConfigDoc[] = [];
  for (const id of [...(group?.configs ?? []), ...(profile?.configs ?? [])]) {
    const doc = await store.configs.get(id);
    if (!doc || seen.has(doc.format)) continue;
    seen.add(doc.format);
    docs.push(doc);
  }
  return { device, ...(group ? { group: structuredClone(group) } : {}), ...(profile ? { profile } : {}), docs };
}

export function configValues(m: MachineConfigs, secrets: Record<string, string> = {}): Record<string, unknown> {
  const d = m.device;
  const params: Record<string, string> = {};
  for (const layer of [m.profile?.params, m.group?.params, d.paramsOverride]) {
    for (const [k, v] of Object.entries(layer ?? {})) {
      if (v === null) delete params[k];
      else params[k] = v;
    }
  }
  const hostname = d.hostname ?? `node-${d.mac.replace(/:/g, '')}`;
  return {
    mac: d.mac, macDashed: d.mac.replace(/:/g, '-'), hostname, ip: d.lastIp ?? undefined, arch: d.arch, uuid: d.uuid, serial: d.serial,
    device: { mac: d.mac, hostname, ip: d.lastIp, arch: d.arch, firmware: d.firmware, uuid: d.uuid, serial: d.serial, serviceTag: d.serviceTag },
    labels: { ...d.labels }, params, secrets: { ...secrets },
    // NoCloud's meta-data needs one: stable for the machine, new when its profile changes
    instanceId: `netboot-${d.mac.replace(/:/g, '')}-${m.profile?.id ?? 'none'}`,
  };
}

/** The base of a machine's config URLs: `<base>/boot/configs/<mac>/<token>/`. */
export function configBase(baseUrl: string, mac: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/boot/configs/${mac.replace(/:/g, '-')}/${token}/`;
}

/** The file name a format is served under in a machine's config folder. */
export const FILE_OF: Record<ConfigFormat, string> = {
  'cloud-config': 'user-data', autoinstall: 'user-data', 'meta-data': 'meta-data', 'vendor-data': 'vendor-data',
  preseed: 'preseed.cfg', kickstart: 'ks.cfg', talos: 'talos.yaml', ignition: 'config.ign', butane: 'config.ign', text: 'config.txt',
};

/**
 * Kernel arguments that point each installer at its document (an empty object when there is none):
 * cloud-init / autoinstall `ds=nocloud-net;s=<base>` (plus `autoinstall`), preseed
 * `auto=true priority=critical url=…`, Kickstart `inst.ks=…`, Talos `talos.config=…`, Ignition
 * `ignition.config.url=… ignition.platform.id=metal`.
 */
export function configKernelArgs(docs: readonly ConfigDoc[], base: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const doc of docs) {
    const url = `${base}${FILE_OF[doc.format]}`;
    switch (doc.format) {
      case 'cloud-config': case 'vendor-data': case 'meta-data':
        out.ds = `nocloud-net;s=${base}`;
        break;
      case 'autoinstall':
        out.ds = `nocloud-net;s=${base}`;
        out.autoinstall = '';
        break;
      case 'preseed':
        Object.assign(out, { auto: 'true', priority: 'critical', url });
        break;
      case 'kickstart':
        out['inst.ks'] = url;
        break;
      case 'talos':
        out['talos.config'] = url;
        break;
      case 'ignition':
      case 'butane':
        Object.assign(out, { 'ignition.config.url': url, 'ignition.platform.id': 'metal', 'ignition.firstboot': '' });
        break;
      default:
        break;
    }
  }
  return out;
}

/** The kernel arguments of a machine's script, with a fresh token bound to it (and its address). */
export async function scriptConfigArgs(store: InventoryStore, tokens: ConfigTokens | undefined, baseUrl: string, mac: string | undefined, ip: string | undefined): Promise<Record<string, string>> {
  if (!tokens || !mac) return {};
  const m = await configsFor(store, mac);
  if (!m?.docs.length) return {};
  return configKernelArgs(m.docs, configBase(baseUrl, m.device.mac, tokens.issue(m.device.mac, ip)));
}

export interface ConfigRequest {
  mac: string;
  token: string;
  file: string;
  ip?: string;
}

export type ConfigAnswer =
  | { ok: true; mac: string; file: string; format?: ConfigFormat; rendered: RenderedConfig }
  | { ok: false; status: 403 | 404; mac: string; reason: string };

/**
 * Answers one config request: the token must be this machine's and current (403 otherwise, with the
 * reason for the audit trail, never in the answer); the file is one of its documents (404), or
 * NoCloud's `meta-data`/`vendor-data`, which exist for every machine with a cloud-config.
 */
export async function answerConfig(store: InventoryStore, tokens: ConfigTokens, req: ConfigRequest, secrets: Record<string, string> = {}): Promise<ConfigAnswer> {
  let mac: string;
  try {
    mac = normalizeMac(req.mac);
  } catch {
    return { ok: false, status: 404, mac: req.mac, reason: 'not a MAC address' };
  }
  const check = tokens.check(req.token, mac, req.ip);
  if (!check.ok) return { ok: false, status: 403, mac, reason: `token refused (${check.reason})` };
  const m = await configsFor(store, mac);
  if (!m) return { ok: false, status: 403, mac, reason: 'machine not in the inventory' };
  const values = configValues(m, secrets);
  const doc = m.docs.find((d) => FILE_OF[d.format] === req.file && !(req.file === 'user-data' && d.format === 'meta-data'));
  if (doc) return { ok: true, mac, file: req.file, format: doc.format, rendered: renderConfig(doc, values) };
  const nocloud = m.docs.some((d) => d.format === 'cloud-config' || d.format === 'autoinstall');
  if (nocloud && req.file === 'meta-data') {
    // NoCloud needs meta-data; without a document of its own, the minimum cloud-init accepts
    const text = `instance-id: ${JSON.stringify(values.instanceId)}\nlocal-hostname: ${JSON.stringify(values.hostname)}\n`;
    return { ok: true, mac, file: req.file, format: 'meta-data', rendered: { text, containsSecret: false, contentType: CONTENT_TYPES['meta-data'] } };
  }
  if (nocloud && req.file === 'vendor-data') return { ok: true, mac, file: req.file, format: 'vendor-data', rendered: { text: '#cloud-config\n{}\n', containsSecret: false, contentType: CONTENT_TYPES['vendor-data'] } };
  return { ok: false, status: 404, mac, reason: `no "${req.file}" for this machine` };
}

/**
 * An installer said it finished (cloud-init phone_home, a Kickstart %post or preseed late_command
 * POST): the device becomes `ready` and, with `localNext`, gets the label `netboot.installed` =
 * the profile it installed, which check-in reads as "boot the local disk" while that profile is still
 * the one it would boot; so it never reinstalls in a loop, and removing the label reinstalls it.
 * The token must be the machine's.
 */
export async function installDone(store: InventoryStore, tokens: ConfigTokens, req: { mac: string; token: string; ip?: string }, localNext = true): Promise<{ ok: true; device: Device } | { ok: false; status: 403; reason: string }> {
  let mac: string;
  try {
    mac = normalizeMac(req.mac);
  } catch {
    return { ok: false, status: 403, reason: 'not a MAC address' };
  }
  const check = tokens.check(req.token, mac, req.ip);
  if (!check.ok) return { ok: false, status: 403, reason: `token refused (${check.reason})` };
  const device = await store.devices.get(mac);
  if (!device) return { ok: false, status: 403, reason: 'machine not in the inventory' };
  // the profile it installed: its own, else its group's
  const m = await configsFor(store, mac);
  const installed = m?.profile?.id;
  const patch: Parameters<InventoryStore['devices']['update']>[1] = { status: 'ready', bootOnce: null };
  if (localNext && installed) patch.labels = { ...device.labels, 'netboot.installed': installed };
  const updated = await store.devices.update(mac, patch);
  await store.appendEvent({ type: 'config.installed', mac, ...(req.ip ? { ip: req.ip } : {}), message: `installed${installed ? ` (profile ${installed})` : ''}: status ready${localNext && installed ? ', next boots from the local disk (remove the label netboot.installed to install again)' : ''}` }).catch(() => undefined);
  return { ok: true, device: updated };
}

export function assertConfigFile(file: string): void {
  if (!/^[a-z0-9][a-z0-9.-]{0,31}$/.test(file)) throw new NetbootError('validation', `"${file}" is not a config file name`, { field: 'file' });
}
