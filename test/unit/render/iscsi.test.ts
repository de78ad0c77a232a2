import { describe, expect, it } from 'vitest';
import { deviceIqn, iscsiUri, isValidIqn } from '../../../lib/render';

describe('iscsiUri (RFC 4173)', () => {
  it.each([
    [{ server: '10.0.0.5', iqn: 'iqn.2024-01.local.example:d1' }, 'iscsi:10.0.0.5:::0:iqn.2024-01.local.example:d1'],
    [{ server: 'iscsi-target', port: 3260, lun: 0, iqn: 'iqn.2024-01.local.example:device-aa-bb-cc-dd-ee-ff' }, 'iscsi:iscsi-target::3260:0:iqn.2024-01.local.example:device-aa-bb-cc-dd-ee-ff'],
    [{ server: 'fd00::5', port: 3261, lun: 255, iqn: 'iqn.2024-01.local.example:d' }, 'iscsi:[fd00::5]::3261:ff:iqn.2024-01.local.example:d'],
    [{ server: '[fd00::5]', iqn: 'iqn.2024-01.local.example' }, 'iscsi:[fd00::5]:::0:iqn.2024-01.local.example'],
  ])('%j', (t, want) => {
    expect(iscsiUri(t)).toBe(want);
  });
  it.each([
    [{ server: 'a b', iqn: 'iqn.2024-01.local.x' }, /iscsi.server/],
    [{ server: 'x', port: 0, iqn: 'iqn.2024-01.local.x' }, /iscsi.port/],
    [{ server: 'x', lun: -1, iqn: 'iqn.2024-01.local.x' }, /iscsi.lun/],
    [{ server: 'x', iqn: 'iqn.2024.local' }, /iscsi.iqn/],
  ])('rejects %j', (t, re) => {
    expect(() => iscsiUri(t)).toThrow(re);
  });
});

describe('IQNs', () => {
  it('deviceIqn from a MAC or a name', () => {
    expect(deviceIqn('iqn.2024-01.local.netboot', 'AA:BB:CC:DD:EE:FF')).toBe('iqn.2024-01.local.netboot:device-aa-bb-cc-dd-ee-ff');
    expect(deviceIqn('iqn.2024-01.local.netboot', 'Rack2-Node7')).toBe('iqn.2024-01.local.netboot:rack2-node7');
    expect(isValidIqn(deviceIqn('iqn.2024-01.local.netboot', 'aabbccddeeff'))).toBe(true);
  });
  it('rejects bad prefixes and names', () => {
    expect(() => deviceIqn('iqn.2024.local', 'x')).toThrow(/IQN prefix/);
    expect(() => deviceIqn('iqn.2024-01.local.netboot:x', 'x')).toThrow(/IQN prefix/);
    expect(() => deviceIqn('iqn.2024-01.local.netboot', 'a b')).toThrow(/device name/);
  });
});
