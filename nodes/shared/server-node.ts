import type { BootServer, BootServerState } from '../../lib/server/boot-server';
import type { Node, NodeStatus, RED } from './red';

/**
 * A node that uses this server (the mqtt-broker pattern): it registers on start and deregisters on
 * close. `status` shows the server's status (nodes with no status of their own); `ready` is called
 * once the server's inventory is open (at once when it already is), e.g. to start the iSCSI service.
 */
export interface ServerUser {
  id: string;
  status?(s: NodeStatus): void;
  ready?(server: BootServer): void;
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
  if (state.store === 'read-only') return { fill: 'red', shape: 'ring', text: RED._('netboot-server.status.readOnly') };
  const net = state.network;
  if (net?.problem) return { fill: 'red', shape: 'ring', text: RED._('netboot-server.status.addressGone', { ip: net.advertised }) };
  const ports = state.ports.filter((p) => p.state === 'listening').map((p) => `${p.purpose} ${p.boundPort}`).join(', ');
  // the address moved since start (a DHCP renewal): say so, the machines follow from the next request
  const moved = net?.lastChange?.kind === 'address-changed' ? net.lastChange : undefined;
  // a PC class the reference flow serves cannot boot: say so on the node (the log and the API have the fix)
  const cannot = (state.bootPrograms ?? []).filter((c) => !c.ready && (c.id === 'bios' || c.id === 'uefi-x64')).map((c) => c.label);
  if (cannot.length) return { fill: 'yellow', shape: 'dot', text: RED._('netboot-server.status.cannotBoot', { ports: ports || '-', classes: cannot.join(', ') }) };
  if (moved) return { fill: 'green', shape: 'dot', text: RED._('netboot-server.status.moved', { ip: net!.advertised, previous: moved.previous, ports: ports || '-' }) };
  return { fill: 'green', shape: 'dot', text: RED._('netboot-server.status.listening', { ports: ports || '-' }) };
}

