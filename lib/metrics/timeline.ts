/**
 * The boot timeline of each machine: which stages a boot went through, when each started and ended,
 * how many bytes it moved and how fast, the stage it is in now and how it ended. Fed with events
 * that carry a MAC (after attribution); emits `stage`, `stall` and `stall.cleared` events.
 *
 * A boot starts with the first event that points at a stage (normally a PXE DHCP discover). It ends
 * `done` when the booted OS checks in (any action but an in-progress one such as `installing`) or an
 * installer logs `progress=100`; it ends `failed` when the OS checks in with `failed`/`error`, when
 * the machine starts over mid-boot (a new PXE or iPXE discover after it got further than that), or
 * when it stays stalled past `failAfterMs` (off by default). After a finished boot, a new discover,
 * firmware fetch or boot script starts the next boot.
 *
 * Stall: no event for the machine for `stallMs` (default 180 s) while a boot is active and progress
 * is expected (any stage before the OS, or the OS while an installer reports progress below 100)
 * emits `stall` once; the next event emits `stall.cleared`. Time comes only from event timestamps
 * and `tick(now)`: the class owns no timers.
 */
import type { BootOutcome, NetbootEvent, StageEvent, StageName, StallEvent } from '../events/vocabulary';
import { describeEvent, groupOf, isTransferEvent } from '../events/vocabulary';
import { STAGE_RANK, classifyPath, stageOf, type PathClassifier } from './stages';
import { TransferTracker } from './transfers';
import { LruMap } from './lru';

export interface TimelineOptions {
  /** Quiet time before a boot counts as stalled (default 180 000 ms). */
  stallMs?: number;
  /** A boot stalled this long is marked failed (default: never). */
  failAfterMs?: number;
  /** Boots kept per machine (default 10). */
  maxBoots?: number;
  /** Machines kept; the least recently seen go first (default 5000). */
  maxMachines?: number;
  clock?: () => number;
  classify?: PathClassifier;
  /** Receives the `stage` / `stall` / `stall.cleared` events the timeline derives. */
  emit?: (event: StageEvent | StallEvent) => void;
}

export interface StageJSON {
  stage: StageName;
  start: number;
  /** null while the stage is current. */
  end: number | null;
  /** For the current stage: so far. */
  durationMs: number;
  bytes: number;
  /** bytes per second over the stage, null for a zero-length stage. */
  rateBps: number | null;
  events: number;
}

export interface StallJSON {
  stage: StageName;
  /** Last event before the stall. */
  since: number;
  detectedAt: number;
  clearedAt: number | null;
}

export interface BootJSON {
  id: number;
  startedAt: number;
  endedAt: number | null;
  /** For an active boot: so far. */
  durationMs: number;
  outcome: 'active' | BootOutcome;
  reason: string | null;
  stage: StageName;
  stalled: boolean;
  installProgress: number | null;
  bytes: number;
  lastEventAt: number;
  stages: StageJSON[];
  stalls: StallJSON[];
}

/** What `/netboot/api/devices/<mac>/timeline` returns. */
export interface MachineTimelineJSON {
  mac: string;
  stallMs: number;
  current: { bootId: number; stage: StageName; outcome: 'active' | BootOutcome; stalled: boolean } | null;
  /** Oldest first; at most `maxBoots`. */
  boots: BootJSON[];
  /** What the inventory recorded about the machine (facts changed, enrolment refused, removed), oldest first; the last 20. */
  notices: NoticeJSON[];
}

export interface NoticeJSON {
  ts: number;
  type: string;
  message: string;
  /** The boot that was active then, if any. */
  bootId: number | null;
}

const MAX_NOTICES = 20;

interface StageRecord {
  stage: StageName;
  start: number;
  end?: number;
  bytes: number;
  events: number;
}

interface Boot {
  id: number;
  startedAt: number;
  endedAt?: number;
  outcome: 'active' | BootOutcome;
  reason?: string;
  stages: StageRecord[];
  stalled: boolean;
  stalls: { stage: StageName; since: number; detectedAt: number; clearedAt?: number }[];
  lastEventAt: number;
  installProgress?: number;
}

