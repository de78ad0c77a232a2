import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isNetbootError } from '../../../lib/core/errors';
import { GRUB_ROOT_CONFIG, grubConfigMac, grubQuote, grubTftpPath, renderGrubConfig, type GrubSpec } from '../../../lib/render';
import { renderGrubFile } from '../../../lib/policy/grub-config';
import type { BootContext } from '../../../lib/policy/boot-script';
import type { Profile } from '../../../lib/store';

/** GRUB's own parser (grub-common's grub-script-check, installed in CI) must accept every file we render. */
function grubAccepts(text: string): void {
  execFileSync('grub-script-check', [], { input: text });
}

function unsafeField(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (isNetbootError(err, 'unsafe_value')) return (err as { details?: { field?: string } }).details?.field ?? 'unsafe';
    throw err;
  }
  return undefined;
}

const profile = (over: Partial<Profile> = {}): Profile => ({
  id: 'debian', name: 'Debian 12', type: 'debian', kernel: 'debian/vmlinuz', initrd: ['debian/initrd.gz'], cmdline: { console: 'ttyS0', quiet: '' },
  createdAt: '', updatedAt: '', ...over,
});

const ctx = (over: Partial<BootContext> = {}): BootContext => ({
  decision: { action: 'boot_profile', output: 1, known: true, source: 'device', profileId: 'debian' } as BootContext['decision'],
  facts: { mac: '52:54:00:12:34:56', deviceType: 'x64' } as BootContext['facts'],
  params: {},
  ...over,
});

const SERVER = { httpBaseUrl: 'http://10.0.0.2:1880' };

describe('GRUB config for one machine', () => {
  it('boots a known machine\'s kernel profile over TFTP, every value single-quoted', () => {
    const out = renderGrubFile(ctx({ profile: profile(), params: { quiet: null, 'talos.config': 'http://10.0.0.2/c?mac=aa&x=1' } }), SERVER);
    expect(out.kind).toBe('kernel');
    expect(out.text).toContain("linux '/debian/vmlinuz' 'console=ttyS0' 'talos.config=http://10.0.0.2/c?mac=aa&x=1'\n");
    expect(out.text).toContain("initrd '/debian/initrd.gz'\n");
    expect(out.text).toMatch(/\nboot\n/);
    expect(out.text).not.toContain('quiet');
    grubAccepts(out.text);
  });

  it('gives an unknown machine a menu: kernel profiles, register (default), local disk', () => {
    const profiles = [profile(), profile({ id: 'win', name: 'Windows PE', type: 'winpe', kernel: 'wimboot' }), profile({ id: 'register', name: 'reg', kernel: 'reg/vmlinuz', initrd: ['reg/initrd.img'], cmdline: undefined })];
    const out = renderGrubFile(ctx({ decision: { action: 'show_menu', output: 3, known: false, source: 'none' } as BootContext['decision'] }), SERVER, { profiles, menuDefault: 'register', menuTimeoutMs: 10_000 });
    expect(out.kind).toBe('menu');
    expect(out.text).toContain("menuentry 'Debian 12' --id 'debian' {");
    expect(out.text).not.toContain('Windows PE');
    expect(out.text).toContain("menuentry 'Register this device' --id 'register' {\n  linux '/reg/vmlinuz' 'netboot_server=http://10.0.0.2:1880' 'netboot_mac=52-54-00-12-34-56'\n  initrd '/reg/initrd.img'\n}");
    expect(out.text).toContain("menuentry 'Boot from local disk' --id 'local' {\n  exit\n}");
    expect(out.text).toContain("set default='register'");
    expect(out.text).toContain('set timeout=10');
    grubAccepts(out.text);
  });

  it('registers with the default registration image, and sends a machine to its disk', () => {
    const reg = renderGrubFile(ctx({ decision: { action: 'register', output: 3, known: false, source: 'none' } as BootContext['decision'] }), SERVER);
    expect(reg.text).toContain("linux '/registration/vmlinuz' 'netboot_server=http://10.0.0.2:1880' 'netboot_mac=52-54-00-12-34-56'");
    expect(reg.text).toContain("initrd '/registration/initrd.img'");
    const local = renderGrubFile(ctx({ decision: { action: 'local', output: 1, known: true, source: 'device' } as BootContext['decision'] }), SERVER);
    expect(local.text).toMatch(/\nexit\n$/);
    grubAccepts(reg.text);
    grubAccepts(local.text);
  });

  it('refuses what GRUB cannot boot: an iSCSI image, a WinPE profile, a kernel by URL', () => {
    expect(() => renderGrubFile(ctx({ decision: { action: 'boot_image', output: 1, known: true, source: 'device' } as BootContext['decision'] }), SERVER)).toThrow(/sanboot needs iPXE/);
    expect(() => renderGrubFile(ctx({ profile: profile({ type: 'winpe' }) }), SERVER)).toThrow(/cannot be started by GRUB/);
    expect(unsafeField(() => renderGrubFile(ctx({ profile: profile({ kernel: 'http://10.0.0.2/vmlinuz' }) }), SERVER))).toBe('profile.kernel');
  });

  it('the root /grub/grub.cfg sources the per-MAC file and passes GRUB\'s parser', () => {
    expect(GRUB_ROOT_CONFIG).toContain('source /grub/grub.cfg-$net_default_mac\n');
    grubAccepts(GRUB_ROOT_CONFIG);
    expect(renderGrubFile(undefined, SERVER, { kind: 'root' }).text).toBe(GRUB_ROOT_CONFIG);
    expect(grubConfigMac('grub/grub.cfg-52:54:00:AB:cd:01')).toBe('52:54:00:ab:cd:01');
    expect(grubConfigMac('/grub/grub.cfg-52:54:00:ab:cd:01')).toBe('52:54:00:ab:cd:01');
    expect(grubConfigMac('grub/grub.cfg-52:54:00:ab:cd:01/../x')).toBeUndefined();
    expect(grubConfigMac('grub/grub.cfg')).toBeUndefined();
  });
});

