// Copies what tsc does not: each node's editor .html and its locales, next to the compiled .js,
// because Node-RED looks for them beside the node file.
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const src = join(root, 'nodes');
const out = join(root, 'dist', 'nodes');

for (const name of readdirSync(src)) {
  const dir = join(src, name);
  if (!statSync(dir).isDirectory()) continue;
  for (const entry of readdirSync(dir)) {
    if (entry.endsWith('.html') || entry === 'locales' || entry === 'icons') {
      cpSync(join(dir, entry), join(out, name, entry), { recursive: true });
    }
  }
}
// the palette icons of our own, beside every node file (Node-RED looks for an icons/ folder there)
for (const name of readdirSync(out)) {
  if (name !== 'shared' && statSync(join(out, name)).isDirectory()) cpSync(join(src, 'shared', 'icons'), join(out, name, 'icons'), { recursive: true });
}
// the socket thread's plain CommonJS source (lib/net/udp-thread.ts loads it from beside itself)
cpSync(join(root, 'lib', 'net', 'udp-thread.worker.cjs'), join(root, 'dist', 'lib', 'net', 'udp-thread.worker.cjs'));
if (existsSync(join(root, 'editor-ui', 'static'))) {
  cpSync(join(root, 'editor-ui', 'static'), join(root, 'resources'), { recursive: true });
}