interface Machine {
  mac: string;
  boots: Boot[];
  nextId: number;
  lastSeen: number;
  /** Created with the machine's first transfer (a machine that only asked DHCP has none). */
  transfers?: TransferTracker;
  notices: NoticeJSON[];
}

const IN_PROGRESS_ACTIONS = new Set(['installing', 'install', 'progress', 'start', 'started', 'booting', 'running', 'boot_image', 'show_menu', 'menu']);
const FAILED_ACTIONS = new Set(['failed', 'fail', 'error', 'aborted']);

/** `progress=42`, `progress: 42%`, `Progress 42.5 %` → 42 / 42.5; undefined when absent. */
export function parseProgress(line: string): number | undefined {
  const m = /\bprogress\s*[=:]?\s*(\d{1,3}(?:\.\d+)?)\s*%?/i.exec(line);
  if (!m) return undefined;
  return Math.min(100, Math.max(0, Number(m[1])));
}

/** Restart thresholds: an event pointing at `stage` while the boot is at least this far starts over. */
const RESTART_FROM: Partial<Record<StageName, number>> = {
  dhcp: STAGE_RANK.ipxe,
  ipxe: STAGE_RANK.kernel,
  'firmware-tftp': STAGE_RANK.os,
};

export class BootTimeline {
  readonly stallMs: number;
  private readonly failAfterMs?: number;
  private readonly maxBoots: number;
  private readonly maxMachines: number;
  private readonly clock: () => number;
  private readonly classify: PathClassifier;
  private readonly emitFn?: (event: StageEvent | StallEvent) => void;
  private readonly machines: LruMap<string, Machine>;

  constructor(options: TimelineOptions = {}) {
    this.stallMs = options.stallMs ?? 180_000;
    this.failAfterMs = options.failAfterMs;
    this.maxBoots = Math.max(1, options.maxBoots ?? 10);
    this.maxMachines = Math.max(1, options.maxMachines ?? 5000);
    this.machines = new LruMap<string, Machine>(this.maxMachines);
    this.clock = options.clock ?? Date.now;
    this.classify = options.classify ?? classifyPath;
    this.emitFn = options.emit;
  }

  /** Feeds one event; returns the events it derived (also handed to `emit`). */
  observe(e: NetbootEvent): (StageEvent | StallEvent)[] {
    if (!e.mac) return [];
    const group = groupOf(e.type);
    if (group === 'record') {
      this.notice(e.mac, e);
      return [];
    }
    if (group !== 'activity') return [];
    const out: (StageEvent | StallEvent)[] = [];
    const m = this.machine(e.mac, e.ts);
    m.lastSeen = Math.max(m.lastSeen, e.ts);
    let boot = m.boots[m.boots.length - 1];
    const current = boot ? currentStage(boot) : undefined;
    const target = stageOf(e, current, this.classify);

    if (target !== undefined && this.startsNewBoot(boot, current, target, e)) {
      if (boot && boot.outcome === 'active') this.finish(m, boot, 'failed', e.ts, 'restarted', out);
      boot = this.newBoot(m, e.ts);
    }
    const delta = isTransferEvent(e) ? (m.transfers ??= new TransferTracker()).observe(e) : 0;
    if (!boot || boot.outcome !== 'active') return this.flush(out);

    boot.lastEventAt = Math.max(boot.lastEventAt, e.ts);
    if (boot.stalled) {
      const stall = boot.stalls[boot.stalls.length - 1];
      boot.stalled = false;
      stall.clearedAt = e.ts;
      out.push({ type: 'stall.cleared', ts: e.ts, mac: m.mac, ip: e.ip, bootId: boot.id, stage: stall.stage, quietMs: e.ts - stall.since });
    }
    const now = currentStage(boot);
    if (target !== undefined && (now === undefined || STAGE_RANK[target] > STAGE_RANK[now])) this.enter(m, boot, target, e.ts, out);
    const rec = boot.stages[boot.stages.length - 1];
    if (rec) {
      rec.events++;
      rec.bytes += delta;
    }

    if (e.type === 'boot.log') {
      const p = parseProgress(e.line);
      if (p !== undefined) {
        boot.installProgress = p;
        if (p >= 100) this.finish(m, boot, 'done', e.ts, 'install complete', out);
      }
    } else if (e.type === 'config.installed') {
      this.finish(m, boot, 'done', e.ts, 'installed', out);
    } else if (e.type === 'checkin' && e.origin !== 'ipxe') {
      const action = (e.action ?? '').toLowerCase();
      if (FAILED_ACTIONS.has(action)) this.finish(m, boot, 'failed', e.ts, `check-in: ${action}`, out);
      else if (!IN_PROGRESS_ACTIONS.has(action)) this.finish(m, boot, 'done', e.ts, action ? `check-in: ${action}` : 'check-in', out);
    }
    return this.flush(out);
  }

