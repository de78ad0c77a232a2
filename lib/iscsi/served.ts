import type { Image, InventoryStore } from '../store';
import type { DiskFiles } from './disks';
import type { TgtAdmin } from './tgtadm';

/** True for an image this service serves (an iSCSI disk file here, not a target elsewhere). */
export function isServedImage(image: Image): boolean {
  return image.kind === 'iscsi' && typeof image.path === 'string' && image.path !== '' && image.targetHost === undefined;
}

export interface DiskTarget {
  image: string;
  name: string;
  iqn: string;
  lun: number;
  path: string;
  sizeBytes?: number;
  allocatedBytes?: number;
  /** The root path machines sanboot (RFC 4173). */
  uri: string;
  linked: string[];
  acl: string[];
  sessions: Array<{ initiator: string; addresses: string[] }>;
  state: 'ready' | 'missing-disk' | 'not-served';
}

/** What the diskless sessions (sessions.ts) use of the iSCSI service (service.ts), so neither imports the other's class. */
export interface SessionHost {
  readonly store: InventoryStore;
  readonly disks: DiskFiles;
  readonly admin: TgtAdmin;
  readonly iqnPrefix: string;
  readonly status: { state: string; error?: string; problems: Array<{ image: string; reason: string }> };
  sync(): Promise<unknown>;
  target(id: string): Promise<DiskTarget>;
}
