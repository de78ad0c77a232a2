'use strict';
/**
 * The thread behind lib/net/udp-thread.ts: owns one bound UDP socket, hands what arrives to the
 * main thread in batches and sends what the main thread asks it to. It does nothing else, so it
 * drains the kernel's buffer as fast as packets come, whatever the main thread is busy with.
 *
 * Messages from the main thread: { kind: 'send', id, data, port, address } (id 0: no answer
 * wanted), { kind: 'broadcast', flag }, { kind: 'close' }.
 * Messages to it: { kind: 'listening', address, family, port, recvBuffer }, { kind: 'bind-error',
 * code, message }, { kind: 'messages', data, lengths, addresses, ports, dropped }, { kind: 'sent', acks:
 * [[id] or [id, code, message], ...] }, { kind: 'error', code, message }, { kind: 'closed' }.
 */
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const dns = require('node:dns');
const { isIP } = require('node:net');
const { setImmediate } = require('node:timers');

const { port, address, broadcast, recvBuffer, reuseAddr, backlog, maxBacklog } = workerData;
/**
 * backlog[0]: datagrams handed over that the main thread has not taken yet (we add, it subtracts).
 * Past maxBacklog new ones are dropped and counted, as a full kernel buffer would drop them: a flood
 * must not grow the main thread's queue without bound.
 */
const held = new Int32Array(backlog);
let dropped = 0;

// replies go to IP literals (the client, a broadcast address): no resolver round trip for those
function lookup(host, options, callback) {
  const family = isIP(host);
  if (family !== 0) callback(null, host, family);
  else dns.lookup(host, options, callback);
}

const socket = dgram.createSocket({ type: 'udp4', reuseAddr: reuseAddr === true, lookup });

/** What arrived since the last hand-over; one batch per turn of this thread's loop. */
let pending = [];
let scheduled = false;

/** Hands over what arrived this turn and the count dropped (a turn can have only drops). */
function flush() {
  scheduled = false;
  const batch = pending;
  pending = [];
  let total = 0;
  for (const [msg] of batch) total += msg.length;
  // one exact-size buffer, moved (not copied) to the main thread
  const data = new Uint8Array(total);
  const lengths = new Array(batch.length);
  const addresses = new Array(batch.length);
  const ports = new Array(batch.length);
  let at = 0;
  for (let i = 0; i < batch.length; i++) {
    const [msg, rinfo] = batch[i];
    data.set(msg, at);
    at += msg.length;
    lengths[i] = msg.length;
    addresses[i] = rinfo.address;
    ports[i] = rinfo.port;
  }
  Atomics.add(held, 0, batch.length);
  parentPort.postMessage({ kind: 'messages', data, lengths, addresses, ports, dropped }, [data.buffer]);
  dropped = 0;
}

socket.on('message', (msg, rinfo) => {
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
  if (Atomics.load(held, 0) + pending.length >= maxBacklog) dropped++;
  else pending.push([msg, rinfo]);
});

socket.once('error', (err) => {
  parentPort.postMessage({ kind: 'bind-error', code: err.code, message: err.message });
});

socket.once('listening', () => {
  socket.removeAllListeners('error');
  socket.on('error', (err) => parentPort.postMessage({ kind: 'error', code: err.code, message: err.message }));
  if (broadcast) socket.setBroadcast(true);
  let got;
  try {
    if (recvBuffer) socket.setRecvBufferSize(recvBuffer);
    got = socket.getRecvBufferSize();
  } catch {
    got = undefined; // the default buffer still works
  }
  const a = socket.address();
  parentPort.postMessage({ kind: 'listening', address: a.address, family: a.family, port: a.port, recvBuffer: got });
});

/** Sends done since the last report: [id, error code, error message], one report per turn. */
let acks = [];

function sent(id, code, message) {
  if (acks.length === 0) setImmediate(flushAcks);
  acks.push(code === undefined && message === undefined ? [id] : [id, code, message]);
}

function flushAcks() {
  const list = acks;
  acks = [];
  parentPort.postMessage({ kind: 'sent', acks: list });
}

parentPort.on('message', (m) => {
  switch (m.kind) {
    case 'send':
      try {
        socket.send(m.data, m.port, m.address, (err) => {
          if (m.id !== 0) sent(m.id, err ? err.code : undefined, err ? err.message : undefined);
        });
      } catch (err) {
        if (m.id !== 0) sent(m.id, err.code ?? 'ERR_SOCKET_DGRAM_NOT_RUNNING', err.message);
      }
      break;
    case 'broadcast':
      try {
        socket.setBroadcast(m.flag);
      } catch (err) {
        parentPort.postMessage({ kind: 'error', code: err.code, message: err.message });
      }
      break;
    case 'close':
      try {
        socket.close(() => {
          parentPort.postMessage({ kind: 'closed' });
          parentPort.close();
        });
      } catch {
        parentPort.postMessage({ kind: 'closed' });
        parentPort.close();
      }
      break;
    default:
      break;
  }
});

try {
  socket.bind({ port, address, exclusive: true });
} catch (err) {
  parentPort.postMessage({ kind: 'bind-error', code: err.code, message: err.message });
}
