import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isNetbootError } from '../../../lib/core/errors';
import {
  builtinTemplateDir,
  loadTemplate,
  loadTemplateSync,
  parseTemplate,
  renderIpxeTemplate,
  renderTemplate,
  validateIpxeScript,
  type Template,
} from '../../../lib/render';
import { expectGolden } from './golden';

const userDir = mkdtempSync(path.join(tmpdir(), 'netboot-tpl-'));
afterAll(() => rmSync(userDir, { recursive: true, force: true }));

const inline = (text: string): Template => ({ name: 't', text, source: 'inline' });

describe('template engine', () => {
  it('fills placeholders by kind and leaves iPXE settings alone', () => {
    const out = renderTemplate(inline('#!ipxe\nkernel {{k:url}} {{args:kernelArgs}} mac=${netX/mac:hexhyp}\necho {{title:label}} {{ n : int }}\n'), {
      k: 'http://x/vmlinuz', args: { quiet: '', console: 'ttyS0' }, title: 'Hello World', n: 3,
    });
    expect(out.text).toBe('#!ipxe\nkernel http://x/vmlinuz quiet console=ttyS0 mac=${netX/mac:hexhyp}\necho Hello World 3\n');
    expect(out.containsSecret).toBe(false);
  });
  it('a missing key is an error naming the template and key', () => {
    let caught: unknown;
    try { renderTemplate({ name: 'x', text: '{{y}}', source: 'inline' }, {}); } catch (err) { caught = err; }
    expect(isNetbootError(caught, 'template')).toBe(true);
    expect((caught as Error).message).toBe('template "x": missing key "y"');
  });
  it('an undefined value counts as missing; an empty kernelArgs does not', () => {
    expect(() => renderTemplate(inline('{{y}}'), { y: undefined })).toThrow(/missing key "y"/);
    expect(renderTemplate(inline('a {{y:kernelArgs}}'), { y: {} }).text).toBe('a ');
  });
  it.each([
    ['token with space', '{{v}}', 'a b'],
    ['token with ${', '{{v}}', '${x}'],
    ['url with newline', '{{v:url}}', 'http://x/\nreboot'],
    ['label with #', '{{v:label}}', 'a #b'],
    ['kernelArgs with &&', '{{v:kernelArgs}}', 'a=1 && reboot'],
    ['iqn', '{{v:iqn}}', 'iqn.2024.local'],
    ['secret with ;', '{{v:secret}}', 'pa;ss'],
    ['int', '{{v:int}}', '1;2'],
  ])('values are allow-listed: %s', (_n, text, value) => {
    let caught: unknown;
    try { renderTemplate(inline(text), { v: value }); } catch (err) { caught = err; }
    expect(isNetbootError(caught, 'unsafe_value')).toBe(true);
    expect((caught as Error).message).toMatch(/^field "v/);
  });
  it('secret placeholders mark the output', () => {
    expect(renderTemplate(inline('set password {{p:secret}}'), { p: 'abc' }).containsSecret).toBe(true);
  });
  it('syntax errors: unknown kind, stray braces', () => {
    expect(() => parseTemplate(inline('{{a:shell}}'))).toThrow(/unknown kind "shell"/);
    expect(() => parseTemplate(inline('x {{a b}} y'))).toThrow(/malformed placeholder near line 1/);
    expect(parseTemplate(inline('{{a}} {{b:url}}'))).toEqual([{ key: 'a', kind: 'token' }, { key: 'b', kind: 'url' }]);
  });
  it('renderIpxeTemplate validates the result', () => {
    expect(() => renderIpxeTemplate(inline('#!ipxe\ngoto {{l}}\n'), { l: 'nowhere' })).toThrow(/not a valid iPXE script/);
  });
});

describe('template files', () => {
  it('finds the shipped defaults', () => {
    expect(builtinTemplateDir()).toMatch(/boot-assets[\\/]templates$/);
  });
  it('prefers the user copy, falls back to the built-in one', async () => {
    writeFileSync(path.join(userDir, 'chain.ipxe.tmpl'), '#!ipxe\n# mine\nchain {{url:url}}\n');
    const mine = await loadTemplate('chain', { userDir });
    expect(mine.source).toBe('user');
    expect(mine.text).toContain('# mine');
    const builtin = await loadTemplate('kernel', { userDir });
    expect(builtin.source).toBe('builtin');
    expect(loadTemplateSync('chain', { userDir }).source).toBe('user');
    expect(loadTemplateSync('kernel', {}).source).toBe('builtin');
  });
  it('missing template and bad names', async () => {
    await expect(loadTemplate('nope', { userDir })).rejects.toThrow(/template "nope" not found/);
    await expect(loadTemplate('../etc/passwd', { userDir })).rejects.toThrow(/template name/);
  });

  const values: Record<string, Record<string, unknown>> = {
    kernel: { title: 'Debian 12', kernel_url: 'http://10.0.0.2:1880/boot/assets/debian/linux', initrd_url: 'http://10.0.0.2:1880/boot/assets/debian/initrd.gz', args: { priority: 'critical', auto: 'true' } },
    sanboot: { initiator_iqn: 'iqn.2024-01.local.netboot:initiator', target_iqn: 'iqn.2024-01.local.netboot:disk1', root_path: { server: '10.0.0.5', iqn: 'iqn.2024-01.local.netboot:disk1' } },
    chain: { url: 'http://10.0.0.2:1880/boot/next.ipxe' },
    registration: { kernel_url: 'http://10.0.0.2:1880/boot/assets/registration/vmlinuz', initrd_url: 'http://10.0.0.2:1880/boot/assets/registration/initrd', server_url: 'http://10.0.0.2:1880', args: 'quiet console=ttyS0' },
    wimboot: { title: 'WinPE', wimboot_url: 'http://10.0.0.2:1880/wimboot', bcd_url: 'http://10.0.0.2:1880/w/BCD', boot_sdi_url: 'http://10.0.0.2:1880/w/boot.sdi', boot_wim_url: 'http://10.0.0.2:1880/w/boot.wim', server_url: 'http://10.0.0.2:1880' },
  };
  it.each(Object.keys(values))('shipped template %s renders to a valid script', async (name) => {
    const tpl = await loadTemplate(name, {});
    const out = renderIpxeTemplate(tpl, values[name]);
    expect(validateIpxeScript(out.text)).toEqual([]);
    expectGolden(`templates/${name}.ipxe`, out.text);
  });
});

describe('registration script', () => {
  const script = path.resolve(__dirname, '../../../boot-assets/registration/register.sh');
  const shells = ['sh', 'dash', 'bash'].filter((s) => spawnSync('sh', ['-c', `command -v ${s}`]).status === 0);
  it.each(shells)('%s: dry run prints valid JSON, hostile values stay inside strings', (shell) => {
    const r = spawnSync(shell, [script], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NETBOOT_DRY_RUN: '1', NETBOOT_MAC: 'AA-BB-CC-DD-EE-FF"},"x":"\\' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout) as { mac_address: string; hardware: Record<string, unknown> };
    expect(body.mac_address).toBe('aa:bb:cc:dd:ee:ff"},"x":"\\');
    expect(Object.keys(body)).toEqual(['mac_address', 'service_tag', 'hardware']);
    expect(body.hardware).toHaveProperty('memory');
  });
  it('fits a large machine\'s inventory into the server\'s 64 KiB, leaving the long lists out first', () => {
    // a fake lspci that prints 80 KiB, as on a large server
    const bin = mkdtempSync(path.join(tmpdir(), 'netboot-fake-lspci-'));
    try {
      writeFileSync(path.join(bin, 'lspci'), `#!/bin/sh\ni=0\nwhile [ $i -lt 1000 ]; do echo "0000:00:$i.0 Ethernet controller [0200]: Vendor Device with a long name [8086:1572] (rev 01)"; i=$((i+1)); done\n`, { mode: 0o755 });
      const r = spawnSync('sh', [script], { env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, NETBOOT_DRY_RUN: '1', NETBOOT_MAC: '52:54:00:00:00:01' }, encoding: 'utf8', timeout: 20_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(Buffer.byteLength(r.stdout)).toBeLessThanOrEqual(65_001);
      const body = JSON.parse(r.stdout) as { hardware: Record<string, unknown> };
      expect(body.hardware.pci).toBeNull();
      expect(body.hardware).toHaveProperty('memory');
      expect(r.stderr).toMatch(/leaving out pci/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
  it('refuses a server URL without http(s)', () => {
    const r = spawnSync('sh', [script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NETBOOT_SERVER: 'ftp://x' }, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/http/);
  });
});
