import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { NetbootError } from '../core/errors';
import { iscsiUri, type IscsiTarget } from './iscsi';
import { kernelArgList, safeValue, unsafe, type KernelParams, type SafeKind } from './ipxe-safe';
import { assertValidIpxeScript } from './ipxe-validate';

/**
 * A tiny template engine for user-overridable iPXE scripts (`boot-assets/templates/*.ipxe.tmpl`).
 *
 * A placeholder is `{{name}}` or `{{name:kind}}` (kind defaults to `token`). Every value passes the
 * allow-list for its kind before it is inserted; a missing key is an error, never an empty string.
 * Everything else in the template, including iPXE's own `${...}` settings, is copied as written:
 * the template file is trusted (it is the administrator's), the values are not.
 *
 * Kinds: `token`, `url`, `label` (menu/echo text; spaces allowed, so only as the last argument),
 * `kernelArg`, `kernelArgs` (a `{key: value}` object, an array, or a space-separated string; may be
 * empty), `iqn`, `hostOrIp`, `secret` (marks the output as holding a credential), `efiPath`,
 * `int` (a non-negative integer), `iscsiUri` (an `{server, port?, lun?, iqn}` object).
 */
export const TEMPLATE_KINDS = ['token', 'url', 'label', 'kernelArg', 'kernelArgs', 'iqn', 'hostOrIp', 'secret', 'efiPath', 'int', 'iscsiUri'] as const;
export type TemplateKind = (typeof TEMPLATE_KINDS)[number];

export interface Template {
  name: string;
  text: string;
  /** Where it came from: the user's folder or the shipped defaults. */
  source: 'user' | 'builtin' | 'inline';
  path?: string;
}

export interface TemplatePlaceholder {
  key: string;
  kind: TemplateKind;
}

export interface RenderedTemplate {
  text: string;
  containsSecret: boolean;
}

const PLACEHOLDER_RE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s*:\s*([A-Za-z]+))?\s*\}\}/g;
const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const MAX_TEMPLATE_BYTES = 64 * 1024;
export const TEMPLATE_SUFFIX = '.ipxe.tmpl';

function templateError(name: string, msg: string, details: Record<string, unknown> = {}): NetbootError {
  return new NetbootError('template', `template "${name}": ${msg}`, { template: name, ...details });
}

/** The placeholders of a template, checking the syntax (unknown kinds, stray `{{`/`}}`). */
export function parseTemplate(tpl: Template): TemplatePlaceholder[] {
  const out: TemplatePlaceholder[] = [];
  const stripped = tpl.text.replace(PLACEHOLDER_RE, (_m, key: string, kind: string | undefined) => {
    const k = (kind ?? 'token') as TemplateKind;
    if (!TEMPLATE_KINDS.includes(k)) throw templateError(tpl.name, `placeholder "${key}" has unknown kind "${kind}" (use one of ${TEMPLATE_KINDS.join(', ')})`, { key });
    out.push({ key, kind: k });
    return '';
  });
  const stray = /\{\{|\}\}/.exec(stripped);
  if (stray) {
    const line = stripped.slice(0, stray.index).split('\n').length;
    throw templateError(tpl.name, `malformed placeholder near line ${line} (use {{name}} or {{name:kind}})`);
  }
  return out;
}

/** Fill in a template. Values are allow-listed per placeholder kind; the field in errors is the key. */
export function renderTemplate(tpl: Template, values: Record<string, unknown>): RenderedTemplate {
  parseTemplate(tpl);
  let containsSecret = false;
  const text = tpl.text.replace(PLACEHOLDER_RE, (_m, key: string, kind: string | undefined) => {
    const k = (kind ?? 'token') as TemplateKind;
    if (!Object.prototype.hasOwnProperty.call(values, key) || values[key] === undefined) {
      throw templateError(tpl.name, `missing key "${key}"`, { key });
    }
    if (k === 'secret') containsSecret = true;
    return formatValue(k, values[key], key);
  });
  return { text, containsSecret };
}

/** Fill in an iPXE template and validate the result (`NetbootError('template')` on a problem). */
export function renderIpxeTemplate(tpl: Template, values: Record<string, unknown>): RenderedTemplate {
  const out = renderTemplate(tpl, values);
  assertValidIpxeScript(out.text, `template "${tpl.name}"`);
  return out;
}

function formatValue(kind: TemplateKind, value: unknown, field: string): string {
  switch (kind) {
    case 'kernelArgs':
      if (value === null || value === '') return '';
      return kernelArgList(value as KernelParams | string[] | string, field).join(' ');
    case 'int':
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
      if (typeof value === 'string' && /^\d{1,15}$/.test(value)) return value;
      return unsafe(field, 'must be a non-negative integer');
    case 'iscsiUri':
      if (typeof value !== 'object' || value === null) unsafe(field, 'must be an {server, port?, lun?, iqn} object');
      return iscsiUri(value as IscsiTarget, field);
    default:
      return safeValue(kind as SafeKind, value, field);
  }
}

export interface TemplateDirs {
  /** The user's folder (e.g. `<data dir>/templates`); checked first. */
  userDir?: string;
  /** The shipped defaults; default `builtinTemplateDir()`. */
  builtinDir?: string;
}

function templateFile(name: string, dir: string): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new NetbootError('validation', `template name "${String(name)}" must be lowercase letters, digits, "_" and "-"`, { field: 'template' });
  }
  return path.join(dir, `${name}${TEMPLATE_SUFFIX}`);
}

function checkSize(name: string, text: string, file: string): void {
  if (Buffer.byteLength(text) > MAX_TEMPLATE_BYTES) throw templateError(name, `${file} is larger than ${MAX_TEMPLATE_BYTES} bytes`);
}

/** Loads `<name>.ipxe.tmpl`, preferring the user's copy over the shipped default. */
export async function loadTemplate(name: string, dirs: TemplateDirs = {}): Promise<Template> {
  const candidates = candidatesFor(name, dirs);
  for (const [source, file] of candidates) {
    try {
      const text = await readFile(file, 'utf8');
      checkSize(name, text, file);
      return { name, text, source, path: file };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw NetbootError.wrap(`loading template "${name}" from ${file}`, err);
    }
  }
  throw new NetbootError('not_found', `template "${name}" not found in ${candidates.map((c) => c[1]).join(' or ')}`, { template: name });
}

/** Synchronous `loadTemplate`, for start-up code. */
export function loadTemplateSync(name: string, dirs: TemplateDirs = {}): Template {
  const candidates = candidatesFor(name, dirs);
  for (const [source, file] of candidates) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    checkSize(name, text, file);
    return { name, text, source, path: file };
  }
  throw new NetbootError('not_found', `template "${name}" not found in ${candidates.map((c) => c[1]).join(' or ')}`, { template: name });
}

function candidatesFor(name: string, dirs: TemplateDirs): Array<['user' | 'builtin', string]> {
  const out: Array<['user' | 'builtin', string]> = [];
  if (dirs.userDir !== undefined) out.push(['user', templateFile(name, dirs.userDir)]);
  out.push(['builtin', templateFile(name, dirs.builtinDir ?? builtinTemplateDir())]);
  return out;
}

/**
 * `boot-assets/templates` of this package, found by walking up from this file (works from `lib/`
 * in the source tree and from `dist/lib/` in the published package).
 */
export function builtinTemplateDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'boot-assets', 'templates');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..', 'boot-assets', 'templates');
}
