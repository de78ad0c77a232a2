import { isInitiatorName, type TgtTarget } from './tgt-show';

/**
 * The iSCSI command planner: from the targets we want (one per disk image) and what tgtd has now,
 * the `tgtadm` argument lists that get from one to the other. Pure, so every case is a table test;
 * `TgtAdmin` runs the steps. Only targets we own (by IQN prefix) are ever changed or deleted, and a
 * change that would pull a disk from under a logged-in machine waits (it is reported as busy).
 */

export interface DesiredTarget {
  iqn: string;
  /** The disk's LUN (tgtd keeps LUN 0 for its controller, so 1 or more). */
  lun: number;
  /** Absolute path of the backing file. */
  path: string;
  /** Initiator names (`iqn.…`) and addresses (`10.0.0.5`, `10.0.0.0/24`, `ALL`) allowed to log in. */
  acl: string[];
}

export interface ChapAccount {
  user: string;
  password: string;
}

export interface ChapConfig {
  /** The initiator proves itself with this (one-way CHAP). */
  incoming?: ChapAccount;
  /** The target proves itself to the initiator with this (mutual CHAP). */
  outgoing?: ChapAccount;
}

export interface PlanInput {
  desired: readonly DesiredTarget[];
  current: readonly TgtTarget[];
  /** Account names tgtd knows (`--op show --mode account`). */
  accounts: readonly string[];
  chap: ChapConfig;
  /** Targets this server manages; others are never touched. */
  owns(iqn: string): boolean;
  /** Recreate our accounts even when they exist (their password cannot be read back). */
  resetAccounts?: boolean;
}

/** One `tgtadm --lld iscsi …` call. `what` is safe to log; `args` may hold a password when `secret`. */
export interface Step {
  args: string[];
  what: string;
  secret?: boolean;
}

export interface Busy {
  iqn: string;
  reason: string;
}

export interface Plan {
  steps: Step[];
  /** Changes left for later because a machine is logged in. */
  busy: Busy[];
}

const tidArg = (tid: number) => ['--tid', String(tid)];

function aclStep(op: 'bind' | 'unbind', tid: number, entry: string, iqn: string): Step {
  const who = isInitiatorName(entry) ? ['--initiator-name', entry] : ['--initiator-address', entry];
  return { args: ['--op', op, '--mode', 'target', ...tidArg(tid), ...who], what: `${op === 'bind' ? 'allow' : 'disallow'} ${entry} on ${iqn}` };
}

function accountBind(op: 'bind' | 'unbind', tid: number, user: string, outgoing: boolean, iqn: string): Step {
  return {
    args: ['--op', op, '--mode', 'account', ...tidArg(tid), '--user', user, ...(outgoing ? ['--outgoing'] : [])],
    what: `${op} ${outgoing ? 'outgoing ' : ''}CHAP account ${user} ${op === 'bind' ? 'to' : 'from'} ${iqn}`,
  };
}

function newLun(tid: number, d: DesiredTarget): Step {
  return {
    args: ['--op', 'new', '--mode', 'logicalunit', ...tidArg(tid), '--lun', String(d.lun), '--backing-store', d.path, '--bstype', 'rdwr'],
    what: `LUN ${d.lun} of ${d.iqn} → ${d.path}`,
  };
}

