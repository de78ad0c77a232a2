import { recordBootLog, recordLogUpload } from '../../lib/policy/boot-log';
import { bootServerOf, requestOf, runInput, useServer } from '../shared/boot-input';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';

/** Input: msg.req.query + msg.payload (line or file). Output: msg.payload {ok, seq}, msg.netboot.event. */
interface LogConfig extends NodeDef {
  server?: string;
  /** `log`: a progress line (POST /api/v1/boot/log); `upload`: a whole log file (PUT …/logs/upload). */
  mode?: 'log' | 'upload';
}

export = function register(RED: RED): void {
  function NetbootLog(this: Node, def: LogConfig): void {
    RED.nodes.createNode(this, def);
    const node = this;
    useServer(RED, node, def.server);
    node.on('input', (msg: NodeMessage, send, done) => {
      runInput(node, msg, send, done, async () => {
        const server = bootServerOf(RED, def.server);
        const req = requestOf(msg);
        const query = req ? req.query : msg.payload;
        const body = req ? msg.payload : undefined;
        const event = def.mode === 'upload'
          ? await recordLogUpload(server.store, query, body, req?.ip)
          : await recordBootLog(server.store, query, body ?? (req ? undefined : msg.payload), req?.ip);
        // the stored record reaches the event bus through the inventory (BootServer wires store.onEvent)
        msg.statusCode = 200;
        msg.payload = { ok: true, seq: event.seq };
        msg.netboot = { ...((msg.netboot as object | undefined) ?? {}), event };
        node.status({ fill: 'green', shape: 'dot', text: RED._('netboot-log.status.stored', { mac: event.mac ?? '-', message: (event.message ?? '').slice(0, 40) }) });
        return msg;
      }, (error) => RED._('netboot-log.status.error', { error }));
    });
  }
  RED.nodes.registerType('netboot-log', NetbootLog as unknown as (this: Node, def: NodeDef) => void);
};
