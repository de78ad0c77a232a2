import { describe, expect, it } from 'vitest';
import { coreNode, distNode, nodeRedSuite, waitFor } from '../helpers/node-red';
import { validateIpxeScript } from '../../lib/render';

const { helper, tempDir } = nodeRedSuite();
const nodes = [distNode('netboot-server'), distNode('netboot-checkin'), distNode('netboot-ipxe'), distNode('netboot-pi'), distNode('netboot-enroll'), coreNode('common/25-catch.js')];
let dir: string;


type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function load(extra: Array<Record<string, unknown>>, checkin: Record<string, unknown> = {}) {
  dir = tempDir('netboot-boot-nodes-');
  await helper.load(nodes, [
    { id: 'tab', type: 'tab' },
    { id: 'srv', type: 'netboot-server', serverIp: '10.0.0.5', bind: '127.0.0.1', httpPort: '1880', dhcpMode: 'off', dhcpPort: '-1', proxyPort: '-1', tftpPort: '-1', dataDir: dir },
    { id: 'ck', z: 'tab', type: 'netboot-checkin', server: 'srv', registerUnknown: false, useBootOnce: true, setPayload: true, wires: [['o1'], ['o2'], ['o3']], ...checkin },
    { id: 'o1', z: 'tab', type: 'helper' }, { id: 'o2', z: 'tab', type: 'helper' }, { id: 'o3', z: 'tab', type: 'helper' },
    { id: 'catcher', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'tab', type: 'helper' },
    ...extra,
  ]);
  const srv = await waitFor(() => helper.getNode('srv'), 'server node');
  return waitFor(() => srv.bootServer?.store, 'store');
}

/** Sends one msg into `id` and resolves with the first msg that arrives at any of `outs` (a caught error rejects unless `caught` is listed). */
function through(id: string, msg: Msg, outs: string[]): Promise<{ out: string; msg: Msg }> {
  return new Promise((resolve, reject) => {
    const listeners: Array<[string, (m: Msg) => void]> = [];
    const settle = (fn: () => void) => {
      for (const [o, l] of listeners) helper.getNode(o).removeListener('input', l);
      fn();
    };
    for (const o of [...new Set([...outs, 'caught'])]) {
      const l = (m: Msg) => settle(() => (outs.includes(o) ? resolve({ out: o, msg: m }) : reject(new Error(`caught: ${m.error?.message}`))));
      listeners.push([o, l]);
      helper.getNode(o).on('input', l);
    }
    helper.getNode(id).receive(msg);
  });
}

describe('netboot-checkin', () => {
  it('routes known-with-image to 1, known-without to 2 and unknown to 3, with the answer JSON', async () => {
    const store = await load([]);
    await store.images.create({ id: 'disk1', name: 'disk1', iqn: 'iqn.2024-01.local.netboot:disk1' });
    await store.devices.create({ mac: '52:54:00:00:00:01', imageId: 'disk1' });
    await store.devices.create({ mac: '52:54:00:00:00:02' });
    const outs = ['o1', 'o2', 'o3'];
    const a = await through('ck', { req: { query: { mac: '52-54-00-00-00-01', device_type: 'x64' }, ip: '10.0.0.50' } }, outs);
    expect(a.out).toBe('o1');
    expect(a.msg.payload).toMatchObject({ action: 'boot_image', image_id: 'disk1', kernel_set: 'default' });
    expect(a.msg.netboot.image.id).toBe('disk1');
    expect((await store.devices.get('52:54:00:00:00:01')).lastIp).toBe('10.0.0.50');
    expect((await through('ck', { req: { query: { mac: '52:54:00:00:00:02' } } }, outs)).out).toBe('o2');
    const u = await through('ck', { payload: { mac: '52:54:00:00:00:03', buildarch: 'x86_64', platform: 'efi' } }, outs);
    expect(u.out).toBe('o3');
    expect(u.msg.payload).toMatchObject({ action: 'show_menu', device_type: 'x64', message: expect.stringMatching(/Unknown device/) });
  });

  it('honours a boot-once override once, then clears it', async () => {
    const store = await load([]);
    await store.profiles.create({ id: 'rescue', name: 'Rescue', type: 'rescue', kernel: 'rescue/vmlinuz' });
    await store.devices.create({ mac: '52:54:00:00:00:04', bootOnce: { action: 'boot_profile', profileId: 'rescue' } });
    const first = await through('ck', { req: { query: { mac: '52:54:00:00:00:04' } } }, ['o1', 'o2', 'o3']);
    expect(first.out).toBe('o1');
    expect(first.msg.netboot.decision).toMatchObject({ source: 'bootOnce', profileId: 'rescue' });
    expect((await store.devices.get('52:54:00:00:00:04')).bootOnce).toBeNull();
    expect((await through('ck', { req: { query: { mac: '52:54:00:00:00:04' } } }, ['o1', 'o2', 'o3'])).out).toBe('o2');
  });

  it('registers unknown machines when configured', async () => {
    const store = await load([], { registerUnknown: true });
    const r = await through('ck', { payload: { mac: 'aa:bb:cc:00:00:01' } }, ['o1', 'o2', 'o3']);
    expect(r.out).toBe('o3');
    expect(r.msg.netboot.decision.registered).toBe(true);
    expect((await store.devices.get('aa:bb:cc:00:00:01')).status).toBe('enrolled');
  });
});

