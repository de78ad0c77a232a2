import { DEFAULT_BOOT_CONFIG } from '../../../lib/dhcp/boot-answer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonInventoryStore, type Device, type Group } from '../../../lib/store';
import { checkIn, checkInAnswer, matchGroup } from '../../../lib/policy/checkin';
import { parseFacts } from '../../../lib/policy/facts';
import { renderBootScript, targetContext } from '../../../lib/policy/boot-script';
import { renderPiFiles } from '../../../lib/policy/pi-files';
import { enroll, parseEnrollBody } from '../../../lib/policy/enroll';
import { recordBootLog, recordLogUpload } from '../../../lib/policy/boot-log';
import { renderNetworkConfig } from '../../../lib/render/network-config';
import { validateIpxeScript } from '../../../lib/render';

let dir: string;
let store: JsonInventoryStore;
const server = { serverIp: '10.0.0.5', httpBaseUrl: 'http://10.0.0.5:1880', iqnPrefix: 'iqn.2024-01.local.netboot' };
const ctxBase = { baseUrl: server.httpBaseUrl };

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'netboot-policy-'));
  store = await JsonInventoryStore.open(path.join(dir, 'inventory.json'));
  await store.images.create({ id: 'disk1', name: 'disk1', kind: 'iscsi', iqn: 'iqn.2024-01.local.netboot:disk1', path: '/data/disk1.img' });
  await store.profiles.create({ id: 'ubuntu', name: 'Ubuntu 24.04', type: 'ubuntu', kernel: 'ubuntu/vmlinuz', initrd: ['ubuntu/initrd'], cmdline: { ip: 'dhcp', console: 'tty0', quiet: '' } });
  await store.profiles.create({ id: 'talos-worker', name: 'Talos worker', type: 'talos', kernel: 'talos/vmlinuz', initrd: ['talos/initramfs.xz'], cmdline: { 'talos.platform': 'metal' } });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function dev(over: Partial<Device>): Device {
  return { mac: 'aa:bb:cc:dd:ee:01', macs: [], labels: {}, status: 'ready', firstSeen: '', createdAt: '', updatedAt: '', ...over } as Device;
}
function grp(id: string, selector: Record<string, string>, over: Partial<Group> = {}): Group {
  return { id, name: id, selector, createdAt: '', updatedAt: '', ...over } as Group;
}

describe('facts', () => {
  it('normalises the identifiers from a query, a DHCP event and a Pi TFTP path', () => {
    expect(parseFacts({ mac: '52-54-00-12-34-56', uuid: '4C4C4544-0042-3510-8052-B4C04F4E4A31', arch: 'x86_64', platform: 'efi' }))
      .toMatchObject({ mac: '52:54:00:12:34:56', uuid: '4c4c4544-0042-3510-8052-b4c04f4e4a31', deviceType: 'x64' });
    expect(parseFacts({ mac: 'dc:a6:32:01:36:c2', buildarch: 'unknown', platform: 'rpi', pi: { model: 'pi4', serial: '9ffefdef' } }))
      .toMatchObject({ deviceType: 'raspi', serial: '9ffefdef', piModel: 4 });
    expect(parseFacts({}, { filename: '9ffefdef/config.txt' })).toMatchObject({ serial: '9ffefdef', deviceType: 'raspi' });
    expect(parseFacts({}, { filename: 'dc-a6-32-01-36-c2/cmdline.txt' }).mac).toBe('dc:a6:32:01:36:c2');
    expect(parseFacts({ mac: 'aa:bb:cc:dd:ee:ff', uuid: '' }).uuid).toBeUndefined();
  });
  it('names the field of a malformed identifier', () => {
    expect(() => parseFacts({ mac: 'aa:bb' })).toThrow(/field "mac"/);
    expect(() => parseFacts({ uuid: 'x${y}' })).toThrow(/field "uuid"/);
    expect(() => parseFacts({ serial: 'zz' })).toThrow(/field "serial"/);
    expect(() => parseFacts({ mac: ['a', 'b'] })).toThrow(/field "mac".*once/);
    expect(() => parseFacts({ device_type: 'toaster' })).toThrow(/field "device_type"/);
  });
});

