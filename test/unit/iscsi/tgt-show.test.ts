import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isInitiatorName, parseAccounts, parseTargets } from '../../../lib/iscsi';

const fixture = (name: string) => readFileSync(path.join(__dirname, '../../fixtures/iscsi', name), 'utf8');

// fixtures captured from tgt 1.0.85 (Debian 12): `tgtadm --lld iscsi --op show --mode target|account`
describe('parseTargets (tgtadm --op show --mode target)', () => {
  it('reads targets, the logged-in initiator, LUNs, accounts and ACLs', () => {
    const targets = parseTargets(fixture('show-session.txt'));
    expect(targets.map((t) => [t.tid, t.iqn, t.state])).toEqual([
      [1, 'iqn.2024-01.local.netboot:disk-a', 'ready'],
      [4, 'iqn.2010-01.com.example:foreign', 'ready'],
    ]);
    const [a, b] = targets;
    expect(a.nexus).toEqual([{ id: 1, initiator: 'iqn.2024-01.local.netboot:device-aa-bb-cc-dd-ee-ff', addresses: ['127.0.0.1'] }]);
    expect(a.luns).toEqual([
      { lun: 0, type: 'controller', backingType: 'null', sizeMb: 0 },
      { lun: 1, type: 'disk', backingType: 'rdwr', path: '/tmp/tgtx/a.img', sizeMb: 67 },
    ]);
    expect(a.accounts).toEqual([{ user: 'nbuser', outgoing: false }, { user: 'tgtout', outgoing: true }]);
    expect(a.acl).toEqual(['127.0.0.1', 'iqn.2024-01.local.netboot:device-aa-bb-cc-dd-ee-ff']);
    expect(b.nexus).toEqual([]);
    expect(b.accounts).toEqual([]);
    expect(b.acl).toEqual(['10.0.0.0/24']);
    expect(b.luns[1]).toMatchObject({ lun: 1, path: '/tmp/tgtx/b.img', sizeMb: 34 });
  });

  it('reads an idle target without ACL or accounts, and nothing from empty or foreign text', () => {
    const [t] = parseTargets(fixture('show-idle.txt'));
    expect(t).toMatchObject({ tid: 3, iqn: 'iqn.2024-01.local.netboot:disk-b', nexus: [], accounts: [], acl: [] });
    expect(parseTargets('')).toEqual([]);
    expect(parseTargets('tgtadm: can\'t find the target\n')).toEqual([]);
  });

  it('reads the account list', () => {
    expect(parseAccounts(fixture('show-accounts.txt'))).toEqual(['tgtout', 'nbuser']);
    expect(parseAccounts('')).toEqual([]);
  });

  it('tells initiator names from addresses', () => {
    expect(['iqn.2024-01.x:y', 'eui.02004567A425678D', 'naa.52004567BA64678D'].every(isInitiatorName)).toBe(true);
    expect(['ALL', '10.0.0.5', '10.0.0.0/24'].some(isInitiatorName)).toBe(false);
  });
});
