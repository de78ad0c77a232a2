import type { ProxmoxSyncResult, ProxmoxSync } from '../../lib/proxmox/sync';
import type { Node } from '../shared/red';

/** The netboot-proxmox config node as the netboot-proxmox-vm node and the admin API see it. */
export interface ProxmoxConfigNode extends Node {
  /** Syncs now (the schedule goes on). */
  syncNow(): Promise<ProxmoxSyncResult>;
  proxmox(): ProxmoxSync;
  lastSync?: { at: string; result?: ProxmoxSyncResult; error?: string };
}

/** The deployed netboot-proxmox nodes (the admin API's /proxmox routes use them). */
export const PROXMOX_CLUSTERS = new Set<ProxmoxConfigNode>();
