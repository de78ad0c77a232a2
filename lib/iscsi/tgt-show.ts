/**
 * Reads what `tgtadm --lld iscsi --op show --mode target` prints (tgt 1.0.x): one block per
 * target, with its logged-in initiators (I_T nexus), LUNs, bound accounts and ACL entries.
 * The format is indentation-based text meant for people, so the parser keys on the section
 * headings and the `Name: value` lines it needs and ignores the rest.
 */

export interface TgtNexus {
  id: number;
  initiator: string;
  /** Addresses of the session's connections. */
  addresses: string[];
}

export interface TgtLun {
  lun: number;
  /** `controller` for LUN 0, `disk` for a backing file, ... */
  type: string;
  /** `rdwr`, `aio`, `null` (the controller), ... */
  backingType: string;
  /** The backing file, or undefined for the controller ("None"). */
  path?: string;
  sizeMb?: number;
}

export interface TgtAccountBinding {
  user: string;
  outgoing: boolean;
}

export interface TgtTarget {
  tid: number;
  iqn: string;
  state: string;
  nexus: TgtNexus[];
  luns: TgtLun[];
  accounts: TgtAccountBinding[];
  /** Initiator addresses (`ALL`, `10.0.0.5`, `10.0.0.0/24`) and initiator names (`iqn.…`) allowed in. */
  acl: string[];
}

type Section = 'system' | 'nexus' | 'lun' | 'account' | 'acl' | undefined;

export function parseTargets(text: string): TgtTarget[] {
  const out: TgtTarget[] = [];
  let t: TgtTarget | undefined;
  let section: Section;
  let lun: TgtLun | undefined;
  let nexus: TgtNexus | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (!line.trim()) continue;
    const head = /^Target (\d+): (\S+)$/.exec(line);
    if (head) {
      t = { tid: Number(head[1]), iqn: head[2], state: '', nexus: [], luns: [], accounts: [], acl: [] };
      out.push(t);
      section = undefined;
      continue;
    }
    if (!t) continue;
    const text = line.trim();
    switch (text) {
      case 'System information:': section = 'system'; continue;
      case 'I_T nexus information:': section = 'nexus'; continue;
      case 'LUN information:': section = 'lun'; continue;
      case 'Account information:': section = 'account'; continue;
      case 'ACL information:': section = 'acl'; continue;
    }
    const kv = /^([^:]+):\s?(.*)$/.exec(text);
    if (section === 'system' && kv?.[1] === 'State') t.state = kv[2];
    else if (section === 'nexus') {
      if (kv?.[1] === 'I_T nexus') t.nexus.push(nexus = { id: Number(kv[2]), initiator: '', addresses: [] });
      else if (nexus && kv?.[1] === 'Initiator') nexus.initiator = kv[2].replace(/ alias: .*$/, '');
      else if (nexus && kv?.[1] === 'IP Address') nexus.addresses.push(kv[2]);
    } else if (section === 'lun') {
      if (kv?.[1] === 'LUN') t.luns.push(lun = { lun: Number(kv[2]), type: '', backingType: '' });
      else if (lun && kv?.[1] === 'Type') lun.type = kv[2];
      else if (lun && kv?.[1] === 'Size') lun.sizeMb = Number(/^(\d+) MB/.exec(kv[2])?.[1] ?? NaN);
      else if (lun && kv?.[1] === 'Backing store type') lun.backingType = kv[2];
      else if (lun && kv?.[1] === 'Backing store path' && kv[2] !== 'None') lun.path = kv[2];
    } else if (section === 'account') {
      const m = /^(\S+)( \(outgoing\))?$/.exec(text);
      if (m) t.accounts.push({ user: m[1], outgoing: m[2] !== undefined });
    } else if (section === 'acl') {
      t.acl.push(text);
    }
  }
  return out;
}

/** `tgtadm --op show --mode account`: the account names tgtd knows. */
export function parseAccounts(text: string): string[] {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[0] === 'Account list:' ? lines.slice(1) : [];
}

/** True for an ACL entry that names an initiator (`iqn.…`, `eui.…`, `naa.…`) rather than an address. */
export function isInitiatorName(entry: string): boolean {
  return /^(iqn|eui|naa)\./i.test(entry);
}

/** One row of `tgtadm --op stat --mode target --tid N`: bytes and commands one session (`sid`) read and wrote on one LUN. */
export interface TgtLunStat {
  tid: number;
  lun: number;
  sid: number;
  readBytes: number;
  readCommands: number;
  writeBytes: number;
  writeCommands: number;
  errors: number;
}

/**
 * Reads tgt's per-session counters (tgt 1.0.x): a header line, then
 * `tid lun sid rd_subm(bytes cmds) rd_done(bytes cmds) wr_subm(bytes cmds) wr_done(bytes cmds) errs`.
 * The completed (`_done`) figures are what the machine really read and wrote.
 */
export function parseLunStats(text: string): TgtLunStat[] {
  const out: TgtLunStat[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 12 || !f.every((x) => /^\d+$/.test(x))) continue;
    const n = f.map(Number);
    out.push({ tid: n[0], lun: n[1], sid: n[2], readBytes: n[5], readCommands: n[6], writeBytes: n[9], writeCommands: n[10], errors: n[11] });
  }
  return out;
}
