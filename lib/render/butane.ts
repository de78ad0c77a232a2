import yaml from 'js-yaml';
import { NetbootError } from '../core/errors';

/**
 * Butane (YAML) → Ignition (JSON), for the `butane` config format. Butane's own compiler is a Go
 * program that Debian does not package and that has no JavaScript counterpart, so netboot translates
 * the part of the `fcos` and `flatcar` variants a network install uses, following Butane's
 * specification, and refuses the rest by name (never silently dropping a key):
 *
 * - integers as go-yaml reads them (`mode: 0644` is octal, see GoInt);
 * - `variant` + `version` → `ignition.version` (fcos 1.0 → 3.0.0 … 1.6 → 3.5.0; flatcar 1.0 → 3.3.0, 1.1 → 3.4.0);
 * - `storage.files[].contents.inline` → a `data:` URL (`source`); `source`, `compression`,
 *   `verification`, `http_headers` pass through; `storage.files[].append[]` the same way;
 * - `passwd`, `systemd`, `storage.directories`, `storage.links`, `storage.disks`, `storage.raid`,
 *   `storage.filesystems`, `ignition` (config merge/replace, timeouts, TLS) pass through;
 * - `local` (a file beside the Butane config), `storage.trees`, `boot_device` and `kernel_arguments`
 *   need Butane's own compiler and are refused with that reason.
 */

const VERSIONS: Record<string, Record<string, string>> = {
  fcos: { '1.0.0': '3.0.0', '1.1.0': '3.1.0', '1.2.0': '3.2.0', '1.3.0': '3.2.0', '1.4.0': '3.3.0', '1.5.0': '3.4.0', '1.6.0': '3.5.0' },
  flatcar: { '1.0.0': '3.3.0', '1.1.0': '3.4.0' },
};
const TOP = new Set(['variant', 'version', 'ignition', 'passwd', 'storage', 'systemd']);
const STORAGE = new Set(['files', 'directories', 'links', 'disks', 'raid', 'filesystems', 'luks']);

/**
 * Butane reads YAML the way go-yaml does, where `mode: 0644` is octal (420); YAML 1.2 (js-yaml's
 * default) would read it as the decimal 644 and give the file mode 01204. This integer type keeps
 * every other integer form and reads a leading-zero number as octal.
 */
const GoInt = new yaml.Type('tag:yaml.org,2002:int', {
  kind: 'scalar',
  resolve: (s: unknown) => typeof s === 'string' && /^[-+]?(0|[1-9][0-9_]*|0[0-7]+|0o[0-7]+|0x[0-9a-fA-F]+)$/.test(s),
  construct: (s: string) => {
    const neg = s.startsWith('-');
    const t = s.replace(/^[-+]/, '').replace(/_/g, '');
    const n = /^0[0-7]+$/.test(t) ? parseInt(t, 8) : /^0o/.test(t) ? parseInt(t.slice(2), 8) : /^0x/.test(t) ? parseInt(t.slice(2), 16) : parseInt(t, 10);
    return neg ? -n : n;
  },
  predicate: (v: unknown) => Number.isInteger(v),
  represent: (v: unknown) => String(v),
});
const BUTANE_SCHEMA = yaml.DEFAULT_SCHEMA.extend({ implicit: [GoInt] });

function fail(name: string, msg: string): never {
  throw new NetbootError('validation', `config "${name}": Butane: ${msg}`, { field: 'template' });
}

function dataUrl(text: string): string {
  return `data:,${encodeURIComponent(text)}`;
}

function contents(name: string, where: string, c: unknown): Record<string, unknown> {
  if (!c || typeof c !== 'object' || Array.isArray(c)) fail(name, `${where}: contents must be a mapping`);
  const { inline, local, ...rest } = c as Record<string, unknown>;
  if (local !== undefined) fail(name, `${where}.local: a file beside the Butane config needs Butane's own compiler (use inline or source)`);
  if (inline !== undefined) {
    if (typeof inline !== 'string') fail(name, `${where}.inline must be text`);
    if (rest.source !== undefined) fail(name, `${where}: inline and source together`);
    return { ...rest, source: dataUrl(inline) };
  }
  return rest;
}

export function butaneToIgnition(name: string, text: string): string {
  let doc: unknown;
  try {
    doc = yaml.load(text, { schema: BUTANE_SCHEMA });
  } catch (err) {
    const e = err as { mark?: { line: number }; reason?: string; message: string };
    fail(name, `YAML line ${(e.mark?.line ?? 0) + 1}: ${e.reason ?? e.message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) fail(name, 'the document must be a mapping with variant and version');
  const d = doc as Record<string, unknown>;
  const variant = String(d.variant ?? '');
  const version = String(d.version ?? '');
  const ign = VERSIONS[variant]?.[version];
  if (!ign) fail(name, `variant "${variant}" version "${version}" is not one netboot translates (${Object.entries(VERSIONS).map(([v, m]) => `${v} ${Object.keys(m).join('/')}`).join('; ')})`);
  for (const k of Object.keys(d)) if (!TOP.has(k)) fail(name, `"${k}" needs Butane's own compiler (netboot translates ${[...TOP].join(', ')})`);
  const out: Record<string, unknown> = { ignition: { ...((d.ignition as Record<string, unknown> | undefined) ?? {}), version: ign } };
  if (d.passwd !== undefined) out.passwd = d.passwd;
  if (d.systemd !== undefined) out.systemd = d.systemd;
  if (d.storage !== undefined) {
    if (!d.storage || typeof d.storage !== 'object' || Array.isArray(d.storage)) fail(name, 'storage must be a mapping');
    const storage = { ...(d.storage as Record<string, unknown>) };
    for (const k of Object.keys(storage)) if (!STORAGE.has(k)) fail(name, `storage.${k} needs Butane's own compiler`);
    if (storage.files !== undefined) {
      if (!Array.isArray(storage.files)) fail(name, 'storage.files must be a list');
      storage.files = storage.files.map((f: unknown, i: number) => {
        if (!f || typeof f !== 'object') fail(name, `storage.files[${i}] must be a mapping`);
        const file = { ...(f as Record<string, unknown>) };
        if (file.contents !== undefined) file.contents = contents(name, `storage.files[${i}].contents`, file.contents);
        if (file.append !== undefined) {
          if (!Array.isArray(file.append)) fail(name, `storage.files[${i}].append must be a list`);
          file.append = file.append.map((a: unknown, j: number) => contents(name, `storage.files[${i}].append[${j}]`, a));
        }
        return file;
      });
    }
    out.storage = storage;
  }
  return JSON.stringify(out);
}
