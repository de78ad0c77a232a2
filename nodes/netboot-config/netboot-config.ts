import { NetbootError } from '../../lib/core/errors';
import { answerConfig, assertConfigFile, installDone } from '../../lib/policy/configs';
import { bootServerOf, requestOf, runInput, useServer } from '../shared/boot-input';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';

interface ConfigNodeDef extends NodeDef {
  server?: string;
  /** After a completion report, boot the local disk from now on (default true). */
  localAfterInstall?: boolean;
}

/**
 * netboot-config: installer configuration documents, served only to the machine they belong to.
 * Wire `http in GET /boot/configs/:mac/:token/:file` (the folder the machine's kernel arguments name:
 * `user-data`, `meta-data`, `vendor-data`, `preseed.cfg`, `ks.cfg`, `talos.yaml`, `config.ign`) and
 * `http in POST /boot/configs/:mac/:token/done` (the installer's completion report) to it, then to
 * `http response`. A request without this machine's current token gets a bare 403 and a
 * `config.refused` event; a fetch is `config.fetch` (stage `config`), a report `config.installed`.
 */
export = function register(RED: RED): void {
  function NetbootConfig(this: Node, def: ConfigNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    useServer(RED, node, def.server);
    node.on('input', (msg: NodeMessage, send, done) => {
      runInput(node, msg, send, done, async () => {
        const server = bootServerOf(RED, def.server);
        if (!server.configTokens) throw new NetbootError('unavailable', 'installer config tokens are not ready (see the server\'s log)');
        const req = requestOf(msg);
        const p = (req?.params ?? {}) as { mac?: string; token?: string; file?: string };
        const mac = p.mac ?? '';
        const token = p.token ?? '';
        const file = p.file ?? (req?.method === 'POST' ? 'done' : '');
        assertConfigFile(file);
        const ip = req?.ip;
        if (file === 'done') {
          const r = await installDone(server.store, server.configTokens, { mac, token, ip }, def.localAfterInstall !== false);
          if (!r.ok) return refuse(msg, mac, file, r.reason, ip);
          msg.statusCode = 200;
          msg.payload = 'ok\n';
          msg.headers = { 'content-type': 'text/plain; charset=utf-8' };
          node.status({ fill: 'green', shape: 'dot', text: RED._('netboot-config.status.installed', { mac: r.device.mac }) });
          return msg;
        }
        const a = await answerConfig(server.store, server.configTokens, { mac, token, file, ip }, server.configSecrets);
        if (!a.ok) {
          if (a.status === 404) {
            msg.statusCode = 404;
            msg.payload = 'not found\n';
            msg.headers = { 'content-type': 'text/plain; charset=utf-8' };
            return msg;
          }
          return refuse(msg, a.mac, file, a.reason, ip);
        }
        server.publish({ type: 'config.fetch', mac: a.mac, ...(ip ? { ip } : {}), file, ...(a.format ? { format: a.format } : {}) });
        msg.statusCode = 200;
        msg.payload = a.rendered.text;
        msg.headers = { 'content-type': a.rendered.contentType, 'cache-control': 'no-store' };
        node.status({ fill: 'green', shape: 'dot', text: RED._('netboot-config.status.served', { file, mac: a.mac }) });
        return msg;
      }, (error) => RED._('netboot-config.status.error', { error }));
    });

    function refuse(msg: NodeMessage, mac: string, file: string, reason: string, ip?: string): NodeMessage {
      const server = bootServerOf(RED, def.server);
      // the reason goes to the event and the log, never to the client
      server.publish({ type: 'config.refused', mac, ...(ip ? { ip } : {}), file, reason });
      node.warn(RED._('netboot-config.log.refused', { file, mac, ip: ip ?? '-', reason }));
      node.status({ fill: 'yellow', shape: 'ring', text: RED._('netboot-config.status.refused', { mac }) });
      msg.statusCode = 403;
      msg.payload = 'forbidden\n';
      msg.headers = { 'content-type': 'text/plain; charset=utf-8' };
      return msg;
    }
  }
  RED.nodes.registerType('netboot-config', NetbootConfig as unknown as (this: Node, def: NodeDef) => void);
};
