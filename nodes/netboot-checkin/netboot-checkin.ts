import { httpCheckInInput } from '../../lib/policy/booter';
import { checkInAnswer, type CheckInResult } from '../../lib/policy/checkin';
import type { FetchNote } from '../../lib/http/public-gate';
import { bootServerOf, requestOf, stepInput, useServer } from '../shared/boot-input';
import { serveMenuChains } from '../shared/menu-chain';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';
import { statusThrottle } from '../shared/status-throttle';

/** Input: machine facts (msg.req.query of `http in`, a DHCP event in msg.payload, or msg.filename of a Pi TFTP read). */
interface CheckinConfig extends NodeDef {
  server?: string;
  registerUnknown?: boolean;
  useBootOnce?: boolean;
  setPayload?: boolean;
}

/** Output: msg.netboot (CheckInResult) on output 1 (known, assigned), 2 (known, nothing assigned) or 3 (unknown). */
interface CheckinOutput extends NodeMessage {
  netboot: CheckInResult;
}

export = function register(RED: RED): void {
  function NetbootCheckin(this: Node, def: CheckinConfig): void {
    RED.nodes.createNode(this, def);
    const node = this;
    useServer(RED, node, def.server);
    const status = statusThrottle(node);
    node.on('close', () => status.close());
    // the check-in of one msg: the input handler's work, and the fast path's (nodes/shared/menu-chain.ts)
    const work = async (msg: NodeMessage): Promise<Array<NodeMessage | null>> => {
      const server = bootServerOf(RED, def.server);
      const req = requestOf(msg);
      // the server's boot policy decides (and puts the check-in on the machine's timeline)
      const result = await server.booter.checkIn({
        input: req ? httpCheckInInput(req) : msg.payload,
        http: req ? { ip: req.ip, path: String((req as { path?: string }).path ?? '') } : undefined,
        filename: typeof msg.filename === 'string' ? msg.filename : undefined,
        registerUnknown: def.registerUnknown === true,
        useBootOnce: def.useBootOnce !== false,
      });
      // the audit log's record of this request names what was decided
      if (req) (req as { netbootAudit?: FetchNote }).netbootAudit = { mac: result.device?.mac ?? result.facts.mac, profile: result.profile?.id, image: result.image?.id };
      if (result.evicted) server.metrics?.prometheus.countEviction('device', result.evicted.length);
      const out = msg as CheckinOutput;
      out.netboot = result;
      if (def.setPayload) out.payload = checkInAnswer(result, { baseUrl: server.config.httpBaseUrl });
      const { decision } = result;
      const who = result.device?.mac ?? result.facts.mac ?? '?';
      status.later(() => ({
        fill: decision.output === 3 ? 'yellow' : 'green', shape: 'dot',
        text: RED._(`netboot-checkin.status.out${decision.output}`, { mac: who, action: decision.action }),
      }));
      const ports: Array<NodeMessage | null> = [null, null, null];
      ports[decision.output - 1] = out;
      return ports;
    };
    stepInput(node, work, (error) => RED._('netboot-checkin.status.error', { error }), status);
    serveMenuChains(RED, node);
  }
  RED.nodes.registerType('netboot-checkin', NetbootCheckin as unknown as (this: Node, def: NodeDef) => void);
};
