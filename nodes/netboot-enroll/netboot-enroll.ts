import { enroll, parseEnrollBody } from '../../lib/policy/enroll';
import { bootServerOf, requestOf, runInput } from '../shared/boot-input';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';

/** Input: msg.payload (or msg.req.body), the JSON register.sh posts. Output: msg.payload {status, mac, created}, msg.statusCode 201/200, msg.netboot.device. */
interface EnrollConfig extends NodeDef {
  server?: string;
}

export = function register(RED: RED): void {
  function NetbootEnroll(this: Node, def: EnrollConfig): void {
    RED.nodes.createNode(this, def);
    const node = this;
    node.on('input', (msg: NodeMessage, send, done) => {
      runInput(node, msg, send, done, async () => {
        const server = bootServerOf(RED, def.server);
        const req = requestOf(msg);
        const body = parseEnrollBody(msg.payload ?? req?.body);
        const { device, created } = await enroll(server.store, body);
        server.publish({ type: 'enroll', mac: device.mac, ip: req?.ip });
        await server.store.appendEvent({ type: 'enroll', mac: device.mac, ...(req?.ip ? { ip: req.ip } : {}), message: created ? 'enrolled' : 'inventory updated' });
        msg.statusCode = created ? 201 : 200;
        msg.payload = { status: device.status, mac: device.mac, created };
        msg.netboot = { ...((msg.netboot as object | undefined) ?? {}), device };
        node.status({ fill: 'green', shape: 'dot', text: RED._(created ? 'netboot-enroll.status.created' : 'netboot-enroll.status.updated', { mac: device.mac }) });
        return msg;
      }, (error) => RED._('netboot-enroll.status.error', { error }));
    });
  }
  RED.nodes.registerType('netboot-enroll', NetbootEnroll as unknown as (this: Node, def: NodeDef) => void);
};
