import { NetbootError } from '../../lib/errors';
import type { BootServer } from '../../lib/boot-server';

/**
 * The boot servers deployed in this Node-RED runtime, for the admin routes (which are mounted
 * once per runtime, not per node). One instance per runtime, created in the node module's init.
 */
export class ServerRegistry {
  private readonly servers = new Map<string, BootServer>();

  add(id: string, server: BootServer): void {
    this.servers.set(id, server);
  }

  remove(id: string, server: BootServer): void {
    if (this.servers.get(id) === server) this.servers.delete(id);
  }

  /** The only (or first) deployed server whose store is open. */
  active(): BootServer {
    for (const server of this.servers.values()) if (server.store) return server;
    if (this.servers.size) throw new NetbootError('store_io', 'the netboot-server node has no open inventory (see its error in the log)');
    throw new NetbootError('store_io', 'no netboot-server node is deployed: add one (or deploy the reference flow) first');
  }
}
