import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonInventoryStore } from '../../../lib/store';
import { checkIn, checkInAnswer } from '../../../lib/policy/checkin';
import { parseFacts } from '../../../lib/policy/facts';
import { enroll, enrollAnswer, parseEnrollBody } from '../../../lib/policy/enroll';
import { renderPiFiles } from '../../../lib/policy/pi-files';

/** The trust model of docs/security.md, on the pure layer: the reproductions of issue 13. */
let dir: string;
let store: JsonInventoryStore;
const VICTIM = '52:54:00:00:00:10';
const VICTIM_UUID = '4c4c4544-0042-3510-8052-b4c04f4e4a31';
const ATTACKER = '52:54:00:00:00:66';

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'netboot-trust-'));
  store = await JsonInventoryStore.open(path.join(dir, 'inventory.json'));
  await store.profiles.create({ id: 'wipe', name: 'wipe', type: 'rescue', kernel: 'wipe/vmlinuz' });
  await store.profiles.create({ id: 'ubuntu', name: 'ubuntu', type: 'ubuntu', kernel: 'ubuntu/vmlinuz' });
  await store.groups.create({ id: 'decom', name: 'decom', selector: { serviceTag: 'DECOM1' }, profileId: 'wipe' });
  await store.groups.create({ id: 'arm', name: 'arm', selector: { arch: 'evil' }, profileId: 'wipe' });
  await store.groups.create({ id: 'default', name: 'default', selector: {}, isDefault: true, profileId: 'ubuntu' });
  await store.devices.create({ mac: VICTIM, uuid: VICTIM_UUID, arch: 'x86_64' });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('anonymous enrolment', () => {
  it('cannot move a known device into another group by claiming its uuid with a selector value', async () => {
    const before = await store.devices.get(VICTIM);
    const result = await enroll(store, parseEnrollBody({ mac_address: ATTACKER, service_tag: 'DECOM1', hardware: { uuid: VICTIM_UUID } }));
    expect(result.outcome).toBe('conflict');
    const answer = enrollAnswer(result);
    expect(answer.statusCode).toBe(409);
    // the answer names neither the device nor the field
    expect(JSON.stringify(answer.payload)).not.toMatch(new RegExp(`${VICTIM}|${VICTIM_UUID}|uuid|serial|DECOM1`, 'i'));
    expect(await store.devices.get(VICTIM)).toEqual(before);
    expect(await store.devices.get(ATTACKER)).toBeUndefined();
    const decided = await checkIn(store, { mac: VICTIM }, {}, {});
    expect(decided.profile?.id).toBe('ubuntu');
    // the flow sees who it was
    expect(result.outcome === 'conflict' && result.conflict).toMatchObject({ mac: ATTACKER, fields: ['uuid'], holder: { mac: VICTIM } });
  });

  it('records what a known MAC reports beside its confirmed fields, never over them', async () => {
    await store.devices.create({ mac: 'dc:a6:32:01:36:c2', serial: '9ffefdef', hardware: { model: 'Raspberry Pi 4 Model B' } });
    const result = await enroll(store, parseEnrollBody({ mac_address: 'dc:a6:32:01:36:c2', service_tag: 'DECOM1', hardware: { model: 'Raspberry Pi 5', pi_serial: '12345678' } }));
    expect(result.outcome).toBe('reported');
    const dev = (await store.devices.get('dc:a6:32:01:36:c2'))!;
    expect(dev.hardware).toEqual({ model: 'Raspberry Pi 4 Model B' });
    expect(dev.serial).toBe('9ffefdef');
    expect(dev.serviceTag).toBeUndefined();
    expect(dev.reported).toMatchObject({ serviceTag: 'DECOM1', serial: '12345678', hardware: { model: 'Raspberry Pi 5' } });
    // still a Pi 4: the Pi 4 kernel, not kernel_2712.img
    const files = renderPiFiles(await checkIn(store, {}, {}, { filename: '9ffefdef/config.txt' }), { serverIp: '10.0.0.5', httpBaseUrl: 'http://10.0.0.5:1880', iqnPrefix: 'iqn.2024-01.local.netboot' });
    expect(files.files['config.txt'] ?? '').not.toContain('kernel_2712');
    expect(enrollAnswer(result).payload).toEqual({ mac: 'dc:a6:32:01:36:c2', created: false, reported: true });
  });

  it('refuses broadcast, multicast and all-zero MACs everywhere', async () => {
    for (const mac of ['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '33:33:00:00:00:01', '00:00:00:00:00:00']) {
      await expect(enroll(store, parseEnrollBody({ mac_address: mac }))).rejects.toThrow(/field "mac_address".*(broadcast|multicast|zeros)/);
      expect(() => parseFacts({ mac })).toThrow(/field "mac"/);
      await expect(store.devices.create({ mac })).rejects.toThrow(/field "mac"/);
    }
    expect((await store.devices.list()).total).toBe(1);
  });

  it('bounds the hardware document inside the 64 KiB body', () => {
    expect(() => parseEnrollBody({ mac_address: ATTACKER, hardware: { pci: 'x'.repeat(62 * 1024) } })).toThrow(/field "hardware" is \d+ bytes of JSON \(limit 61440\)/);
    expect(() => parseEnrollBody({ mac_address: ATTACKER, hardware: { pci: 'x'.repeat(58 * 1024) } })).not.toThrow();
    expect(() => parseEnrollBody({ mac_address: ATTACKER, hardware: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 1])) })).toThrow(/field "hardware"/);
  });

  it('creates an enrolled device for a MAC never seen', async () => {
    const result = await enroll(store, parseEnrollBody({ mac_address: ATTACKER, hostname: 'new1', hardware: { model: 'PC' } }));
    expect(enrollAnswer(result)).toEqual({ statusCode: 201, payload: { status: 'enrolled', mac: ATTACKER, created: true } });
    expect(await store.devices.get(ATTACKER)).toMatchObject({ status: 'enrolled', hostname: 'new1', hardware: { model: 'PC' } });
  });
});

