import { ProxmoxClient } from '../../lib/proxmox/client';
import { ProxmoxSync, type ProxmoxSyncResult } from '../../lib/proxmox/sync';
import { bootServerOf } from '../shared/boot-input';
import type { Node, NodeDef, RED } from '../shared/red';
import type { NetbootServerNode } from '../shared/server-node';
import { PROXMOX_CLUSTERS, type ProxmoxConfigNode } from './types';

interface ProxmoxDef extends NodeDef {
  server: string;
  url: string;
  tokenId: string;
  verifyTls?: boolean | string;
  ca?: string;
  /** Minutes between syncs (0: only on demand; default 10). */
  syncMinutes?: string | number;
}


/**
 * netboot-proxmox (config node): one Proxmox VE cluster. Its VMs are pre-registered as devices with
 * `proxmox.*` labels (lib/proxmox/sync.ts) at deploy, every `syncMinutes`, and on demand; the
 * netboot-proxmox-vm node syncs, lists and powers VMs from a flow. The API token's secret is a
 * credential and never reaches a log.
 */
export = function register(RED: RED): void {
  function NetbootProxmox(this: ProxmoxConfigNode, def: ProxmoxDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const secret = (node.credentials as { secret?: string } | undefined)?.secret ?? '';
    let client: ProxmoxClient | undefined;
    let sync: ProxmoxSync | undefined;
    let setupError: string | undefined;
    const serverNode = RED.nodes.getNode(def.server) as NetbootServerNode | null;
    const get = (): ProxmoxSync => {
      if (setupError) throw new Error(setupError);
      if (!sync) {
        const server = bootServerOf(RED, def.server);
        client = new ProxmoxClient({ url: def.url, tokenId: def.tokenId, secret, verifyTls: def.verifyTls !== false && def.verifyTls !== 'false', ca: def.ca?.trim() || undefined });
        sync = new ProxmoxSync(client, server.store, { log: { info: (m) => node.log(m), warn: (m) => node.warn(m) } });
      }
      return sync;
    };
    try {
      // checked at deploy, so a wrong URL or token id is an error in the log at once
      new ProxmoxClient({ url: def.url, tokenId: def.tokenId, secret: secret || 'x' }).close();
    } catch (err) {
      setupError = (err as Error).message;
      node.error(setupError);
    }
    node.proxmox = get;
    PROXMOX_CLUSTERS.add(node);
    let running: Promise<ProxmoxSyncResult> | undefined;
    node.syncNow = () => {
      running ??= (async () => get().sync())().then((result) => {
        node.lastSync = { at: new Date().toISOString(), result };
        return result;
      }, (err: Error) => {
        node.lastSync = { at: new Date().toISOString(), error: err.message };
        throw err;
      }).finally(() => {
        running = undefined;
      });
      return running;
    };
    const minutes = def.syncMinutes === undefined || def.syncMinutes === '' ? 10 : Number(def.syncMinutes);
    let timer: NodeJS.Timeout | undefined;
    const schedule = () => {
      if (setupError || !(minutes > 0)) return;
      timer = setInterval(() => void node.syncNow().catch((err: Error) => node.warn(RED._('netboot-proxmox.errors.sync', { error: err.message }))), minutes * 60_000);
      timer.unref();
    };
    // the first sync once the server's inventory is open
    const user = {
      id: node.id,
      ready: () => {
        if (setupError) return;
        void node.syncNow().catch((err: Error) => node.warn(RED._('netboot-proxmox.errors.sync', { error: err.message })));
        schedule();
      },
    };
    serverNode?.register?.(user);
    node.on('close', (_removed: boolean, done: () => void) => {
      clearInterval(timer);
      PROXMOX_CLUSTERS.delete(node);
      client?.close();
      if (serverNode?.deregister) serverNode.deregister(user, done);
      else done();
    });
  }
  RED.nodes.registerType('netboot-proxmox', NetbootProxmox as unknown as (this: Node, def: NodeDef) => void, {
    credentials: { secret: { type: 'password' } },
  });
};
