import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { coreNode, distNode, nodeRedHelper, waitFor } from '../helpers/node-red';

const helper = nodeRedHelper();
const nodes = [distNode('netboot-server'), distNode('netboot-checkin'), distNode('netboot-grub'), coreNode('common/25-catch.js')];
let dir: string;

beforeAll(() => helper.startServer());
afterAll(() => helper.stopServer());
afterEach(async () => {
  await helper.unload();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function load() {
  dir = mkdtempSync(path.join(tmpdir(), 'netboot-grub-'));
  await helper.load(nodes, [
    { id: 'tab', type: 'tab' },
    { id: 'srv', type: 'netboot-server', serverIp: '10.0.0.5', bind: '127.0.0.1', httpPort: '1880', dhcpMode: 'off', dhcpPort: '-1', proxyPort: '-1', tftpPort: '-1', dataDir: dir },
    // the reference flow's wiring: TFTP path → msg.filename → check-in → GRUB config
    { id: 'ck', z: 'tab', type: 'netboot-checkin', server: 'srv', registerUnknown: false, useBootOnce: false, wires: [['gr'], ['gr'], ['gr']] },
    { id: 'gr', z: 'tab', type: 'netboot-grub', server: 'srv', config: 'auto', wires: [['out']] },
    { id: 'out', z: 'tab', type: 'helper' },
    { id: 'catcher', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'tab', type: 'helper' },
  ]);
  const srv = await waitFor(() => helper.getNode('srv'), 'server node');
  return waitFor(() => srv.bootServer?.store, 'store');
}

function through(id: string, msg: Msg): Promise<{ out: string; msg: Msg }> {
  return new Promise((resolve) => {
    const done = (out: string) => (m: Msg) => {
      helper.getNode('out').removeAllListeners('input');
      helper.getNode('caught').removeAllListeners('input');
      resolve({ out, msg: m });
    };
    helper.getNode('out').on('input', done('out'));
    helper.getNode('caught').on('input', done('caught'));
    helper.getNode(id).receive(msg);
  });
}

const tftp = (p: string) => ({ filename: p, payload: { path: p, client: { address: '10.0.0.50', port: 2000 } } });

describe('netboot-grub', () => {
  it('renders the root grub.cfg, a known machine\'s kernel over TFTP and an unknown machine\'s menu', async () => {
    const store = await load();
    await store.profiles.create({ id: 'debian', name: 'Debian 12', type: 'debian', kernel: 'debian/vmlinuz', initrd: ['debian/initrd.gz'], cmdline: 'console=ttyS0' });
    await store.devices.create({ mac: '52:54:00:00:00:01', profileId: 'debian', secureBoot: true });

    // the root file needs no machine: check-in passes it on anonymously
    const root = await through('ck', tftp('grub/grub.cfg'));
    expect(root.out).toBe('out');
    expect(root.msg.netboot.grub).toBe('root');
    expect(root.msg.payload).toContain('source /grub/grub.cfg-$net_default_mac');

    const known = await through('ck', tftp('grub/grub.cfg-52:54:00:00:00:01'));
    expect(known.out).toBe('out');
    expect(known.msg.netboot.grub).toBe('kernel');
    expect(known.msg.payload).toContain("linux '/debian/vmlinuz' 'console=ttyS0'");
    expect(known.msg.payload).toContain("initrd '/debian/initrd.gz'");
    execFileSync('grub-script-check', [], { input: known.msg.payload });

    const unknown = await through('ck', tftp('grub/grub.cfg-52:54:00:00:00:99'));
    expect(unknown.msg.netboot.grub).toBe('menu');
    expect(unknown.msg.payload).toContain("menuentry 'Debian 12' --id 'debian'");
    expect(unknown.msg.payload).toContain("'netboot_mac=52-54-00-00-00-99'");
    expect(unknown.msg.payload).toContain("set default='register'");
  });

  it('sends a profile GRUB cannot boot (a kernel URL, a stored hostile value) to the Catch node', async () => {
    const store = await load();
    await store.profiles.create({ id: 'web', name: 'Web', type: 'custom', kernel: 'http://10.0.0.5/vmlinuz' });
    await store.devices.create({ mac: '52:54:00:00:00:02', profileId: 'web' });
    const r = await through('ck', tftp('grub/grub.cfg-52:54:00:00:00:02'));
    expect(r.out).toBe('caught');
    expect(r.msg.error.message).toMatch(/TFTP only/);
    // a kernel argument written into the store behind the API's back still never reaches the file
    await store.profiles.create({ id: 'evil', name: 'Evil', type: 'custom', kernel: 'k/vmlinuz', cmdline: { x: "a';reboot" } as never });
    await store.devices.create({ mac: '52:54:00:00:00:03', profileId: 'evil' });
    const e = await through('ck', tftp('grub/grub.cfg-52:54:00:00:00:03'));
    expect(e.out).toBe('caught');
    expect(e.msg.error.message).toMatch(/cmdline/);
  });
});