describe('group selectors', () => {
  const groups = [
    grp('default', {}, { isDefault: true }),
    grp('rack2', { rack: '2' }),
    grp('rack2-x64', { rack: '2', arch: 'x86_64' }),
    grp('by-mac', { mac: 'AA-BB-CC-DD-EE-09' }),
    grp('empty', {}),
  ];
  it('picks the matching group with most keys, then the default', () => {
    expect(matchGroup(dev({ labels: { rack: '2' }, arch: 'x86_64' }), groups)?.id).toBe('rack2-x64');
    expect(matchGroup(dev({ labels: { rack: '2' }, arch: 'arm64' }), groups)?.id).toBe('rack2');
    expect(matchGroup(dev({ labels: { rack: '3' } }), groups)?.id).toBe('default');
    expect(matchGroup(dev({ mac: 'aa:bb:cc:dd:ee:09' }), groups)?.id).toBe('by-mac');
    expect(matchGroup(dev({}), groups.filter((g) => !g.isDefault))).toBeUndefined();
  });
});

describe('checkIn', () => {
  it('sends an unknown machine to output 3 and answers show_menu', async () => {
    const r = await checkIn(store, { mac: '52:54:00:00:00:01', device_type: 'x64' });
    expect(r.decision).toMatchObject({ action: 'show_menu', output: 3, known: false });
    expect(r.device).toBeUndefined();
    expect(checkInAnswer(r, ctxBase)).toEqual({
      action: 'show_menu', mac: '52:54:00:00:00:01', known: false, device_type: 'x64',
      message: 'Unknown device. Please register or select boot option.', menu_url: 'http://10.0.0.5:1880/boot/menu.ipxe?mac=52-54-00-00-00-01',
    });
  });

  it('registers an unknown machine when asked, still on output 3', async () => {
    const r = await checkIn(store, { mac: '52:54:00:00:00:02', uuid: '4c4c4544-0042-3510-8052-b4c04f4e4a31', ip: '10.0.0.77' }, { registerUnknown: true });
    expect(r.decision).toMatchObject({ output: 3, registered: true });
    const d = await store.devices.get('52:54:00:00:00:02');
    expect(d).toMatchObject({ status: 'enrolled', uuid: '4c4c4544-0042-3510-8052-b4c04f4e4a31', lastIp: '10.0.0.77' });
    // found by UUID next time, from another NIC
    const again = await checkIn(store, { mac: '52:54:00:00:00:99', uuid: '4C4C4544-0042-3510-8052-B4C04F4E4A31' });
    expect(again.decision).toMatchObject({ output: 2, known: true, action: 'show_menu' });
  });

  it('routes a known device with an image to output 1 (boot_image) and a bare one to output 2', async () => {
    await store.devices.create({ mac: '52:54:00:00:00:03', imageId: 'disk1' });
    await store.devices.create({ mac: '52:54:00:00:00:04' });
    const a = await checkIn(store, { mac: '525400000003' });
    expect(a.decision).toMatchObject({ action: 'boot_image', output: 1, source: 'device', imageId: 'disk1' });
    expect(checkInAnswer(a, ctxBase)).toMatchObject({ action: 'boot_image', image_id: 'disk1', image_path: '/data/disk1.img', kernel_set: 'default' });
    const b = await checkIn(store, { mac: '52:54:00:00:00:04' });
    expect(b.decision).toMatchObject({ action: 'show_menu', output: 2, known: true });
    expect((await store.devices.get('52:54:00:00:00:03'))?.lastSeen).toBeDefined();
  });

  it('takes the profile and params from the most specific group, under the device override', async () => {
    await store.groups.create({ id: 'workers', name: 'workers', selector: { role: 'worker' }, profileId: 'talos-worker', params: { 'talos.config': 'http://10.0.0.5/w.yaml', console: 'ttyS0' } });
    await store.groups.create({ id: 'fallback', name: 'fallback', selector: {}, isDefault: true, profileId: 'ubuntu' });
    await store.devices.create({ mac: '52:54:00:00:00:05', labels: { role: 'worker' }, paramsOverride: { console: null, 'talos.hostname': 'w1' } });
    await store.devices.create({ mac: '52:54:00:00:00:06' });
    const r = await checkIn(store, { mac: '52:54:00:00:00:05' });
    expect(r.decision).toMatchObject({ action: 'boot_profile', output: 1, source: 'group', profileId: 'talos-worker' });
    expect(r.group?.id).toBe('workers');
    expect(r.params).toEqual({ 'talos.config': 'http://10.0.0.5/w.yaml', console: null, 'talos.hostname': 'w1' });
    const script = await renderBootScript(r, server);
    expect(script.kind).toBe('kernel');
    expect(script.text).toContain('kernel http://10.0.0.5:1880/boot/assets/talos/vmlinuz talos.platform=metal talos.config=http://10.0.0.5/w.yaml talos.hostname=w1 || goto nb_failed');
    expect(validateIpxeScript(script.text)).toEqual([]);
    expect((await checkIn(store, { mac: '52:54:00:00:00:06' })).group?.id).toBe('fallback');
  });

  it('names the initrds on a UEFI kernel\'s command line (initrd=<name>), and leaves a BIOS kernel\'s line alone', async () => {
    await store.profiles.create({ id: 'two', name: 'two initrds', type: 'custom', kernel: 'two/vmlinuz', initrd: ['two/initrd.gz', 'extra/initrd.gz', 'fw/amd+ucode.img'], cmdline: { console: 'ttyS0' } });
    await store.devices.create({ mac: '52:54:00:00:00:20', profileId: 'two' });
    const script = async (platform?: string) => (await renderBootScript(await checkIn(store, { mac: '52:54:00:00:00:20', arch: 'x86_64', ...(platform ? { platform } : {}) }), server)).text;
    const efi = await script('efi');
    // Debian's iPXE (2019) gives an EFI-stub kernel only the initrds its command line names
    expect(efi).toContain('kernel http://10.0.0.5:1880/boot/assets/two/vmlinuz console=ttyS0 initrd=initrd.gz initrd=1-initrd.gz initrd=amd_ucode.img || goto nb_failed');
    expect(efi).toContain('initrd --name initrd.gz http://10.0.0.5:1880/boot/assets/two/initrd.gz || goto nb_failed');
    expect(efi).toContain('initrd --name 1-initrd.gz http://10.0.0.5:1880/boot/assets/extra/initrd.gz || goto nb_failed');
    expect(efi).toContain('initrd --name amd_ucode.img http://10.0.0.5:1880/boot/assets/fw/amd+ucode.img || goto nb_failed');
    expect(validateIpxeScript(efi)).toEqual([]);
    for (const bios of [await script('pcbios'), await script()]) {
      expect(bios).toContain('kernel http://10.0.0.5:1880/boot/assets/two/vmlinuz console=ttyS0 || goto nb_failed');
      expect(bios).toContain('initrd http://10.0.0.5:1880/boot/assets/two/initrd.gz || goto nb_failed');
    }
  });

  it('honours a boot-once override, clears it, and then falls back', async () => {
    await store.devices.create({ mac: '52:54:00:00:00:07', imageId: 'disk1', bootOnce: { action: 'boot_profile', profileId: 'ubuntu' } });
    const once = await checkIn(store, { mac: '52:54:00:00:00:07' });
    expect(once.decision).toMatchObject({ action: 'boot_profile', output: 1, source: 'bootOnce', bootOnce: true, profileId: 'ubuntu' });
    expect((await store.devices.get('52:54:00:00:00:07'))?.bootOnce).toBeNull();
    const next = await checkIn(store, { mac: '52:54:00:00:00:07' });
    expect(next.decision).toMatchObject({ action: 'boot_image', source: 'device' });
    await store.devices.update('52:54:00:00:00:07', { bootOnce: { action: 'local' } });
    expect((await checkIn(store, { mac: '52:54:00:00:00:07' }, { useBootOnce: false })).decision.action).toBe('boot_image');
    const local = await checkIn(store, { mac: '52:54:00:00:00:07' });
    expect(local.decision).toMatchObject({ action: 'local', output: 2 });
    expect(checkInAnswer(local, ctxBase)).toMatchObject({ action: 'local' });
    await store.devices.update('52:54:00:00:00:07', { bootOnce: { action: 'register' } });
    expect(checkInAnswer(await checkIn(store, { mac: '52:54:00:00:00:07' }), ctxBase)).toMatchObject({ action: 'register', register_url: 'http://10.0.0.5:1880/boot/register.ipxe?mac=52-54-00-00-00-07' });
  });

  it('answers boot_profile and treats a request without identifiers as anonymous', async () => {
    await store.devices.create({ mac: '52:54:00:00:00:08', profileId: 'ubuntu' });
    expect(checkInAnswer(await checkIn(store, { mac: '52:54:00:00:00:08' }), ctxBase)).toMatchObject({ action: 'boot_profile', profile_id: 'ubuntu', profile_type: 'ubuntu', kernel_set: 'ubuntu' });
    const anon = await checkIn(store, {});
    expect(anon.decision).toMatchObject({ output: 3, anonymous: true });
    const script = await renderBootScript(anon, server);
    expect(script.kind).toBe('identify');
    expect(script.text).toContain('chain --autofree --replace http://10.0.0.5:1880/boot/menu.ipxe?mac=${netX/mac:hexhyp}');
  });
});

