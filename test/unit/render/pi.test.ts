import { describe, expect, it } from 'vitest';
import { isNetbootError } from '../../../lib/core/errors';
import {
  PI_CONFIG_MAX_LINE,
  parsePiTftpPath,
  piTftpPrefix,
  renderPiCmdline,
  renderPiCmdlineResult,
  renderPiConfig,
  type PiModel,
  type PiRoot,
} from '../../../lib/render';
import { expectGolden } from './golden';

const serials: Record<PiModel, string> = { 3: '00000000abcd1234', 4: '10000000abcd1234', 5: 'd83add01' };
const roots: Record<string, PiRoot> = {
  nfs: { type: 'nfs', server: '10.42.0.211', path: '/nfs/client1' },
  iscsi: {
    type: 'iscsi',
    initiator: 'iqn.2024-01.local.netboot:pi-abcd1234',
    targetIqn: 'iqn.2024-01.local.netboot:pi-abcd1234',
    targetIp: '10.0.0.5',
    rootUuid: '3B0C6F4E-1D2A-4C1B-9E0F-7A5B6C7D8E9F',
  },
  nbd: { type: 'nbd', server: 'nbd.lab', export: 'ubuntu-24.04' },
  initramfs: { type: 'initramfs', params: { 'netboot.server': 'http://10.0.0.2:1880', quiet: '' } },
};

