import { NetbootError } from '../../lib/core/errors';
import { bootServerOf, runInput, useServer } from '../shared/boot-input';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';

interface WakeConfig extends NodeDef {
  server?: string;
  port?: string | number;
  /** Seconds to wait for the machine's DHCP request before a wake.timeout event (default 120). */
  timeout?: string | number;
}

/**
 * netboot-wake: Wake-on-LAN from a flow. Input: the MAC in msg.payload (text), msg.payload.mac or
 * msg.mac. Output: msg.payload {mac, from, to, port, bytes}. The wake and, when the machine does not
 * ask DHCP in time, its timeout are on the machine's timeline.
 */
export = function register(RED: RED): void {
  function NetbootWake(this: Node, def: WakeConfig): void {
    RED.nodes.createNode(this, def);
    const node = this;
    useServer(RED, node, def.server);
    const password = (node.credentials as { password?: string } | undefined)?.password || undefined;
    node.on('input', (msg: NodeMessage, send, done) => {
      runInput(node, msg, send, done, async () => {
        const server = bootServerOf(RED, def.server);
        const p = msg.payload as unknown;
        const mac = typeof p === 'string' ? p : (p && typeof p === 'object' && typeof (p as { mac?: unknown }).mac === 'string' ? (p as { mac: string }).mac : msg.mac);
        if (typeof mac !== 'string' || !mac) throw new NetbootError('validation', 'field "mac": give the machine\'s MAC in msg.payload, msg.payload.mac or msg.mac', { field: 'mac' });
        const port = def.port === undefined || def.port === '' ? undefined : Number(def.port);
        const timeoutMs = def.timeout === undefined || def.timeout === '' ? undefined : Number(def.timeout) * 1000;
        msg.payload = await server.wake(mac, { port, password, timeoutMs, by: 'flow' });
        node.status({ fill: 'green', shape: 'dot', text: RED._('netboot-wake.status.woken', { mac: (msg.payload as { mac: string }).mac }) });
        return msg;
      }, (error) => RED._('netboot-wake.status.error', { error }));
    });
  }
  RED.nodes.registerType('netboot-wake', NetbootWake as unknown as (this: Node, def: NodeDef) => void, {
    credentials: { password: { type: 'password' } },
  });
};
