import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { DeviceFields, GroupFields, ProfileFields } from '../../../lib/store';
import { checkProfile } from '../../../lib/policy/profile-check';
import { kernelArgList, kernelParamsOf } from '../../../lib/render';
import { rng } from '../../helpers/rng';

/**
 * Property: a patterned key map (labels, params, cmdline, paramsOverride, selector) accepts a key
 * if and only if the key matches its pattern, whatever the value (nested objects included).
 */
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;
const PARAM_KEY = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}$/;
const ALPHABET = 'aZ09._-/ =${}\n\t;&|#"\'\\:@+,%~`!?*()[]<>é\u0000';

function randomKey(next: () => number): string {
  const len = Math.floor(next() * 12);
  let s = '';
  for (let i = 0; i < len; i++) s += ALPHABET[Math.floor(next() * ALPHABET.length)];
  return s;
}

describe('strict schemas for patterned keys (property-based, seeded)', () => {
  const seed = Number(process.env.PROP_SEED ?? 1313);
  const next = rng(seed);
  const cases: Array<[string, (k: string) => unknown, RegExp, typeof DeviceFields | typeof GroupFields | typeof ProfileFields]> = [
    ['device labels', (k) => ({ labels: { [k]: 'v' } }), LABEL_KEY, DeviceFields],
    ['device paramsOverride', (k) => ({ paramsOverride: { [k]: 'v' } }), PARAM_KEY, DeviceFields],
    ['group selector', (k) => ({ name: 'g', selector: { [k]: 'v' } }), LABEL_KEY, GroupFields],
    ['group params', (k) => ({ name: 'g', selector: {}, params: { [k]: 'v' } }), PARAM_KEY, GroupFields],
    ['profile cmdline', (k) => ({ name: 'p', type: 'custom', cmdline: { [k]: 'v' } }), PARAM_KEY, ProfileFields],
  ];
  it.each(cases)(`%s: 2000 random keys (seed ${seed})`, (_name, make, pattern, schema) => {
    for (let i = 0; i < 2000; i++) {
      const key = i % 7 === 0 ? `${randomKey(next)}a` : randomKey(next);
      const ok = Value.Check(schema, make(key));
      expect(ok, `key ${JSON.stringify(key)}`).toBe(pattern.test(key));
      // a nested object is never a value
      expect(Value.Check(schema, make(key) && JSON.parse(JSON.stringify(make(key)).replace('"v"', '{"x":1}')))).toBe(false);
    }
  });

  it('refuses the reproductions of issue 13 at save time', () => {
    expect(Value.Check(DeviceFields, { labels: { 'a\nb c=${x}': 'v' } })).toBe(false);
    expect(Value.Check(GroupFields, { name: 'g', selector: {}, params: { '-x': { nested: true } } })).toBe(false);
    expect(() => checkProfile({ kernel: '${x} && shell' })).toThrow(/field "kernel"/);
    expect(() => checkProfile({ initrd: ['ok/initrd', 'bad initrd'] })).toThrow(/field "initrd\[1\]"/);
    expect(() => checkProfile({ cmdline: { console: 'tty0 && shell' } })).toThrow(/field "cmdline.console"/);
    expect(() => checkProfile({ cmdline: 'console=tty0 ${evil}' })).toThrow(/field "cmdline\[1\]"/);
    expect(() => checkProfile({ chainUrl: 'http://x/${y}' })).toThrow(/field "chainUrl"/);
    expect(() => checkProfile({ kernel: '../../etc/passwd' })).toThrow(/field "kernel"/);
    expect(() => checkProfile({ kernel: 'ubuntu/vmlinuz', initrd: ['ubuntu/initrd'], cmdline: { ip: 'dhcp', quiet: '' }, chainUrl: 'https://boot.example/x.ipxe' })).not.toThrow();
  });
});

describe('kernel command lines as ordered lists', () => {
  it('keeps repeated keys in order, from a list or a pasted string, and the object form', () => {
    const want = ['console=tty0', 'console=ttyS0,115200', 'quiet', 'ip=dhcp'];
    expect(kernelArgList(kernelParamsOf('console=tty0 console=ttyS0,115200 quiet ip=dhcp', 'c'), 'c')).toEqual(want);
    expect(kernelArgList(kernelParamsOf(want, 'c'), 'c')).toEqual(want);
    expect(kernelArgList(kernelParamsOf({ console: 'ttyS0', quiet: '' }, 'c'), 'c')).toEqual(['console=ttyS0', 'quiet']);
    expect(Value.Check(ProfileFields, { name: 'p', type: 'custom', cmdline: want })).toBe(true);
    expect(Value.Check(ProfileFields, { name: 'p', type: 'custom', cmdline: 'console=tty0 quiet' })).toBe(true);
  });
});