export function planTargets(input: PlanInput): Plan {
  const steps: Step[] = [];
  const busy: Busy[] = [];
  const { chap } = input;
  const wanted: Array<[ChapAccount, boolean]> = [];
  if (chap.incoming) wanted.push([chap.incoming, false]);
  if (chap.outgoing) wanted.push([chap.outgoing, true]);
  const wantedUsers = new Set(wanted.map(([a]) => a.user));

  // accounts first: a target can only bind an account that exists
  for (const [account] of wanted) {
    const exists = input.accounts.includes(account.user);
    if (exists && !input.resetAccounts) continue;
    if (exists) {
      for (const t of input.current) {
        for (const b of t.accounts) if (b.user === account.user) steps.push(accountBind('unbind', t.tid, b.user, b.outgoing, t.iqn));
      }
      steps.push({ args: ['--op', 'delete', '--mode', 'account', '--user', account.user], what: `delete CHAP account ${account.user} (to set its password)` });
    }
    steps.push({ args: ['--op', 'new', '--mode', 'account', '--user', account.user, '--password', account.password], what: `create CHAP account ${account.user}`, secret: true });
  }

  const usedTids = new Set(input.current.map((t) => t.tid));
  const nextTid = () => {
    let tid = 1;
    while (usedTids.has(tid)) tid++;
    usedTids.add(tid);
    return tid;
  };
  const desiredIqns = new Set(input.desired.map((d) => d.iqn));

  for (const d of input.desired) {
    const cur = input.current.find((t) => t.iqn === d.iqn);
    const acl = [...new Set(d.acl)];
    if (!cur) {
      const tid = nextTid();
      steps.push({ args: ['--op', 'new', '--mode', 'target', ...tidArg(tid), '--targetname', d.iqn], what: `create target ${d.iqn} (tid ${tid})` });
      steps.push(newLun(tid, d));
      for (const entry of acl) steps.push(aclStep('bind', tid, entry, d.iqn));
      for (const [account, outgoing] of wanted) steps.push(accountBind('bind', tid, account.user, outgoing, d.iqn));
      continue;
    }
    const inUse = cur.nexus.length > 0;
    const users = cur.nexus.map((n) => n.initiator).join(', ');
    const disk = cur.luns.find((l) => l.lun === d.lun);
    if (!disk) {
      steps.push(newLun(cur.tid, d));
    } else if (disk.path !== d.path) {
      if (inUse) busy.push({ iqn: d.iqn, reason: `LUN ${d.lun} should be ${d.path} but ${users} is logged in; it changes once the session ends` });
      else {
        steps.push({ args: ['--op', 'delete', '--mode', 'logicalunit', ...tidArg(cur.tid), '--lun', String(d.lun)], what: `remove LUN ${d.lun} of ${d.iqn} (was ${disk.path ?? 'none'})` });
        steps.push(newLun(cur.tid, d));
      }
    }
    for (const extra of cur.luns.filter((l) => l.lun !== 0 && l.lun !== d.lun)) {
      if (inUse) busy.push({ iqn: d.iqn, reason: `LUN ${extra.lun} is no longer wanted but ${users} is logged in` });
      else steps.push({ args: ['--op', 'delete', '--mode', 'logicalunit', ...tidArg(cur.tid), '--lun', String(extra.lun)], what: `remove LUN ${extra.lun} of ${d.iqn}` });
    }
    for (const entry of acl) if (!cur.acl.includes(entry)) steps.push(aclStep('bind', cur.tid, entry, d.iqn));
    for (const entry of cur.acl) if (!acl.includes(entry)) steps.push(aclStep('unbind', cur.tid, entry, d.iqn));
    const reset = input.resetAccounts ? wantedUsers : new Set<string>();
    for (const [account, outgoing] of wanted) {
      const bound = cur.accounts.some((b) => b.user === account.user && b.outgoing === outgoing);
      if (!bound || reset.has(account.user)) steps.push(accountBind('bind', cur.tid, account.user, outgoing, d.iqn));
    }
    for (const b of cur.accounts) {
      const keep = wanted.some(([a, outgoing]) => a.user === b.user && outgoing === b.outgoing);
      if (!keep && !reset.has(b.user)) steps.push(accountBind('unbind', cur.tid, b.user, b.outgoing, d.iqn));
    }
  }

  for (const cur of input.current) {
    if (!input.owns(cur.iqn) || desiredIqns.has(cur.iqn)) continue;
    if (cur.nexus.length > 0) {
      busy.push({ iqn: cur.iqn, reason: `no image wants it any more, but ${cur.nexus.map((n) => n.initiator).join(', ')} is logged in; it is removed once the session ends` });
      continue;
    }
    steps.push({ args: ['--op', 'delete', '--mode', 'target', ...tidArg(cur.tid)], what: `delete target ${cur.iqn} (tid ${cur.tid}): no image wants it` });
  }
  return { steps, busy };
}
