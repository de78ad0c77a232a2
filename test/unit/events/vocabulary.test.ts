import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARCH_NAMES, DEPRECATED_NAMES, EVENT_TYPES, VOCABULARY, archCode, archFromCode, archFromIpxe, buildarchOf, normalizeEvent, platformOf } from '../../../lib/events';

const doc = readFileSync(path.join(__dirname, '..', '..', '..', 'docs', 'events.md'), 'utf8');

describe('the event vocabulary', () => {
  it('is documented: docs/events.md has a row for every type with its group, and every renamed name', () => {
    for (const type of EVENT_TYPES) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${type}\` |`));
      expect(row, `docs/events.md has no row for ${type}`).toBeDefined();
      expect(row).toContain(`| ${VOCABULARY[type].group} |`);
    }
    for (const [old, current] of Object.entries(DEPRECATED_NAMES)) expect(doc).toContain(`| \`${old}\` | \`${current}\` |`);
    // no row for a type the code does not know
    const documented = [...doc.matchAll(/^\| `([a-z.]+(?:_[a-z]+)?)` \| (activity|protocol|record|derived|server) \|/gm)].map((m) => m[1]);
    expect(new Set(documented)).toEqual(new Set(EVENT_TYPES));
  });

  it('accepts every type and refuses an unknown one or a record without its machine', () => {
    for (const type of EVENT_TYPES) {
      const input = { type, mac: '52:54:00:00:00:01', path: 'a', line: 'x', target: 't', action: 'boot', bootId: 1, stage: 'dhcp', quietMs: 1, to: 'dhcp' };
      expect(normalizeEvent(input as never, 1).type).toBe(type);
    }
    expect(() => normalizeEvent({ type: 'tftp.request' } as never, 1)).toThrow(/unknown event type/);
    expect(() => normalizeEvent({ type: 'facts.changed' } as never, 1)).toThrow(/mac is required/);
  });

  it('has one arch name, the others derived from it', () => {
    expect(archFromCode(7)).toBe('efi-x64');
    expect(archFromCode(9)).toBe('efi-x64');
    expect(archFromCode(0)).toBe('bios');
    expect(archFromCode(99)).toBe('arch-99');
    expect(archFromCode(undefined)).toBe('unknown');
    for (const [code, name] of Object.entries(ARCH_NAMES)) expect(archFromCode(archCode(name)), `${code} ${name}`).toBe(name);
    expect(archCode('arch-99')).toBe(99);
    expect(archCode('unknown')).toBeUndefined();
    expect([buildarchOf('efi-x64'), platformOf('efi-x64')]).toEqual(['x86_64', 'efi']);
    expect([buildarchOf('bios'), platformOf('bios')]).toEqual(['i386', 'pcbios']);
    expect([buildarchOf('http-arm64'), platformOf('http-arm64')]).toEqual(['arm64', 'efi']);
    expect(buildarchOf('arch-99')).toBe('unknown');
    // what iPXE reports maps back: its BIOS build says i386 even on a 64-bit CPU
    expect(archFromIpxe('x86_64', 'efi')).toBe('efi-x64');
    expect(archFromIpxe('x86_64', 'pcbios')).toBe('bios');
    expect(archFromIpxe('i386', 'pcbios')).toBe('bios');
    expect(archFromIpxe('arm64', 'efi')).toBe('efi-arm64');
    expect(archFromIpxe('efi-x64', undefined)).toBe('efi-x64');
    expect(archFromIpxe('sparc', 'efi')).toBe('unknown');
  });
});