describe('netboot-enroll', () => {
  const enrollFlow = [
    { id: 'en', z: 'tab', type: 'netboot-enroll', server: 'srv', wires: [['e1'], ['e2']] },
    { id: 'e1', z: 'tab', type: 'helper' }, { id: 'e2', z: 'tab', type: 'helper' },
  ];
  it('creates on output 1; an identifier of another device goes to output 2 with the conflict for the flow, an answer naming nothing for the client', async () => {
    const store = await load(enrollFlow);
    await store.devices.create({ mac: '52:54:00:00:00:10', uuid: '4c4c4544-0042-3510-8052-b4c04f4e4a31' });
    const created = await through('en', { payload: { mac_address: '52:54:00:00:00:20', hardware: { model: 'PC' } }, req: { ip: '10.0.0.9' } }, ['e1', 'e2']);
    expect(created).toMatchObject({ out: 'e1', msg: { statusCode: 201, payload: { status: 'enrolled', mac: '52:54:00:00:00:20', created: true } } });
    const conflict = await through('en', { payload: { mac_address: '52:54:00:00:00:66', hardware: { uuid: '4C4C4544-0042-3510-8052-B4C04F4E4A31' } }, req: { ip: '10.0.0.66' } }, ['e1', 'e2']);
    expect(conflict.out).toBe('e2');
    expect(conflict.msg.statusCode).toBe(409);
    expect(JSON.stringify(conflict.msg.payload)).not.toMatch(/52:54:00:00:00:10|4c4c4544|uuid/i);
    expect(conflict.msg.netboot.conflict).toMatchObject({ mac: '52:54:00:00:00:66', fields: ['uuid'], holder: { mac: '52:54:00:00:00:10' } });
    const reported = await through('en', { payload: { mac_address: '52:54:00:00:00:10', service_tag: 'NEW1' } }, ['e1', 'e2']);
    expect(reported).toMatchObject({ out: 'e1', msg: { statusCode: 200, payload: { mac: '52:54:00:00:00:10', created: false, reported: true } } });
    expect((await store.devices.get('52:54:00:00:00:10')).serviceTag).toBeUndefined();
  });
});

describe('netboot-ipxe', () => {
  const ipxeFlow = [
    { id: 'ipxe', z: 'tab', type: 'netboot-ipxe', server: 'srv', script: 'auto', wires: [['out']] },
    { id: 'out', z: 'tab', type: 'helper' },
  ];

  it('renders the script of the decision with a text content type', async () => {
    const store = await load(ipxeFlow);
    await store.profiles.create({ id: 'ubuntu', name: 'Ubuntu', type: 'ubuntu', kernel: 'ubuntu/vmlinuz', initrd: ['ubuntu/initrd'], cmdline: { ip: 'dhcp' } });
    await store.devices.create({ mac: '52:54:00:00:00:05', profileId: 'ubuntu', paramsOverride: { 'autoinstall': '' } });
    const ck = await through('ck', { req: { query: { mac: '52:54:00:00:00:05' } } }, ['o1']);
    const r = await through('ipxe', ck.msg, ['out']);
    expect(r.msg.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(r.msg.payload).toContain('kernel http://10.0.0.5:1880/boot/assets/ubuntu/vmlinuz ip=dhcp autoinstall || goto nb_failed');
    expect(validateIpxeScript(r.msg.payload)).toEqual([]);
    const forced = await through('ipxe', { ...ck.msg, netboot: { ...ck.msg.netboot, script: 'local' } }, ['out']);
    expect(forced.msg.payload).toMatch(/^#!ipxe\n# netboot: local script/);
  });

  it('sends an unsafe value to the Catch node with the field named', async () => {
    const store = await load(ipxeFlow);
    await store.profiles.create({ id: 'bad', name: 'Bad', type: 'custom', kernel: 'x/vmlinuz', cmdline: { console: 'tty0 ${evil}' } });
    await store.devices.create({ mac: '52:54:00:00:00:06', profileId: 'bad' });
    const ck = await through('ck', { req: { query: { mac: '52:54:00:00:00:06' } } }, ['o1']);
    const r = await through('ipxe', ck.msg, ['out', 'caught']);
    expect(r.out).toBe('caught');
    expect(r.msg.error.message).toMatch(/field "kernel\.params\.console"/);
    expect(r.msg.statusCode).toBe(400);
    expect(r.msg.payload.error.field).toBe('kernel.params.console');
  });
});

describe('netboot-pi', () => {
  it('renders config.txt and cmdline.txt by msg.filename', async () => {
    const store = await load([
      { id: 'pi', z: 'tab', type: 'netboot-pi', server: 'srv', file: 'auto', model: 'auto', prefixMode: 'serial', wires: [['out']] },
      { id: 'out', z: 'tab', type: 'helper' },
    ]);
    await store.devices.create({ mac: 'dc:a6:32:01:36:c2', serial: '9ffefdef', paramsOverride: { 'pi.root': 'nbd', 'pi.nbd.export': 'pi1' } });
    const ck = await through('ck', { filename: '9ffefdef/cmdline.txt', payload: {} }, ['o2']);
    const cmd = await through('pi', ck.msg, ['out']);
    expect(cmd.msg.payload).toBe('console=serial0,115200 console=tty1 ip=dhcp nbdroot=10.0.0.5/pi1 root=/dev/nbd0p2 rootwait\n');
    expect(cmd.msg.netboot.pi).toMatchObject({ prefix: '9ffefdef/', model: 4, root: 'nbd' });
    const cfg = await through('pi', { ...ck.msg, filename: '9ffefdef/config.txt' }, ['out']);
    expect(cfg.msg.payload).toContain('kernel=kernel8.img');
    expect(cfg.msg.payload).toContain('initramfs initrd.img followkernel');
  });
});
