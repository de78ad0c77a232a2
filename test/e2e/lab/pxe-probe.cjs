#!/usr/bin/env node
/*
 * pxe-probe.cjs - a BIOS PXE boot ROM look-alike that is NOT iPXE, for the one step QEMU cannot show:
 * QEMU's BIOS boot ROMs are all iPXE (they send user class "iPXE"), so a real machine's vendor PXE ROM
 * asking for undionly.kpxe never happens in a VM. This sends the DISCOVER such a ROM sends (options 53,
 * 55, 57, 60 "PXEClient:Arch:00000:UNDI:002001", 93 = 0, 94 = 1.2.1, 97 = type 0 + GUID; no 77, no 175),
 * keeps the proxy OFFER of --server, then reads the offered file by TFTP the way a PXE ROM does
 * (RRQ octet with blksize + tsize, OACK -> ACK 0, DATA/ACK lock-step) and prints one JSON line:
 *   {"offer":{"yiaddr","siaddr","file","vendorClass","option43"},"tftp":{"bytes","sha256","blksize","tsize"}}
 *
 * Run inside the lab's client namespace (root, port 68):
 *   ip netns exec nbe2e-cli node pxe-probe.cjs --server 10.81.0.1 --broadcast 10.81.0.255 --mac 52:54:00:81:00:0b
 * The DISCOVER goes to the subnet broadcast (the namespace has no route for 255.255.255.255).
 */
'use strict';
const dgram = require('node:dgram');
const crypto = require('node:crypto');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const SERVER = arg('server');
const BCAST = arg('broadcast');
const MAC = arg('mac', '52:54:00:81:00:0b');
const TIMEOUT = Number(arg('timeout', '10')) * 1000;
const BLKSIZE = Number(arg('blksize', '1432'));
if (!SERVER || !BCAST) {
  console.error('usage: pxe-probe.cjs --server IP --broadcast IP [--mac MAC] [--timeout S] [--blksize N]');
  process.exit(2);
}
const fail = (msg) => {
  console.error(`pxe-probe: ${msg}`);
  process.exit(1);
};
setTimeout(() => fail(`no answer within ${TIMEOUT / 1000} s`), TIMEOUT).unref();

function discover(xid) {
  const b = Buffer.alloc(240);
  b[0] = 1; b[1] = 1; b[2] = 6; // BOOTREQUEST, ethernet, hlen 6
  b.writeUInt32BE(xid, 4);
  b.writeUInt16BE(0x8000, 10); // broadcast flag, as PXE ROMs set it
  Buffer.from(MAC.split(':').map((h) => parseInt(h, 16))).copy(b, 28);
  b.writeUInt32BE(0x63825363, 236);
  const opt = (code, data) => Buffer.concat([Buffer.from([code, data.length]), Buffer.from(data)]);
  return Buffer.concat([b,
    opt(53, [1]),
    opt(57, [0x04, 0xec]),
    opt(93, [0, 0]),
    opt(94, [1, 2, 1]),
    opt(60, Buffer.from('PXEClient:Arch:00000:UNDI:002001')),
    opt(55, [1, 3, 43, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135]),
    opt(97, Buffer.alloc(17)),
    Buffer.from([255])]);
}

function parse(msg) {
  const opts = {};
  for (let i = 240; i < msg.length;) {
    const code = msg[i];
    if (code === 0) { i++; continue; }
    if (code === 255) break;
    const len = msg[i + 1];
    opts[code] = msg.subarray(i + 2, i + 2 + len);
    i += 2 + len;
  }
  const ip = (o) => [...msg.subarray(o, o + 4)].join('.');
  const cstr = (o, n) => msg.subarray(o, o + n).toString('latin1').replace(/\0.*$/s, '');
  return {
    op: msg[0], xid: msg.readUInt32BE(4), yiaddr: ip(16), siaddr: ip(20), file: cstr(108, 128),
    type: opts[53]?.[0], serverId: opts[54] ? [...opts[54]].join('.') : undefined,
    vendorClass: opts[60]?.toString('latin1'), option43: opts[43]?.toString('hex'), option67: opts[67]?.toString('latin1').replace(/\0+$/, ''),
  };
}

function tftpGet(file, done) {
  const s = dgram.createSocket('udp4');
  const chunks = new Map();
  let blksize = 512, tsize, peer;
  const ack = (n, port) => {
    const a = Buffer.alloc(4); a.writeUInt16BE(4, 0); a.writeUInt16BE(n, 2);
    s.send(a, port, SERVER);
  };
  s.on('message', (m, rinfo) => {
    if (rinfo.address !== SERVER) return;
    if (peer !== undefined && rinfo.port !== peer) return;
    peer = rinfo.port;
    const op = m.readUInt16BE(0);
    if (op === 6) { // OACK
      const parts = m.subarray(2).toString('latin1').split('\0');
      for (let i = 0; i + 1 < parts.length; i += 2) {
        if (parts[i].toLowerCase() === 'blksize') blksize = Number(parts[i + 1]);
        if (parts[i].toLowerCase() === 'tsize') tsize = Number(parts[i + 1]);
      }
      ack(0, rinfo.port);
    } else if (op === 3) {
      const n = m.readUInt16BE(2);
      chunks.set(n, m.subarray(4));
      ack(n, rinfo.port);
      if (m.length - 4 < blksize) {
        const data = Buffer.concat([...chunks.keys()].sort((a, b) => a - b).map((k) => chunks.get(k)));
        s.close();
        done({ bytes: data.length, sha256: crypto.createHash('sha256').update(data).digest('hex'), blksize, tsize });
      }
    } else if (op === 5) {
      fail(`TFTP error ${m.readUInt16BE(2)}: ${m.subarray(4).toString('latin1').replace(/\0.*$/s, '')}`);
    }
  });
  s.bind(0, () => {
    const rrq = Buffer.from(`\0\x01${file}\0octet\0blksize\0${BLKSIZE}\0tsize\0${0}\0`, 'latin1');
    s.send(rrq, 69, SERVER);
  });
}

const xid = crypto.randomBytes(4).readUInt32BE(0);
const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
sock.on('message', (msg) => {
  if (msg.length < 240 || msg[0] !== 2) return;
  const r = parse(msg);
  if (r.xid !== xid || r.type !== 2 || r.serverId !== SERVER) return; // our server's OFFER only
  sock.close();
  const file = r.file || r.option67;
  if (!file) fail(`the OFFER names no boot file: ${JSON.stringify(r)}`);
  tftpGet(file, (tftp) => {
    console.log(JSON.stringify({ offer: { yiaddr: r.yiaddr, siaddr: r.siaddr, file, vendorClass: r.vendorClass, option43: r.option43 }, tftp }));
    process.exit(0);
  });
});
sock.bind(68, () => {
  sock.setBroadcast(true);
  sock.send(discover(xid), 67, BCAST);
});
