/**
 * What the fleet widget keeps on the server: for each machine, the newest event of each kind that
 * decides its row (stage, stall, transfer, DHCP with its architecture, host name, address), so a
 * dashboard opened later replays a few events per machine through the same code as the live ones
 * and shows the same rows. Bounded: the machines seen longest ago leave first.
 */
'use strict';

/** The row's facts an event carries, as the slot it fills. */
function slotsOf(e) {
  const slots = [];
  if (e.type === 'stage') slots.push('stage');
  if (e.type === 'stall' || e.type === 'stall.cleared') slots.push('stall');
  if (/^(tftp|http)\.(progress|done|abort)$/.test(e.type)) slots.push('transfer');
  if (e.type.startsWith('dhcp.') && e.arch) slots.push('dhcp');
  if (typeof e.hostname === 'string' && e.hostname) slots.push('hostname');
  if (e.ip) slots.push('ip');
  // any event moves "last seen"
  slots.push('seen');
  return slots;
}

/** A vocabulary event from a message of netboot-metrics' second output (`msg.payload`), else undefined. */
function eventOf(msg) {
  const e = msg && msg.payload;
  if (!e || typeof e !== 'object' || typeof e.type !== 'string' || typeof e.ts !== 'number') return undefined;
  return e;
}

class FleetSnapshot {
  constructor(maxMachines = 5000) {
    this.max = maxMachines;
    /** mac → Map(slot → event), in the order machines were last seen (a Map keeps insertion order). */
    this.machines = new Map();
  }

  add(e) {
    if (typeof e.mac !== 'string' || !e.mac) return;
    let slots = this.machines.get(e.mac);
    if (slots) this.machines.delete(e.mac);
    else slots = new Map();
    this.machines.set(e.mac, slots);
    for (const s of slotsOf(e)) slots.set(s, e);
    while (this.machines.size > this.max) this.machines.delete(this.machines.keys().next().value);
  }

  /** The events that rebuild every row, each once, unsorted (the dashboard replays them by time). */
  events() {
    const out = [];
    for (const slots of this.machines.values()) for (const e of new Set(slots.values())) out.push(e);
    return out;
  }

  get size() {
    return this.machines.size;
  }
}

module.exports = { FleetSnapshot, eventOf, slotsOf };
