import yaml from 'js-yaml';
import { NetbootError } from '../core/errors';
import type { ConfigFormat } from '../store/schema';
import { butaneToIgnition } from './butane';
import { safeValue, type SafeKind } from './ipxe-safe';

/**
 * Installer configuration documents (cloud-init user-data, Ubuntu autoinstall, Debian preseed,
 * Kickstart, Talos machine config, Ignition) rendered per machine from a template.
 *
 * A placeholder is `{{name}}` or `{{name:kind}}`; `name` may be dotted (`params.token`,
 * `labels.role`, `secrets.join_token`, `device.hostname`). Every value passes its kind's rule before
 * it is inserted, so a value can never add a key, a line or a command to the document:
 *
 * - `yaml` (default): a YAML scalar, written as a JSON string or number (`"a: b\nc"` stays one value);
 * - `json`: any value as JSON (for Ignition, or a YAML flow value);
 * - `line`: one line of text for preseed/Kickstart (no control characters, no newline);
 * - `token`, `url`, `hostOrIp`: the iPXE allow-lists (no spaces, no shell or YAML specials);
 * - `int`: a non-negative integer.
 *
 * A missing value is an error, never an empty string. `secrets.*` values come from the server's
 * credentials; a document that uses one is marked as holding a secret.
 */
export const CONFIG_KINDS = ['yaml', 'json', 'line', 'token', 'url', 'hostOrIp', 'int'] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*)(?:\s*:\s*([A-Za-z]+))?\s*\}\}/g;

export interface RenderedConfig {
  text: string;
  containsSecret: boolean;
  contentType: string;
}

