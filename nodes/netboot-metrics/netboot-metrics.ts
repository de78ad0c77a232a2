import { previousName } from '../../lib/events';
import { FleetFeed } from '../../lib/metrics/fleet-feed';
import { wired, type Node, type NodeDef, type NodeMessage, type RED } from '../shared/red';
import type { NetbootServerNode } from '../shared/server-node';

interface MetricsDef extends NodeDef {
  server: string;
  interval?: string | number;
  progress?: boolean;
  /** `current` (the vocabulary) for nodes made since it became one; absent on older nodes: `previous`. */
  eventNames?: 'current' | '';
}

/**
 * netboot-metrics: per-device figures (output 1, `topic` = MAC, plus `topic` "fleet" for the
 * summary) on a timer and when a device changes stage or stalls; raw boot events on output 2.
 */
export = function register(RED: RED): void {
  function NetbootMetrics(this: Node, def: MetricsDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const serverNode = RED.nodes.getNode(def.server) as NetbootServerNode | null;
    if (!serverNode?.bootServer) {
      node.status({ fill: 'red', shape: 'ring', text: RED._('netboot-metrics.status.noServer') });
      if (!serverNode) node.error(RED._('netboot-metrics.errors.noServer'));
      return;
    }
    const server = serverNode.bootServer;
    // registered for its lifetime; its status is the fleet's, not the server's
    const user = { id: node.id };
    serverNode.register(user);
    const previous = def.eventNames !== 'current';
    if (previous) node.warn(RED._('netboot-metrics.errors.previousNames'));
    const feed = new FleetFeed({
      hub: () => server.metrics,
      progress: def.progress === true,
      wantsDevices: () => wired(node, 0),
      wantsEvents: () => wired(node, 1),
      device: (d) => node.send([{ topic: d.mac, payload: d } as NodeMessage, null]),
      event: (e) => node.send([null, { topic: previous ? previousName(e.type) : e.type, payload: e } as unknown as NodeMessage]),
      fleet: (summary) => {
        if (wired(node, 0)) node.send([{ topic: 'fleet', payload: summary } as NodeMessage, null]);
        node.status({ fill: summary.stalled ? 'yellow' : 'green', shape: 'dot', text: RED._('netboot-metrics.status.fleet', { ...summary }) });
      },
    });
    const unsubscribe = server.events.subscribe((e) => feed.onEvent(e));
    const seconds = Math.max(1, Number(def.interval) || 5);
    const timer = setInterval(() => feed.emitAll(), seconds * 1000);

    node.on('input', (_msg, _send, done) => {
      feed.emitAll();
      done();
    });
    node.on('close', (_removed, done) => {
      feed.close();
      clearInterval(timer);
      unsubscribe();
      node.status({});
      serverNode.deregister(user, done);
    });
  }

  RED.nodes.registerType('netboot-metrics', NetbootMetrics as unknown as (this: Node, def: NodeDef) => void);
};
