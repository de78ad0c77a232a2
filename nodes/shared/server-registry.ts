import { NetbootError } from '../../lib/core/errors';
import type { BootServer } from '../../lib/server/boot-server';

/**
 * The boot servers deployed in this Node-RED runtime, for the admin routes (which are mounted
 * once per runtime, not per node). One instance per runtime, created in the node module's init.
 */
export interface RegisteredServer {
  server: BootServer;
  /** Bearer token for the public Prometheus endpoint (from the node's credentials). */
  metricsToken?: string;
}

export class ServerRegistry {
  private readonly servers = new Map<string, RegisteredServer>();

  add(id: string, entry: RegisteredServer): void {
    this.servers.set(id, entry);
  }

  remove(id: string, server: BootServer): void {
    if (this.servers.get(id)?.server === server) this.servers.delete(id);
  }

  /** The only (or first) deployed server whose store is open. */
  active(): RegisteredServer {
    for (const entry of this.servers.values()) if (entry.server.store) return entry;
    if (this.servers.size) throw new NetbootError('store_io', 'the netboot-server node has no open inventory (see its error in the log)');
    throw new NetbootError('store_io', 'no netboot-server node is deployed: add one (or deploy the reference flow) first');
  }
}
