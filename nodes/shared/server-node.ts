import type { BootServer, BootServerState } from '../../lib/server/boot-server';
import type { Node, NodeStatus, RED } from './red';

/** A node that uses this server (netboot-listen and others) and shows its status. */
export interface ServerUser {
  id: string;
  status(s: NodeStatus): void;
}

export interface NetbootServerNode extends Node {
  bootServer?: BootServer;
  configError?: string;
  register(user: ServerUser): void;
  deregister(user: ServerUser, done?: () => void): void;
}

/** The closed status vocabulary: listening, error, stopped. */
export function statusFor(RED: RED, state: BootServerState | undefined, configError?: string): NodeStatus {
  if (configError) return { fill: 'red', shape: 'ring', text: RED._('netboot-server.status.error', { error: configError }) };
  if (!state) return { fill: 'grey', shape: 'ring', text: RED._('netboot-server.status.stopped') };
  const failed = state.ports.filter((p) => p.state === 'failed' && !p.optional);
  if (state.store === 'failed' || failed.length) {
    const what = [...failed.map((p) => `${p.purpose} ${p.port}`), ...(state.store === 'failed' ? ['inventory'] : [])].join(', ');
    return { fill: 'red', shape: 'dot', text: RED._('netboot-server.status.failed', { what }) };
  }
  const ports = state.ports.filter((p) => p.state === 'listening').map((p) => `${p.purpose} ${p.boundPort}`).join(', ');
  return { fill: 'green', shape: 'dot', text: RED._('netboot-server.status.listening', { ports: ports || '-' }) };
}

