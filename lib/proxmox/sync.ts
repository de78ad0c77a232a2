import { NetbootError } from '../core/errors';
import { normalizeMac } from '../core/mac';
import type { Device, InventoryStore } from '../store';
import { POWER_ACTIONS, type PowerAction, type ProxmoxClient } from './client';

/**
 * Pre-registers a Proxmox VE cluster's VMs as devices, so a new VM boots its role without anyone
 * copying its MAC: each QEMU VM with a network card becomes (or updates) the device of its first
 * card's MAC, its other cards in `macs`, with labels a group can select on:
 *
 *   proxmox.cluster = <host of the API URL>   proxmox.vmid = 101   proxmox.node = pve1
 *   proxmox.name = web-1                       proxmox.tag.<tag> = true   (one per Proxmox tag)
 *
 * A device this sync created carries `proxmox.created = true`; only such devices are removed when
 * their VM is gone. A device that existed before only gets (and loses) the `proxmox.*` labels. A
 * failed or empty listing removes nothing (a token without VM.Audit sees an empty cluster).
 */

export interface ProxmoxVm {
  vmid: number;
  node: string;
  name?: string;
  status?: string;
  tags: string[];
  macs: string[];
  uuid?: string;
}

export interface ProxmoxSyncResult {
  vms: number;
  created: string[];
  updated: string[];
  removed: string[];
  unchanged: number;
  skipped: Array<{ vmid: number; reason: string }>;
}

const NET_KEY = /^net(\d+)$/;
const MAC_RE = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/;
const LABEL_VALUE_MAX = 256;

/** The MACs of a VM configuration's `net0`…`netN` (`virtio=BC:24:11:2E:4F:01,bridge=vmbr0,…`), in card order. */
export function macsOf(config: Record<string, unknown>): string[] {
  const cards: Array<[number, string]> = [];
  for (const [key, value] of Object.entries(config)) {
    const n = NET_KEY.exec(key);
    if (!n || typeof value !== 'string') continue;
    for (const part of value.split(',')) {
      const [, v] = part.split('=');
      if (v && MAC_RE.test(v)) {
        cards.push([Number(n[1]), normalizeMac(v)]);
        break;
      }
    }
  }
  return cards.sort((a, b) => a[0] - b[0]).map(([, mac]) => mac);
}

/** The SMBIOS UUID Proxmox gives the VM (`smbios1: uuid=…`). */
export function uuidOf(config: Record<string, unknown>): string | undefined {
  const s = typeof config.smbios1 === 'string' ? config.smbios1 : '';
  const m = /(?:^|,)uuid=([0-9a-fA-F-]{36})(?:,|$)/.exec(s);
  return m ? m[1].toLowerCase() : undefined;
}

/** Proxmox tags (`a;b`, also `,` or spaces) as label-safe names. */
export function tagsOf(value: unknown): string[] {
  if (typeof value !== 'string') return [];
  return [...new Set(value.split(/[;,\s]+/).map((t) => t.trim().toLowerCase()).filter((t) => /^[a-z0-9][a-z0-9._-]{0,40}$/.test(t)))];
}

export function labelsFor(vm: ProxmoxVm, cluster: string): Record<string, string> {
  const out: Record<string, string> = { 'proxmox.cluster': cluster, 'proxmox.vmid': String(vm.vmid), 'proxmox.node': vm.node.slice(0, LABEL_VALUE_MAX) };
  if (vm.name) out['proxmox.name'] = vm.name.slice(0, LABEL_VALUE_MAX);
  for (const t of vm.tags) out[`proxmox.tag.${t}`] = 'true';
  return out;
}

function hostnameOf(name: string | undefined): string | undefined {
  return name && /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(name) ? name : undefined;
}

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

async function allDevices(store: InventoryStore, filter: Record<string, string>): Promise<Device[]> {
  const out: Device[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = await store.devices.list({ offset, limit: 500, filter });
    out.push(...page.items);
    if (page.items.length === 0 || out.length >= page.total) return out;
  }
}

export class ProxmoxSync {
  /** The label value that tells this cluster's devices from another's. */
  readonly cluster: string;

  constructor(private readonly client: ProxmoxClient, private readonly store: InventoryStore, private readonly opts: { log?: { info(m: string): void; warn(m: string): void } } = {}) {
    this.cluster = new URL(client.origin).host;
  }