function fail(name: string, msg: string, field?: string): never {
  throw new NetbootError('validation', `config "${name}": ${msg}`, { ...(field ? { field } : {}), config: name });
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

/** The placeholders of a template; unknown kinds and stray braces are errors naming the line. */
export function configPlaceholders(name: string, template: string): Array<{ key: string; kind: ConfigKind; line: number }> {
  const out: Array<{ key: string; kind: ConfigKind; line: number }> = [];
  const stripped = template.replace(PLACEHOLDER, (m, key: string, kind: string | undefined, at: number) => {
    const k = (kind ?? 'yaml') as ConfigKind;
    if (!CONFIG_KINDS.includes(k)) fail(name, `line ${lineOf(template, at)}: placeholder "${key}" has unknown kind "${kind}" (use ${CONFIG_KINDS.join(', ')})`, 'template');
    out.push({ key, kind: k, line: lineOf(template, at) });
    return ' '.repeat(m.length);
  });
  // only an opening "{{" is suspect: JSON documents close nested objects with "}}" all the time
  const stray = /\{\{/.exec(stripped);
  if (stray) fail(name, `line ${lineOf(stripped, stray.index)}: malformed placeholder (use {{name}} or {{name:kind}})`, 'template');
  return out;
}

function lookup(values: Record<string, unknown>, key: string): unknown {
  let cur: unknown = values;
  for (const part of key.split('.')) {
    if (!cur || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function format(kind: ConfigKind, value: unknown, key: string): string {
  switch (kind) {
    case 'yaml':
      if (typeof value === 'number' && Number.isFinite(value)) return String(value);
      if (typeof value === 'boolean') return String(value);
      if (typeof value !== 'string') throw new NetbootError('unsafe_value', `field "${key}": a yaml value must be text, a number or true/false`, { field: key });
      // a JSON string is a YAML double-quoted scalar: quotes, backslashes, newlines and ": " stay inside it
      return JSON.stringify(value).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
    case 'json':
      if (value === undefined) throw new NetbootError('unsafe_value', `field "${key}": missing`, { field: key });
      return JSON.stringify(value);
    case 'line': {
      const s = typeof value === 'number' ? String(value) : value;
      if (typeof s !== 'string' || s.length > 4096) throw new NetbootError('unsafe_value', `field "${key}": must be text of at most 4096 characters`, { field: key });
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f\u007f\u2028\u2029]/.test(s)) throw new NetbootError('unsafe_value', `field "${key}": a line value may not hold a newline or control character`, { field: key });
      return s;
    }
    case 'int':
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
      if (typeof value === 'string' && /^\d{1,15}$/.test(value)) return value;
      throw new NetbootError('unsafe_value', `field "${key}": must be a non-negative integer`, { field: key });
    default:
      return safeValue(kind as SafeKind, value, key);
  }
}

export const CONTENT_TYPES: Record<ConfigFormat, string> = {
  'cloud-config': 'text/cloud-config; charset=utf-8',
  autoinstall: 'text/cloud-config; charset=utf-8',
  'meta-data': 'text/yaml; charset=utf-8',
  'vendor-data': 'text/cloud-config; charset=utf-8',
  preseed: 'text/plain; charset=utf-8',
  kickstart: 'text/plain; charset=utf-8',
  talos: 'application/yaml; charset=utf-8',
  ignition: 'application/vnd.coreos.ignition+json; charset=utf-8',
  butane: 'application/vnd.coreos.ignition+json; charset=utf-8',
  text: 'text/plain; charset=utf-8',
};

/** Renders a document for one machine; the result is checked against its format (checkConfigText). */
export function renderConfig(doc: { id: string; format: ConfigFormat; template: string }, values: Record<string, unknown>): RenderedConfig {
  configPlaceholders(doc.id, doc.template);
  let containsSecret = false;
  const text = doc.template.replace(PLACEHOLDER, (_m, key: string, kind: string | undefined) => {
    const value = lookup(values, key);
    if (value === undefined || value === null) fail(doc.id, `no value for "${key}" (set it in the group's params, the device's overrides or the server's secrets)`, key);
    if (key.startsWith('secrets.')) containsSecret = true;
    return format((kind ?? 'yaml') as ConfigKind, value, key);
  });
  checkConfigText(doc.id, doc.format, text);
  // Butane is written by people, Ignition read by machines: the machine gets the translation
  const served = doc.format === 'butane' ? butaneToIgnition(doc.id, text) : text;
  return { text: served, containsSecret, contentType: CONTENT_TYPES[doc.format] };
}

/**
 * The format's own rules on a rendered document: YAML or JSON that parses (errors name the line),
 * `#cloud-config` first for cloud-init, `autoinstall.version` for autoinstall, Talos' `version` and
 * `machine`, Ignition's `ignition.version` 3.x, preseed lines of `owner question type value`.
 */
export function checkConfigText(name: string, fmt: ConfigFormat, text: string): void {
  const parseYaml = (): unknown => {
    try {
      return yaml.load(text, { schema: yaml.DEFAULT_SCHEMA });
    } catch (err) {
      const e = err as { mark?: { line: number }; reason?: string; message: string };
      fail(name, `YAML line ${(e.mark?.line ?? 0) + 1}: ${e.reason ?? e.message}`, 'template');
    }
  };
  switch (fmt) {
    case 'cloud-config':
    case 'vendor-data':
    case 'autoinstall': {
      if (!/^#cloud-config[ \t]*\r?\n/.test(text)) fail(name, 'line 1: cloud-init reads user-data as cloud-config only when it starts with "#cloud-config"', 'template');
      const doc = parseYaml();
      if (doc !== null && (typeof doc !== 'object' || Array.isArray(doc))) fail(name, 'cloud-config must be a YAML mapping', 'template');
      if (fmt === 'autoinstall') {
        const ai = (doc as { autoinstall?: { version?: unknown } } | null)?.autoinstall;
        if (!ai || ai.version !== 1) fail(name, 'Ubuntu autoinstall needs "autoinstall:" with "version: 1"', 'template');
      }
      return;
    }
    case 'meta-data': {
      const doc = parseYaml();
      if (doc !== null && (typeof doc !== 'object' || Array.isArray(doc))) fail(name, 'meta-data must be a YAML mapping (instance-id, local-hostname)', 'template');
      return;
    }
    case 'talos': {
      const doc = parseYaml() as { version?: unknown; machine?: unknown } | null;
      if (!doc || doc.version !== 'v1alpha1' || typeof doc.machine !== 'object') fail(name, 'a Talos machine config has "version: v1alpha1" and a "machine:" section', 'template');
      return;
    }
    case 'ignition': {
      let doc: { ignition?: { version?: unknown } };
      try {
        doc = JSON.parse(text) as typeof doc;
      } catch (err) {
        const at = /position (\d+)/.exec((err as Error).message)?.[1];
        fail(name, `JSON${at ? ` line ${lineOf(text, Number(at))}` : ''}: ${(err as Error).message}`, 'template');
      }
      if (typeof doc?.ignition?.version !== 'string' || !/^3\.[0-9]+\.[0-9]+$/.test(doc.ignition.version)) fail(name, 'Ignition needs "ignition": {"version": "3.x.y"} (spec 3; Butane compiles to it)', 'template');
      return;
    }
    case 'butane':
      checkConfigText(name, 'ignition', butaneToIgnition(name, text));
      return;
    case 'preseed': {
      let continued = false;
      text.split('\n').forEach((raw, i) => {
        const line = raw.trim();
        const wasContinued = continued;
        continued = line.endsWith('\\');
        if (wasContinued || !line || line.startsWith('#')) return;
        if (line.split(/\s+/).length < 3) fail(name, `line ${i + 1}: a preseed line is "owner question type value" (e.g. "d-i netcfg/get_hostname string web1")`, 'template');
      });
      return;
    }
    default:
      return;
  }
}
