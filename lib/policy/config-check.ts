import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { NetbootError } from '../core/errors';
import { checkConfigText, configPlaceholders, type ConfigKind } from '../render/config';
import { CONFIG_FORMATS, type ConfigFormat } from '../store/schema';

/**
 * A config document checked at save time, the way its consumer will read it: placeholders well
 * formed, the document rendered with sample values parses as its format (lib/render/config.ts
 * checkConfigText; errors name the line), and cloud-config is checked against cloud-init's own
 * JSON schema by `cloud-init schema` when cloud-init is installed (Debian's `cloud-init` package
 * ships the schema; without it only the YAML and the `#cloud-config` header are checked).
 */

const SAMPLE: Record<ConfigKind, string> = { yaml: '"sample"', json: '"sample"', line: 'sample', token: 'sample', url: 'http://10.0.0.1/sample', hostOrIp: '10.0.0.1', int: '1' };

export function sampleRender(template: string, name: string): string {
  configPlaceholders(name, template);
  return template.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)(?:\s*:\s*([A-Za-z]+))?\s*\}\}/g, (_m, _key: string, kind: string | undefined) => SAMPLE[(kind ?? 'yaml') as ConfigKind] ?? 'sample');
}

let cloudInit: Promise<boolean> | undefined;
async function haveCloudInit(): Promise<boolean> {
  cloudInit ??= import('execa').then(({ execa }) => execa('cloud-init', ['--version'], { reject: false, timeout: 10_000 })).then((r) => r.exitCode === 0, () => false);
  return cloudInit;
}

export async function checkConfigDoc(doc: { id?: string; name?: unknown; format?: unknown; template?: unknown }): Promise<{ schemaChecked: boolean }> {
  const name = String(doc.id ?? doc.name ?? 'config');
  if (typeof doc.format !== 'string' || !(CONFIG_FORMATS as readonly string[]).includes(doc.format)) {
    throw new NetbootError('validation', `field "format": one of ${CONFIG_FORMATS.join(', ')}`, { field: 'format' });
  }
  if (typeof doc.template !== 'string') throw new NetbootError('validation', 'field "template": the document text', { field: 'template' });
  const text = sampleRender(doc.template, name);
  checkConfigText(name, doc.format as ConfigFormat, text);
  if ((doc.format === 'cloud-config' || doc.format === 'autoinstall') && (await haveCloudInit())) {
    const dir = await fsp.mkdtemp(path.join(tmpdir(), 'netboot-ud-'));
    try {
      const file = path.join(dir, 'user-data');
      await fsp.writeFile(file, text);
      const { execa } = await import('execa');
      const r = await execa('cloud-init', ['schema', '-c', file], { reject: false, timeout: 60_000 });
      if (r.exitCode !== 0) {
        const said = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).filter((l) => l && !/^Cloud config schema deprecations:?$/.test(l) && l !== 'Error:').join(' ');
        throw new NetbootError('validation', `config "${name}": cloud-init schema: ${said.replace(file, 'user-data') || 'invalid'}`, { field: 'template' });
      }
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
    return { schemaChecked: true };
  }
  return { schemaChecked: false };
}
