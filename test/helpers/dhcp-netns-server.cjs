/*
 * Runs our DhcpServer inside a network namespace for test/integration/dhcp-netns.test.ts.
 * argv: <compiled lib/dhcp/index.js> <json config>. Prints one JSON line per event on stdout.
 * stdin lines: "mode <proxy|full|off>", "quit". Exits by itself after config.lifetimeMs.
 */
'use strict';
const dgram = require('node:dgram');
const readline = require('node:readline');
const { DhcpServer, LeasePool, JsonFileLeaseStore } = require(process.argv[2]);

const cfg = JSON.parse(process.argv[3]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

function bind(port) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    s.once('error', reject);
    s.bind(port, '0.0.0.0', () => resolve(s));
  });
}

async function main() {
  const pool = cfg.pool ? await LeasePool.open({ ...cfg.pool, store: new JsonFileLeaseStore(cfg.leaseFile) }) : undefined;
  const server = new DhcpServer({ mode: cfg.mode, interfaces: [{ address: cfg.address, netmask: cfg.netmask, pool }], rateLimit: { perMac: false, perSource: false } });
  const sockets = [await bind(67), await bind(4011), await bind(68)];
  server.attach(sockets[0], sockets[1], sockets[2]);
  for (const ev of ['discover', 'request', 'release', 'decline', 'inform']) server.on(ev, (e) => out({ event: ev, mac: e.facts.mac, via: e.via }));
  for (const ev of ['offer', 'ack', 'nak']) server.on(ev, (e) => out({ event: ev, mac: e.facts.mac, yiaddr: e.reply.yiaddr, to: e.destination }));
  server.on('ignored', (e) => out({ event: 'ignored', reason: e.reason, mac: e.facts && e.facts.mac }));
  server.on('rogue', (r) => out({ event: 'rogue', ...r }));
  server.on('malformed', (e) => out({ event: 'malformed', count: e.count }));
  server.on('error', (err) => out({ event: 'error', message: err.message }));
  const stop = () => {
    server.close();
    for (const s of sockets) s.close();
    process.exit(0);
  };
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === 'mode') {
      server.setMode(arg);
      out({ event: 'mode', mode: arg });
    } else if (cmd === 'quit') stop();
  });
  setTimeout(stop, cfg.lifetimeMs || 60000);
  out({ event: 'ready' });
}

main().catch((err) => {
  out({ event: 'fatal', message: String(err && err.stack || err) });
  process.exit(1);
});
