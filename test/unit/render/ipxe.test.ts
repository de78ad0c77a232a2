import { describe, expect, it } from 'vitest';
import { isNetbootError } from '../../../lib/core/errors';
import {
  renderIpxe,
  renderIpxeResult,
  renderWinpeStartnet,
  renderWinpeshlIni,
  validateIpxeScript,
  type IpxeContext,
  type IpxeSpec,
} from '../../../lib/render';
import { expectGolden } from './golden';

const ctx: IpxeContext = { baseUrl: 'http://10.0.0.2:1880', mac: 'AA-BB-CC-DD-EE-FF' };
const target = { server: '10.0.0.5', port: 3260, lun: 0, iqn: 'iqn.2024-01.local.netboot:device-aa-bb-cc-dd-ee-ff' };

const ubuntu: IpxeSpec = {
  kind: 'kernel',
  title: 'Ubuntu Server 24.04',
  kernel: '/boot/assets/ubuntu/vmlinuz',
  initrds: [{ url: '/boot/assets/ubuntu/initrd', name: 'initrd' }],
  params: { ip: 'dhcp', console: ['tty0', 'ttyS0,115200n8'], quiet: '', autoinstall: '', ds: 'nocloud-net_s=http://10.0.0.2/x/' },
  override: { quiet: null, ds: 'nocloud-net_s=http://10.0.0.2:1880/seed/aa-bb-cc-dd-ee-ff/', 'systemd.unit': 'multi-user.target' },
};

const cases: Array<[string, IpxeSpec, Partial<IpxeContext>?]> = [
  ['menu', {
    kind: 'menu',
    title: 'netboot: choose a boot target',
    items: [
      { gap: 'Operating systems' },
      { id: 'ubuntu-2404', label: 'Ubuntu Server 24.04 (autoinstall)', key: 'u' },
      { id: 'talos-cp', label: 'Talos control plane', key: 't' },
      { gap: true },
      { id: 'rescue', label: 'Rescue system', url: 'http://10.0.0.9/rescue.ipxe' },
    ],
    defaultId: 'local',
    timeoutMs: 10000,
  }],
  ['menu-minimal', { kind: 'menu', title: 'Pick one', items: [{ id: 'a', label: 'A' }], register: false, shell: false, retry: false, biosSanboot: true }],
  ['kernel', ubuntu],
  ['kernel-initrd-arg', { kind: 'kernel', kernel: 'http://10.0.0.2/talos/vmlinuz-amd64', initrds: [{ url: 'http://10.0.0.2/talos/initramfs-amd64.xz', name: 'initramfs.xz' }], params: { 'talos.platform': 'metal', 'talos.config': 'http://10.0.0.2:1880/talos/cp.yaml?mac=aa-bb-cc-dd-ee-ff&role=cp' }, initrdArg: true }, { onFailure: 'menu' }],
  ['sanboot', { kind: 'sanboot', title: 'Windows 11 on iSCSI', target, drive: 0x80, keep: true, initiatorIqn: 'iqn.2024-01.local.netboot:initiator-aa-bb-cc-dd-ee-ff' }],
  ['sanboot-chap', { kind: 'sanboot', target: { server: 'fd00::5', iqn: 'iqn.2024-01.local.netboot:disk1', lun: 1 }, noDescribe: true, filename: '\\EFI\\BOOT\\BOOTX64.EFI', chap: { username: 'nbuser', password: 'S3cret-Pass.2024', reverseUsername: 'target', reversePassword: 'Other-Secret.99' } }, { onFailure: 'shell' }],
  ['sanhook-wimboot', { kind: 'sanhook', title: 'Windows installer onto iSCSI', target, then: { kind: 'wimboot', wimboot: '/boot/assets/wimboot', bcd: '/boot/assets/win11/boot/bcd', bootSdi: '/boot/assets/win11/boot/boot.sdi', bootWim: '/boot/assets/win11/sources/boot.wim' } }],
  ['sanhook-kernel', { kind: 'sanhook', target, drive: 0x81, then: { kind: 'kernel', kernel: '/d/linux', initrds: ['/d/initrd.gz'], params: { auto: 'true', priority: 'critical' } } }, { onFailure: 'reboot' }],
  ['wimboot', { kind: 'wimboot', title: 'WinPE', wimboot: '/boot/assets/wimboot', bcd: '/w/BCD', bootSdi: '/w/boot.sdi', bootWim: '/w/boot.wim', options: { gui: true, index: 2 }, files: [{ url: '/w/unattend.xml', name: 'unattend.xml' }] }],
  ['wimboot-plain', { kind: 'wimboot', wimboot: 'http://10.0.0.2/wimboot', bcd: 'http://10.0.0.2/BCD', bootSdi: 'http://10.0.0.2/boot.sdi', bootWim: 'http://10.0.0.2/boot.wim', inject: false }],
  ['chain', { kind: 'chain', title: 'netboot.xyz', url: 'https://boot.netboot.xyz/menu.ipxe' }],
  ['chain-identity', { kind: 'chain', url: '/boot/custom.ipxe?x=1', identity: true }],
  ['local', { kind: 'local' }],
  ['local-bios', { kind: 'local', biosSanboot: true }],
  ['retry', { kind: 'retry' }],
  ['retry-shell', { kind: 'retry', attempts: 3, delaySeconds: 5, fallback: 'shell' }],
];

