import * as dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { coreNode, distNode, nodeRedSuite, waitFor } from '../helpers/node-red';
import type { BootServerState } from '../../lib/server/boot-server';
import { statusFor } from '../../nodes/shared/server-node';
import { tftpGet, tftpPut } from '../../support/tftp-client';

const run = promisify(execFile);
const { helper, tempDir } = nodeRedSuite();
const serverNode = distNode('netboot-server');
let dir: string;


function serverDef(over: Record<string, unknown> = {}) {
  dir = tempDir('netboot-node-');
  return {
    id: 'srv', type: 'netboot-server', name: 'test', serverIp: '127.0.0.1', bind: '127.0.0.1', httpPort: '1880',
    dhcpMode: 'proxy', dhcpPort: '0', proxyPort: '0', tftpPort: '0', dataDir: dir, ...over,
  };
}

async function started(id = 'srv'): Promise<BootServerState> {
  const node = await waitFor(() => helper.getNode(id), 'node');
  return waitFor(() => {
    const s = node.bootServer?.state as BootServerState | undefined;
    return s && s.store !== 'opening' && s.ports.every((p) => p.state !== 'closed') ? s : undefined;
  }, 'server start');
}

function bindUdp(port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => resolve(s));
  });
}

describe('netboot-server config node', () => {
  it('binds its ports, opens the store and releases everything on close', async () => {
    await helper.load(serverNode, [serverDef()]);
    const state = await started();
    expect(state.store).toBe('open');
    expect(state.ports.map((p) => [p.key, p.state])).toEqual([['dhcp', 'listening'], ['proxy', 'listening'], ['tftp', 'listening'], ['monitor', 'disabled']]);
    expect(existsSync(path.join(dir, 'inventory.json'))).toBe(true);
    const ports = state.ports.filter((p) => p.boundPort).map((p) => p.boundPort!);
    const t0 = Date.now();
    await helper.unload();
    // a redeploy must be able to bind the same ports at once
    const again = await Promise.all(ports.map(bindUdp));
    expect(Date.now() - t0).toBeLessThan(3000);
    again.forEach((s) => s.close());
  });

  it('asks the kernel for a 4 MiB receive buffer on its DHCP, proxy and TFTP sockets (a boot storm must not overflow them)', async () => {
    await helper.load(serverNode, [serverDef()]);
    const state = await started();
    // Linux doubles what is asked and caps the request at net.core.rmem_max
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    const expected = 2 * Math.min(4 << 20, rmemMax);
    for (const key of ['dhcp', 'proxy', 'tftp']) {
      const port = state.ports.find((p) => p.key === key)!.boundPort!;
      // the socket as the kernel sees it: `ss -m` prints its skmem, rb = receive buffer
      const { stdout } = await run('ss', ['-uHlnm', 'sport', `= :${port}`]);
      expect(Number(/\brb(\d+)/.exec(stdout)?.[1]), `${key} on ${port}: ${stdout}`).toBe(expected);
    }
  });

  it('reports a port in use with the port and the fixes, and keeps the rest running', async () => {
    const blocker = await bindUdp(0);
    const busy = blocker.address().port;
    try {
      await helper.load(serverNode, [serverDef({ tftpPort: String(busy) })]);
      const state = await started();
      const tftp = state.ports.find((p) => p.key === 'tftp')!;
      expect(tftp.state).toBe('failed');
      expect(tftp.error).toContain(`127.0.0.1:${busy} (TFTP)`);
      expect(tftp.error).toMatch(/EADDRINUSE.*NETBOOT_TFTP_PORT/);
      expect(state.ports.find((p) => p.key === 'dhcp')!.state).toBe('listening');
      expect(state.store).toBe('open');
      const node = helper.getNode('srv');
      const statuses: unknown[] = [];
      node.register({ id: 'user', status: (s: unknown) => statuses.push(s) });
      expect(statuses[0]).toMatchObject({ fill: 'red', shape: 'dot' });
      // the text itself, with a translator that substitutes like Node-RED's i18n
      const fakeRed = { _: (k: string, subs?: Record<string, unknown>) => `${k} ${JSON.stringify(subs ?? {})}` };
      expect(statusFor(fakeRed as never, state).text).toContain(`TFTP ${busy}`);
    } finally {
      blocker.close();
    }
  });

  it('reports an address that is not on this machine', async () => {
    await helper.load(serverNode, [serverDef({ bind: '192.0.2.123', dhcpPort: '-1', proxyPort: '-1' })]);
    const state = await started();
    expect(state.ports.map((p) => p.state)).toEqual(['disabled', 'disabled', 'failed', 'disabled']);
    expect(state.ports[2].error).toMatch(/EADDRNOTAVAIL.*NETBOOT_SERVER_IP/);
  });

  it('rejects an invalid configuration with the field named', async () => {
    await helper.load(serverNode, [serverDef({ dhcpMode: 'sometimes' })]);
    const node = await waitFor(() => helper.getNode('srv'), 'node');
    expect(node.configError).toMatch(/dhcpMode: "sometimes"/);
    expect(node.bootServer).toBeUndefined();
  });

  it('serves the management API on the admin app', async () => {
    await helper.load(serverNode, [serverDef()]);
    await started();
    const api = () => helper.request();
    await api().post('/netboot/api/devices').send({ mac: 'AABB.CCDD.EEFF', hostname: 'pc1' }).expect(201);
    const res = await api().get('/netboot/api/devices/aa-bb-cc-dd-ee-ff').expect(200);
    expect(res.body.hostname).toBe('pc1');
    const bad = await api().post('/netboot/api/devices').send({ mac: 'zz' }).expect(400);
    expect(bad.body.error.field).toBe('mac');
    await api().post('/netboot/api/devices').send({ mac: 'aa:bb:cc:dd:ee:ff' }).expect(409);
    await api().get('/netboot/api/profiles/missing').expect(404);
    const status = await api().get('/netboot/api/status').expect(200);
    expect(status.body.store).toBe('open');
  });

  it('answers 503 with a reason when no server is deployed', async () => {
    await helper.load(serverNode, []);
    const res = await helper.request().get('/netboot/api/devices').expect(503);
    expect(res.body.error.message).toMatch(/no netboot-server node is deployed/);
  });
});

