import type * as dgram from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DhcpServer, DhcpServerOptions, LeasePool, MessageType, build, encodePacket, emptyPacket, getBootfile, getOption, getServerId } from '../helpers/dhcp-imports';
import { PXE_BIOS, PXE_EFI_X64, clientBytes } from '../../support/dhcp-packets';
import { Inbox, bindUdp, closeAll, portOf, send, sleep } from '../helpers/dhcp-sockets';

const S = '127.0.0.1';

describe('DhcpServer on loopback sockets', () => {
  let s67: dgram.Socket;
  let s4011: dgram.Socket;
  let s68: dgram.Socket;
  let client: dgram.Socket;
  let inbox: Inbox;
  let server: DhcpServer | undefined;

  beforeEach(async () => {
    [s67, s4011, s68, client] = await Promise.all([bindUdp(), bindUdp(), bindUdp(), bindUdp()]);
    inbox = new Inbox(client);
  });
  afterEach(async () => {
    server?.close();
    server = undefined;
    await closeAll(s67, s4011, s68, client);
  });

  function start(opts: Partial<DhcpServerOptions> = {}): DhcpServer {
    server = new DhcpServer({
      mode: 'proxy',
      interfaces: [{ address: S, netmask: '255.0.0.0' }],
      boot: { httpPort: 8080 },
      // replies that would be broadcast to :68 come to the test's client socket instead
      destination: (_reply, info) => (info.via === 'boot' ? { address: info.rinfo.address, port: info.rinfo.port } : { address: S, port: portOf(client) }),
      ...opts,
    });
    server.attach(s67, s4011, s68);
    return server;
  }

  it('DISCOVER on 67 → proxy OFFER; REQUEST on 4011 → ACK to the source port', async () => {
    const srv = start();
    const offers: unknown[] = [];
    srv.on('offer', (e) => offers.push(e));
    await send(client, clientBytes({ mac: '52:54:00:00:00:03', vendorClass: PXE_EFI_X64, arch: 7, broadcast: true }), portOf(s67));
    const { packet: offer, from } = await inbox.nth(1);
    expect(from.port).toBe(portOf(s67));
    expect(getOption(offer, 53)?.[0]).toBe(MessageType.OFFER);
    expect(offer).toMatchObject({ yiaddr: '0.0.0.0', siaddr: S, file: 'ipxe.efi' });
    expect(getServerId(offer)).toBe(S);
    expect(offers).toHaveLength(1);

    await send(client, clientBytes({ mac: '52:54:00:00:00:03', type: 3, vendorClass: PXE_EFI_X64, arch: 7, ciaddr: S, xid: 99 }), portOf(s4011));
    const { packet: ack, from: from2 } = await inbox.nth(2);
    expect(from2.port).toBe(portOf(s4011));
    expect(getOption(ack, 53)?.[0]).toBe(MessageType.ACK);
    expect(ack.xid).toBe(99);
    expect(getBootfile(ack)).toBe('ipxe.efi');
  });

  it('answers first, then tells its listeners: discover, then offer; discover, then ignored', async () => {
    const srv = start();
    const told: string[] = [];
    let repliedWhenDiscoverTold = -1;
    srv.on('discover', () => {
      told.push('discover');
      repliedWhenDiscoverTold = srv.stats.replied;
    });
    srv.on('offer', () => told.push('offer'));
    srv.on('ignored', (e: { reason: string }) => told.push(`ignored ${e.reason}`));
    await send(client, clientBytes({ mac: '52:54:00:00:00:21', vendorClass: PXE_BIOS, arch: 0 }), portOf(s67));
    expect(getOption((await inbox.nth(1)).packet, 53)?.[0]).toBe(MessageType.OFFER);
    await sleep(20);
    // the OFFER was sent (and counted) before the first listener heard of the DISCOVER
    expect(repliedWhenDiscoverTold).toBe(1);
    expect(told).toEqual(['discover', 'offer']);
    // a broadcast chaddr is no machine: ignored, and still told in order
    await send(client, clientBytes({ mac: 'ff:ff:ff:ff:ff:ff', vendorClass: PXE_BIOS, arch: 0 }), portOf(s67));
    for (let i = 0; i < 50 && told.length < 4; i++) await sleep(10);
    expect(told).toEqual(['discover', 'offer', 'discover', 'ignored not-a-device']);
  });

  it('decide hook answered in time overrides; past the deadline the default goes out', async () => {
    let delay = 0;
    start({
      deadlineMs: 150,
      decide: async (facts) => {
        await sleep(delay);
        return { filename: `custom-${facts.mac.slice(-2)}.kpxe` };
      },
    });
    const deadlines: unknown[] = [];
    server!.on('deadline', (e) => deadlines.push(e));
    await send(client, clientBytes({ mac: '52:54:00:00:00:0a', vendorClass: PXE_BIOS, arch: 0 }), portOf(s67));
    expect((await inbox.nth(1)).packet.file).toBe('custom-0a.kpxe');
    delay = 600;
    const t0 = Date.now();
    await send(client, clientBytes({ mac: '52:54:00:00:00:0b', vendorClass: PXE_BIOS, arch: 0 }), portOf(s67));
    expect((await inbox.nth(2)).packet.file).toBe('undionly.kpxe');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(550);
    expect(deadlines).toHaveLength(1);
    await sleep(500); // let the slow hook finish: its late answer must not send a second reply
    expect(inbox.packets).toHaveLength(2);
  });

  it('tells the hook when its deadline passes (the signal aborts), so a question into a flow is dropped', async () => {
    const aborted: string[] = [];
    start({
      deadlineMs: 100,
      decide: (facts, signal) => new Promise((resolve) => {
        signal.addEventListener('abort', () => {
          aborted.push(facts.mac);
          resolve({ filename: 'too-late.kpxe' });
        });
      }),
    });
    await send(client, clientBytes({ mac: '52:54:00:00:00:0c', vendorClass: PXE_BIOS, arch: 0 }), portOf(s67));
    expect((await inbox.nth(1)).packet.file).toBe('undionly.kpxe');
    expect(aborted).toEqual(['52:54:00:00:00:0c']);
    await sleep(200);
    expect(inbox.packets).toHaveLength(1);
  });

  it('malformed packets are counted and dropped; the server still answers', async () => {
    const srv = start();
    const seen: number[] = [];
    srv.on('malformed', (e: { count: number }) => seen.push(e.count));
    await send(client, Buffer.from('hello'), portOf(s67));
    await send(client, Buffer.alloc(300), portOf(s67));
    const bad = clientBytes({ mac: '52:54:00:00:00:0d', vendorClass: PXE_BIOS, arch: 0 });
    bad[241] = 0xff; // first option length 255: runs past the end
    bad[240] = 60;
    await send(client, bad, portOf(s67));
    await send(client, clientBytes({ mac: '52:54:00:00:00:0d', vendorClass: PXE_BIOS, arch: 0 }), portOf(s67));
    await inbox.nth(1);
    expect(srv.stats.malformed).toBe(3);
    expect(seen).toEqual([1, 2, 3]);
    expect(srv.stats.replied).toBe(1);
  });

  it('non-PXE clients and REQUESTs for another server are ignored with a reason', async () => {
    const srv = start();
    const reasons: string[] = [];
    srv.on('ignored', (e: { reason: string }) => reasons.push(e.reason));
    await srv.handlePacket(clientBytes({ mac: '52:54:00:00:00:0e' }), { address: '0.0.0.0', port: 68, family: 'IPv4', size: 300 }, 'dhcp');
    await srv.handlePacket(clientBytes({ mac: '52:54:00:00:00:0e', type: 3, vendorClass: PXE_BIOS, arch: 0, serverId: '10.1.1.1' }), { address: '0.0.0.0', port: 68, family: 'IPv4', size: 300 }, 'dhcp');
    srv.setMode('off');
    await srv.handlePacket(clientBytes({ mac: '52:54:00:00:00:0e', vendorClass: PXE_BIOS, arch: 0 }), { address: '0.0.0.0', port: 68, family: 'IPv4', size: 300 }, 'dhcp');
    expect(reasons).toEqual(['not-pxe', 'other-server', 'mode-off']);
  });

  it('rate limit per MAC', async () => {
    const srv = start({ rateLimit: { perMac: { burst: 3, perSecond: 0.001 }, perSource: false } });
    for (let i = 0; i < 5; i++) await send(client, clientBytes({ mac: '52:54:00:00:00:0f', vendorClass: PXE_BIOS, arch: 0, xid: i }), portOf(s67));
    await send(client, clientBytes({ mac: '52:54:00:00:00:10', vendorClass: PXE_BIOS, arch: 0, xid: 100 }), portOf(s67));
    const last = await inbox.nth(4);
    await sleep(100);
    expect(last.packet.xid).toBe(100);
    expect(inbox.packets.map((p) => p.packet.xid)).toEqual([0, 1, 2, 100]);
    expect(srv.stats.rateLimited).toBe(2);
  });

  it('rate limit per source address', async () => {
    const srv = start({ rateLimit: { perMac: false, perSource: { burst: 2, perSecond: 0.001 } } });
    for (let i = 0; i < 4; i++) await send(client, clientBytes({ mac: `52:54:00:00:01:0${i}`, vendorClass: PXE_BIOS, arch: 0, xid: i }), portOf(s67));
    await inbox.nth(2);
    await sleep(100);
    expect(inbox.packets).toHaveLength(2);
    expect(srv.stats.rateLimited).toBe(2);
  });

  it('does not hold a relay (many clients behind one address) to the per-source limit', async () => {
    const srv = start({ rateLimit: { perMac: false, perSource: { burst: 2, perSecond: 0.001 } } });
    for (let i = 0; i < 4; i++) await send(client, clientBytes({ mac: `52:54:00:00:02:0${i}`, vendorClass: PXE_BIOS, arch: 0, xid: 100 + i, giaddr: '127.0.0.1' }), portOf(s67));
    await sleep(200);
    expect(srv.stats.rateLimited).toBe(0);
    expect(srv.stats.replied).toBe(4);
  });

  it('reports another DHCP server seen on the 68 monitor once', async () => {
    const srv = start({ mode: 'off' });
    const rogues: unknown[] = [];
    srv.on('rogue', (r) => rogues.push(r));
    const offer = emptyPacket(2);
    offer.yiaddr = '10.0.0.77';
    offer.siaddr = '10.0.0.2';
    offer.file = 'pxelinux.0';
    offer.options = [build.messageType(2), build.serverId('10.0.0.2')];
    const bytes = encodePacket(offer);
    await send(client, bytes, portOf(s68));
    await send(client, bytes, portOf(s68));
    await sleep(100);
    expect(rogues).toEqual([{ serverId: '10.0.0.2', sourceIp: S, messageType: 'OFFER', offersAddress: true, nextServer: '10.0.0.2', bootfile: 'pxelinux.0', vendorClass: undefined, isProxy: false }]);
  });

  it('skips its own answers echoed to the 68 monitor, and still reports another server answering the same client', async () => {
    // our broadcast answers come back to the monitor: send them there, as the kernel would
    const srv = start({ destination: () => ({ address: S, port: portOf(s68) }) });
    const rogues: Array<{ serverId: string }> = [];
    srv.on('rogue', (r) => rogues.push(r));
    const heard: Buffer[] = [];
    s68.on('message', (m) => heard.push(m));
    const discover = clientBytes({ mac: '52:54:00:00:00:31', vendorClass: PXE_BIOS, arch: 0, xid: 0x3131 });
    await send(client, discover, portOf(s67));
    for (let i = 0; i < 50 && heard.length === 0; i++) await sleep(10);
    expect(heard).toHaveLength(1);
    // exactly our bytes: recognised as ours
    expect(await srv.handlePacket(heard[0], { address: S, port: portOf(s67), family: 'IPv4', size: heard[0].length }, 'monitor')).toEqual({ action: 'observed' });
    // another proxyDHCP on the same host answers the same DISCOVER (same xid, same source address)
    const other = emptyPacket(2);
    other.xid = 0x3131;
    other.options = [build.messageType(2), build.serverId('10.0.0.9'), build.vendorClass('PXEClient')];
    await send(client, encodePacket(other), portOf(s68));
    for (let i = 0; i < 50 && rogues.length === 0; i++) await sleep(10);
    expect(rogues.map((r) => r.serverId)).toEqual(['10.0.0.9']);
  });

  it('full mode: DISCOVER → OFFER with a lease, REQUEST → ACK', async () => {
    const pool = await LeasePool.open({ rangeStart: '127.0.0.100', rangeEnd: '127.0.0.110', netmask: '255.0.0.0', leaseTime: 120 });
    start({ mode: 'full', interfaces: [{ address: S, netmask: '255.0.0.0', pool }] });
    await send(client, clientBytes({ mac: '52:54:00:00:00:20', xid: 1 }), portOf(s67));
    const offer = (await inbox.nth(1)).packet;
    expect(offer.yiaddr).toBe('127.0.0.100');
    await send(client, clientBytes({ mac: '52:54:00:00:00:20', type: 3, xid: 2, serverId: S, requestedIp: offer.yiaddr }), portOf(s67));
    const ack = (await inbox.nth(2)).packet;
    expect(getOption(ack, 53)?.[0]).toBe(MessageType.ACK);
    expect(ack.yiaddr).toBe('127.0.0.100');
    expect(pool.leases()).toMatchObject([{ mac: '52:54:00:00:00:20', state: 'bound' }]);
  });
});
