/**
 * What the dashboard's health panel reads from /status: another DHCP server answering on the
 * segment (a real OFFER datagram to the server's DHCP monitor socket) is listed with what it
 * offers, once per server; the list is bounded.
 */
import * as dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootServer } from '../../lib/server/boot-server';
import { build, encodePacket, emptyPacket } from '../helpers/dhcp-imports';
import { waitFor } from '../helpers/node-red';

describe('the boot server\'s health: other DHCP servers', () => {
  let dir: string;
  let server: BootServer;
  let sender: dgram.Socket;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-health-'));
    server = new BootServer({
      serverIp: '127.0.0.1', bind: '127.0.0.1', httpBaseUrl: 'http://127.0.0.1:1', dhcpMode: 'proxy', iqnPrefix: 'iqn.2026-12.test',
      ports: { dhcp: -1, proxy: 0, tftp: -1, monitor: 0 }, dataDir: dir, assetsRoot: path.join(dir, 'assets'), networkPollMs: 0,
    }, {});
    await server.start();
    sender = dgram.createSocket('udp4');
    await new Promise<void>((r) => sender.bind(0, '127.0.0.1', () => r()));
  });

  afterAll(async () => {
    sender?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lists a server that hands out addresses, once, with what it offers', async () => {
    expect(server.state.rogueDhcp).toBeUndefined();
    const monitor = server.state.ports.find((p) => p.key === 'monitor')!;
    expect(monitor.state).toBe('listening');
    const offer = emptyPacket(2);
    offer.yiaddr = '10.0.0.77';
    offer.siaddr = '10.0.0.2';
    offer.file = 'pxelinux.0';
    offer.options = [build.messageType(2), build.serverId('10.0.0.2')];
    const bytes = encodePacket(offer);
    for (let i = 0; i < 2; i++) sender.send(bytes, monitor.boundPort!, '127.0.0.1');
    await waitFor(() => (server.state.rogueDhcp?.length ?? 0) > 0, 'the rogue report');
    await new Promise((r) => setTimeout(r, 200));
    const rogue = server.state.rogueDhcp!;
    expect(rogue).toHaveLength(1);
    expect(rogue[0]).toMatchObject({ server: '10.0.0.2', ip: '127.0.0.1', detail: 'hands out addresses, next server 10.0.0.2, boot file pxelinux.0' });
  });
});
