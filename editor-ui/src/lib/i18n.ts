/** The browser parts' words, from the package's locale file (nodes/netboot-sidebar/locales/). */
import enUS from '../../../nodes/netboot-sidebar/locales/en-US/netboot-sidebar.json';

type Tree = { [k: string]: string | Tree };

export function translator(messages: Tree): (key: string, vars?: Record<string, string | number>) => string {
  return (key, vars) => {
    let node: string | Tree | undefined = messages;
    for (const part of key.split('.')) node = typeof node === 'object' ? node[part] : undefined;
    if (typeof node !== 'string') return key;
    return vars ? node.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m)) : node;
  };
}

export const t = translator(enUS as Tree);