describe('boot scripts', () => {
  it('sanboots an image on the server IP, sanhooks an install, and builds a menu of profiles and images', async () => {
    await store.devices.create({ mac: '52:54:00:00:00:10', imageId: 'disk1', profileId: 'ubuntu' });
    await store.images.create({ id: 'noiqn', name: 'noiqn', kind: 'iscsi' });
    await store.devices.create({ mac: '52:54:00:00:00:11', imageId: 'noiqn' });
    const install = await renderBootScript(await checkIn(store, { mac: '52:54:00:00:00:10' }), server);
    expect(install.kind).toBe('sanhook');
    expect(install.text).toContain('sanhook --drive 0x80 iscsi:10.0.0.5:::1:iqn.2024-01.local.netboot:disk1');
    const own = await renderBootScript(await checkIn(store, { mac: '52:54:00:00:00:11' }), server);
    expect(own.text).toContain('sanboot iscsi:10.0.0.5:::1:iqn.2024-01.local.netboot:device-52-54-00-00-00-11');
    const menu = await renderBootScript(await checkIn(store, { mac: '52:54:00:00:00:12' }), server, {
      profiles: (await store.profiles.list()).items, images: (await store.images.list()).items,
    });
    expect(menu.text).toMatch(/item nb_item_0 Ubuntu 24.04/);
    expect(menu.text).toContain('/boot/image.disk1.ipxe?mac=');
    expect(validateIpxeScript(menu.text)).toEqual([]);
  });

  it('resolves scripts by name and refuses unsafe values with the field named', async () => {
    const anon = await checkIn(store, { mac: '52:54:00:00:00:13' });
    const t = await targetContext(store, anon, 'ubuntu.ipxe');
    expect((await renderBootScript(t.ctx, server)).kind).toBe('kernel');
    expect((await targetContext(store, anon, 'image.disk1')).ctx.decision.action).toBe('boot_image');
    await expect(targetContext(store, anon, 'missing')).rejects.toMatchObject({ code: 'not_found' });
    await expect(targetContext(store, anon, '../x')).rejects.toThrow(/field "profile"/);
    await store.profiles.update('ubuntu', { cmdline: { console: 'ttyS0 evil' } });
    await store.devices.create({ mac: '52:54:00:00:00:14', profileId: 'ubuntu' });
    await expect(renderBootScript(await checkIn(store, { mac: '52:54:00:00:00:14' }), server)).rejects.toThrow(/field "kernel.params.console": contains a space/);
  });
});

