import * as path from 'node:path';
import { NetbootError } from '../core/errors';
import type { BootOverride, ClientFacts } from '../dhcp';
import { matchGroup } from './checkin';
import { cachedGroups } from './groups-cache';
import { grubBootable } from './grub-config';
import type { Device, Group, InventoryStore, Profile } from '../store';
import { resolveUnderRoot } from '../tftp';
import { peSignatureOfFile } from '../core/pe-signature';

/**
 * Which machines get the Secure Boot chain, and what may be saved for them.
 *
 * A UEFI x64 PXE client (option 93 = 7 or 9, not yet iPXE, not UEFI HTTP boot) marked `secureBoot`
 * (its device, else its group, else the server's "Secure Boot network" setting) gets the
 * Microsoft-signed shim as its boot file. shim then fetches `grubx64.efi` from the directory of the
 * BOOTP `file` header field (not option 67: the responder fills both), GRUB reads `/grub/grub.cfg`,
 * which sources the machine's own `grub.cfg-<mac>` (netboot-grub renders it), and loads a kernel that
 * must carry a signature shim trusts.
 */
export const SECURE_BOOT_FILES = { shim: 'shimx64.efi', grub: 'grubx64.efi', grubConfig: 'grub/grub.cfg' } as const;

/** A UEFI x64 firmware PXE client: the one whose firmware enforces Secure Boot on what we hand it. */
export function isUefiX64Firmware(facts: Pick<ClientFacts, 'arch' | 'isIpxe' | 'isHttpBoot' | 'pi'>): boolean {
  return (facts.arch === 7 || facts.arch === 9) && !facts.isIpxe && !facts.isHttpBoot && !facts.pi;
}

/**
 * The device's own mark wins (true or false), then its group's, then the server-wide "Secure Boot
 * network" setting, which covers UEFI x64 machines only (`uefiX64`: the DHCP client is one, or the
 * device's confirmed arch is `efi-x64`).
 */
export function secureBootMarked(device: Device | undefined, group: Group | undefined, network: boolean, uefiX64 = device?.arch === 'efi-x64'): boolean {
  if (typeof device?.secureBoot === 'boolean') return device.secureBoot;
  if (typeof group?.secureBoot === 'boolean') return group.secureBoot;
  return network && uefiX64;
}

async function allOf<T>(list: (q: { offset: number; limit: number }) => Promise<{ items: T[]; total: number }>): Promise<T[]> {
  const out: T[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await list({ offset, limit: 1000 });
    out.push(...page.items);
    if (out.length >= page.total || page.items.length === 0) return out;
  }
}

/**
 * The DHCP boot answer for a Secure Boot client: shim instead of iPXE. A file the flow chose
 * (netboot-listen's DHCP decision) wins; other clients keep the flow's answer untouched.
 */
export async function secureBootOverride(facts: ClientFacts, flow: BootOverride | undefined, store: Pick<InventoryStore, 'devices' | 'groups'> | undefined, network: boolean): Promise<BootOverride | undefined> {
  if (!isUefiX64Firmware(facts) || flow?.skip || flow?.filename) return flow;
  const device = store ? await store.devices.get(facts.mac) : undefined;
  const group = device && store ? matchGroup(device, await cachedGroups(store)) : undefined;
  if (!secureBootMarked(device, group, network, true)) return flow;
  return { ...flow, filename: SECURE_BOOT_FILES.shim };
}

/**
 * Debian's signed GRUB 2.06 ignores proxyDHCP answers (measured: it stops at `grub>` with no
 * config), so in proxy mode a Secure Boot machine boots only when the router's DHCP names this
 * server as next-server (and `shimx64.efi` as the file). Said once at start and once per machine.
 */
export function proxySecureBootWarning(mac: string | undefined, serverIp: string): string {
  return `Secure Boot${mac ? ` machine ${mac}` : ' network'}: in proxy mode the signed GRUB ignores proxyDHCP answers and stops at "grub>" unless your router's DHCP sets next-server ${serverIp} and boot file ${SECURE_BOOT_FILES.shim} for it (snippets: GET /netboot/api/network-config), or run this server in full DHCP mode`;
}

