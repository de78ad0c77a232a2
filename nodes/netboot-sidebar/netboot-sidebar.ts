/**
 * The editor plugin "Netboot" (package.json `node-red.plugins`): its .html adds the sidebar tab
 * (the Vue bundle built from editor-ui/ into resources/), and here, on the runtime side, the
 * full-page fleet view's shell at <admin root>/netboot/. The shell is public like the editor's own
 * page; every datum on it comes from /netboot/api with the user's bearer token.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Handler, RED } from '../shared/red';

const MODULE = '@netboot/node-red-netboot';
const shellFile = path.resolve(__dirname, '..', '..', '..', 'resources', 'fleet.html');

/** The built page with a <base> pointing at our resources, so it loads from <admin root>/netboot/. */
export function shellHtml(built: string): string {
  return built.replace(/<head>/i, `<head>\n  <base href="../resources/${MODULE}/">`);
}

type PluginRED = RED & { plugins: { registerPlugin(id: string, def: { type: string }): void } };
type Res = Parameters<Handler>[1] & { redirect(status: number, url: string): void };

module.exports = function netbootSidebar(RED: PluginRED): void {
  RED.plugins.registerPlugin('netboot-sidebar', { type: 'netboot-sidebar' });
  let cached: string | undefined;
  // Express matches /netboot and /netboot/ alike; the page's relative URLs need the slash
  RED.httpAdmin.get('/netboot/', ((req, res) => {
    const url = (req as unknown as { originalUrl: string }).originalUrl;
    if (!url.split('?')[0].endsWith('/')) return (res as Res).redirect(301, 'netboot/');
    const send = (html: string) => (res as Res).set({ 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Frame-Options': 'SAMEORIGIN' }).send(html);
    if (cached) return send(cached);
    fsp.readFile(shellFile, 'utf8').then((built) => {
      cached = shellHtml(built);
      send(cached);
    }, () => {
      res.status(404).set({ 'Content-Type': 'text/plain; charset=utf-8' }).send('netboot: the fleet view is not built: run `npm run build` in the package folder\n');
    });
  }) as Handler);
};
