import { enroll, enrollAnswer, parseEnrollBody, recordEnrollment } from '../../lib/policy/enroll';
import type { FetchNote } from '../../lib/http/public-gate';
import { bootServerOf, requestOf, runInput, useServer } from '../shared/boot-input';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';

/**
 * Input: msg.payload (or msg.req.body), the JSON register.sh posts.
 * Output 1: msg.payload {status, mac, created} or {mac, created:false, reported:true}, msg.statusCode 201/200, msg.netboot.device.
 * Output 2 (conflict): msg.statusCode 409 with an answer that names nothing; msg.netboot.conflict {mac, fields, holder} for the flow.
 */
interface EnrollConfig extends NodeDef {
  server?: string;
}

export = function register(RED: RED): void {
  function NetbootEnroll(this: Node, def: EnrollConfig): void {
    RED.nodes.createNode(this, def);
    const node = this;
    useServer(RED, node, def.server);
    node.on('input', (msg: NodeMessage, send, done) => {
      runInput(node, msg, send, done, async () => {
        const server = bootServerOf(RED, def.server);
        const req = requestOf(msg);
        const result = await enroll(server.store, parseEnrollBody(msg.payload ?? req?.body));
        const answer = enrollAnswer(result);
        // the audit log's record of this request names the MAC that asked
        if (req) (req as { netbootAudit?: FetchNote }).netbootAudit = { mac: result.outcome === 'conflict' ? result.conflict.mac : result.device.mac };
        msg.statusCode = answer.statusCode;
        msg.payload = answer.payload;
        await recordEnrollment(server.store, result, req?.ip);
        if (result.outcome === 'conflict') {
          const { conflict } = result;
          msg.netboot = { ...((msg.netboot as object | undefined) ?? {}), conflict };
          node.status({ fill: 'yellow', shape: 'ring', text: RED._('netboot-enroll.status.conflict', { mac: conflict.mac }) });
          return [null, msg];
        }
        const { device } = result;
        if (result.outcome === 'created' && result.evicted.length) server.metrics?.prometheus.countEviction('device', result.evicted.length);
        msg.netboot = { ...((msg.netboot as object | undefined) ?? {}), device };
        node.status({ fill: 'green', shape: 'dot', text: RED._(result.created ? 'netboot-enroll.status.created' : 'netboot-enroll.status.updated', { mac: device.mac }) });
        return [msg, null];
      }, (error) => RED._('netboot-enroll.status.error', { error }));
    });
  }
  RED.nodes.registerType('netboot-enroll', NetbootEnroll as unknown as (this: Node, def: NodeDef) => void);
};
