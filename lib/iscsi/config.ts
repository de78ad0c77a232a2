/**
 * The netboot-iscsi node's settings as the iSCSI service's options, checked: daemon mode, ports,
 * the disks folder under the data folder, ACL entries, CHAP from the node's credentials. Like
 * lib/server/config.ts for the server: the node passes what the editor saved, errors name the field.
 */
import * as path from 'node:path';
import { NetbootError } from '../core/errors';
import { wholeNumber } from '../core/settings';
import type { DaemonMode, IscsiServiceOptions } from './service';
import type { ChapConfig } from './plan';

/** What the editor saves for a netboot-iscsi node (all text, empty = the default). */
export interface RawIscsiConfig {
  disksDir?: string;
  listen?: string;
  port?: string | number;
  controlPort?: string | number;
  daemon?: string;
  allow?: string;
  stopOnClose?: boolean | string;
  /** Minutes a diskless session may stay logged out before it stops by itself (0: never; default 10). */
  sessionIdleMinutes?: string | number;
}

export interface IscsiCredentials {
  chapUser?: string;
  chapPassword?: string;
  mutualUser?: string;
  mutualPassword?: string;
}

export const DAEMON_MODES: readonly DaemonMode[] = ['auto', 'own', 'external', 'off'];

export function daemonMode(value: unknown): DaemonMode {
  if (value === undefined || value === '') return 'auto';
  if (typeof value === 'string' && (DAEMON_MODES as readonly string[]).includes(value)) return value as DaemonMode;
  throw new NetbootError('validation', `daemon: "${String(value)}" is not one of ${DAEMON_MODES.join(', ')}`, { field: 'daemon' });
}

/** CHAP for every target: incoming (the machine proves itself), outgoing (mutual: we prove ourselves). */
export function chapFrom(cred: IscsiCredentials): ChapConfig {
  return {
    ...(cred.chapUser || cred.chapPassword ? { incoming: { user: cred.chapUser ?? '', password: cred.chapPassword ?? '' } } : {}),
    ...(cred.mutualUser || cred.mutualPassword ? { outgoing: { user: cred.mutualUser ?? '', password: cred.mutualPassword ?? '' } } : {}),
  };
}

/** The service's options for one boot server; the store and log are the caller's. */
export function resolveIscsiConfig(raw: RawIscsiConfig, server: { iqnPrefix: string; serverIp: string; dataDir: string; bind: string }, cred: IscsiCredentials = {}): Omit<IscsiServiceOptions, 'store' | 'log'> {
  return {
    iqnPrefix: server.iqnPrefix,
    advertise: server.serverIp,
    stateDir: server.dataDir,
    disksDir: path.resolve(server.dataDir, raw.disksDir || 'disks'),
    listen: raw.listen || server.bind,
    port: wholeNumber('port', raw.port, 1, 65535) ?? 3260,
    controlPort: wholeNumber('controlPort', raw.controlPort, 0, 65535) ?? 0,
    daemon: daemonMode(raw.daemon),
    allow: (raw.allow ?? '').split(/[\s,]+/).filter(Boolean),
    stopOnClose: raw.stopOnClose === true || raw.stopOnClose === 'true',
    sessionIdleStopMs: (wholeNumber('sessionIdleMinutes', raw.sessionIdleMinutes, 0, 10_080) ?? 10) * 60_000,
    chap: chapFrom(cred),
  };
}
