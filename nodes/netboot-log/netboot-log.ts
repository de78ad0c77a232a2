import { recordBootLog, recordLogUpload } from '../../lib/policy/boot-log';
import { bootServerOf, requestOf, runInput } from '../shared/boot-input';
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
    node.on('input', (msg: NodeMessage, send, done) => {
      runInput(node, msg, send, done, async () => {
        const server = bootServerOf(RED, def.server);
        const req = requestOf(msg);
        const query = req ? req.query : msg.payload;
        const body = req ? msg.payload : undefined;
        const event = def.mode === 'upload'
          ? await recordLogUpload(server.store, query, body, req?.ip)
          : await recordBootLog(server.store, query, body ?? (req ? undefined : msg.payload), req?.ip);
        if (event.mac) {
          const progress = (event.data as { progress?: number } | undefined)?.progress;
          server.publish({ type: 'log', mac: event.mac, ip: req?.ip, level: 'info', line: `${event.message ?? ''}${progress !== undefined ? ` progress=${progress}` : ''}` });
        }
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
