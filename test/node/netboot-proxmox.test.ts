import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distNode, nodeRedSuite, waitFor } from '../helpers/node-red';
import { startProxmoxStandin, type ProxmoxStandin } from '../helpers/proxmox-standin';

/**
 * netboot-proxmox (config node) and netboot-proxmox-vm in a Node-RED runtime, against the stand-in
 * cluster (test/helpers/proxmox-standin.ts): the VMs are pre-registered at deploy, a group that
 * selects on a Proxmox tag gives them its profile in the script the reference flow renders for
 * /boot/menu.ipxe (check-in → netboot-ipxe), and a flow powers a VM by its MAC.
 */
const { helper, tempDir } = nodeRedSuite();
const nodes = [distNode('netboot-server'), distNode('netboot-proxmox'), distNode('netboot-proxmox-vm'), distNode('netboot-checkin'), distNode('netboot-ipxe')];

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('netboot-proxmox', () => {
  let pve: ProxmoxStandin;
  beforeAll(async () => {
    pve = await startProxmoxStandin([
      { vmid: 301, node: 'pve1', name: 'worker-1', nets: ['BC:24:11:03:00:01'], tags: ['worker'] },
      { vmid: 302, node: 'pve2', name: 'plain-1', nets: ['BC:24:11:03:00:02'] },
    ]);
  });
  afterAll(() => pve.close());

  it('pre-registers the VMs at deploy; a tag selects their group\'s profile; a flow starts a VM by MAC', async () => {
    const dir = tempDir('netboot-proxmox-');
    await helper.load(nodes, [
      { id: 'tab', type: 'tab' },
      { id: 'srv', type: 'netboot-server', serverIp: '10.0.0.5', bind: '127.0.0.1', httpPort: '1880', dhcpMode: 'off', dhcpPort: '-1', proxyPort: '-1', tftpPort: '-1', dataDir: dir },
      { id: 'pve', type: 'netboot-proxmox', server: 'srv', url: pve.url, tokenId: pve.tokenId, verifyTls: true, ca: pve.ca, syncMinutes: '0' },
      { id: 'vm', z: 'tab', type: 'netboot-proxmox-vm', proxmox: 'pve', action: 'start', wires: [['vmOut']] },
      { id: 'vmOut', z: 'tab', type: 'helper' },
      { id: 'ck', z: 'tab', type: 'netboot-checkin', server: 'srv', registerUnknown: false, useBootOnce: false, wires: [['ipxe'], ['ipxe'], ['ipxe']] },
      { id: 'ipxe', z: 'tab', type: 'netboot-ipxe', server: 'srv', script: 'auto', wires: [['out']] },
      { id: 'out', z: 'tab', type: 'helper' },
    ], { pve: { secret: pve.secret } });
    const srv = await waitFor(() => helper.getNode('srv'), 'server node');
    const store = await waitFor(() => srv.bootServer?.store, 'store');
    const worker = await waitFor(() => store.devices.get('bc:24:11:03:00:01'), 'the VM pre-registered', 10_000);
    expect(worker).toMatchObject({ hostname: 'worker-1', labels: { 'proxmox.vmid': '301', 'proxmox.tag.worker': 'true', 'proxmox.created': 'true' } });

    await store.profiles.create({ id: 'k8s-worker', name: 'k8s worker', type: 'custom', kernel: 'talos/vmlinuz', initrd: ['talos/initramfs.xz'], cmdline: { 'talos.platform': 'metal' } });
    await store.groups.create({ id: 'workers', name: 'workers', selector: { 'proxmox.tag.worker': 'true' }, profileId: 'k8s-worker' });
    const script = (mac: string) => new Promise<Msg>((resolve) => {
      helper.getNode('out').once('input', resolve);
      helper.getNode('ck').receive({ req: { query: { mac }, ip: '10.0.0.60' } });
    });
    expect((await script('bc-24-11-03-00-01')).payload).toContain('kernel http://10.0.0.5:1880/boot/assets/talos/vmlinuz talos.platform=metal');
    expect((await script('bc-24-11-03-00-02')).payload).not.toContain('talos/vmlinuz');

    const started = await new Promise<Msg>((resolve) => {
      helper.getNode('vmOut').once('input', resolve);
      helper.getNode('vm').receive({ payload: { mac: 'bc:24:11:03:00:02' } });
    });
    expect(started.payload).toMatchObject({ vmid: 302, node: 'pve2', action: 'start', task: expect.stringMatching(/^UPID:pve2:/) });
    expect(pve.power).toEqual(['pve2/302/start']);
  }, 30_000);
});
