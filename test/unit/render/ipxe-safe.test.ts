import { describe, expect, it } from 'vitest';
import { isNetbootError } from '../../../lib/core/errors';
import {
  isSafe,
  kernelArgList,
  mergeKernelParams,
  safeHostOrIp,
  safeIqn,
  safeKernelArg,
  safeLabel,
  safeToken,
  safeUrl,
} from '../../../lib/render';

type Check = (value: unknown, field: string) => string;

const kinds: Array<[string, Check, string]> = [
  // [field, check, a valid base value the payload is appended to / inserted in]
  ['hostname', safeHostOrIp, 'pc-01.lab'],
  ['label', safeLabel, 'Ubuntu Server'],
  ['kernelArg', safeKernelArg, 'console=ttyS0'],
  ['url', safeUrl, 'http://10.0.0.2/boot'],
  ['iqn', safeIqn, 'iqn.2024-01.local.example:disk'],
  ['token', safeToken, 'user1'],
];

const payloads: Array<[string, string]> = [
  ['newline', '\nreboot'],
  ['carriage return', '\rreboot'],
  ['${', '${net0/ip}'],
  ['#', '#comment'],
  ['&&', '&&reboot'],
  [';', ';reboot'],
  ['||', '||reboot'],
  ['space', ' reboot'],
  ['tab', '\treboot'],
  ['backslash', '\\'],
  ['double quote', '"x'],
  ['single quote', "'x"],
  ['non-ASCII', 'é'],
  ['NUL', '\0'],
  ['$', '$x'],
  ['pipe', '|x'],
];

describe('allow-list: injection table', () => {
  for (const [field, check, base] of kinds) {
    describe(field, () => {
      it('accepts the plain value', () => {
        expect(check(base, field)).toBe(base);
      });
      it.each(payloads)('rejects %s', (name, payload) => {
        if (field === 'label' && name === 'space') return; // single spaces are allowed in menu text
        if (field === 'kernelArg' && name === ';') {
          // inside key=value a ";" is part of one token (only a standalone ";" separates iPXE commands)
          expect(check(`${base}${payload}`, field)).toBe(`${base}${payload}`);
          return;
        }
        let caught: unknown;
        try {
          check(`${base}${payload}`, field);
        } catch (err) {
          caught = err;
        }
        expect(isNetbootError(caught, 'unsafe_value'), `${field} + ${name}`).toBe(true);
        expect((caught as Error).message).toMatch(new RegExp(`^field "${field}": `));
        expect((caught as { details: { field: string } }).details.field).toBe(field);
      });
    });
  }
  it('label rejects double spaces, tabs and a leading dash', () => {
    expect(() => safeLabel('a  b', 'label')).toThrow(/consecutive spaces/);
    expect(() => safeLabel('a\tb', 'label')).toThrow(/tab/);
    expect(() => safeLabel('--key x', 'label')).toThrow(/option/);
  });
  it('never silently drops: non-strings are rejected too', () => {
    expect(() => safeToken(null, 'f')).toThrow(/field "f": expected a string, got null/);
    expect(() => safeToken('', 'f')).toThrow(/empty/);
    expect(() => safeToken({}, 'f')).toThrow(/expected a string/);
  });
});

describe('allow-list: kinds', () => {
  it.each([
    ['token', 'abc-1.2:3/4=5,6+7@8%9', true],
    ['token', '-x', false],
    ['url', 'https://srv.lab:8443/a/b?x=1&y=2', true],
    ['url', 'tftp://10.0.0.2/undionly.kpxe', true],
    ['url', 'http://[fd00::2]:8080/x', true],
    ['url', 'ftp://x/y', false],
    ['url', 'file:///etc/passwd', false],
    ['url', '/relative', false],
    ['url', 'http://x/a&&b', false],
    ['url', 'http://bad_host!/x', false],
    ['url', 'http://x:99999/', false],
    ['label', 'Talos (control plane) v1.7', true],
    ['kernelArg', 'talos.config=http://srv/c?mac=aa-bb&x=1', true],
    ['kernelArg', 'quiet', true],
    ['kernelArg', 'key=', true],
    ['kernelArg', '=value', false],
    ['iqn', 'iqn.2024-01.local.example', true],
    ['iqn', 'iqn.2024-01.local.example:a:b.c-d', true],
    ['iqn', 'eui.02004567A425678D', true],
    ['iqn', 'naa.52004567BA64678D', true],
    ['iqn', 'iqn.2024.local', false],
    ['iqn', 'iqn.2024-13.local.x', false],
    ['iqn', 'iqn.2024-01.Local.x', false],
    ['iqn', 'iqn.2024-01.-bad.x', false],
    ['hostOrIp', '10.0.0.256', false],
    ['hostOrIp', '10.0.0.255', true],
    ['hostOrIp', 'fe80::1', true],
    ['hostOrIp', '2001:db8::1:2:3:4:5', true],
    ['hostOrIp', '1:2:3:4:5:6:7:8:9', false],
    ['hostOrIp', '-bad.lab', false],
    ['hostOrIp', 'under_score', false],
    ['efiPath', '\\EFI\\BOOT\\BOOTX64.EFI', true],
    ['efiPath', '\\EFI\\BOOT\\', false],
  ] as const)('%s %j → %s', (kind, value, ok) => {
    expect(isSafe(kind, value)).toBe(ok);
  });

  it('iqn errors explain the format', () => {
    expect(() => safeIqn('iqn.2024.local:device.x', 'iqn')).toThrow(/field "iqn": is not an IQN: use iqn.YYYY-MM/);
    expect(() => safeIqn('IQN.2024-01.local.x', 'iqn')).toThrow(/lowercase/);
  });
});

describe('kernel parameters', () => {
  it('merges override over profile: override wins, null removes, new keys appended', () => {
    const merged = mergeKernelParams({ a: '1', quiet: '', b: '2' }, { b: '3', quiet: null, c: 'x' });
    expect(kernelArgList(merged, 'p')).toEqual(['a=1', 'b=3', 'c=x']);
  });
  it('renders flags, repeats and numbers', () => {
    expect(kernelArgList({ quiet: '', splash: true, console: ['tty0', 'ttyS0,115200'], loglevel: 3 }, 'p')).toEqual(['quiet', 'splash', 'console=tty0', 'console=ttyS0,115200', 'loglevel=3']);
  });
  it('names the offending key', () => {
    expect(() => kernelArgList({ 'bad key': 'x' }, 'cmdline')).toThrow(/field "cmdline.bad key"/);
    // a ";" inside key=value is one iPXE token (only a standalone ";" separates commands): cloud-init's seed form
    expect(kernelArgList({ ds: 'nocloud-net;s=http://10.0.0.5/boot/configs/nocloud/aa/t/' }, 'cmdline')).toEqual(['ds=nocloud-net;s=http://10.0.0.5/boot/configs/nocloud/aa/t/']);
    expect(() => kernelArgList([';'], 'cmdline')).toThrow(/field "cmdline\[0\]": kernel argument name/);
    expect(() => kernelArgList({ init: '/bin/sh;${reboot}' }, 'cmdline')).toThrow(/field "cmdline.init": contains "\$\{"/);
    expect(() => kernelArgList('a=1 b=${x}', 'cmdline')).toThrow(/field "cmdline\[1\]"/);
    expect(() => kernelArgList('a=1\nreboot', 'cmdline')).toThrow(/newline/);
  });
});
