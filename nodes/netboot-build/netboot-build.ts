import { NetbootError } from '../../lib/core/errors';
import { parseRecipe, type Recipe } from '../../lib/builds/recipes';
import { BuildService, type BuildProgress } from '../../lib/builds/service';
import type { Build } from '../../lib/store';
import type { BootServer } from '../../lib/server/boot-server';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';
import type { NetbootServerNode } from '../shared/server-node';

interface BuildDef extends NodeDef {
  server: string;
  concurrency?: string | number;
  /** Minutes per build (default 30). */
  timeout?: string | number;
  /** Successful builds kept per machine (default 3). */
  keep?: string | number;
  /** JSON: {"name": {steps, outputs, env?, shell?}} besides the shipped initramfs, debian, nixos. */
  recipes?: string;
  /** Wake the machine (Wake-on-LAN) when its build succeeds. */
  wakeOnSuccess?: boolean;
}

/**
 * netboot-build: builds machines' own images. Input `msg.payload = {mac, recipe?, params?}` (the
 * recipe defaults to the device's `build.recipe` label) or `{action: "cancel", id}`. Output 1:
 * progress (status changes and log lines, at most 20 a second per build); output 2: the finished
 * build (success with its artifacts, failed with the reason, or cancelled). The queue, recipes and
 * lifecycle are lib/builds; the admin API (POST /netboot/api/devices/:mac/build, /builds) uses the
 * same queue.
 */
export = function register(RED: RED): void {
  function NetbootBuild(this: Node, def: BuildDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const serverNode = RED.nodes.getNode(def.server) as NetbootServerNode | null;
    if (!serverNode?.register) {
      node.status({ fill: 'red', shape: 'ring', text: RED._('netboot-build.status.noServer') });
      return;
    }
    let recipes: Record<string, Recipe> = {};
    try {
      const raw = def.recipes?.trim() ? (JSON.parse(def.recipes) as Record<string, unknown>) : {};
      recipes = Object.fromEntries(Object.entries(raw).map(([name, r]) => [name, parseRecipe(name, r)]));
    } catch (err) {
      node.error(RED._('netboot-build.errors.recipes', { error: (err as Error).message }));
    }
    const num = (v: unknown, d: number) => (v === undefined || v === '' ? d : Number(v));
    let service: BuildService | undefined;
    let detach: (() => void) | undefined;
    let server: BootServer | undefined;
    const show = () => node.status({ fill: 'green', shape: 'dot', text: RED._('netboot-build.status.ready', { running: 0 }) });
    const ready = (boot: BootServer) => {
      if (service || !boot.store) return;
      server = boot;
      service = new BuildService({
        store: boot.store, assetsRoot: boot.config.assetsRoot, dataDir: boot.config.dataDir, baseUrl: boot.config.httpBaseUrl,
        concurrency: num(def.concurrency, 1), timeoutMs: num(def.timeout, 30) * 60_000, keep: num(def.keep, 3), recipes,
        // servers sharing a PostgreSQL inventory share its build queue under leases (docs/builds.md)
        leaseMs: num(process.env.NETBOOT_BUILD_LEASE_S, 60) * 1000,
        log: { info: (m) => node.log(m), warn: (m) => node.warn(m), error: (m) => node.error(m) },
      });
      const attached = boot.attachBuilds(service);
      if (!attached) {
        service = undefined;
        node.status({ fill: 'red', shape: 'ring', text: RED._('netboot-build.status.duplicate') });
        return;
      }
      detach = attached;
      service.on('progress', (p: BuildProgress) => {
        node.send([{ topic: p.kind, payload: p.kind === 'log' ? { build: p.build.id, mac: p.build.mac, line: p.line } : p.build }, null]);
        if (p.kind === 'status') node.status({ fill: p.build.status === 'failed' ? 'red' : 'blue', shape: 'dot', text: RED._('netboot-build.status.build', { id: p.build.id, status: p.build.status }) });
      });
      service.on('done', (b: Build) => {
        node.send([null, { topic: b.status, payload: b }]);
        if (b.status === 'success' && def.wakeOnSuccess) {
          server?.wake(b.mac, { by: 'flow' }).catch((err: Error) => node.warn(RED._('netboot-build.errors.wake', { mac: b.mac, error: err.message })));
        }
      });
      show();
      // a failure here is the node's error, never an unhandled rejection that stops Node-RED
      service.open().catch((err: Error) => {
        node.status({ fill: 'red', shape: 'ring', text: err.message.slice(0, 60) });
        node.error(err.message);
      });
    };
    const user = { id: node.id, ready };
    serverNode.register(user);

    node.on('input', (msg: NodeMessage, _send, done) => {
      void (async () => {
        if (!service) throw new NetbootError('unavailable', 'the build queue is not running yet (the inventory is not open)');
        const p = (msg.payload && typeof msg.payload === 'object' && !Buffer.isBuffer(msg.payload) ? msg.payload : {}) as { action?: unknown; id?: unknown; mac?: unknown; recipe?: unknown; params?: unknown };
        if (p.action === 'cancel') {
          if (typeof p.id !== 'string') throw new NetbootError('validation', 'field "id": the build to cancel', { field: 'id' });
          await service.cancel(p.id);
          return;
        }
        const mac = typeof p.mac === 'string' ? p.mac : typeof msg.mac === 'string' ? msg.mac : undefined;
        if (!mac) throw new NetbootError('validation', 'field "mac": the machine to build for (msg.payload.mac)', { field: 'mac' });
        await service.request({ mac, recipe: typeof p.recipe === 'string' ? p.recipe : undefined, params: p.params, by: 'flow' });
      })().then(() => done(), (err: Error) => {
        node.status({ fill: 'red', shape: 'ring', text: err.message.slice(0, 60) });
        done(err);
      });
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      const s = service;
      service = undefined;
      detach?.();
      serverNode.deregister(user, () => {
        (s ? s.close() : Promise.resolve()).finally(done);
      });
    });
  }
  RED.nodes.registerType('netboot-build', NetbootBuild as unknown as (this: Node, def: NodeDef) => void);
};
