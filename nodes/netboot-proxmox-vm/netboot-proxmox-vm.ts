import { NetbootError } from '../../lib/core/errors';
import { POWER_ACTIONS, type PowerAction } from '../../lib/proxmox/client';
import { runInput } from '../shared/boot-input';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';
import type { ProxmoxConfigNode } from '../netboot-proxmox/types';

interface VmDef extends NodeDef {
  proxmox: string;
  /** The action when the message names none: sync, list, start, stop, shutdown, reset, reboot. */
  action?: string;
}

const ACTIONS = ['sync', 'list', ...POWER_ACTIONS] as const;

/**
 * netboot-proxmox-vm: Proxmox from a flow. `msg.payload.action` (or `msg.topic`, or the node's
 * setting): `sync` (pre-register the cluster's VMs now), `list` (the VMs and their MACs), or a power
 * action (`start`, `stop`, `shutdown`, `reset`, `reboot`) for `msg.payload.mac` / `msg.mac` (a
 * synced device) or `msg.payload.vmid`. The result is the output.
 */
export = function register(RED: RED): void {
  function NetbootProxmoxVm(this: Node, def: VmDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const cfg = RED.nodes.getNode(def.proxmox) as ProxmoxConfigNode | null;
    if (!cfg) node.status({ fill: 'red', shape: 'ring', text: RED._('netboot-proxmox-vm.status.noConfig') });
    node.on('input', (msg: NodeMessage, send, done) => {
      runInput(node, msg, send, done, async () => {
        if (!cfg) throw new NetbootError('validation', 'no netboot-proxmox cluster configured: pick one in the node\'s settings', { field: 'proxmox' });
        const p = (msg.payload && typeof msg.payload === 'object' && !Buffer.isBuffer(msg.payload) ? msg.payload : {}) as { action?: unknown; mac?: unknown; vmid?: unknown };
        const action = String(p.action ?? (typeof msg.topic === 'string' && msg.topic ? msg.topic : def.action || 'sync'));
        if (!(ACTIONS as readonly string[]).includes(action)) throw new NetbootError('validation', `field "action": "${action}" is not one of ${ACTIONS.join(', ')}`, { field: 'action' });
        if (action === 'sync') msg.payload = await cfg.syncNow();
        else if (action === 'list') msg.payload = (await cfg.proxmox().discover()).vms;
        else {
          const mac = typeof p.mac === 'string' ? p.mac : typeof msg.mac === 'string' ? msg.mac : undefined;
          const vmid = typeof p.vmid === 'number' || (typeof p.vmid === 'string' && /^\d+$/.test(p.vmid)) ? Number(p.vmid) : undefined;
          msg.payload = await cfg.proxmox().power({ mac, vmid }, action as PowerAction);
        }
        node.status({ fill: 'green', shape: 'dot', text: RED._('netboot-proxmox-vm.status.done', { action }) });
        return msg;
      }, (error) => RED._('netboot-proxmox-vm.status.error', { error }));
    });
  }
  RED.nodes.registerType('netboot-proxmox-vm', NetbootProxmoxVm as unknown as (this: Node, def: NodeDef) => void);
};