describe('Raspberry Pi files', () => {
  it('renders NFS for a known Pi, iSCSI with an image, and the registration initramfs for an unknown one', async () => {
    await store.devices.create({ mac: 'dc:a6:32:01:36:c2', serial: '9ffefdef', paramsOverride: { 'pi.nfs.path': '/srv/nfs/pi1' } });
    const known = renderPiFiles(await checkIn(store, { mac: 'dc:a6:32:01:36:c2' }), server);
    expect(known).toMatchObject({ model: 4, prefix: '9ffefdef/', root: 'nfs' });
    expect(known.files['cmdline.txt']).toContain('root=/dev/nfs nfsroot=10.0.0.5:/srv/nfs/pi1,vers=3');
    await store.devices.update('dc:a6:32:01:36:c2', { imageId: 'disk1', paramsOverride: { 'pi.model': '5', 'pi.prefix': 'mac' } });
    const iscsi = renderPiFiles(await checkIn(store, { mac: 'dc:a6:32:01:36:c2' }), server);
    expect(iscsi).toMatchObject({ model: 5, prefix: 'dc-a6-32-01-36-c2/', root: 'iscsi' });
    expect(iscsi.files['cmdline.txt']).toContain('iscsi_target_name=iqn.2024-01.local.netboot:disk1 iscsi_target_ip=10.0.0.5');
    expect(iscsi.files['config.txt']).toContain('kernel=kernel_2712.img');
    // a disk the iSCSI node serves: the initiator name its ACL allows, its CHAP account and port
    const san = { bootInfo: () => ({ port: 3261, initiatorIqn: 'iqn.2024-01.local.netboot:device-dc-a6-32-01-36-c2', chap: { username: 'nbuser', password: 'S3cret-Pass.2024' } }) };
    const served = renderPiFiles(await checkIn(store, { mac: 'dc:a6:32:01:36:c2' }), server, { san });
    expect(served.files['cmdline.txt']).toContain('iscsi_initiator=iqn.2024-01.local.netboot:device-dc-a6-32-01-36-c2 iscsi_target_name=iqn.2024-01.local.netboot:disk1 iscsi_target_ip=10.0.0.5 iscsi_target_port=3261');
    expect(served.files['cmdline.txt']).toMatch(/iscsi_username=nbuser iscsi_password=S3cret-Pass\.2024/);
    expect(served.containsSecret).toBe(true);
    const unknown = renderPiFiles(await checkIn(store, {}, {}, { filename: 'abcdef01/config.txt' }), server);
    expect(unknown).toMatchObject({ prefix: '', root: 'initramfs' });
    expect(unknown.files['config.txt']).toContain('initramfs registration/initrd.img followkernel');
    expect(unknown.files['cmdline.txt']).toContain('netboot_server=http://10.0.0.5:1880');
  });
});