  private startsNewBoot(boot: Boot | undefined, current: StageName | undefined, target: StageName, e: NetbootEvent): boolean {
    if (!boot) return true;
    if (boot.outcome !== 'active') return STAGE_RANK[target] <= STAGE_RANK.script && e.type !== 'tftp.progress' && e.type !== 'http.progress';
    const from = RESTART_FROM[target];
    if (from === undefined || current === undefined) return false;
    const fresh = target === 'firmware-tftp' ? e.type === 'tftp.start' || e.type === 'http.start' : e.type === 'dhcp.discover';
    return fresh && STAGE_RANK[current] >= from;
  }

  private newBoot(m: Machine, ts: number): Boot {
    const boot: Boot = { id: m.nextId++, startedAt: ts, outcome: 'active', stages: [], stalled: false, stalls: [], lastEventAt: ts };
    m.boots.push(boot);
    while (m.boots.length > this.maxBoots) m.boots.shift();
    return boot;
  }

  private enter(m: Machine, boot: Boot, stage: StageName, ts: number, out: (StageEvent | StallEvent)[]): void {
    const prev = boot.stages[boot.stages.length - 1];
    const ev: StageEvent = { type: 'stage', ts, mac: m.mac, bootId: boot.id, to: stage };
    if (prev) {
      prev.end = ts;
      ev.from = prev.stage;
      ev.durationMs = ts - prev.start;
    }
    boot.stages.push({ stage, start: ts, bytes: 0, events: 0 });
    out.push(ev);
  }

  private finish(m: Machine, boot: Boot, outcome: BootOutcome, ts: number, reason: string, out: (StageEvent | StallEvent)[]): void {
    const last = boot.stages[boot.stages.length - 1];
    const ev: StageEvent = { type: 'stage', ts, mac: m.mac, bootId: boot.id, to: outcome, bootDurationMs: ts - boot.startedAt, reason };
    if (last) {
      last.end = ts;
      ev.from = last.stage;
      ev.durationMs = ts - last.start;
    }
    boot.outcome = outcome;
    boot.endedAt = ts;
    boot.reason = reason;
    if (boot.stalled) {
      boot.stalled = false;
      boot.stalls[boot.stalls.length - 1].clearedAt = ts;
    }
    out.push(ev);
  }

  private flush(out: (StageEvent | StallEvent)[]): (StageEvent | StallEvent)[] {
    if (this.emitFn) for (const ev of out) this.emitFn(ev);
    return out;
  }

  /** Raises stalls (and, with `failAfterMs`, failures) due at `now`. */
  tick(now = this.clock()): (StageEvent | StallEvent)[] {
    const out: (StageEvent | StallEvent)[] = [];
    for (const m of this.machines.values()) {
      const boot = m.boots[m.boots.length - 1];
      if (!boot || boot.outcome !== 'active') continue;
      const quiet = now - boot.lastEventAt;
      const stage = currentStage(boot);
      if (stage === undefined) continue;
      if (!boot.stalled && quiet >= this.stallMs && expectsProgress(boot, stage)) {
        boot.stalled = true;
        boot.stalls.push({ stage, since: boot.lastEventAt, detectedAt: now });
        out.push({ type: 'stall', ts: now, mac: m.mac, bootId: boot.id, stage, quietMs: quiet });
      }
      if (boot.stalled && this.failAfterMs !== undefined && quiet >= this.failAfterMs) {
        this.finish(m, boot, 'failed', now, 'stalled', out);
      }
      m.transfers?.prune(now, Math.max(this.stallMs, 600_000));
    }
    return this.flush(out);
  }

