import { NetbootError } from '../../lib/core/errors';
import { IscsiService, runIscsiAction, type IscsiStatus } from '../../lib/iscsi';
import { resolveIscsiConfig, type IscsiCredentials, type RawIscsiConfig } from '../../lib/iscsi/config';
import type { BootServer } from '../../lib/server/boot-server';
import { runInput } from '../shared/boot-input';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';
import type { NetbootServerNode } from '../shared/server-node';

interface IscsiDef extends NodeDef, RawIscsiConfig {
  server: string;
}

/**
 * netboot-iscsi: serves the inventory's iSCSI disk images with tgtd (started here, or one already
 * running), keeps tgtd in line with the inventory, and takes create / copy / rename / delete /
 * link / unlink / list / sync as `msg.payload.action` (or `msg.topic`); the result is the output.
 */
export = function register(RED: RED): void {
  function NetbootIscsi(this: Node, def: IscsiDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const serverNode = RED.nodes.getNode(def.server) as NetbootServerNode | null;
    if (!serverNode?.bootServer) {
      node.status({ fill: 'red', shape: 'ring', text: RED._('netboot-iscsi.status.noServer') });
      node.error(RED._('netboot-iscsi.errors.noServer'));
      return;
    }
    const owner = serverNode;
    let service: IscsiService | undefined;
    let detach: (() => void) | undefined;
    const show = (st: IscsiStatus) => {
      if (st.state === 'ready') node.status({ fill: st.busy.length || st.problems.length ? 'yellow' : 'green', shape: 'dot', text: RED._('netboot-iscsi.status.ready', { targets: st.targets, sessions: st.sessions, waiting: st.busy.length + st.problems.length }) });
      else if (st.state === 'failed') node.status({ fill: 'red', shape: 'ring', text: (st.error ?? 'failed').slice(0, 80) });
      else node.status({ fill: 'grey', shape: st.state === 'off' ? 'dot' : 'ring', text: RED._(`netboot-iscsi.status.${st.state}`) });
    };
    // the service starts once the server's inventory is open (the server calls `ready`)
    const ready = (boot: BootServer) => {
      if (service || !boot.store) return;
      try {
        const options = resolveIscsiConfig(def, boot.config, (node.credentials ?? {}) as IscsiCredentials);
        service = new IscsiService({ ...options, store: boot.store, log: { info: (m) => node.log(m), warn: (m) => node.warn(m), error: (m) => node.error(m) } });
      } catch (err) {
        node.status({ fill: 'red', shape: 'ring', text: (err as Error).message.slice(0, 80) });
        node.error((err as Error).message);
        return;
      }
      // logins and logouts feed the boot timeline (stage "iscsi") and the per-device disk figures
      const attached = boot.attachIscsi(service);
      if (!attached) {
        service = undefined;
        node.status({ fill: 'red', shape: 'ring', text: RED._('netboot-iscsi.status.duplicate') });
        return;
      }
      detach = attached;
      service.on('status', show);
      void service.start();
    };
    const user = { id: node.id, ready };
    owner.register(user);

    node.on('input', (msg: NodeMessage, send, done) => {
      runInput(node, msg, send, done, async () => {
        if (!service) throw new NetbootError('unavailable', 'the iSCSI service is not running yet (the inventory is not open)');
        const payload = msg.payload && typeof msg.payload === 'object' && !Buffer.isBuffer(msg.payload) ? { ...(msg.payload as Record<string, unknown>) } : {};
        if (payload.action === undefined && typeof msg.topic === 'string' && msg.topic) payload.action = msg.topic;
        msg.payload = await runIscsiAction(service, payload);
        return msg;
      }, (error) => RED._('netboot-iscsi.status.error', { error }));
    });

    // deleted from the flow (not a redeploy): stop the tgtd we started, nothing would manage it any more
    node.on('close', (removed, done) => {
      owner.deregister(user);
      const s = service;
      service = undefined;
      detach?.();
      if (!s) return done();
      s.close({ stopDaemon: removed === true }).catch((err: unknown) => node.error(String(err))).finally(() => {
        node.status({});
        done();
      });
    });
  }

  RED.nodes.registerType('netboot-iscsi', NetbootIscsi as unknown as (this: Node, def: NodeDef) => void, {
    credentials: { chapUser: { type: 'text' }, chapPassword: { type: 'password' }, mutualUser: { type: 'text' }, mutualPassword: { type: 'password' } },
  });
};