describe('renderIpxe goldens', () => {
  it.each(cases)('%s', (name, spec, extra) => {
    const script = renderIpxe(spec, { ...ctx, ...extra });
    expect(script.startsWith('#!ipxe\n')).toBe(true);
    expect(validateIpxeScript(script)).toEqual([]);
    expectGolden(`ipxe/${name}.ipxe`, script);
  });
});

describe('renderIpxe details', () => {
  it('marks scripts with CHAP passwords as secret', () => {
    expect(renderIpxeResult(cases[5][1], ctx).containsSecret).toBe(true);
    expect(renderIpxeResult(cases[4][1], ctx).containsSecret).toBe(false);
  });

  it('merges device overrides over profile parameters (override wins, null removes)', () => {
    const s = renderIpxe(ubuntu, ctx);
    const kernelLine = s.split('\n').find((l) => l.startsWith('kernel '))!;
    expect(kernelLine).toContain('ds=nocloud-net_s=http://10.0.0.2:1880/seed/aa-bb-cc-dd-ee-ff/');
    expect(kernelLine).not.toContain(' quiet');
    expect(kernelLine).toContain('console=tty0 console=ttyS0,115200n8');
    expect(kernelLine).toContain('systemd.unit=multi-user.target');
  });

  it('uses ${netX/mac:hexhyp} and :uristring for identity, never ${net0/mac}', () => {
    for (const [, spec, extra] of cases) {
      const s = renderIpxe(spec, { ...ctx, ...extra });
      expect(s).not.toContain('${net0/mac}');
      if (s.includes('mac=$')) expect(s).toContain('mac=${netX/mac:hexhyp}');
      if (s.includes('hostname=')) expect(s).toContain('hostname=${hostname:uristring}');
    }
  });

  it('writes the RFC 4173 URI with empty protocol field and hex LUN', () => {
    const s = renderIpxe({ kind: 'sanboot', target: { server: 'iscsi-target', port: 3260, lun: 10, iqn: 'iqn.2024-01.local.example:d' } }, ctx);
    expect(s).toContain('sanboot iscsi:iscsi-target::3260:a:iqn.2024-01.local.example:d || goto nb_failed');
  });

  const bad: Array<[string, IpxeSpec, Partial<IpxeContext>, string]> = [
    ['menu title newline', { kind: 'menu', title: 'x\nreboot', items: [] }, {}, 'menu.title'],
    ['menu label ${', { kind: 'menu', title: 'x', items: [{ id: 'a', label: 'A ${x}' }] }, {}, 'menu.items[0].label'],
    ['menu id with space', { kind: 'menu', title: 'x', items: [{ id: 'a b', label: 'A' }] }, {}, 'menu.items[0].id'],
    ['menu key', { kind: 'menu', title: 'x', items: [{ id: 'a', label: 'A', key: 'ab' }] }, {}, 'menu.items[0].key'],
    ['kernel url &&', { kind: 'kernel', kernel: 'http://x/k&&reboot' }, {}, 'kernel.kernel'],
    ['kernel arg ${', { kind: 'kernel', kernel: 'http://x/k', params: { a: 'b;${reboot}' } }, {}, 'kernel.params.a'],
    ['override arg space', { kind: 'kernel', kernel: 'http://x/k', override: { a: 'b c' } }, {}, 'kernel.params.a'],
    ['initrd name slash', { kind: 'kernel', kernel: 'http://x/k', initrds: [{ url: 'http://x/i', name: 'a/b' }] }, {}, 'kernel.initrds[0].name'],
    ['iqn upper', { kind: 'sanboot', target: { server: 'x', iqn: 'iqn.2024-01.Local.x' } }, {}, 'sanboot.target.iqn'],
    ['chap password #', { kind: 'sanboot', target, chap: { username: 'u', password: 'pa#ss' } }, {}, 'sanboot.chap.password'],
    ['chain ftp', { kind: 'chain', url: 'ftp://x/y' }, {}, 'chain.url'],
    ['baseUrl', { kind: 'local' }, { baseUrl: 'http://x/${y}' }, 'baseUrl'],
    ['path ..', { kind: 'chain', url: '/a/../b' }, {}, 'chain.url'],
    ['retry attempts', { kind: 'retry', attempts: 0 }, {}, 'retry.attempts'],
    ['wimboot file name', { kind: 'wimboot', wimboot: '/w', bcd: '/b', bootSdi: '/s', bootWim: '/m', files: [{ url: '/x', name: 'a b' }] }, {}, 'wimboot.files[0].name'],
  ];
  it.each(bad)('rejects %s', (_n, spec, extra, field) => {
    let caught: unknown;
    try { renderIpxe(spec, { ...ctx, ...extra }); } catch (err) { caught = err; }
    expect(isNetbootError(caught, 'unsafe_value')).toBe(true);
    expect((caught as { details: { field: string } }).details.field).toBe(field);
    expect((caught as Error).message).toContain(`field "${field}"`);
  });

  it('rejects a default that is not an item', () => {
    expect(() => renderIpxe({ kind: 'menu', title: 'x', items: [{ id: 'a', label: 'A' }], defaultId: 'nope' }, ctx)).toThrow(/menu default "nope"/);
  });
});

