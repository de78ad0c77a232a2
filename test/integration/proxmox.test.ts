import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxClient } from '../../lib/proxmox/client';
import { macsOf, ProxmoxSync, tagsOf, uuidOf } from '../../lib/proxmox/sync';
import { JsonInventoryStore } from '../../lib/store';
import { manyVms, startProxmoxStandin, type ProxmoxStandin } from '../helpers/proxmox-standin';

/**
 * Proxmox discovery and power (lib/proxmox) against a stand-in cluster over HTTPS
 * (test/helpers/proxmox-standin.ts: answers in the shapes of the published Proxmox VE API).
 */
const UUID = '6f1c2e3d-4b5a-4c6d-8e7f-0a1b2c3d4e5f';

describe('Proxmox VM discovery and power', () => {
  let pve: ProxmoxStandin;
  let dir: string;
  let store: JsonInventoryStore;
  const clients: ProxmoxClient[] = [];
  const client = (extra: Partial<ConstructorParameters<typeof ProxmoxClient>[0]> = {}) => {
    const c = new ProxmoxClient({ url: pve.url, tokenId: pve.tokenId, secret: pve.secret, ca: pve.ca, ...extra });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    pve = await startProxmoxStandin([
      { vmid: 101, node: 'pve1', name: 'web-1', nets: ['BC:24:11:00:01:01', 'BC:24:11:00:01:02'], tags: ['Worker', 'k8s'], uuid: UUID.toUpperCase(), status: 'running' },
      { vmid: 102, node: 'pve2', name: 'db_1', nets: ['BC:24:11:00:01:03'] },
      { vmid: 103, node: 'pve1', name: 'no-nic' },
      { vmid: 104, node: 'pve1', name: 'tmpl', nets: ['BC:24:11:00:01:04'], template: true },
      { vmid: 200, node: 'pve2', name: 'ct-1', type: 'lxc', nets: ['BC:24:11:00:02:00'] },
    ]);
  });
  afterAll(async () => {
    await pve.close();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const open = async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-pve-'));
    store = await JsonInventoryStore.open(path.join(dir, 'inventory.json'));
    return store;
  };

  it('reads MACs, UUID and tags the way Proxmox writes them', () => {
    expect(macsOf({ net1: 'e1000=BC:24:11:AA:BB:02,bridge=vmbr1', net0: 'virtio=bc:24:11:aa:bb:01,bridge=vmbr0,firewall=1', net2: 'model=x', name: 'x' }))
      .toEqual(['bc:24:11:aa:bb:01', 'bc:24:11:aa:bb:02']);
    expect(uuidOf({ smbios1: `uuid=${UUID.toUpperCase()},manufacturer=QEMU` })).toBe(UUID);
    expect(tagsOf('Worker;k8s, x y;tag!;é;')).toEqual(['worker', 'k8s', 'x', 'y']);
  });

  it('pre-registers QEMU VMs with labels, keeps devices it did not create, and removes only its own when a VM is gone', async () => {
    await open();
    // a machine the user registered before, with the second VM's MAC
    await store.devices.create({ mac: 'bc:24:11:00:01:03', hostname: 'mine', labels: { rack: 'a' } });
    const sync = new ProxmoxSync(client(), store);
    const r = await sync.sync();
    expect(r).toMatchObject({ vms: 2, created: ['bc:24:11:00:01:01'], updated: ['bc:24:11:00:01:03'], removed: [], skipped: [{ vmid: 103, reason: 'no network card with a MAC' }] });
    const web = await store.devices.get('bc:24:11:00:01:01');
    expect(web).toMatchObject({
      hostname: 'web-1', uuid: UUID, macs: ['bc:24:11:00:01:02'],
      labels: { 'proxmox.cluster': new URL(pve.url).host, 'proxmox.vmid': '101', 'proxmox.node': 'pve1', 'proxmox.name': 'web-1', 'proxmox.tag.worker': 'true', 'proxmox.tag.k8s': 'true', 'proxmox.created': 'true' },
    });
    const mine = await store.devices.get('bc:24:11:00:01:03');
    expect(mine?.hostname).toBe('mine');
    expect(mine?.labels).toEqual({ rack: 'a', 'proxmox.cluster': new URL(pve.url).host, 'proxmox.vmid': '102', 'proxmox.node': 'pve2', 'proxmox.name': 'db_1' });
    // the second card of web-1 finds the same device (no double)
    expect((await store.devices.find({ mac: 'bc:24:11:00:01:02' }))?.mac).toBe('bc:24:11:00:01:01');
    // nothing changed: nothing written
    expect(await sync.sync()).toMatchObject({ created: [], updated: [], removed: [], unchanged: 2 });

    // both VMs deleted in Proxmox; an empty listing removes nothing
    const saved = pve.vms.splice(0, pve.vms.length);
    try {
      expect(await sync.sync()).toMatchObject({ vms: 0, removed: [] });
      expect(await store.devices.get('bc:24:11:00:01:01')).toBeDefined();
      // both gone, a new one there: web-1's device (created by the sync) goes, the user's keeps only its own labels
      pve.vms.push({ vmid: 150, node: 'pve3', name: 'other', nets: ['BC:24:11:00:01:50'] });
      const after = await sync.sync();
      expect(after).toMatchObject({ created: ['bc:24:11:00:01:50'], removed: ['bc:24:11:00:01:01'], updated: ['bc:24:11:00:01:03'] });
      expect(await store.devices.get('bc:24:11:00:01:01')).toBeUndefined();
      expect((await store.devices.get('bc:24:11:00:01:03'))?.labels).toEqual({ rack: 'a' });
    } finally {
      pve.vms.splice(0, pve.vms.length, ...saved);
    }
  });

  it('refuses a wrong token with the reason and never shows the secret', async () => {
    await open();
    const bad = new ProxmoxSync(client({ secret: 'wrong-secret-value' }), store);
    const err = await bad.sync().catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/refused \(401\).*token/);
    expect((err as Error).message).not.toContain('wrong-secret-value');
    expect((await store.devices.list()).total).toBe(0);
  });

  it('verifies TLS: an untrusted certificate is refused with the fix; the cluster\'s CA makes it work', async () => {
    await open();
    const untrusted = new ProxmoxSync(client({ ca: undefined }), store);
    await expect(untrusted.sync()).rejects.toMatchObject({ message: expect.stringMatching(/not trusted.*CA certificate/) });
    expect((await store.devices.list()).total).toBe(0);
    await expect(new ProxmoxSync(client(), store).sync()).resolves.toMatchObject({ vms: 2 });
    expect(() => new ProxmoxClient({ url: 'ftp://x', tokenId: pve.tokenId, secret: 's' })).toThrow(/https/);
    expect(() => new ProxmoxClient({ url: pve.url, tokenId: 'root', secret: 's' })).toThrow(/user@realm!tokenid/);
  });

  it('powers a VM by its device\'s MAC, on the node it is on now', async () => {
    await open();
    const sync = new ProxmoxSync(client(), store);
    await sync.sync();
    expect(await sync.power({ mac: 'bc:24:11:00:01:02' }, 'start')).toMatchObject({ vmid: 101, node: 'pve1', action: 'start', task: expect.stringMatching(/^UPID:pve1:/) });
    pve.vms[0].node = 'pve3'; // migrated
    try {
      expect(await sync.power({ mac: 'bc:24:11:00:01:01' }, 'reset')).toMatchObject({ node: 'pve3' });
    } finally {
      pve.vms[0].node = 'pve1';
    }
    expect(pve.power.slice(-2)).toEqual(['pve1/101/start', 'pve3/101/reset']);
    await expect(sync.power({ mac: '52:54:00:00:00:01' }, 'start')).rejects.toMatchObject({ code: 'not_found' });
    await expect(sync.power({ vmid: 101 }, 'explode' as never)).rejects.toMatchObject({ code: 'validation' });
  });

  it('a 500-VM cluster: every VM registered once, a second sync writes nothing', async () => {
    const big = await startProxmoxStandin(manyVms(500));
    try {
      await open();
      const sync = new ProxmoxSync(new ProxmoxClient({ url: big.url, tokenId: big.tokenId, secret: big.secret, ca: big.ca }), store);
      const r = await sync.sync();
      expect(r.created).toHaveLength(500);
      expect((await store.devices.list({ limit: 1, filter: { 'label.proxmox.tag.worker': 'true' } })).total).toBe(50);
      expect(await sync.sync()).toMatchObject({ created: [], updated: [], removed: [], unchanged: 500 });
      expect(big.refused).toBe(0);
    } finally {
      await big.close();
    }
  }, 60_000);
});
