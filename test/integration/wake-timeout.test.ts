/**
 * A woken machine that never asks DHCP is flagged (`wake.timeout` on its timeline, with what to check);
 * one that does ask in time is not. Loopback only: the server's network is read as `lo` alone, so the
 * magic packet goes to 127.255.255.255.
 */
import * as dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootServer } from '../../lib/server/boot-server';
import { clientBytes, PXE_BIOS } from '../../support/dhcp-packets';
import { waitFor } from '../helpers/node-red';

describe('wake timeout', () => {
  let dir: string;
  let server: BootServer;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-wake-timeout-'));
    server = new BootServer({
      serverIp: '127.0.0.1', bind: '127.0.0.1', httpBaseUrl: 'http://127.0.0.1:1', dhcpMode: 'proxy', iqnPrefix: 'iqn.2026-12.test',
      ports: { dhcp: -1, proxy: 0, tftp: -1, monitor: -1 }, dataDir: dir, assetsRoot: path.join(dir, 'assets'), networkPollMs: 0,
    }, { readNetwork: () => ({ interfaces: [{ name: 'lo', address: '127.0.0.1', netmask: '255.0.0.0' }] }) });
    await server.start();
    for (const mac of ['52:54:00:77:0b:01', '52:54:00:77:0b:02']) await server.store!.devices.create({ mac });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records wake.timeout for a machine that stays silent, and nothing for one that asks DHCP in time', async () => {
    expect(await server.wake('52:54:00:77:0b:01', { timeoutMs: 300 })).toMatchObject({ from: '127.0.0.1', to: '127.255.255.255', port: 9, bytes: 102 });
    await server.wake('52:54:00:77:0b:02', { timeoutMs: 600 });
    // the second machine comes up: its PXE request reaches the proxy port
    const proxy = server.state.ports.find((p) => p.key === 'proxy')!.boundPort!;
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const reply = new Promise((resolve) => client.once('message', resolve));
    client.send(clientBytes({ mac: '52:54:00:77:0b:02', type: 3, vendorClass: PXE_BIOS, arch: 0, serverId: '127.0.0.1' }), proxy, '127.0.0.1');
    await reply;
    client.close();

    const silent = await waitFor(async () => (await server.store!.listEvents({ mac: '52:54:00:77:0b:01' })).find((e) => e.type === 'wake.timeout'), 'the timeout event', 3000);
    expect(silent.message).toMatch(/no DHCP request since: check that Wake-on-LAN is on/);
    // the timeline hears it once the record is durable (the store's onEvent), a moment after it is listed
    const notices = await waitFor(() => {
      const n = server.metrics!.timelineOf('52:54:00:77:0b:01')!.notices.map((x) => x.type);
      return n.length >= 2 ? n : undefined;
    }, 'the timeline notice', 3000);
    expect(notices).toEqual(['wake', 'wake.timeout']);
    await new Promise((r) => setTimeout(r, 800));
    expect((await server.store!.listEvents({ mac: '52:54:00:77:0b:02' })).map((e) => e.type)).not.toContain('wake.timeout');
  });
});