describe('WinPE helper files', () => {
  it('startnet.cmd golden, CRLF, with log and upload URLs', () => {
    const s = renderWinpeStartnet({ baseUrl: 'http://10.0.0.2:1880', mac: 'aa:bb:cc:dd:ee:ff' });
    expect(s).toMatch(/\r\n$/);
    expect(s.replace(/\r\n/g, '')).not.toContain('\n');
    expect(s).toContain('set "NB_LOG=http://10.0.0.2:1880/api/v1/boot/log?mac=aa-bb-cc-dd-ee-ff"');
    expect(s).toContain('set "NB_UPLOAD=http://10.0.0.2:1880/api/v1/boot/winpe/logs/upload?mac=aa-bb-cc-dd-ee-ff"');
    expectGolden('winpe/startnet.cmd', s);
  });
  it('winpeshl.ini golden', () => {
    const s = renderWinpeshlIni();
    expect(s.split('\r\n')[0]).toBe('[LaunchApps]');
    expectGolden('winpe/winpeshl.ini', s);
  });
  it('refuses a base URL with batch metacharacters', () => {
    expect(() => renderWinpeStartnet({ baseUrl: 'http://10.0.0.2/%PATH%', mac: 'aa:bb:cc:dd:ee:ff' })).toThrow(/baseUrl/);
  });
});

describe('IpxeContext paths', () => {
  it('custom paths are used, and checked', () => {
    const s = renderIpxe({ kind: 'menu', title: 'M', items: [{ id: 'x', label: 'X' }], register: false, shell: false, retry: false, localBoot: false }, { baseUrl: 'http://srv/', paths: { profile: '/p/{id}/boot.ipxe' } });
    expect(s).toContain('chain --autofree --replace http://srv/p/x/boot.ipxe?mac=${netX/mac:hexhyp}');
    expect(() => renderIpxe({ kind: 'local' }, { baseUrl: 'http://srv', paths: { menu: '/m/{id}' } })).toThrow(/paths.menu/);
    expect(() => renderIpxe({ kind: 'local' }, { baseUrl: 'http://srv', paths: { menu: '/m/../x' } })).toThrow(/paths.menu/);
  });
});
