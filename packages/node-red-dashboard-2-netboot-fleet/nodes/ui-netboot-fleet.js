/**
 * ui-netboot-fleet: a Dashboard 2.0 widget showing the netboot fleet, fed by the messages of a
 * netboot-metrics node wired to it (its second output: boot events; its first output's "fleet"
 * summary for the counts). Dashboard clients carry no editor token, so the widget never calls the
 * management API: everything it shows arrives on its input.
 *
 * Events are gathered and sent to the dashboards at most four times a second (one message per
 * batch, not one per packet); the last state of every machine is kept so a dashboard opened later
 * loads the whole fleet at once.
 */
'use strict';

const { FleetSnapshot, eventOf } = require('./fleet-snapshot');

const FLUSH_MS = 250;
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

    function schedule() {
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        // through the widget's own input, so Dashboard 2.0 sends it to every open dashboard
        node.receive({ _netbootFleetFlush: true });
      }, FLUSH_MS);
    }

    const events = {
      // every input is folded into the batch; only the flush goes out to the dashboards
      beforeSend(msg) {
        if (msg && msg._netbootFleetFlush) {
          if (!batch.length && !summary) return null;
          const out = { payload: { events: batch, ...(summary ? { summary } : {}) } };
          batch = [];
          return out;
        }
        const e = eventOf(msg);
        if (e) {
          snapshot.add(e);
          batch.push(e);
          if (batch.length > MAX_BATCH) batch = batch.slice(-MAX_BATCH);
          schedule();
        } else if (msg && msg.topic === 'fleet' && msg.payload && typeof msg.payload === 'object') {
          summary = msg.payload;
          schedule();
        }
        return null;
      },
      onInput(msg) {
        if (!msg) return;
        // what a dashboard opened later loads (widget-load): the events that rebuild every row
        base.stores.data.save(base, node, { payload: { snapshot: snapshot.events(), ...(summary ? { summary } : {}) } });
        node.status({ fill: 'green', shape: 'dot', text: RED._('ui-netboot-fleet.status.machines', { n: snapshot.size }) });
      },
    };

    group.register(node, config, events);
    node.on('close', (done) => {
      clearTimeout(timer);
      done();
    });
  }
  RED.nodes.registerType('ui-netboot-fleet', UINetbootFleet);
};
