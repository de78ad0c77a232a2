/**
 * The proxyDHCP port's socket thread ending on its own (lib/net/udp-thread.ts `lost`): the boot
 * server binds the port again, says so, and the next PXE request is answered. Loopback only.
 */
import * as dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootServer } from '../../lib/server/boot-server';
import { ThreadedUdpSocket } from '../../lib/net/udp-thread';
import { clientBytes, PXE_BIOS } from '../../support/dhcp-packets';
import { waitFor } from '../helpers/node-red';

describe('a DHCP socket thread that ends', () => {
  let dir: string;
  let server: BootServer;
  const logged: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-thread-lost-'));
    const log = (m: string) => logged.push(m);
    server = new BootServer({
      serverIp: '127.0.0.1', bind: '127.0.0.1', httpBaseUrl: 'http://127.0.0.1:1', dhcpMode: 'proxy', iqnPrefix: 'iqn.2026-12.test',
      ports: { dhcp: -1, proxy: 0, tftp: -1, monitor: -1 }, dataDir: dir, assetsRoot: path.join(dir, 'assets'), networkPollMs: 0,
    }, { readNetwork: () => ({ interfaces: [{ name: 'lo', address: '127.0.0.1', netmask: '255.0.0.0' }] }), log: { info: log, warn: log, error: log } });
    await server.start();
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A BIOS PXE ROM's request to the proxy port; resolves with the answer's bytes (or undefined after 2 s). */
  async function ask(port: number, mac: string): Promise<Buffer | undefined> {
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    try {
      return await new Promise<Buffer | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 2000);
        client.once('message', (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        client.send(clientBytes({ mac, type: 3, vendorClass: PXE_BIOS, arch: 0, serverId: '127.0.0.1' }), port, '127.0.0.1');
      });
    } finally {
      client.close();
    }
  }

  it('binds the port again and answers the next request', async () => {
    const port = server.state.ports.find((p) => p.key === 'proxy')!.boundPort!;
    const before = server.socket('proxy');
    expect(before).toBeInstanceOf(ThreadedUdpSocket);
    expect(await ask(port, '52:54:00:7e:00:01')).toBeDefined();

    // the thread ends without being asked to (as a crash of it would)
    await (before as unknown as { worker: Worker }).worker.terminate();
    const after = await waitFor(() => {
      const s = server.socket('proxy');
      return s && s !== before ? s : undefined;
    }, 'a new proxyDHCP socket', 5000);
    expect(after).toBeInstanceOf(ThreadedUdpSocket);
    expect(server.state.ports.find((p) => p.key === 'proxy')).toMatchObject({ state: 'listening', boundPort: port });
    expect(logged.some((m) => /proxyDHCP: the socket thread of proxyDHCP ended unexpectedly .*; binding port \d+ again/.test(m)), logged.join('\n')).toBe(true);
    expect(await ask(port, '52:54:00:7e:00:02')).toBeDefined();
  });
});
