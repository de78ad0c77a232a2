/**
 * The editor's Netboot tab. The plugin's .html (nodes/netboot-sidebar/) imports this module and
 * calls `mount` with the tab's element; the editor's own login token authorises every call.
 */
import { createApp } from 'vue';
import SidebarApp from './components/SidebarApp.vue';
import { createClient } from './lib/api';
import { createConnection } from './lib/connection';
import './theme.css';

export { t } from './lib/i18n';

/** `root`: the editor's URL (Node-RED's admin root), ending in "/". */
export function mount(el: Element, root: string): () => void {
  if (!document.querySelector('link[data-netboot-css]')) {
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = new URL(/* @vite-ignore */ 'netboot.css', import.meta.url).href;
    link.dataset.netbootCss = '';
    document.head.append(link);
  }
  const client = createClient(root);
  const app = createApp(SidebarApp, { conn: createConnection(client), pageUrl: `${client.root}netboot/` });
  app.mount(el);
  return () => app.unmount();
}