describe('anonymous check-in', () => {
  it('refuses an arch or platform outside the closed sets', async () => {
    await expect(checkIn(store, { mac: VICTIM, arch: 'evilarch' }, { source: 'http' })).rejects.toThrow(/field "arch"/);
    await expect(checkIn(store, { mac: VICTIM, platform: 'evil' }, { source: 'http' })).rejects.toThrow(/field "platform"/);
    expect((await store.devices.get(VICTIM))?.arch).toBe('x86_64');
  });

  it('keeps HTTP facts as reported, records a change as an event and takes the IP from the connection', async () => {
    const r = await checkIn(store, { mac: VICTIM, ip: '10.66.66.66', arch: 'i386', platform: 'efi', hostname: 'evil' }, { source: 'http' }, { ip: '::ffff:192.0.2.7' });
    const dev = (await store.devices.get(VICTIM))!;
    expect(dev).toMatchObject({ arch: 'x86_64', lastIp: '192.0.2.7', reported: { arch: 'i386', firmware: 'efi', hostname: 'evil' } });
    expect(dev.hostname).toBeUndefined();
    expect(dev.firmware).toBeUndefined();
    expect(r.changes).toEqual([{ field: 'arch', from: 'x86_64', to: 'i386' }]);
    const events = await store.listEvents({ mac: VICTIM });
    expect(events.map((e) => e.message)).toEqual(['arch changed from x86_64 to i386 (reported over HTTP)']);
    // the same report again is no change
    expect((await checkIn(store, { mac: VICTIM, arch: 'i386' }, { source: 'http' })).changes).toBeUndefined();
    expect(await store.listEvents({ mac: VICTIM })).toHaveLength(1);
  });

  it('never finds another device by its uuid when the request names a MAC', async () => {
    const r = await checkIn(store, { mac: ATTACKER, uuid: VICTIM_UUID }, { source: 'http' });
    expect(r.decision.known).toBe(false);
    expect(checkInAnswer(r, { baseUrl: 'http://x' }).mac).toBe(ATTACKER);
    // registering it does not copy the victim's uuid
    await checkIn(store, { mac: ATTACKER, uuid: VICTIM_UUID }, { source: 'http', registerUnknown: true });
    expect((await store.devices.get(ATTACKER))?.uuid).toBeUndefined();
    // a trusted source (the DHCP packet through the flow) still finds a moved NIC by uuid
    expect((await checkIn(store, { mac: ATTACKER.replace('66', '67'), uuid: VICTIM_UUID }, { touch: false })).device?.mac).toBe(VICTIM);
  });

  it('lets a trusted source change arch, still recording the change', async () => {
    await checkIn(store, { mac: VICTIM, arch: 'arm64' }, {});
    expect((await store.devices.get(VICTIM))?.arch).toBe('arm64');
    expect((await store.listEvents({ mac: VICTIM }))[0]?.message).toBe('arch changed from x86_64 to arm64');
  });
});
