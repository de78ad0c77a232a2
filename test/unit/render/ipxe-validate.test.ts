import { describe, expect, it } from 'vitest';
import { isNetbootError } from '../../../lib/core/errors';
import { assertValidIpxeScript, validateIpxeScript } from '../../../lib/render';

const ok = [
  '#!ipxe',
  ':start',
  'menu Boot',
  'item --key a one First',
  'item --gap Separator',
  'choose --default one --timeout 5000 target && goto ${target} || goto start',
  ':one',
  'kernel http://x/k a=b # trailing comment',
  'boot || goto start',
  '',
].join('\n');

describe('validateIpxeScript', () => {
  it('accepts a good script', () => {
    expect(validateIpxeScript(ok)).toEqual([]);
  });
  it.each([
    ['missing #!ipxe', 'echo hi\n', /first line must be "#!ipxe"/],
    ['#!ipxe not first', '\n#!ipxe\necho hi\n', /first line/],
    ['goto to a missing label', '#!ipxe\ngoto nowhere\n', /goto target "nowhere" has no ":nowhere" label/],
    ['item without label', '#!ipxe\nmenu M\nitem ghost Ghost\nchoose t && goto ${t}\n', /menu item "ghost"/],
    ['choose default missing', '#!ipxe\nmenu M\nitem a A\n:a\nchoose --default b t && goto ${t}\n', /choose default "b"/],
    ['unknown command', '#!ipxe\nfrobnicate now\n', /unknown command "frobnicate"/],
    ['unknown command after &&', '#!ipxe\nechoo x && rm -rf\n', /unknown command "echoo"/],
    ['unbalanced ${', '#!ipxe\necho ${net0/mac\n', /unbalanced/],
    ['control character', '#!ipxe\necho a\u0007b\n', /control character 0x07/],
    ['CRLF', '#!ipxe\r\necho a\r\n', /carriage return/],
    ['line continuation', '#!ipxe\necho a \\\nreboot\n', /line continuation/],
    ['non-ASCII', '#!ipxe\necho caf\u00e9\n', /non-ASCII/],
    ['duplicate label', '#!ipxe\n:a\n:a\n', /defined twice/],
    ['choose timeout not a number', '#!ipxe\nmenu M\nitem a A\n:a\nchoose --timeout 5s t\n', /not a number/],
  ])('catches %s', (_n, text, re) => {
    const problems = validateIpxeScript(text);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.map((p) => p.message).join('\n')).toMatch(re);
  });
  it('reports line numbers', () => {
    expect(validateIpxeScript('#!ipxe\necho ok\nbogus\n')).toEqual([{ line: 3, message: 'unknown command "bogus"' }]);
  });
  it('a comment token hides the rest of the line', () => {
    expect(validateIpxeScript('#!ipxe\necho hi #; bogus\n')).toEqual([]);
  });
  it('assertValidIpxeScript throws a template error', () => {
    let caught: unknown;
    try { assertValidIpxeScript('echo\n', 'x'); } catch (err) { caught = err; }
    expect(isNetbootError(caught, 'template')).toBe(true);
    expect((caught as Error).message).toMatch(/^x is not a valid iPXE script: line 1: first line/);
  });
});
