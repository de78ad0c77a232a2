/**
 * Fleet figures for the dashboard's charts and the Devices table, from the boots the inventory
 * keeps (`StoredBoot`, the timelines of finished boots): boots per hour with their outcomes, the
 * time to the boot menu (the boot script fetched: stage `script`) and to the OS as percentiles per
 * hour, and each machine's last boot. Pure: the route hands it the boots and the clock.
 */

export interface StatsBoot {
  mac: string;
  startedAt: number;
  endedAt?: number | null;
  outcome: string;
  stages?: Array<{ stage: string; start: number }>;
}

export interface HourStats {
  /** Start of the hour (ms since the epoch, UTC). */
  start: number;
  boots: number;
  done: number;
  failed: number;
  /** Time to the menu in ms (p50, p90, p99) of this hour's boots that reached it; null when none did. */
  menu: { p50: number; p90: number; p99: number } | null;
}

export interface LastBoot {
  startedAt: number;
  outcome: string;
  /** From the first packet to the OS's first request (stage `os` or `iscsi`); null when it did not get there. */
  toOsMs: number | null;
  toMenuMs: number | null;
}

export interface BootStats {
  from: number;
  to: number;
  hours: HourStats[];
  /** Each machine's newest kept boot. */
  last: Record<string, LastBoot>;
}

const HOUR = 3_600_000;

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function since(b: StatsBoot, stages: string[]): number | null {
  const s = b.stages?.find((x) => stages.includes(x.stage));
  return s ? Math.max(0, s.start - b.startedAt) : null;
}

export function bootStats(boots: readonly StatsBoot[], opts: { now: number; hours: number }): BootStats {
  const to = Math.floor(opts.now / HOUR) * HOUR + HOUR;
  const from = to - opts.hours * HOUR;
  const hours: HourStats[] = [];
  const menus: number[][] = [];
  for (let i = 0; i < opts.hours; i++) {
    hours.push({ start: from + i * HOUR, boots: 0, done: 0, failed: 0, menu: null });
    menus.push([]);
  }
  const last: Record<string, LastBoot> = {};
  for (const b of boots) {
    if (!Number.isFinite(b.startedAt)) continue;
    const toMenuMs = since(b, ['script']);
    const prev = last[b.mac];
    if (!prev || b.startedAt >= prev.startedAt) last[b.mac] = { startedAt: b.startedAt, outcome: b.outcome, toOsMs: since(b, ['os', 'iscsi']), toMenuMs };
    if (b.startedAt < from || b.startedAt >= to) continue;
    const i = Math.floor((b.startedAt - from) / HOUR);
    const h = hours[i];
    h.boots++;
    if (b.outcome === 'done') h.done++;
    else if (b.outcome === 'failed') h.failed++;
    if (toMenuMs !== null) menus[i].push(toMenuMs);
  }
  hours.forEach((h, i) => {
    const m = menus[i].sort((a, b) => a - b);
    if (m.length) h.menu = { p50: percentile(m, 50), p90: percentile(m, 90), p99: percentile(m, 99) };
  });
  return { from, to, hours, last };
}
