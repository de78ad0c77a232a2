import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MessageType, classify, decideReply, getBootfile, resolveBootConfig } from '../../helpers/dhcp-imports';
import { PXE_BIOS, PXE_EFI_X64, PXE_EFI_X64_IPXE, HTTP_X64, clientPacket } from '../../../support/dhcp-packets';
import { guardSecureBoot, secureBootOverride, SECURE_BOOT_FILES } from '../../../lib/policy/secure-boot';
import { JsonInventoryStore } from '../../../lib/store';
import { FlowBooter } from '../../../lib/policy/booter';

const S = '10.0.0.1';
const kernel = readdirSync('/boot').filter((f) => /^vmlinuz-.*-amd64$/.test(f)).map((f) => path.join('/boot', f))[0];
let dir: string;
let store: JsonInventoryStore;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sb-policy-'));
  store = await JsonInventoryStore.open(path.join(dir, 'inventory.json'));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const facts = (mac: string, vendorClass: string, arch: number, extra: Record<string, unknown> = {}) => classify(clientPacket({ mac, vendorClass, arch, ...extra }));

describe('Secure Boot answer in DHCP', () => {
  it('gives a marked UEFI x64 machine shimx64.efi in the BOOTP file field and option 67', async () => {
    await store.devices.create({ mac: '52:54:00:00:00:01', secureBoot: true });
    const f = facts('52:54:00:00:00:01', PXE_EFI_X64, 7);
    const override = await secureBootOverride(f, undefined, store, false);
    expect(override).toEqual({ filename: SECURE_BOOT_FILES.shim });
    for (const mode of ['proxy', 'full'] as const) {
      const req = clientPacket({ mac: '52:54:00:00:00:01', vendorClass: PXE_EFI_X64, arch: 7 });
      const lease = mode === 'full' ? { kind: 'offer' as const, grant: { ip: '10.0.0.50', netmask: '255.255.255.0', leaseTime: 600 } } : undefined;
      const r = decideReply(req, f, { mode, serverIp: S, boot: resolveBootConfig({ httpPort: 1880 }) }, { port: 'dhcp', lease, override });
      if (!r.reply) throw new Error(`${mode}: no reply (${r.reason})`);
      expect(r.type).toBe(MessageType.OFFER);
      // shim takes grubx64.efi from the directory of the BOOTP file field, so it must be filled
      expect(r.reply!.file, mode).toBe('shimx64.efi');
      expect(getBootfile(r.reply!), mode).toBe('shimx64.efi');
      expect(r.reply!.siaddr).toBe(S);
    }
  });

  it('is what the server\'s boot policy answers (FlowBooter), with the proxy-mode warning once per machine', async () => {
    await store.devices.create({ mac: '52:54:00:00:00:01', secureBoot: true });
    const warned: string[] = [];
    const booter = new FlowBooter({ store: () => store, assetsRoot: dir, publish: () => undefined, secureBoot: { network: false, proxyWarning: (mac) => warned.push(mac) } });
    const f = facts('52:54:00:00:00:01', PXE_EFI_X64, 7);
    expect(await booter.dhcp(f, new AbortController().signal)).toEqual({ filename: 'shimx64.efi' });
    expect(await booter.dhcp(f, new AbortController().signal)).toEqual({ filename: 'shimx64.efi' });
    expect(warned).toEqual(['52:54:00:00:00:01']);
    expect(await booter.dhcp(facts('52:54:00:00:00:02', PXE_EFI_X64, 7), new AbortController().signal)).toBeUndefined();
  });

  it('leaves other clients alone: unmarked, BIOS, iPXE, HTTP boot, and a file the flow chose', async () => {
    await store.devices.create({ mac: '52:54:00:00:00:02' });
    await store.devices.create({ mac: '52:54:00:00:00:03', secureBoot: true });
    expect(await secureBootOverride(facts('52:54:00:00:00:02', PXE_EFI_X64, 7), undefined, store, false)).toBeUndefined();
    expect(await secureBootOverride(facts('52:54:00:00:00:03', PXE_BIOS, 0), undefined, store, false)).toBeUndefined();
    expect(await secureBootOverride(facts('52:54:00:00:00:03', PXE_EFI_X64_IPXE, 7, { userClass: 'iPXE' }), undefined, store, false)).toBeUndefined();
    expect(await secureBootOverride(facts('52:54:00:00:00:03', HTTP_X64, 16), undefined, store, false)).toBeUndefined();
    expect(await secureBootOverride(facts('52:54:00:00:00:03', PXE_EFI_X64, 7), { filename: 'mine.efi' }, store, false)).toEqual({ filename: 'mine.efi' });
  });

  it('marks by group, by the server-wide setting, and lets a device opt out', async () => {
    await store.groups.create({ id: 'lab', name: 'lab', selector: { rack: '2' }, secureBoot: true });
    await store.devices.create({ mac: '52:54:00:00:00:04', labels: { rack: '2' } });
    await store.devices.create({ mac: '52:54:00:00:00:05', secureBoot: false });
    expect(await secureBootOverride(facts('52:54:00:00:00:04', PXE_EFI_X64, 7), undefined, store, false)).toEqual({ filename: 'shimx64.efi' });
    // network-wide: every UEFI x64 client, known or not, except a device marked false
    expect(await secureBootOverride(facts('52:54:00:00:00:77', PXE_EFI_X64, 9), undefined, store, true)).toEqual({ filename: 'shimx64.efi' });
    expect(await secureBootOverride(facts('52:54:00:00:00:05', PXE_EFI_X64, 7), undefined, store, true)).toBeUndefined();
    expect(await secureBootOverride(facts('52:54:00:00:00:77', PXE_BIOS, 0), undefined, store, true)).toBeUndefined();
  });
});

