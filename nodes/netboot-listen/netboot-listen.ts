import type { NetbootEvent } from '../../lib/events';
import { dhcpDecideMessage, eventMessage, fileRequestMessage, readDhcpAnswer, readFileAnswer, wantEvent, type EventNames } from '../../lib/server/listen-messages';
import { wired, type Node, type NodeDef, type NodeMessage, type RED } from '../shared/red';
import type { NetbootServerNode } from '../shared/server-node';

interface ListenDef extends NodeDef {
  server: string;
  progress?: boolean;
  askFlow?: boolean;
  decideDhcp?: boolean;
  /** `current` (the vocabulary) for nodes made since it became one; absent on older nodes: `previous`. */
  eventNames?: EventNames | '';
}

/**
 * netboot-listen: the boot server's events (the one bus, docs/events.md) on output 1, and the files
 * the TFTP server cannot find on disk, asked of the flow, on output 2 (answered on the input).
 */
export = function register(RED: RED): void {
  function NetbootListen(this: Node, def: ListenDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const serverNode = RED.nodes.getNode(def.server) as NetbootServerNode | null;
    if (!serverNode) {
      node.status({ fill: 'red', shape: 'ring', text: RED._('netboot-listen.status.noServer') });
      node.error(RED._('netboot-listen.errors.noServer'));
      return;
    }
    const server = serverNode.bootServer;
    serverNode.register(node);

    const names: EventNames = def.eventNames === 'current' ? 'current' : 'previous';
    if (names === 'previous') node.warn(RED._('netboot-listen.errors.previousNames'));
    const onEvent = (ev: NetbootEvent) => {
      if (wantEvent(ev.type, def.progress === true)) node.send([eventMessage(ev, names) as NodeMessage, null]);
    };
    const unsubscribe = server && wired(node, 0) ? server.events.subscribe(onEvent) : undefined;
    if (server && def.askFlow !== false) {
      server.booter.virtualFiles.setSender((id, req) => node.send([null, fileRequestMessage(id, req) as unknown as NodeMessage]));
    }
    if (server && def.decideDhcp === true) {
      server.booter.dhcpDecisions.setSender((id, facts) => node.send([null, dhcpDecideMessage(id, facts, names) as unknown as NodeMessage]));
    }

    node.on('input', (msg, _send, done) => {
      const id = msg._netbootRequest;
      if (typeof id !== 'string') {
        done(new Error(RED._('netboot-listen.errors.notAnAnswer')));
        return;
      }
      const isDhcp = id.startsWith('dhcp:');
      try {
        const answered = (isDhcp ? server?.booter.dhcpDecisions.answer(id, readDhcpAnswer(msg)) : server?.booter.virtualFiles.answer(id, readFileAnswer(msg))) ?? false;
        if (!answered) node.warn(RED._('netboot-listen.errors.late', { id }));
        done();
      } catch (err) {
        if (isDhcp) server?.booter.dhcpDecisions.answer(id, undefined);
        else server?.booter.virtualFiles.answer(id, { kind: 'none' });
        done(err as Error);
      }
    });

    node.on('close', (_removed, done) => {
      unsubscribe?.();
      server?.booter.virtualFiles.setSender(undefined);
      server?.booter.dhcpDecisions.setSender(undefined);
      serverNode.deregister(node, done);
    });
  }

  RED.nodes.registerType('netboot-listen', NetbootListen as unknown as (this: Node, def: NodeDef) => void);
};