/** Refuses (at save time) a profile a Secure Boot machine could not boot: GRUB-startable, kernel present and signed. */
export async function checkSecureBootProfile(profile: Pick<Profile, 'id' | 'name' | 'type' | 'kernel'>, assetsRoot: string, why: string): Promise<void> {
  const fail = (reason: string): never => {
    throw new NetbootError('validation', `profile "${profile.id}" is used by ${why}: ${reason}`, { field: 'kernel', id: profile.id });
  };
  if (!grubBootable(profile as Profile)) fail(`a ${profile.type} profile cannot be started by the Secure Boot chain (shim → GRUB boots a Linux kernel and its initrds only)`);
  const kernel = profile.kernel!;
  if (/^[a-z][a-z0-9+.-]*:/i.test(kernel)) fail(`its kernel "${kernel}" is a URL, but Debian's signed GRUB loads kernels over TFTP only: put the kernel in the boot-assets folder`);
  const rel = kernel.replace(/^\/boot\/assets\//, '').replace(/^\/+/, '');
  const found = await resolveUnderRoot(assetsRoot, rel);
  if (found.kind === 'unsafe') fail(`its kernel path "${kernel}" leaves the boot-assets folder`);
  if (found.kind === 'missing') fail(`its kernel "${kernel}" is not in the boot-assets folder (${path.join(assetsRoot, rel)}), so its signature cannot be checked`);
  const sig = await peSignatureOfFile((found as { realPath: string }).realPath);
  if (sig.kind !== 'signed') {
    fail(`its kernel "${kernel}" has no Authenticode signature (${sig.reason}); shim refuses it under Secure Boot ("bad shim signature"). Use a signed kernel, e.g. the vmlinuz of Debian's linux-image-*-amd64 package`);
  }
}

/** Who would boot `profileId` through the Secure Boot chain (a sentence for the error), or undefined. */
export async function secureBootUsers(store: Pick<InventoryStore, 'devices' | 'groups'>, profileId: string, network: boolean): Promise<string | undefined> {
  const groups = await allOf((q) => store.groups.list(q));
  for (const g of groups) if (g.profileId === profileId && g.secureBoot === true) return `group "${g.id}" (Secure Boot)`;
  for (const d of await allOf((q) => store.devices.list(q))) {
    const group = matchGroup(d, groups);
    const uses = d.profileId ? d.profileId === profileId : group?.profileId === profileId;
    if (uses && secureBootMarked(d, group, network)) return `device ${d.mac} (Secure Boot)`;
  }
  return undefined;
}

export interface SecureBootGuard {
  store: InventoryStore;
  assetsRoot: string;
  /** The server's "Secure Boot network" setting. */
  network: boolean;
}

/**
 * Save-time checks (management API): a profile, device or group change that would leave a Secure
 * Boot machine with a profile shim cannot boot is refused with the reason. `merged` is the record as
 * it would be after the change.
 */
export async function guardSecureBoot(kind: 'profiles' | 'devices' | 'groups', merged: Record<string, unknown>, g: SecureBootGuard): Promise<void> {
  if (kind === 'profiles') {
    const id = merged.id as string | undefined;
    const who = id ? await secureBootUsers(g.store, id, g.network) : undefined;
    if (who) await checkSecureBootProfile(merged as unknown as Profile, g.assetsRoot, who);
    return;
  }
  if (kind === 'groups') {
    const group = merged as unknown as Group;
    if (group.profileId && group.secureBoot === true) {
      const p = await g.store.profiles.get(group.profileId);
      if (p) await checkSecureBootProfile(p, g.assetsRoot, `group "${group.id ?? group.name}" (Secure Boot)`);
    }
    return;
  }
  const device = merged as unknown as Device;
  const group = matchGroup({ ...device, labels: device.labels ?? {}, macs: device.macs ?? [] }, await cachedGroups(g.store));
  if (!secureBootMarked(device, group, g.network)) return;
  const profileId = device.profileId ?? group?.profileId;
  const p = profileId ? await g.store.profiles.get(profileId) : undefined;
  if (p) await checkSecureBootProfile(p, g.assetsRoot, `device ${device.mac ?? ''} (Secure Boot)`.replace('  ', ' '));
}
