import { describe, expect, it } from 'vitest';
import { planTargets, type DesiredTarget, type PlanInput, type TgtTarget } from '../../../lib/iscsi';

const P = 'iqn.2024-01.local.netboot';
const owns = (iqn: string) => iqn.startsWith(`${P}:`);
const disk = (name: string, acl: string[] = [`${P}:device-aa-bb-cc-dd-ee-ff`]): DesiredTarget => ({ iqn: `${P}:${name}`, lun: 1, path: `/srv/disks/${name}.img`, acl });
function target(tid: number, name: string, over: Partial<TgtTarget> = {}): TgtTarget {
  return {
    tid, iqn: name.startsWith('iqn.') ? name : `${P}:${name}`, state: 'ready', nexus: [], accounts: [], acl: [`${P}:device-aa-bb-cc-dd-ee-ff`],
    luns: [{ lun: 0, type: 'controller', backingType: 'null' }, { lun: 1, type: 'disk', backingType: 'rdwr', path: `/srv/disks/${name}.img` }],
    ...over,
  };
}
const plan = (over: Partial<PlanInput>) => planTargets({ desired: [], current: [], accounts: [], chap: {}, owns, ...over });
const argv = (p: ReturnType<typeof planTargets>) => p.steps.map((s) => s.args.join(' '));
const chap = { incoming: { user: 'nbuser', password: 'S3cret-Pass.2024' }, outgoing: { user: 'tgtout', password: 'Other-Secret.99' } };

describe('planTargets', () => {
  it('creates a missing target: the lowest free tid, its disk as LUN 1, the ACL, the CHAP accounts', () => {
    const p = plan({ desired: [disk('d1', [`${P}:device-aa-bb-cc-dd-ee-ff`, '10.0.0.0/24'])], current: [target(1, 'iqn.2010-01.com.example:other')], chap });
    expect(argv(p)).toEqual([
      '--op new --mode account --user nbuser --password S3cret-Pass.2024',
      '--op new --mode account --user tgtout --password Other-Secret.99',
      `--op new --mode target --tid 2 --targetname ${P}:d1`,
      '--op new --mode logicalunit --tid 2 --lun 1 --backing-store /srv/disks/d1.img --bstype rdwr',
      `--op bind --mode target --tid 2 --initiator-name ${P}:device-aa-bb-cc-dd-ee-ff`,
      '--op bind --mode target --tid 2 --initiator-address 10.0.0.0/24',
      '--op bind --mode account --tid 2 --user nbuser',
      '--op bind --mode account --tid 2 --user tgtout --outgoing',
    ]);
    expect(p.busy).toEqual([]);
  });

  it('never shows a password in what it logs', () => {
    const p = plan({ desired: [disk('d1')], chap });
    const secret = p.steps.filter((s) => s.args.includes('--password'));
    expect(secret).toHaveLength(2);
    for (const s of secret) expect(s.secret).toBe(true);
    expect(p.steps.map((s) => s.what).join('\n')).not.toMatch(/S3cret|Other-Secret/);
  });

  it('does nothing when tgtd already matches', () => {
    expect(plan({ desired: [disk('d1')], current: [target(1, 'd1')] }).steps).toEqual([]);
    const withChap = target(1, 'd1', { accounts: [{ user: 'nbuser', outgoing: false }, { user: 'tgtout', outgoing: true }] });
    expect(plan({ desired: [disk('d1')], current: [withChap], accounts: ['nbuser', 'tgtout'], chap }).steps).toEqual([]);
  });

  it('fixes the ACL in place: binds the new initiator, unbinds the old one', () => {
    const p = plan({ desired: [disk('d1', [`${P}:device-11-22-33-44-55-66`])], current: [target(1, 'd1')] });
    expect(argv(p)).toEqual([
      `--op bind --mode target --tid 1 --initiator-name ${P}:device-11-22-33-44-55-66`,
      `--op unbind --mode target --tid 1 --initiator-name ${P}:device-aa-bb-cc-dd-ee-ff`,
    ]);
  });

  it('swaps the backing file of an idle target, but waits while a machine is logged in', () => {
    const moved = { ...disk('d1'), path: '/srv/disks/renamed.img' };
    expect(argv(plan({ desired: [moved], current: [target(1, 'd1')] }))).toEqual([
      '--op delete --mode logicalunit --tid 1 --lun 1',
      '--op new --mode logicalunit --tid 1 --lun 1 --backing-store /srv/disks/renamed.img --bstype rdwr',
    ]);
    const busy = plan({ desired: [moved], current: [target(1, 'd1', { nexus: [{ id: 1, initiator: `${P}:device-aa-bb-cc-dd-ee-ff`, addresses: ['10.0.0.9'] }] })] });
    expect(busy.steps).toEqual([]);
    expect(busy.busy).toEqual([{ iqn: `${P}:d1`, reason: expect.stringContaining('is logged in') }]);
  });

  it('deletes our unwanted targets, keeps those in use and never touches foreign ones', () => {
    const inUse = target(2, 'busy', { nexus: [{ id: 3, initiator: 'iqn.2010-04.org.ipxe:pc', addresses: ['10.0.0.7'] }] });
    const p = plan({ desired: [], current: [target(1, 'gone'), inUse, target(3, 'iqn.2010-01.com.example:theirs')] });
    expect(argv(p)).toEqual(['--op delete --mode target --tid 1']);
    expect(p.busy.map((b) => b.iqn)).toEqual([`${P}:busy`]);
  });

  it('binds CHAP to existing targets and unbinds accounts no longer configured', () => {
    expect(argv(plan({ desired: [disk('d1')], current: [target(1, 'd1')], accounts: ['nbuser'], chap: { incoming: chap.incoming } })))
      .toEqual(['--op bind --mode account --tid 1 --user nbuser']);
    const bound = target(1, 'd1', { accounts: [{ user: 'nbuser', outgoing: false }] });
    expect(argv(plan({ desired: [disk('d1')], current: [bound], accounts: ['nbuser'] }))).toEqual(['--op unbind --mode account --tid 1 --user nbuser']);
  });

  it('recreates an existing account on reset (its password cannot be read back) and binds it again', () => {
    const bound = target(1, 'd1', { accounts: [{ user: 'nbuser', outgoing: false }] });
    expect(argv(plan({ desired: [disk('d1')], current: [bound], accounts: ['nbuser'], chap: { incoming: chap.incoming }, resetAccounts: true }))).toEqual([
      '--op unbind --mode account --tid 1 --user nbuser',
      '--op delete --mode account --user nbuser',
      '--op new --mode account --user nbuser --password S3cret-Pass.2024',
      '--op bind --mode account --tid 1 --user nbuser',
    ]);
  });

  it('adds a missing disk LUN and removes extra LUNs of an idle target', () => {
    const noDisk = target(1, 'd1', { luns: [{ lun: 0, type: 'controller', backingType: 'null' }, { lun: 2, type: 'disk', backingType: 'rdwr', path: '/x.img' }] });
    expect(argv(plan({ desired: [disk('d1')], current: [noDisk] }))).toEqual([
      '--op new --mode logicalunit --tid 1 --lun 1 --backing-store /srv/disks/d1.img --bstype rdwr',
      '--op delete --mode logicalunit --tid 1 --lun 2',
    ]);
  });
});
