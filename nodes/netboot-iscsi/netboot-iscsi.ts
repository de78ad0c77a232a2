import * as path from 'node:path';
import { wholeNumber } from '../../lib/server/config';
import { NetbootError } from '../../lib/core/errors';
import { IscsiService, runIscsiAction, type ChapConfig, type DaemonMode, type IscsiStatus, type SessionEvent } from '../../lib/iscsi';
import { runInput } from '../shared/boot-input';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';
import type { NetbootServerNode } from '../shared/server-node';

interface IscsiDef extends NodeDef {
  server: string;
  disksDir?: string;
  listen?: string;
  port?: string | number;
  controlPort?: string | number;
  daemon?: DaemonMode;
  allow?: string;
  stopOnClose?: boolean | string;
}

const MODES: readonly DaemonMode[] = ['auto', 'own', 'external', 'off'];

function daemonMode(value: unknown): DaemonMode {
  if (value === undefined || value === '') return 'auto';
  if (typeof value === 'string' && (MODES as readonly string[]).includes(value)) return value as DaemonMode;
  throw new NetbootError('validation', `daemon: "${String(value)}" is not one of ${MODES.join(', ')}`, { field: 'daemon' });
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
    const server = serverNode?.bootServer;
    if (!server) {
      node.status({ fill: 'red', shape: 'ring', text: RED._('netboot-iscsi.status.noServer') });
      node.error(RED._('netboot-iscsi.errors.noServer'));
      return;
    }
    const cred = node.credentials ?? {};
    let service: IscsiService | undefined;
    const show = (s: IscsiStatus) => {
      if (s.state === 'ready') node.status({ fill: s.busy.length || s.problems.length ? 'yellow' : 'green', shape: 'dot', text: RED._('netboot-iscsi.status.ready', { targets: s.targets, sessions: s.sessions, waiting: s.busy.length + s.problems.length }) });
      else if (s.state === 'failed') node.status({ fill: 'red', shape: 'ring', text: (s.error ?? 'failed').slice(0, 80) });
      else node.status({ fill: 'grey', shape: s.state === 'off' ? 'dot' : 'ring', text: RED._(`netboot-iscsi.status.${s.state}`) });
    };
    // the service starts once the server's inventory is open
    const attach = () => {
      if (service || !server.store) return;
      if (server.iscsi) {
        node.status({ fill: 'red', shape: 'ring', text: RED._('netboot-iscsi.status.duplicate') });
        return;
      }
      try {
        const chap: ChapConfig = {
          ...(cred.chapUser || cred.chapPassword ? { incoming: { user: cred.chapUser ?? '', password: cred.chapPassword ?? '' } } : {}),
          ...(cred.mutualUser || cred.mutualPassword ? { outgoing: { user: cred.mutualUser ?? '', password: cred.mutualPassword ?? '' } } : {}),
        };
        service = new IscsiService({
          store: server.store, iqnPrefix: server.config.iqnPrefix, advertise: server.config.serverIp, stateDir: server.config.dataDir,
          disksDir: path.resolve(server.config.dataDir, def.disksDir || 'disks'),
          listen: def.listen || server.config.bind,
          port: wholeNumber('port', def.port, 1, 65535) ?? 3260,
          controlPort: wholeNumber('controlPort', def.controlPort, 0, 65535) ?? 0,
          daemon: daemonMode(def.daemon),
          allow: (def.allow ?? '').split(/[\s,]+/).filter(Boolean),
          stopOnClose: def.stopOnClose === true || def.stopOnClose === 'true',
          chap,
          log: { info: (m) => node.log(m), warn: (m) => node.warn(m), error: (m) => node.error(m) },
        });
      } catch (err) {
        node.status({ fill: 'red', shape: 'ring', text: (err as Error).message.slice(0, 80) });
        node.error((err as Error).message);
        return;
      }
      server.iscsi = service;
      service.on('status', show);
      // logins and logouts feed the boot timeline (stage "iscsi") and the per-device disk figures
      service.on('session', (e: SessionEvent) => server.publish({ type: e.type, target: e.target, ip: e.ip, mac: e.mac, ts: Date.now() }));
      void service.start();
    };
    server.on('state', attach);
    attach();

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
      server.off('state', attach);
      const s = service;
      service = undefined;
      if (!s) return done();
      if (server.iscsi === s) server.iscsi = undefined;
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
