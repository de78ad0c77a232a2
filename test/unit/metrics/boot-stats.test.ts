import { describe, expect, it } from 'vitest';
import { bootStats, percentile, type StatsBoot } from '../../../lib/metrics/boot-stats';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 11, 5, 16, 20);
const THIS_HOUR = Date.UTC(2026, 11, 5, 16);

function boot(mac: string, startedAt: number, outcome: string, menuAfter?: number, osAfter?: number): StatsBoot {
  const stages = [{ stage: 'dhcp', start: startedAt }];
  if (menuAfter !== undefined) stages.push({ stage: 'script', start: startedAt + menuAfter });
  if (osAfter !== undefined) stages.push({ stage: 'os', start: startedAt + osAfter });
  return { mac, startedAt, outcome, stages };
}

describe('boot statistics for the charts', () => {
  it('nearest-rank percentiles', () => {
    const v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(v, 50)).toBe(5);
    expect(percentile(v, 90)).toBe(9);
    expect(percentile(v, 99)).toBe(10);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('counts boots per hour by outcome, with the time to the menu of those that reached it', () => {
    const boots = [
      boot('aa:00:00:00:00:01', THIS_HOUR + 60_000, 'done', 1200, 9000),
      boot('aa:00:00:00:00:02', THIS_HOUR + 120_000, 'failed', 3400),
      boot('aa:00:00:00:00:03', THIS_HOUR + 180_000, 'done'),
      boot('aa:00:00:00:00:01', THIS_HOUR - 2 * HOUR, 'done', 800, 5000),
      // older than the window: only its machine's last boot could come from it
      boot('aa:00:00:00:00:04', THIS_HOUR - 30 * HOUR, 'failed', 500),
    ];
    const s = bootStats(boots, { now: NOW, hours: 24 });
    expect(s.hours).toHaveLength(24);
    expect(s.to).toBe(THIS_HOUR + HOUR);
    expect(s.from).toBe(THIS_HOUR + HOUR - 24 * HOUR);
    const last = s.hours[23];
    expect(last).toEqual({ start: THIS_HOUR, boots: 3, done: 2, failed: 1, menu: { p50: 1200, p90: 3400, p99: 3400 } });
    expect(s.hours[21]).toMatchObject({ boots: 1, done: 1, menu: { p50: 800 } });
    expect(s.hours.filter((h) => h.boots).length).toBe(2);
    expect(s.hours[0].menu).toBeNull();
    // each machine's newest boot, whatever its age
    expect(s.last['aa:00:00:00:00:01']).toEqual({ startedAt: THIS_HOUR + 60_000, outcome: 'done', toMenuMs: 1200, toOsMs: 9000 });
    expect(s.last['aa:00:00:00:00:02']).toMatchObject({ outcome: 'failed', toOsMs: null });
    expect(s.last['aa:00:00:00:00:04']).toMatchObject({ outcome: 'failed', toMenuMs: 500 });
  });

  it('an iSCSI boot reaches its OS at the iscsi stage', () => {
    const b: StatsBoot = { mac: 'aa:00:00:00:00:05', startedAt: THIS_HOUR, outcome: 'done', stages: [{ stage: 'dhcp', start: THIS_HOUR }, { stage: 'iscsi', start: THIS_HOUR + 4000 }] };
    expect(bootStats([b], { now: NOW, hours: 1 }).last['aa:00:00:00:00:05'].toOsMs).toBe(4000);
  });
});
