import { NetbootError } from '../../lib/core/errors';
import type { BootContext } from '../../lib/policy/boot-script';
import { GRUB_KINDS, renderGrubFile, type GrubKind } from '../../lib/policy/grub-config';
import { isGrubRootConfig } from '../../lib/render';
import { bootServerOf, runInput, useServer } from '../shared/boot-input';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';

interface GrubConfig extends NodeDef {
  server?: string;
  config?: GrubKind;
}

/** Input: msg.netboot from netboot-checkin; msg.filename (the TFTP path GRUB asked for) picks the root file `grub/grub.cfg`. */
interface GrubInput extends NodeMessage {
  netboot?: BootContext & { grub?: string };
  filename?: string;
}

/** netboot-grub: the GRUB counterpart of netboot-ipxe, for the Secure Boot chain (shim → signed GRUB → signed kernel over TFTP). */
export = function register(RED: RED): void {
  function NetbootGrub(this: Node, def: GrubConfig): void {
    RED.nodes.createNode(this, def);
    const node = this;
    useServer(RED, node, def.server);
    node.on('input', (msg: GrubInput, send, done) => {
      runInput(node, msg, send, done, async () => {
        const server = bootServerOf(RED, def.server);
        let kind: GrubKind = def.config ?? 'auto';
        if (!(GRUB_KINDS as readonly string[]).includes(kind)) throw new NetbootError('validation', `field "config": "${String(kind)}" is not one of ${GRUB_KINDS.join(', ')}`, { field: 'config' });
        if (kind === 'auto' && typeof msg.filename === 'string' && isGrubRootConfig(msg.filename)) kind = 'root';
        const ctx = msg.netboot?.decision ? msg.netboot : undefined;
        const settings = kind === 'root' ? undefined : await server.store.getSettings();
        const wantsMenu = kind === 'menu' || kind === 'register' || (kind === 'auto' && ctx?.decision.action === 'show_menu');
        const file = renderGrubFile(ctx, server.config, {
          kind,
          menuTimeoutMs: settings?.menuTimeoutMs,
          menuDefault: settings?.menuDefault,
          ...(wantsMenu ? { profiles: (await server.store.profiles.list({ limit: 1000 })).items } : {}),
        });
        msg.payload = file.text;
        msg.headers = { ...((msg.headers as Record<string, string> | undefined) ?? {}), 'content-type': 'text/plain; charset=utf-8' };
        if (ctx) msg.netboot = { ...ctx, grub: file.kind };
        node.status({ fill: 'green', shape: 'dot', text: RED._('netboot-grub.status.serving', { kind: file.kind, mac: ctx?.device?.mac ?? ctx?.facts.mac ?? '-' }) });
        return msg;
      }, (error) => RED._('netboot-grub.status.error', { error }));
    });
  }
  RED.nodes.registerType('netboot-grub', NetbootGrub as unknown as (this: Node, def: NodeDef) => void);
};
