import { describe, expect, it } from 'vitest';
import { isMac, macFromBytes, macToHyphens, normalizeMac } from '../../../lib/core/mac';
import { NetbootError } from '../../../lib/core/errors';

describe('normalizeMac', () => {
  it.each([
    ['aa:bb:cc:dd:ee:ff', 'aa:bb:cc:dd:ee:ff'],
    ['AA:BB:CC:DD:EE:FF', 'aa:bb:cc:dd:ee:ff'],
    ['AA-BB-CC-DD-EE-FF', 'aa:bb:cc:dd:ee:ff'],
    ['aabb.ccdd.eeff', 'aa:bb:cc:dd:ee:ff'],
    ['AABBCCDDEEFF', 'aa:bb:cc:dd:ee:ff'],
    ['01-aa-bb-cc-dd-ee-ff', 'aa:bb:cc:dd:ee:ff'],
    ['  dc:a6:32:01:36:c2 ', 'dc:a6:32:01:36:c2'],
    ['52-54-00-12-34-56', '52:54:00:12:34:56'],
  ])('accepts %j', (input, want) => {
    expect(normalizeMac(input)).toBe(want);
  });

  it.each([
    [''], ['aa:bb:cc:dd:ee'], ['aa:bb:cc:dd:ee:ff:00'], ['aa:bb-cc:dd:ee:ff'], ['gg:bb:cc:dd:ee:ff'],
    ['aabbccddeef'], ['aabb.ccdd.eef'], ['02-aa-bb-cc-dd-ee-ff'], ['aa bb cc dd ee ff'], ['aa:bb:cc:dd:ee:ff;reboot'],
    ['../../etc/passwd'], ['${net0/mac}'],
  ])('rejects %j with a clear error', (input) => {
    let err: unknown;
    try {
      normalizeMac(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NetbootError);
    expect((err as NetbootError).code).toBe('invalid_mac');
    expect((err as NetbootError).message).toMatch(/invalid MAC address/);
  });

  it('rejects non-strings', () => {
    expect(isMac(42)).toBe(false);
    expect(isMac(null)).toBe(false);
    expect(() => normalizeMac(undefined)).toThrow(/expected a string/);
  });

  it('converts to the hyphen form and from bytes', () => {
    expect(macToHyphens(normalizeMac('DC:A6:32:01:36:C2'))).toBe('dc-a6-32-01-36-c2');
    expect(macFromBytes(Uint8Array.from([0x52, 0x54, 0, 0x12, 0x34, 0x56, 0, 0]))).toBe('52:54:00:12:34:56');
  });
});
