import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TgtAdmin } from '../../lib/iscsi';
import { freeTcpPort } from '../helpers/start-server';
import { coreNode, distNode, nodeRedHelper, waitFor } from '../helpers/node-red';

/**
 * netboot-iscsi in a flow, with a real tgtd: actions in, results out, errors to a Catch node, and
 * the sanboot script of netboot-ipxe carrying the node's CHAP account and the initiator name its ACL
 * allows. Needs root and tgt; skips locally without them, fails in CI.
 */
const CI = process.env.CI === 'true';
const missing = ['tgtd', 'tgtadm', 'iscsi-inq'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
if (process.getuid?.() !== 0) missing.push('root');
if (missing.length && CI) throw new Error(`netboot-iscsi: CI=true but missing ${missing.join(', ')}`);

const helper = nodeRedHelper();
const nodes = [distNode('netboot-server'), distNode('netboot-iscsi'), distNode('netboot-checkin'), distNode('netboot-ipxe'), coreNode('common/25-catch.js')];
type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const P = 'iqn.2024-01.local.netboot';
const MAC = '52:54:00:0a:0b:0c';
const controlPort = 1000 + (process.pid % 600);

function send(id: string, msg: Msg): Promise<{ ok: boolean; msg: Msg }> {
  return new Promise((resolve) => {
    const out = helper.getNode('out');
    const caught = helper.getNode('caught');
    const done = (ok: boolean) => (m: Msg) => {
      out.removeAllListeners('input');
      caught.removeAllListeners('input');
      resolve({ ok, msg: m });
    };
    out.once('input', done(true));
    caught.once('input', done(false));
    helper.getNode(id).receive(msg);
  });
}

describe.skipIf(missing.length > 0)('netboot-iscsi', () => {
  let dir: string;
  let port: number;
  const admin = new TgtAdmin(controlPort);

  beforeAll(async () => {
    await helper.startServer();
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-iscsi-node-'));
    port = await freeTcpPort();
    await helper.load(nodes, [
      { id: 'tab', type: 'tab' },
      { id: 'srv', type: 'netboot-server', serverIp: '127.0.0.1', bind: '127.0.0.1', httpPort: '1880', dhcpMode: 'off', dhcpPort: '-1', proxyPort: '-1', tftpPort: '-1', dataDir: dir },
      { id: 'iscsi', z: 'tab', type: 'netboot-iscsi', server: 'srv', port: String(port), controlPort: String(controlPort), daemon: 'own', stopOnClose: true, wires: [['out']] },
      { id: 'ck', z: 'tab', type: 'netboot-checkin', server: 'srv', registerUnknown: false, wires: [['ipxe'], ['ipxe'], ['ipxe']] },
      { id: 'ipxe', z: 'tab', type: 'netboot-ipxe', server: 'srv', script: 'auto', wires: [['out']] },
      { id: 'out', z: 'tab', type: 'helper' },
      { id: 'catcher', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'tab', type: 'helper' },
    ], { iscsi: { chapUser: 'nbuser', chapPassword: 'S3cret-Pass.2024' } });
    const srv = await waitFor(() => helper.getNode('srv'), 'server node');
    await waitFor(() => srv.bootServer?.iscsi?.status.state === 'ready', 'iSCSI service ready', 15_000);
  }, 30_000);

  afterAll(async () => {
    await helper.unload(); // stopOnClose: our tgtd goes with the node
    await helper.stopServer();
    expect(await admin.alive(), 'tgtd stopped with the node').toBe(false);
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('creates a disk linked to a machine from msg.payload and answers with the target', async () => {
    const r = await send('iscsi', { payload: { action: 'create', id: 'web1', name: 'web 1', sizeBytes: 4 * 1024 * 1024, mac: MAC } });
    expect(r.ok, r.msg.error?.message).toBe(true);
    expect(r.msg.payload).toMatchObject({ image: 'web1', iqn: `${P}:web1`, lun: 1, state: 'ready', linked: [MAC], acl: [`${P}:device-52-54-00-0a-0b-0c`] });
    expect(r.msg.payload.uri).toBe(`iscsi:127.0.0.1::${port}:1:${P}:web1`);
    // the machine's initiator logs in with CHAP; the disk is the size asked for
    const login = spawnSync('iscsi-inq', ['-i', `${P}:device-52-54-00-0a-0b-0c`, `iscsi://nbuser%S3cret-Pass.2024@127.0.0.1:${port}/${P}:web1/1`], { encoding: 'utf8', timeout: 20_000 });
    expect(login.status, login.stderr).toBe(0);
    const list = await send('iscsi', { topic: 'list' });
    expect(list.msg.payload.status).toMatchObject({ state: 'ready', daemon: 'own', targets: 1 });
    expect(JSON.stringify(list.msg.payload)).not.toContain('S3cret');
  });

  it('gives the machine a sanboot script with its initiator name and the CHAP account, never cached', async () => {
    const r = await send('ck', { req: { query: { mac: MAC, buildarch: 'x86_64', platform: 'pcbios' }, ip: '127.0.0.1' } });
    expect(r.ok, r.msg.error?.message).toBe(true);
    expect(r.msg.payload).toContain(`set initiator-iqn ${P}:device-52-54-00-0a-0b-0c`);
    expect(r.msg.payload).toContain('set username nbuser');
    expect(r.msg.payload).toContain('set password S3cret-Pass.2024');
    expect(r.msg.payload).toMatch(new RegExp(`^sanboot .*iscsi:127\\.0\\.0\\.1::${port}:1:${P.replace(/\./g, '\\.')}:web1`, 'm'));
    expect(r.msg.headers['cache-control']).toBe('no-store');
  });

  it('sends a bad action or a conflict to the Catch node with a clear message', async () => {
    const bad = await send('iscsi', { payload: { action: 'explode' } });
    expect(bad.ok).toBe(false);
    expect(bad.msg.error.message).toMatch(/"action": "explode" is not one of create, copy/);
    const noSize = await send('iscsi', { payload: { action: 'create', id: 'x' } });
    expect(noSize.msg.error.message).toMatch(/sizeBytes/);
    const dup = await send('iscsi', { payload: { action: 'create', id: 'web1', sizeBytes: 1024 * 1024 } });
    expect(dup.ok).toBe(false);
    expect(dup.msg.error.message).toMatch(/already exists/);
    const linked = await send('iscsi', { payload: { action: 'delete', id: 'web1' } });
    expect(linked.msg.error.message).toMatch(/linked to 52:54:00:0a:0b:0c/);
    const gone = await send('iscsi', { payload: { action: 'delete', id: 'web1', force: true, deleteDisk: true } });
    expect(gone.ok, gone.msg.error?.message).toBe(true);
    expect(gone.msg.payload).toEqual({ removed: 'web1', diskDeleted: true });
    expect(await admin.targets()).toEqual([]);
  });
});

describe.skipIf(missing.length > 0)('netboot-iscsi removed from the flow', () => {
  it('keeps its tgtd over a redeploy, and stops it when the node is deleted', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'netboot-iscsi-removed-'));
    const control = controlPort + 1;
    const admin = new TgtAdmin(control);
    const port = await freeTcpPort();
    const flow = (withIscsi: boolean) => [
      { id: 'tab', type: 'tab' },
      { id: 'srv', type: 'netboot-server', serverIp: '127.0.0.1', bind: '127.0.0.1', httpPort: '1880', dhcpMode: 'off', dhcpPort: '-1', proxyPort: '-1', tftpPort: '-1', dataDir: dir },
      ...(withIscsi ? [{ id: 'iscsi', z: 'tab', type: 'netboot-iscsi', server: 'srv', port: String(port), controlPort: String(control), daemon: 'own', stopOnClose: false, wires: [] }] : []),
    ];
    await helper.startServer();
    try {
      await helper.load(nodes, flow(true));
      await waitFor(() => helper.getNode('srv')?.bootServer?.iscsi?.status.state === 'ready', 'iSCSI service ready', 15_000);
      // a full redeploy closes the node with removed = false: the disks keep being served
      await helper.setFlows(flow(true), 'full');
      await waitFor(() => helper.getNode('srv')?.bootServer?.iscsi?.status.state === 'ready', 'iSCSI service ready again', 15_000);
      expect(await admin.alive()).toBe(true);
      // deleting the node (a "modified nodes" deploy without it) closes it with removed = true
      await helper.setFlows(flow(false), 'nodes');
      await waitFor(async () => !(await admin.alive()), 'tgtd to stop', 15_000);
    } finally {
      await helper.unload();
      await helper.stopServer();
      if (await admin.alive()) await admin.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
