import { BootServer } from '../../lib/server/boot-server';
import { portClaim, resolveServerConfig, type RawServerConfig } from '../../lib/server/config';
import { redactUrl, withPassword } from '../../lib/store/url';
import { mountServerRoutes } from '../shared/server-routes';
import type { Node, NodeDef, RED } from '../shared/red';
import { ServerRegistry } from '../shared/server-registry';
import { statusFor, type NetbootServerNode, type ServerUser } from '../shared/server-node';

export = function register(RED: RED): void {
  const registry = new ServerRegistry();
  /** The node that owns the sockets of each port claim; a later node with the same claim shares its server. */
  const owners = new Map<string, NetbootServerNode>();

  function NetbootServer(this: NetbootServerNode, def: NodeDef & RawServerConfig): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const users = new Map<string, ServerUser>();
    /** Users already told that the inventory is open. */
    const told = new Set<string>();
    const tell = (u: ServerUser) => {
      u.status?.(statusFor(RED, node.bootServer?.state, node.configError));
      const server = node.bootServer;
      if (u.ready && server?.store && !told.has(u.id)) {
        told.add(u.id);
        u.ready(server);
      }
    };
    const refresh = () => users.forEach(tell);

    node.register = (user) => {
      users.set(user.id, user);
      tell(user);
    };
    node.deregister = (user, done) => {
      users.delete(user.id);
      told.delete(user.id);
      done?.();
    };

    let claim: string | undefined;
    try {
      // the site: the node's setting, else NETBOOT_SITE, else the host name (resolveServerConfig)
      const site = String((def as { site?: unknown }).site ?? '').trim() || process.env.NETBOOT_SITE || '';
      const config = resolveServerConfig({ ...def, site }, RED.settings.userDir ?? process.cwd(), {
        uiPort: RED.settings.uiPort as number | undefined,
        httpNodeRoot: RED.settings.httpNodeRoot as string | false | undefined,
      });
      claim = portClaim(config);
      const owner = claim ? owners.get(claim) : undefined;
      if (owner) {
        // An imported example brings its own netboot-server node: rather than a second server
        // fighting for the same ports, it uses the one already running (found again after a redeploy).
        const key = claim;
        claim = undefined;
        Object.defineProperty(node, 'bootServer', { get: () => owners.get(key!)?.bootServer, configurable: true });
        node.register = (user) => (owners.get(key!) ?? owner).register(user);
        node.deregister = (user, done) => (owners.get(key!) ?? owner).deregister(user, done);
        node.warn(RED._('netboot-server.log.shared', { owner: owner.name || owner.id, ports: key }));
      } else {
        if (claim) owners.set(claim, node);
        // the inventory: the JSON file in the data folder, or PostgreSQL shared by several boot servers (password in credentials)
        const storeUrl = withPassword(String((def as { store?: unknown }).store ?? '').trim() || process.env.NETBOOT_STORE || '', (node.credentials as { storePassword?: string } | undefined)?.storePassword);
        if (storeUrl) config.storeUrl = storeUrl;
        if (process.env.NETBOOT_DHCP_THREAD === '0') config.dhcpThread = false;
        const server = new BootServer(config, { log: { info: (m) => node.log(m), warn: (m) => node.warn(m), error: (m) => node.error(m) } });
        node.bootServer = server;
        registry.add(node.id, { server, metricsToken: node.credentials?.metricsToken || undefined });
        // secrets.* of installer config templates: credentials (or NETBOOT_CONFIG_SECRETS for npm start), never the inventory
        const secretsText = (node.credentials as { configSecrets?: string } | undefined)?.configSecrets || process.env.NETBOOT_CONFIG_SECRETS || '';
        if (secretsText) {
          const parsed = parseSecrets(secretsText);
          if (parsed) server.configSecrets = parsed;
          else node.warn(RED._('netboot-server.log.badConfigSecrets'));
        }
        server.on('state', refresh);
        if (!RED.settings.adminAuth && RED.settings.netbootOpenApi !== true) node.warn(RED._('netboot-server.log.noAdminAuth'));
        server.start().then(() => {
          node.log(RED._('netboot-server.log.started', { ip: config.serverIp, mode: config.dhcpMode, url: config.httpBaseUrl }));
          for (const line of server.describePorts()) node.log(line);
          // which machines can boot: each class with its file and where it comes from, or the one step that fixes it
          for (const line of server.describeBootPrograms()) {
            if (line.includes('cannot boot')) node.warn(line);
            else node.log(line);
          }
          if (server.store) node.log(config.storeUrl ? RED._('netboot-server.log.storeDb', { url: redactUrl(config.storeUrl) }) : RED._('netboot-server.log.store', { file: server.storeFile }));
        }).catch((err: unknown) => node.error(String(err)));
      }
    } catch (err) {
      node.configError = (err as Error).message;
      node.error(RED._('netboot-server.errors.config', { error: node.configError }));
    }

    node.on('close', (_removed, done) => {
      if (claim && owners.get(claim) === node) owners.delete(claim);
      const server = Object.getOwnPropertyDescriptor(node, 'bootServer')?.get ? undefined : node.bootServer;
      if (!server) return done();
      node.bootServer = undefined;
      registry.remove(node.id, server);
      server.close().catch((err: unknown) => node.error(String(err))).finally(() => {
        refresh();
        done();
      });
    });
  }

  RED.nodes.registerType('netboot-server', NetbootServer as unknown as (this: Node, def: NodeDef) => void, {
    credentials: { metricsToken: { type: 'password' }, configSecrets: { type: 'password' }, storePassword: { type: 'password' } },
  });
  mountServerRoutes(RED, registry);
};

function parseSecrets(text: string): Record<string, string> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) return undefined;
    return v as Record<string, string>;
  } catch {
    return undefined;
  }
}