describe('enrolment and logs', () => {
  it('creates then updates a device from the registration JSON, naming bad fields', async () => {
    const body = parseEnrollBody(JSON.stringify({ mac_address: '52:54:00:aa:bb:cc', service_tag: 'ABC123', hardware: { uuid: '', model: 'PowerEdge', pi_serial: '', cpu: { n: 4 } } }));
    expect((await enroll(store, body)).created).toBe(true);
    const again = await enroll(store, parseEnrollBody({ mac_address: '52-54-00-AA-BB-CC', service_tag: 'ABC123', hardware: { model: 'PowerEdge R740' } }));
    // a known MAC reports; the confirmed inventory stays
    expect(again).toMatchObject({ created: false, device: { status: 'enrolled', serviceTag: 'ABC123', hardware: { model: 'PowerEdge' }, reported: { hardware: { model: 'PowerEdge R740' } } } });
    expect(() => parseEnrollBody({ mac_address: 'x', service_tag: 'a b' })).toThrow(/field "service_tag"/);
    expect(() => parseEnrollBody({ service_tag: 'a' })).toThrow(/field "mac_address"/);
    expect(() => parseEnrollBody('{not json')).toThrow(/not JSON/);
    expect(() => parseEnrollBody({ mac_address: 'aa:bb:cc:dd:ee:ff', hardware: { junk: 'x'.repeat(300_000) } })).toThrow(expect.objectContaining({ details: expect.objectContaining({ status: 413 }) }));
    await expect(enroll(store, parseEnrollBody({ mac_address: 'nope' }))).rejects.toThrow(/field "mac_address"/);
  });

  it('stores progress lines and uploads per MAC', async () => {
    await recordBootLog(store, { mac: '52-54-00-aa-bb-cc', stage: 'winpe_started' }, {});
    await recordBootLog(store, {}, { mac: '52:54:00:aa:bb:cc', progress: '40', line: 'copying\u001b[2J files' });
    await recordLogUpload(store, { mac: '52:54:00:aa:bb:cc', name: 'setupact.log' }, Buffer.from('line1\nline2\n'));
    const events = await store.listEvents({ mac: '52:54:00:aa:bb:cc' });
    expect(events.map((e) => e.type)).toEqual(['boot.log', 'boot.log', 'boot.log_upload']);
    expect(events[1]).toMatchObject({ message: 'copying[2J files', data: { progress: 40 } });
    expect(events[2].data).toMatchObject({ name: 'setupact.log', bytes: 12 });
    await expect(recordBootLog(store, { mac: 'x', stage: 'a' }, {})).rejects.toThrow(/field "mac"/);
    await expect(recordBootLog(store, { mac: '52:54:00:aa:bb:cc', stage: 'a b' }, {})).rejects.toThrow(/field "stage"/);
    await expect(recordLogUpload(store, { mac: '52:54:00:aa:bb:cc', name: 'a' }, 'x'.repeat(1024 * 1024 + 1))).rejects.toMatchObject({ details: { status: 413 } });
  });
});