  /** Every QEMU VM with its network cards, read from the cluster. */
  async discover(): Promise<{ vms: ProxmoxVm[]; skipped: ProxmoxSyncResult['skipped'] }> {
    const rows = (await this.client.vms()).filter((r) => r.template !== 1);
    const skipped: ProxmoxSyncResult['skipped'] = [];
    const vms = await pool(rows, 8, async (r) => {
      const config = await this.client.config(r.node, r.vmid);
      const macs = macsOf(config);
      if (!macs.length) skipped.push({ vmid: r.vmid, reason: 'no network card with a MAC' });
      const name = typeof config.name === 'string' ? config.name : r.name;
      return { vmid: r.vmid, node: r.node, ...(name ? { name } : {}), ...(r.status ? { status: r.status } : {}), tags: tagsOf(config.tags ?? r.tags), macs, ...(uuidOf(config) ? { uuid: uuidOf(config) } : {}) } as ProxmoxVm;
    });
    return { vms: vms.filter((v) => v.macs.length > 0), skipped };
  }

  /** Brings the inventory in line with the cluster (see the file comment). */
  async sync(): Promise<ProxmoxSyncResult> {
    const { vms, skipped } = await this.discover();
    const result: ProxmoxSyncResult = { vms: vms.length, created: [], updated: [], removed: [], unchanged: 0, skipped };
    const seen = new Set<string>();
    for (const vm of vms) {
      const labels = labelsFor(vm, this.cluster);
      let device: Device | undefined;
      for (const mac of vm.macs) {
        device = await this.store.devices.find({ mac });
        if (device) break;
      }
      if (!device) {
        const hostname = hostnameOf(vm.name);
        const created = await this.store.devices.create({
          mac: vm.macs[0], macs: vm.macs.slice(1), ...(hostname ? { hostname } : {}), ...(vm.uuid ? { uuid: vm.uuid } : {}),
          labels: { ...labels, 'proxmox.created': 'true' },
        });
        result.created.push(created.mac);
        seen.add(created.mac);
        continue;
      }
      seen.add(device.mac);
      const keep = Object.fromEntries(Object.entries(device.labels).filter(([k]) => !k.startsWith('proxmox.') || k === 'proxmox.created'));
      const next = { ...keep, ...labels };
      if (JSON.stringify(Object.entries(next).sort()) === JSON.stringify(Object.entries(device.labels).sort())) {
        result.unchanged++;
        continue;
      }
      await this.store.devices.update(device.mac, { labels: next });
      result.updated.push(device.mac);
    }
    // devices of this cluster whose VM is gone
    const ours = await allDevices(this.store, { 'label.proxmox.cluster': this.cluster });
    const gone = ours.filter((d) => !seen.has(d.mac));
    if (gone.length && vms.length === 0) {
      this.opts.log?.warn(`Proxmox ${this.cluster}: the cluster lists no VM; keeping its ${gone.length} devices (does the token have VM.Audit?)`);
    } else {
      for (const d of gone) {
        if (d.labels['proxmox.created'] === 'true') {
          await this.store.devices.remove(d.mac);
          result.removed.push(d.mac);
        } else {
          await this.store.devices.update(d.mac, { labels: Object.fromEntries(Object.entries(d.labels).filter(([k]) => !k.startsWith('proxmox.'))) });
          result.updated.push(d.mac);
        }
      }
    }
    this.opts.log?.info(`Proxmox ${this.cluster}: ${vms.length} VMs; ${result.created.length} devices created, ${result.updated.length} updated, ${result.removed.length} removed`);
    return result;
  }

  /**
   * Powers the VM of a device (by MAC) or a VM id. The VM's node is looked up at the time (VMs
   * migrate), not taken from the labels.
   */
  async power(target: { mac?: string; vmid?: number }, action: PowerAction): Promise<{ vmid: number; node: string; action: PowerAction; task: string }> {
    if (!POWER_ACTIONS.includes(action)) throw new NetbootError('validation', `field "action": "${String(action)}" is not one of ${POWER_ACTIONS.join(', ')}`, { field: 'action' });
    let vmid = target.vmid;
    if (vmid === undefined) {
      if (!target.mac) throw new NetbootError('validation', 'name the VM: "mac" (a device synced from Proxmox) or "vmid"', { field: 'mac' });
      const device = await this.store.devices.find({ mac: normalizeMac(target.mac) });
      const v = device?.labels['proxmox.vmid'];
      if (!device || !v || device.labels['proxmox.cluster'] !== this.cluster) throw new NetbootError('not_found', `machine ${target.mac} is not a VM of Proxmox cluster ${this.cluster} (sync first)`, { field: 'mac' });
      vmid = Number(v);
    }
    const row = (await this.client.vms()).find((r) => r.vmid === vmid);
    if (!row) throw new NetbootError('not_found', `Proxmox cluster ${this.cluster} has no VM ${vmid}`, { field: 'vmid' });
    const task = await this.client.power(row.node, row.vmid, action);
    return { vmid: row.vmid, node: row.node, action, task };
  }
}
