import type { NetbootEvent } from '../../lib/metrics';
import { wired, type Node, type NodeDef, type NodeMessage, type RED } from '../shared/red';
import type { NetbootServerNode } from '../shared/server-node';

interface MetricsDef extends NodeDef {
  server: string;
  interval?: string | number;
  progress?: boolean;
}

/** Events that change what a device's metrics say: emit that device at once. */
const CHANGES = new Set(['stage', 'stall', 'stall.cleared']);
/** Device snapshots sent per turn of the event loop. */
const SLICE = 200;

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
    const seconds = Math.max(1, Number(def.interval) || 5);
    let unsubscribe: (() => void) | undefined;

    let emitting: NodeJS.Immediate | undefined;
    let closed = false;
    const sendFleet = () => {
      const summary = server.metrics?.summary();
      if (!summary) return;
      if (wired(node, 0)) node.send([{ topic: 'fleet', payload: summary } as NodeMessage, null]);
      node.status({ fill: summary.stalled ? 'yellow' : 'green', shape: 'dot', text: RED._('netboot-metrics.status.fleet', { ...summary }) });
    };
    // Every device, then the fleet summary. A snapshot costs a few µs, so thousands of devices (a
    // storm of distinct MACs) are sent SLICE at a time with the event loop free in between: one
    // synchronous pass over 5000 devices held DHCP answers back by 30 ms or more.
    const emitAll = () => {
      const hub = server.metrics;
      if (!hub || emitting || closed) return;
      if (!wired(node, 0)) {
        sendFleet();
        return;
      }
      const macs = hub.devices.macs();
      let i = 0;
      const step = () => {
        emitting = undefined;
        if (closed) return;
        for (const end = Math.min(macs.length, i + SLICE); i < end; i++) {
          const d = hub.devices.get(macs[i]);
          if (d) node.send([{ topic: d.mac, payload: d } as NodeMessage, null]);
        }
        if (i < macs.length) emitting = setImmediate(step);
        else sendFleet();
      };
      step();
    };
    const onEvent = (e: NetbootEvent) => {
      if (e.type.endsWith('.progress') && !def.progress) return;
      if (wired(node, 1)) node.send([null, { topic: e.type, payload: e } as unknown as NodeMessage]);
      if (CHANGES.has(e.type) && e.mac && wired(node, 0)) {
        const d = server.metrics?.device(e.mac);
        if (d) node.send([{ topic: d.mac, payload: d } as NodeMessage, null]);
      }
    };
    // the hub appears once the server has started
    const attach = () => {
      if (unsubscribe || !server.metrics) return;
      unsubscribe = server.metrics.bus.subscribe(onEvent);
    };
    server.on('state', attach);
    attach();
    const timer = setInterval(() => {
      attach();
      emitAll();
    }, seconds * 1000);

    node.on('input', (_msg, _send, done) => {
      attach();
      emitAll();
      done();
    });
    node.on('close', (_removed, done) => {
      closed = true;
      if (emitting) clearImmediate(emitting);
      clearInterval(timer);
      server.off('state', attach);
      unsubscribe?.();
      node.status({});
      done();
    });
  }

  RED.nodes.registerType('netboot-metrics', NetbootMetrics as unknown as (this: Node, def: NodeDef) => void);
};