describe('network-config', () => {
  it.each(['mikrotik', 'openwrt', 'dnsmasq', 'isc', 'pfsense'])('%s points at this server and splits iPXE to the HTTP menu', (vendor) => {
    const out = renderNetworkConfig({ vendor, ...server });
    expect(out.menuUrl).toBe('http://10.0.0.5:1880/boot/menu.ipxe');
    expect(out.text).toContain('10.0.0.5');
    expect(out.text).toContain(out.menuUrl);
    expect(out.text).toMatch(/iPXE|175/);
  });
  it.each(['mikrotik', 'openwrt', 'dnsmasq', 'isc', 'pfsense'])('%s names the same boot files as our own DHCP answers', (vendor) => {
    const text = renderNetworkConfig({ vendor, ...server }).text;
    expect(text).toContain(DEFAULT_BOOT_CONFIG.files.bios);
    expect(text).toContain(DEFAULT_BOOT_CONFIG.files.efiX64);
    expect(text).not.toContain('snponly.efi');
    expect(renderNetworkConfig({ vendor, ...server, uefiFile: 'snponly.efi' }).text).toContain('snponly.efi');
  });
  it('refuses an unknown vendor and an unsafe address', () => {
    expect(() => renderNetworkConfig({ vendor: 'cisco', ...server })).toThrow(/field "vendor"/);
    expect(() => renderNetworkConfig({ vendor: 'isc', ...server, serverIp: '10.0.0.5;reboot' })).toThrow(/field "serverIp"/);
    expect(renderNetworkConfig({ vendor: 'isc', ...server }).text).toContain('if exists user-class and option user-class = "iPXE"');
  });
});