/** Hostile values: each must be refused (naming the field) or reach grub.cfg as one literal word. */
const HOSTILE: Array<[string, string]> = [
  ['single quote', "a'b"],
  ['double quote', 'a"b'],
  ['$ expansion', 'a$root'],
  ['${} expansion', 'a${prefix}'],
  ['; separator', 'a;reboot'],
  ['newline', 'a\nreboot'],
  ['carriage return', 'a\rreboot'],
  ['backslash', 'a\\'],
  ['brace', 'a}'],
  ['pipe', 'a|b'],
  ['comment', 'a #x'],
  ['space', 'a b'],
  ['tab', 'a\tb'],
  ['NUL', 'a\0'],
  ['non-ASCII', 'aé'],
  ['backquote', 'a`b`'],
];

describe('GRUB injection table', () => {
  const fields: Array<[string, (v: string) => GrubSpec, string]> = [
    ['kernel path', (v) => ({ kind: 'kernel', kernel: `debian/${v}` }), 'profile.kernel'],
    ['initrd path', (v) => ({ kind: 'kernel', kernel: 'k', initrds: [`i/${v}`] }), 'profile.initrd[0]'],
    ['kernel argument value', (v) => ({ kind: 'kernel', kernel: 'k', params: { 'ds': `nocloud;s=${v}` } }), 'profile.cmdline'],
    ['kernel argument name', (v) => ({ kind: 'kernel', kernel: 'k', params: { [`x${v}`]: '1' } }), 'profile.cmdline'],
    ['device override', (v) => ({ kind: 'kernel', kernel: 'k', override: { hostname: v } }), 'profile.cmdline'],
    ['title', (v) => ({ kind: 'kernel', kernel: 'k', title: `Debian ${v}` }), 'profile.title'],
    ['menu label', (v) => ({ kind: 'menu', title: 't', items: [{ id: 'a', label: `Debian ${v}`, kernel: 'k' }] }), 'items[0].label'],
    ['menu id', (v) => ({ kind: 'menu', title: 't', items: [{ id: `a${v}`, label: 'x', kernel: 'k' }] }), 'items[0].id'],
    ['menu title', (v) => ({ kind: 'menu', title: `t ${v}`, items: [] }), 'title'],
  ];
  for (const [name, spec, field] of fields) {
    it.each(HOSTILE)(`${name}: %s is refused`, (what, value) => {
      if (what === 'space' && (name === 'title' || name === 'menu label' || name === 'menu title')) {
        // single spaces are fine in text shown on screen: it stays one quoted word
        const text = renderGrubConfig(spec(value));
        grubAccepts(text);
        return;
      }
      if (what === '; separator' && (name === 'kernel argument value' || name === 'device override')) {
        // a ";" inside a single-quoted GRUB word is literal: one argument, as the kernel should get it
        const text = renderGrubConfig(spec(value));
        grubAccepts(text);
        expect(text).toContain(`${value}'`);
        return;
      }
      const got = unsafeField(() => renderGrubConfig(spec(value)));
      expect(got, `${name} with ${what}`).toBeDefined();
      expect(got!.startsWith(field), `${got} should name ${field}`).toBe(true);
    });
  }

  it('quotes with single quotes and refuses what they cannot hold', () => {
    expect(grubQuote('a$b;c', 'f')).toBe("'a$b;c'");
    expect(unsafeField(() => grubQuote("a'b", 'f'))).toBe('f');
    expect(unsafeField(() => grubQuote('a\nb', 'f'))).toBe('f');
    expect(grubTftpPath('/boot/assets/debian/vmlinuz', 'k')).toBe('/debian/vmlinuz');
    expect(grubTftpPath('debian/vmlinuz', 'k')).toBe('/debian/vmlinuz');
    for (const bad of ['../etc/shadow', 'a/../../b', 'a//b', 'tftp://1.2.3.4/k', 'a/./b', '']) expect(unsafeField(() => grubTftpPath(bad, 'k')), bad).toBe('k');
  });

  it('the widest legal values still parse as GRUB words (grub-script-check)', () => {
    const text = renderGrubConfig({
      kind: 'menu', title: 'netboot (lab) 52:54:00:12:34:56', defaultId: 'a.b-c', timeoutMs: 1,
      items: [{ id: 'a.b-c', label: 'Ubuntu 24.04 (server) + extras @lab/2', kernel: 'a+b@c=d,e-f/v_1.2', initrds: ['x/i.gz', 'y/j.img'], params: { 'talos.config': 'http://h:8080/p?a=b&c=[d]!~*%20', flag: '', list: ['1', '2'] } }],
    });
    grubAccepts(text);
    expect(text).toContain("'talos.config=http://h:8080/p?a=b&c=[d]!~*%20' 'flag' 'list=1' 'list=2'");
  });
});
