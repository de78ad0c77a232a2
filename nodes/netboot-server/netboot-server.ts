import { BootServer } from '../../lib/boot-server';
import { resolveServerConfig, type RawServerConfig } from '../../lib/config';
import { mountServerRoutes } from '../shared/server-routes';
import type { Node, NodeDef, RED } from '../shared/red';
import { ServerRegistry } from '../shared/server-registry';
import { statusFor, type NetbootServerNode, type ServerUser } from '../shared/server-node';

export = function register(RED: RED): void {
  const registry = new ServerRegistry();

  function NetbootServer(this: NetbootServerNode, def: NodeDef & RawServerConfig): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const users = new Map<string, ServerUser>();
    const refresh = () => users.forEach((u) => u.status(statusFor(RED, node.bootServer?.state, node.configError)));

    node.register = (user) => {
      users.set(user.id, user);
      user.status(statusFor(RED, node.bootServer?.state, node.configError));
    };
    node.deregister = (user, done) => {
      users.delete(user.id);
      done?.();
    };

    try {
      const config = resolveServerConfig(def, RED.settings.userDir ?? process.cwd());
      const server = new BootServer(config, { log: { info: (m) => node.log(m), warn: (m) => node.warn(m), error: (m) => node.error(m) } });
      node.bootServer = server;
      registry.add(node.id, { server, metricsToken: node.credentials?.metricsToken || undefined });
      server.on('state', refresh);
      server.start().then(() => {
        node.log(RED._('netboot-server.log.started', { ip: config.serverIp, mode: config.dhcpMode, url: config.httpBaseUrl }));
        for (const line of server.describePorts()) node.log(line);
        if (server.store) node.log(RED._('netboot-server.log.store', { file: server.storeFile }));
      }).catch((err: unknown) => node.error(String(err)));
    } catch (err) {
      node.configError = (err as Error).message;
      node.error(RED._('netboot-server.errors.config', { error: node.configError }));
    }

    node.on('close', (_removed, done) => {
      const server = node.bootServer;
      node.bootServer = undefined;
      if (!server) return done();
      registry.remove(node.id, server);
      server.close().catch((err: unknown) => node.error(String(err))).finally(() => {
        refresh();
        done();
      });
    });
  }

  RED.nodes.registerType('netboot-server', NetbootServer as unknown as (this: Node, def: NodeDef) => void, {
    credentials: { metricsToken: { type: 'password' } },
  });
  mountServerRoutes(RED, registry);
};