  macs(): string[] {
    return [...this.machines.keys()];
  }

  has(mac: string): boolean {
    return this.machines.has(mac);
  }

  /** The machine's latest boot in summary form, if any. */
  current(mac: string): MachineTimelineJSON['current'] {
    const boot = this.machines.get(mac)?.boots.at(-1);
    const stage = boot && currentStage(boot);
    if (!boot || !stage) return null;
    return { bootId: boot.id, stage, outcome: boot.outcome, stalled: boot.stalled };
  }

  /** Install progress of the latest boot (from `progress=` log lines). */
  installProgress(mac: string): number | undefined {
    return this.machines.get(mac)?.boots.at(-1)?.installProgress;
  }

  /** In-flight transfers of a machine (for size-ratio progress). */
  inFlight(mac: string): ReturnType<TransferTracker['inFlight']> {
    return this.machines.get(mac)?.transfers?.inFlight() ?? [];
  }

  toJSON(mac: string, now = this.clock()): MachineTimelineJSON | undefined {
    const m = this.machines.get(mac);
    if (!m) return undefined;
    return { mac, stallMs: this.stallMs, current: this.current(mac), boots: m.boots.filter((b) => b.stages.length > 0).map((b) => bootJSON(b, now)), notices: m.notices.map((n) => ({ ...n })) };
  }

  /** A record event: kept on the machine's timeline, changes no stage and starts no boot. */
  private notice(mac: string, e: NetbootEvent): void {
    const m = this.machine(mac, e.ts);
    const boot = m.boots[m.boots.length - 1];
    m.notices.push({ ts: e.ts, type: e.type, message: describeEvent(e), bootId: boot && boot.outcome === 'active' ? boot.id : null });
    if (m.notices.length > MAX_NOTICES) m.notices.splice(0, m.notices.length - MAX_NOTICES);
  }

  private machine(mac: string, ts: number): Machine {
    // least-recently-seen order: a flood of new MACs evicts the oldest in O(1)
    return this.machines.touch(mac, () => ({ mac, boots: [], nextId: 1, lastSeen: ts, transfers: undefined, notices: [] }));
  }
}

function currentStage(boot: Boot): StageName | undefined {
  return boot.stages[boot.stages.length - 1]?.stage;
}

function expectsProgress(boot: Boot, stage: StageName): boolean {
  if (STAGE_RANK[stage] < STAGE_RANK.os) return true;
  return boot.installProgress !== undefined && boot.installProgress < 100;
}

function bootJSON(b: Boot, now: number): BootJSON {
  const stages = b.stages.map((s): StageJSON => {
    const end = s.end ?? null;
    const durationMs = Math.max(0, (end ?? Math.max(now, s.start)) - s.start);
    return { stage: s.stage, start: s.start, end, durationMs, bytes: s.bytes, rateBps: durationMs > 0 ? Math.round((s.bytes * 1000) / durationMs) : null, events: s.events };
  });
  const endedAt = b.endedAt ?? null;
  return {
    id: b.id,
    startedAt: b.startedAt,
    endedAt,
    durationMs: Math.max(0, (endedAt ?? Math.max(now, b.startedAt)) - b.startedAt),
    outcome: b.outcome,
    reason: b.reason ?? null,
    stage: b.stages[b.stages.length - 1].stage,
    stalled: b.stalled,
    installProgress: b.installProgress ?? null,
    bytes: b.stages.reduce((n, s) => n + s.bytes, 0),
    lastEventAt: b.lastEventAt,
    stages,
    stalls: b.stalls.map((s) => ({ stage: s.stage, since: s.since, detectedAt: s.detectedAt, clearedAt: s.clearedAt ?? null })),
  };
}
