/**
 * The Dashboard 2.0 widget's server-side memory of the fleet: replaying the few events it keeps per
 * machine through the dashboard's own row logic gives the same rows as every event did, it forgets
 * the machines seen longest ago first, and it takes only events from netboot-metrics' messages.
 */
import { describe, expect, it } from 'vitest';
import { applyEvent, type BootEvent, type Machine } from '../../editor-ui/src/lib/fleet';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { FleetSnapshot, eventOf } = require('../../packages/node-red-dashboard-2-netboot-fleet/nodes/fleet-snapshot.js') as {
  FleetSnapshot: new (max?: number) => { add(e: BootEvent): void; events(): BootEvent[]; size: number };
  eventOf(msg: unknown): BootEvent | undefined;
};

function rows(events: BootEvent[]): Record<string, Omit<Machine, 'events'>> {
  const m = new Map<string, Machine>();
  for (const e of events) applyEvent(m, e);
  return Object.fromEntries([...m].map(([mac, { events: _n, ...row }]) => [mac, row]));
}

/** A boot storm with stalls, transfers, host names and failures, in time order. */
function storm(): BootEvent[] {
  const out: BootEvent[] = [];
  let ts = 1000;
  const stages = ['dhcp', 'firmware-tftp', 'ipxe', 'script', 'kernel', 'os', 'done'];
  for (let i = 0; i < 40; i++) {
    const mac = `52:54:00:00:10:${i.toString(16).padStart(2, '0')}`;
    const ip = `10.0.0.${i + 10}`;
    out.push({ type: 'dhcp.discover', ts: ts++, mac, arch: i % 3 ? 'efi-x64' : 'bios', ip });
    for (const [k, to] of stages.slice(0, 2 + (i % 6)).entries()) {
      out.push({ type: 'stage', ts: ts++, mac, to, ...(k === 0 ? {} : { from: stages[k - 1] }) });
      if (to === 'firmware-tftp') {
        out.push({ type: 'tftp.progress', ts: ts++, mac, path: 'ipxe.efi', bytes: 100, size: 1000 });
        if (i % 4) out.push({ type: 'tftp.done', ts: ts++, mac, path: 'ipxe.efi', bytes: 1000 });
      }
      if (i % 7 === 3 && k === 1) out.push({ type: 'stall', ts: ts++, mac, stage: to });
      if (i % 14 === 3 && k === 2) out.push({ type: 'stall.cleared', ts: ts++, mac, stage: to });
    }
    if (i % 5 === 0) out.push({ type: 'checkin', ts: ts++, mac, hostname: `node-${i}`, ip: `10.0.1.${i}` });
    if (i % 9 === 0) out.push({ type: 'stage', ts: ts++, mac, to: 'failed' });
  }
  return out;
}

describe('the fleet widget\'s snapshot', () => {
  it('rebuilds the same rows from a few events per machine', () => {
    const all = storm();
    const snap = new FleetSnapshot();
    for (const e of all) snap.add(e);
    // the dashboard replays them in time order, as UINetbootFleet.vue does
    const kept = snap.events().sort((a, b) => a.ts - b.ts);
    expect(kept.length).toBeLessThan(all.length / 2);
    expect(new Set(kept).size).toBe(kept.length);
    expect(rows(kept)).toEqual(rows(all));
  });

  it('keeps at most its limit of machines, forgetting the one seen longest ago', () => {
    const snap = new FleetSnapshot(2);
    snap.add({ type: 'stage', ts: 1, mac: 'aa:00:00:00:00:01', to: 'dhcp' });
    snap.add({ type: 'stage', ts: 2, mac: 'aa:00:00:00:00:02', to: 'dhcp' });
    snap.add({ type: 'stage', ts: 3, mac: 'aa:00:00:00:00:01', to: 'script' });
    snap.add({ type: 'stage', ts: 4, mac: 'aa:00:00:00:00:03', to: 'dhcp' });
    expect(snap.size).toBe(2);
    expect(Object.keys(rows(snap.events())).sort()).toEqual(['aa:00:00:00:00:01', 'aa:00:00:00:00:03']);
    // an event without a MAC (a disk copy, the server's address) is no machine's
    snap.add({ type: 'server.network', ts: 5 });
    expect(snap.size).toBe(2);
  });

  it('takes events from netboot-metrics\' second output only', () => {
    expect(eventOf({ topic: 'stage', payload: { type: 'stage', ts: 1, mac: 'aa:00:00:00:00:01', to: 'dhcp' } })).toMatchObject({ type: 'stage' });
    expect(eventOf({ topic: 'fleet', payload: { devices: 3, booting: 1 } })).toBeUndefined();
    expect(eventOf({ topic: 'aa:00:00:00:00:01', payload: { mac: 'aa:00:00:00:00:01', stage: 'os' } })).toBeUndefined();
    expect(eventOf({ payload: 'text' })).toBeUndefined();
    expect(eventOf(undefined)).toBeUndefined();
  });
});