describe('netboot-server TFTP settings', () => {
  it('caps blksize and windowsize as configured and refuses uploads unless a folder is set', async () => {
    await helper.load(serverNode, [serverDef({ tftpMaxBlksize: '1024', tftpMaxWindowsize: '8' })]);
    const state = await started();
    const port = state.ports.find((p) => p.key === 'tftp')!.boundPort!;
    writeFileSync(path.join(dir, 'assets', 'f.bin'), Buffer.alloc(10_000, 3));
    const got = await tftpGet({ host: '127.0.0.1', port, filename: 'f.bin', blksize: 1468, windowsize: 64, tsize: true });
    expect(got.oack).toMatchObject({ blksize: '1024', windowsize: '8', tsize: '10000' });
    expect(got.bytes).toBe(10_000);
    await expect(tftpPut({ host: '127.0.0.1', port, filename: 'up.txt', data: Buffer.from('x') })).rejects.toThrow(/TFTP error 2: uploads are disabled/);
  });

  it('rejects a bad TFTP setting with the field named', async () => {
    await helper.load(serverNode, [serverDef({ tftpMaxBlksize: '99999' })]);
    const node = await waitFor(() => helper.getNode('srv'), 'node');
    expect(node.configError).toMatch(/tftpMaxBlksize: "99999" must be a whole number from 8 to 65464/);
  });
});

describe('netboot-server in a Node-RED that already runs one (palette users importing an example)', () => {
  it('a second node with the same ports shares the running boot server instead of fighting for the sockets', async () => {
    const probe = await bindUdp(0);
    const tftpPort = String(probe.address().port);
    probe.close();
    const first = serverDef({ dhcpMode: 'off', dhcpPort: '-1', proxyPort: '-1', tftpPort });
    await helper.load(serverNode, [first, { ...first, id: 'srv2', name: 'from an example', serverIp: '127.0.0.1', dataDir: `${dir}/other` }]);
    const state = await started('srv');
    expect(state.ports.find((p) => p.key === 'tftp')).toMatchObject({ state: 'listening', boundPort: Number(tftpPort) });
    const second = helper.getNode('srv2');
    expect(second.bootServer).toBe(helper.getNode('srv').bootServer);
    const statuses: Array<{ fill?: string }> = [];
    second.register({ id: 'user', status: (s: { fill?: string }) => statuses.push(s) });
    expect(statuses[0]).toMatchObject({ fill: 'green' });
    expect(existsSync(`${dir}/other`)).toBe(false);
    // the server is closed once, by its owner, and the port is free again
    await helper.unload();
    (await bindUdp(Number(tftpPort))).close();
  });

  it('two nodes on ephemeral ports are two servers (nothing to fight over)', async () => {
    await helper.load(serverNode, [serverDef(), { ...serverDef(), id: 'srv2' }]);
    await started('srv');
    await started('srv2');
    expect(helper.getNode('srv2').bootServer).not.toBe(helper.getNode('srv').bootServer);
  });
});

describe('public /metrics without a token', () => {
  it("passes the request on, so a user's own [http in] /metrics still answers", async () => {
    const httpIn = coreNode('network/21-httpin.js');
    let httpNode: unknown;
    const catchHttpNode = (RED: { httpNode: unknown }) => { httpNode = RED.httpNode; };
    await helper.load([serverNode, httpIn, catchHttpNode] as never, [
      serverDef({ dhcpMode: 'off', dhcpPort: '-1', proxyPort: '-1', tftpPort: '-1' }),
      { id: 'in', type: 'http in', url: '/metrics', method: 'get', wires: [['out']] },
      { id: 'out', type: 'http response', statusCode: '299' },
    ]);
    await started();
    const res = await request(httpNode as Parameters<typeof request>[0]).get('/metrics');
    expect(res.status).toBe(299);
  });
});

describe('the management API in a Node-RED without adminAuth', () => {
  it('is closed, and says why and how to open it', async () => {
    helper.settings({ netbootOpenApi: false });
    try {
      await helper.load(serverNode, [serverDef({ dhcpMode: 'off', dhcpPort: '-1', proxyPort: '-1', tftpPort: '-1' })]);
      await started();
      for (const [method, url] of [['get', '/netboot/api/devices'], ['post', '/netboot/api/import'], ['get', '/netboot/api/events'], ['delete', '/netboot/api/devices/52:54:00:00:00:01']]) {
        const res = await helper.request()[method](url).send({});
        expect(res.status, url).toBe(403);
        expect(res.body.error.code).toBe('no_admin_auth');
        expect(res.body.error.message).toMatch(/adminAuth in settings\.js/);
      }
    } finally {
      helper.settings({ netbootOpenApi: true });
    }
    await helper.unload();
    await helper.load(serverNode, [serverDef({ dhcpMode: 'off', dhcpPort: '-1', proxyPort: '-1', tftpPort: '-1' })]);
    await started();
    expect((await helper.request().get('/netboot/api/devices')).status).toBe(200);
  });
});