describe('Raspberry Pi config.txt / cmdline.txt goldens', () => {
  for (const model of [3, 4, 5] as const) {
    for (const [rootName, root] of Object.entries(roots)) {
      it(`Pi ${model} × ${rootName}`, () => {
        const device = { model, serial: serials[model] };
        const config = renderPiConfig(device, {
          initramfs: rootName === 'nfs' ? null : 'initrd.img',
          dtoverlays: model === 5 ? [] : ['disable-bt'],
        });
        const cmdline = renderPiCmdline(device, root);
        expect(cmdline.split('\n')).toHaveLength(2); // one line plus the final newline
        for (const l of config.split('\n')) expect(l.length).toBeLessThanOrEqual(PI_CONFIG_MAX_LINE);
        expect(config).not.toMatch(/kernel=\w+:\/\//);
        expectGolden(`pi/pi${model}-${rootName}/config.txt`, config);
        expectGolden(`pi/pi${model}-${rootName}/cmdline.txt`, cmdline);
      });
    }
  }

  it('uses the model kernel names', () => {
    expect(renderPiConfig({ model: 3 }, { arch: 'armhf' })).toContain('kernel=kernel7.img');
    expect(renderPiConfig({ model: 3 }, { arch: 'armhf' })).not.toContain('arm_64bit');
    expect(renderPiConfig({ model: 3 })).toContain('kernel=kernel8.img');
    expect(renderPiConfig({ model: 4 })).toContain('kernel=kernel8.img');
    expect(renderPiConfig({ model: 5 })).toContain('kernel=kernel_2712.img');
    expect(renderPiConfig({ model: 4 })).toContain('initramfs initrd.img followkernel');
  });

  it('rejects a config line over 98 characters, naming it', () => {
    const long = `vc4-kms-v3d,${'x'.repeat(90)}`;
    let caught: unknown;
    try { renderPiConfig({ model: 4 }, { dtoverlays: [long] }); } catch (err) { caught = err; }
    expect(isNetbootError(caught, 'validation')).toBe(true);
    expect((caught as Error).message).toMatch(/config.txt line \d+ is 1\d\d characters/);
    expect((caught as { details: { text: string } }).details.text).toBe(`dtoverlay=${long}`);
    // exactly 98 is fine
    expect(() => renderPiConfig({ model: 4 }, { dtoverlays: ['a'.repeat(98 - 'dtoverlay='.length)] })).not.toThrow();
  });

  it.each([
    ['kernel URL', { kernel: 'http://api:8000/kernel8.img' }, 'kernel'],
    ['overlay newline', { dtoverlays: ['a\nkernel=evil.img'] }, 'dtoverlays[0]'],
    ['overlay #', { dtoverlays: ['a#b'] }, 'dtoverlays[0]'],
    ['initramfs ..', { initramfs: '../x' }, 'initramfs'],
    ['extra without =', { extra: ['gpu_mem'] }, 'extra[0]'],
  ])('config.txt rejects %s', (_n, opts, field) => {
    expect(() => renderPiConfig({ model: 4 }, opts)).toThrow(new RegExp(`field "${field.replace(/[[\]]/g, '\\$&')}"`));
  });

  it('cmdline: iSCSI with CHAP is marked secret, defaults and overrides', () => {
    const r = renderPiCmdlineResult({ model: 4 }, { ...(roots.iscsi as Extract<PiRoot, { type: 'iscsi' }>), username: 'pi', password: 'Secret-1234', port: 3261 });
    expect(r.containsSecret).toBe(true);
    expect(r.text).toContain('iscsi_username=pi iscsi_password=Secret-1234');
    expect(r.text).toContain('iscsi_target_port=3261');
    expect(r.text).not.toMatch(/ISCSI_/);
    const c = renderPiCmdline({ model: 4 }, roots.nfs, { consoles: [], params: { rw: null, ro: '', 'fsck.repair': 'yes' } });
    expect(c).toBe('root=/dev/nfs nfsroot=10.42.0.211:/nfs/client1,vers=3 ip=dhcp rootwait ro fsck.repair=yes\n');
    expect(renderPiCmdline({ model: 5 }, { type: 'nbd', server: '10.0.0.2', export: 'img', port: 10810, rootDevice: '/dev/nbd0p1' }))
      .toContain('nbdroot=10.0.0.2:10810/img root=/dev/nbd0p1');
  });

  it.each([
    ['nfs server with space', { type: 'nfs', server: '10.0.0.1 x', path: '/a' }, 'root.server'],
    ['nfs path with ;', { type: 'nfs', server: '10.0.0.1', path: '/a;b' }, 'root.path'],
    ['iscsi bad iqn', { ...roots.iscsi, targetIqn: 'iqn.2024.local' }, 'root.targetIqn'],
    ['iscsi password $', { ...roots.iscsi, username: 'u', password: 'a$b' }, 'root.password'],
    ['nbd export with space', { type: 'nbd', server: 'x', export: 'a b' }, 'root.export'],
    ['initramfs param newline', { type: 'initramfs', params: { a: 'b\nc' } }, 'cmdline.a'],
  ] as Array<[string, PiRoot, string]>)('cmdline rejects %s', (_n, root, field) => {
    let caught: unknown;
    try { renderPiCmdline({ model: 4 }, root); } catch (err) { caught = err; }
    expect(isNetbootError(caught, 'unsafe_value')).toBe(true);
    expect((caught as { details: { field: string } }).details.field).toBe(field);
  });
});

describe('Pi TFTP prefixes', () => {
  it.each([
    ['abcd1234', 'abcd1234/'],
    ['ABCD1234', 'abcd1234/'],
    ['10000000abcd1234', 'abcd1234/'],
    ['00000000abcd1234', 'abcd1234/'],
  ])('serial %s → %s', (serial, want) => {
    expect(piTftpPrefix({ serial }, 'serial')).toBe(want);
  });
  it('rejects bad serials', () => {
    for (const s of ['abcd123', 'abcd12345', 'xyz', '10000000abcd12345', undefined]) {
      expect(() => piTftpPrefix({ serial: s }, 'serial')).toThrow(/serial/);
    }
  });
  it('MAC prefix is lowercase, dashed, without the 01- type', () => {
    expect(piTftpPrefix({ mac: 'DC:A6:32:01:36:C2' }, 'mac')).toBe('dc-a6-32-01-36-c2/');
    expect(piTftpPrefix({ mac: '01-dc-a6-32-01-36-c2' }, 'mac')).toBe('dc-a6-32-01-36-c2/');
    expect(() => piTftpPrefix({ model: 3, mac: 'dc:a6:32:01:36:c2' }, 'mac')).toThrow(/Pi 3/);
  });
  it('fixed prefix at most 32 characters', () => {
    expect(piTftpPrefix({}, 'fixed', 'rack2')).toBe('rack2/');
    expect(piTftpPrefix({}, 'fixed', 'a'.repeat(32))).toBe(`${'a'.repeat(32)}/`);
    expect(() => piTftpPrefix({}, 'fixed', 'a'.repeat(33))).toThrow(/1-32/);
    expect(() => piTftpPrefix({}, 'fixed', 'a/b')).toThrow(/1-32/);
  });
  it.each([
    ['abcd1234/config.txt', { kind: 'serial', prefix: 'abcd1234', serial: 'abcd1234', rest: 'config.txt', virtual: true }],
    ['/abcd1234/start4.elf', { kind: 'serial', prefix: 'abcd1234', serial: 'abcd1234', rest: 'start4.elf', virtual: false }],
    ['abcd1234/overlays/disable-bt.dtbo', { kind: 'serial', prefix: 'abcd1234', serial: 'abcd1234', rest: 'overlays/disable-bt.dtbo', virtual: false }],
    ['dc-a6-32-01-36-c2/cmdline.txt', { kind: 'mac', prefix: 'dc-a6-32-01-36-c2', mac: 'dc:a6:32:01:36:c2', rest: 'cmdline.txt', virtual: true }],
    ['bootcode.bin', { kind: 'none', prefix: '', rest: 'bootcode.bin', virtual: false }],
    ['overlays/x.dtbo', { kind: 'none', prefix: '', rest: 'overlays/x.dtbo', virtual: false }],
    ['rack2/config.txt', { kind: 'fixed', prefix: 'rack2', rest: 'config.txt', virtual: true }],
  ])('parsePiTftpPath %s', (p, want) => {
    expect(parsePiTftpPath(p, { fixedPrefixes: ['rack2'] })).toEqual(want);
  });
  it.each(['abcd1234/../etc/passwd', 'a\\b', 'a\0b', 'abcd1234//config.txt', '', 'caf\u00e9'])('parsePiTftpPath rejects %j', (p) => {
    expect(() => parsePiTftpPath(p)).toThrow(/TFTP path/);
  });
});
