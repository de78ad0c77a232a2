import { renderBootScript, resolveScriptRequest, scriptOptionsFrom, type BootContext, type ScriptKind } from '../../lib/policy/boot-script';
import { scriptConfigArgs } from '../../lib/policy/configs';
import type { IpxeFailure } from '../../lib/render';
import { bootServerOf, stepInput, useServer } from '../shared/boot-input';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';
import { statusThrottle } from '../shared/status-throttle';

interface IpxeConfig extends NodeDef {
  server?: string;
  script?: ScriptKind;
  onFailure?: IpxeFailure;
  biosSanboot?: boolean;
}

/** Input: msg.netboot from netboot-checkin; optional msg.netboot.script (kind) and msg.profile (a script name, `/boot/<name>.ipxe`). */
interface IpxeInput extends NodeMessage {
  netboot?: BootContext & { script?: ScriptKind };
  profile?: string;
}

export = function register(RED: RED): void {
  function NetbootIpxe(this: Node, def: IpxeConfig): void {
    RED.nodes.createNode(this, def);
    const node = this;
    useServer(RED, node, def.server);
    const status = statusThrottle(node);
    node.on('close', () => status.close());
    // the script for one msg: the input handler's work, and the fast path's (nodes/shared/menu-chain.ts)
    const work = async (msg: IpxeInput): Promise<NodeMessage> => {
      const server = bootServerOf(RED, def.server);
      // which script for which context: lib/policy/boot-script.ts (check-in, then name, then this node)
      const { kind, ctx } = await resolveScriptRequest(server.store, { netboot: msg.netboot, profile: msg.profile, nodeScript: def.script });
      const script = await renderBootScript(ctx, server.config, {
        kind,
        onFailure: def.onFailure,
        biosSanboot: def.biosSanboot === true,
        san: server.iscsi,
        ...(await scriptOptionsFrom(server.store, kind, ctx)),
        // installer config URLs with a per-boot token bound to this machine and the address it asked from
        configArgs: await scriptConfigArgs(server.store, server.configTokens, server.config.httpBaseUrl, ctx.device?.mac, ctx.facts.ip),
      });
      msg.payload = script.text;
      msg.headers = { ...((msg.headers as Record<string, string> | undefined) ?? {}), 'content-type': script.contentType, ...(script.containsSecret ? { 'cache-control': 'no-store' } : {}) };
      msg.netboot = { ...ctx, script: script.kind };
      const mac = ctx.device?.mac ?? ctx.facts.mac ?? '-';
      status.later(() => ({ fill: 'green', shape: 'dot', text: RED._('netboot-ipxe.status.serving', { kind: script.kind, mac }) }));
      return msg;
    };
    stepInput(node, work, (error) => RED._('netboot-ipxe.status.error', { error }), status);
  }
  RED.nodes.registerType('netboot-ipxe', NetbootIpxe as unknown as (this: Node, def: NodeDef) => void);
};