describe('Secure Boot at save time', () => {
  const assets = () => path.join(dir, 'assets');
  const guard = (network = false) => ({ store, assetsRoot: assets(), network });
  beforeEach(() => {
    mkdirSync(path.join(assets(), 'k'), { recursive: true });
    copyFileSync(kernel, path.join(assets(), 'k', 'signed'));
    copyFileSync(kernel, path.join(assets(), 'k', 'unsigned'));
    execFileSync('sbattach', ['--remove', path.join(assets(), 'k', 'unsigned')]);
  });

  it('refuses an unsigned kernel for a Secure Boot device, profile or group, with the reason', async () => {
    await store.profiles.create({ id: 'good', name: 'good', type: 'debian', kernel: 'k/signed' });
    await store.profiles.create({ id: 'bad', name: 'bad', type: 'debian', kernel: 'k/unsigned' });
    await expect(guardSecureBoot('devices', { mac: '52:54:00:00:00:01', secureBoot: true, profileId: 'good' }, guard())).resolves.toBeUndefined();
    await expect(guardSecureBoot('devices', { mac: '52:54:00:00:00:01', secureBoot: true, profileId: 'bad' }, guard())).rejects.toThrow(/no Authenticode signature.*bad shim signature/);
    // unmarked: anything goes
    await expect(guardSecureBoot('devices', { mac: '52:54:00:00:00:01', profileId: 'bad' }, guard())).resolves.toBeUndefined();
    await expect(guardSecureBoot('groups', { id: 'g', name: 'g', selector: {}, secureBoot: true, profileId: 'bad' }, guard())).rejects.toThrow(/group "g"/);
    // a profile in use by a Secure Boot device may not become unsigned, a URL or a WinPE
    await store.devices.create({ mac: '52:54:00:00:00:09', secureBoot: true, profileId: 'good' });
    await expect(guardSecureBoot('profiles', { id: 'good', name: 'good', type: 'debian', kernel: 'k/unsigned' }, guard())).rejects.toThrow(/device 52:54:00:00:00:09/);
    await expect(guardSecureBoot('profiles', { id: 'good', name: 'good', type: 'debian', kernel: 'http://x/vmlinuz' }, guard())).rejects.toThrow(/TFTP only/);
    await expect(guardSecureBoot('profiles', { id: 'good', name: 'good', type: 'winpe', kernel: 'k/signed' }, guard())).rejects.toThrow(/cannot be started/);
    await expect(guardSecureBoot('profiles', { id: 'good', name: 'good', type: 'debian', kernel: 'k/missing' }, guard())).rejects.toThrow(/not in the boot-assets folder/);
    await expect(guardSecureBoot('profiles', { id: 'good', name: 'good', type: 'debian', kernel: '../../etc/passwd' }, guard())).rejects.toThrow(/leaves the boot-assets folder/);
    await expect(guardSecureBoot('profiles', { id: 'good', name: 'good', type: 'debian', kernel: '/boot/assets/k/signed' }, guard())).resolves.toBeUndefined();
  });

  it('matches a device against the groups as they are now (a group made since the last check counts)', async () => {
    await store.profiles.create({ id: 'bad', name: 'bad', type: 'debian', kernel: 'k/unsigned' });
    const dev = { mac: '52:54:00:00:00:02', labels: { rack: '1' } };
    await expect(guardSecureBoot('devices', dev, guard())).resolves.toBeUndefined();
    await store.groups.create({ id: 'sb', name: 'sb', selector: { rack: '1' }, secureBoot: true, profileId: 'bad' });
    await expect(guardSecureBoot('devices', dev, guard())).rejects.toThrow(/device 52:54:00:00:00:02 \(Secure Boot\).*no Authenticode signature/);
    await store.groups.update('sb', { secureBoot: false });
    await expect(guardSecureBoot('devices', dev, guard())).resolves.toBeUndefined();
  });

  it('under a Secure Boot network, counts UEFI x64 devices only', async () => {
    await store.profiles.create({ id: 'bad', name: 'bad', type: 'debian', kernel: 'k/unsigned' });
    await expect(guardSecureBoot('devices', { mac: '52:54:00:00:00:01', arch: 'bios', profileId: 'bad' }, guard(true))).resolves.toBeUndefined();
    await expect(guardSecureBoot('devices', { mac: '52:54:00:00:00:01', arch: 'efi-x64', profileId: 'bad' }, guard(true))).rejects.toThrow(/no Authenticode signature/);
  });
});
