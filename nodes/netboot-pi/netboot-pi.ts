import { NetbootError } from '../../lib/core/errors';
import type { BootContext } from '../../lib/policy/boot-script';
import { renderPiFiles, type PiFiles } from '../../lib/policy/pi-files';
import type { PiModel, PiPrefixMode } from '../../lib/render';
import { bootServerOf, runInput, useServer } from '../shared/boot-input';
import type { Node, NodeDef, NodeMessage, RED } from '../shared/red';

interface PiConfig extends NodeDef {
  server?: string;
  /** `auto` (from msg.filename), `config.txt` or `cmdline.txt`. */
  file?: string;
  model?: string;
  prefixMode?: PiPrefixMode;
}

/** Input: msg.netboot from netboot-checkin, msg.filename (TFTP path or name) picks the file. */
interface PiInput extends NodeMessage {
  netboot?: BootContext & { pi?: PiFiles };
  filename?: string;
}

const FILES = ['config.txt', 'cmdline.txt'] as const;

export = function register(RED: RED): void {
  function NetbootPi(this: Node, def: PiConfig): void {
    RED.nodes.createNode(this, def);
    const node = this;
    useServer(RED, node, def.server);
    node.on('input', (msg: PiInput, send, done) => {
      runInput(node, msg, send, done, async () => {
        const server = bootServerOf(RED, def.server);
        const ctx = msg.netboot;
        if (!ctx?.decision) throw new NetbootError('validation', 'field "netboot": msg.netboot from a netboot-checkin node is needed', { field: 'netboot' });
        const wanted = def.file && def.file !== 'auto' ? def.file : (typeof msg.filename === 'string' ? msg.filename.split('/').pop() : undefined) ?? 'config.txt';
        if (!(FILES as readonly string[]).includes(wanted)) throw new NetbootError('not_found', `field "filename": "${wanted}" is not config.txt or cmdline.txt`, { field: 'filename' });
        const model = def.model && def.model !== 'auto' ? (Number(def.model) as PiModel) : undefined;
        const pi = renderPiFiles(ctx, server.config, { model, prefixMode: def.prefixMode, san: server.iscsi });
        msg.payload = pi.files[wanted as (typeof FILES)[number]];
        msg.headers = { 'content-type': 'text/plain; charset=utf-8', ...(pi.containsSecret ? { 'cache-control': 'no-store' } : {}) };
        msg.netboot = { ...ctx, pi };
        node.status({ fill: 'green', shape: 'dot', text: RED._('netboot-pi.status.serving', { file: wanted, prefix: pi.prefix || '/', root: pi.root }) });
        return msg;
      }, (error) => RED._('netboot-pi.status.error', { error }));
    });
  }
  RED.nodes.registerType('netboot-pi', NetbootPi as unknown as (this: Node, def: NodeDef) => void);
};
