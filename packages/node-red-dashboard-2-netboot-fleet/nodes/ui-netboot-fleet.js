/**
 * ui-netboot-fleet: a Dashboard 2.0 widget showing the netboot fleet, fed by the messages of a
 * netboot-metrics node wired to it (its second output: boot events; its first output's "fleet"
 * summary for the counts). Dashboard clients carry no editor token, so the widget never calls the
 * management API: everything it shows arrives on its input.
 *
 * Events are gathered and sent to the dashboards at most four times a second (one message per
 * batch, not one per packet); the last state of every machine is kept so a dashboard opened later
 * loads the whole fleet at once. Relies on two parts of Dashboard 2.0's ui-base: `register` reading
 * only `id` and `on()` of the widget node, and its `emit(event, msg, node)`; the browser test
 * (test/browser/dashboard-widget.test.ts) fails if either changes.
 */
'use strict';

const { FleetSnapshot, eventOf } = require('./fleet-snapshot');

const FLUSH_MS = 250;
/** The snapshot for dashboards opened later is saved at most this often (a copy of every machine's events). */
const SAVE_MS = 1000;
const MAX_BATCH = 2000;

module.exports = function register(RED) {
  function UINetbootFleet(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const group = RED.nodes.getNode(config.group);
    if (!group) {
      node.error(RED._('ui-netboot-fleet.errors.noGroup'));
      node.status({ fill: 'red', shape: 'ring', text: RED._('ui-netboot-fleet.status.noGroup') });
      return;
    }
    const base = group.getBase();
    const snapshot = new FleetSnapshot(Number(config.maxMachines) || 5000);
    let batch = [];
    let summary = null;
    let timer = null;
    let saveTimer = null;
    let lastSave = 0;

    function save() {
      saveTimer = null;
      lastSave = Date.now();
      base.stores.data.save(base, node, { payload: { snapshot: snapshot.events(), ...(summary ? { summary } : {}) } });
    }

    // What open dashboards get: one message per batch, at most every FLUSH_MS; and what a dashboard
    // opened later loads (Dashboard 2.0's widget-load): the events that rebuild every row.
    function flush() {
      timer = null;
      if (!batch.length && !summary) return;
      const out = { payload: { events: batch, ...(summary ? { summary } : {}) } };
      batch = [];
      const since = Date.now() - lastSave;
      if (since >= SAVE_MS) save();
      else if (!saveTimer) saveTimer = setTimeout(save, SAVE_MS - since);
      base.emit(`msg-input:${node.id}`, out, node);
      node.status({ fill: 'green', shape: 'dot', text: RED._('ui-netboot-fleet.status.machines', { n: snapshot.size }) });
    }

    // Dashboard 2.0 sends every input of a registered widget to every open dashboard at once; this
    // widget's inputs are boot events (a storm is thousands a second), so the node takes its input
    // itself and registers a stand-in that passes only 'close' on; the batches go out through the
    // ui-base node's own emit, which it offers to nodes for this.
    const standIn = {
      id: node.id,
      type: node.type,
      z: node.z,
      on(event, fn) {
        if (event !== 'input') node.on(event, fn);
        return standIn;
      },
    };
    group.register(standIn, config, {});

    node.on('input', (msg, _send, done) => {
      const e = eventOf(msg);
      if (e) {
        snapshot.add(e);
        batch.push(e);
        if (batch.length > MAX_BATCH) batch = batch.slice(-MAX_BATCH);
      } else if (msg && msg.topic === 'fleet' && msg.payload && typeof msg.payload === 'object') {
        summary = msg.payload;
      } else {
        done();
        return;
      }
      if (!timer) timer = setTimeout(flush, FLUSH_MS);
      done();
    });
    node.on('close', (done) => {
      clearTimeout(timer);
      clearTimeout(saveTimer);
      done();
    });
  }
  RED.nodes.registerType('ui-netboot-fleet', UINetbootFleet);
};
