import { NetbootError } from '../../lib/core/errors';
import { renderBootScript, SCRIPT_KINDS, targetContext, type BootContext, type ScriptKind } from '../../lib/policy/boot-script';
import type { IpxeFailure } from '../../lib/render';
import { bootServerOf, runInput, useServer } from '../shared/boot-input';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';

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

const ANONYMOUS: BootContext = { decision: { action: 'show_menu', output: 3, known: false, source: 'none', anonymous: true }, facts: { deviceType: 'other' }, params: {} };

export = function register(RED: RED): void {
  function NetbootIpxe(this: Node, def: IpxeConfig): void {
    RED.nodes.createNode(this, def);
    const node = this;
    useServer(RED, node, def.server);
    node.on('input', (msg: IpxeInput, send, done) => {
      runInput(node, msg, send, done, async () => {
        const server = bootServerOf(RED, def.server);
        // precedence: msg.netboot.script, then the script named by msg.profile, then the node's setting
        let kind: ScriptKind | undefined = msg.netboot?.script;
        let ctx: BootContext | undefined = msg.netboot?.decision ? msg.netboot : undefined;
        if (typeof msg.profile === 'string' && msg.profile !== '') {
          const target = await targetContext(server.store, ctx ?? ANONYMOUS, msg.profile);
          ctx = target.ctx;
          kind ??= target.kind;
        }
        kind ??= def.script ?? 'auto';
        if (!(SCRIPT_KINDS as readonly string[]).includes(kind)) throw new NetbootError('validation', `field "script": "${String(kind)}" is not one of ${SCRIPT_KINDS.join(', ')}`, { field: 'script' });
        if (!ctx) {
          if (!['identify', 'menu', 'retry', 'winpeshl', 'register'].includes(kind)) throw new NetbootError('validation', 'field "netboot": msg.netboot from a netboot-checkin node is needed for this script', { field: 'netboot' });
          ctx = ANONYMOUS;
        }
        const needsMenu = kind === 'menu' || kind === 'register' || (kind === 'auto' && ctx.decision.action === 'show_menu');
        const settings = await server.store.getSettings();
        const script = await renderBootScript(ctx, server.config, {
          kind,
          onFailure: def.onFailure,
          biosSanboot: def.biosSanboot === true,
          menuTimeoutMs: settings.menuTimeoutMs,
          menuDefault: settings.menuDefault,
          san: server.iscsi,
          ...(needsMenu ? { profiles: (await server.store.profiles.list({ limit: 1000 })).items, images: (await server.store.images.list({ limit: 1000 })).items } : {}),
        });
        msg.payload = script.text;
        msg.headers = { ...((msg.headers as Record<string, string> | undefined) ?? {}), 'content-type': script.contentType, ...(script.containsSecret ? { 'cache-control': 'no-store' } : {}) };
        msg.netboot = { ...ctx, script: script.kind };
        node.status({ fill: 'green', shape: 'dot', text: RED._('netboot-ipxe.status.serving', { kind: script.kind, mac: ctx.device?.mac ?? ctx.facts.mac ?? '-' }) });
        return msg;
      }, (error) => RED._('netboot-ipxe.status.error', { error }));
    });
  }
  RED.nodes.registerType('netboot-ipxe', NetbootIpxe as unknown as (this: Node, def: NodeDef) => void);
};
