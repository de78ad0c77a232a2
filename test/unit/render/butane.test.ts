import { describe, expect, it } from 'vitest';
import { butaneToIgnition } from '../../../lib/render/butane';
import { renderConfig } from '../../../lib/render/config';

const FCOS = `variant: fcos
version: 1.5.0
passwd:
  users:
    - name: core
      ssh_authorized_keys: [ssh-ed25519 AAAA core@x]
storage:
  files:
    - path: /etc/hostname
      mode: 0644
      contents:
        inline: {{hostname}}
    - path: /etc/motd
      append:
        - inline: "hello\\n"
systemd:
  units:
    - name: hello.service
      enabled: true
      contents: |
        [Service]
        ExecStart=/usr/bin/echo hi
`;

describe('Butane → Ignition', () => {
  it('translates the fcos variant: version, inline contents as data URLs, the rest as it is', () => {
    const out = renderConfig({ id: 'b', format: 'butane', template: FCOS }, { hostname: 'web-1\nevil: yes' });
    expect(out.contentType).toMatch(/ignition\+json/);
    const ign = JSON.parse(out.text) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(ign.ignition).toEqual({ version: '3.4.0' });
    expect(ign.passwd.users[0]).toEqual({ name: 'core', ssh_authorized_keys: ['ssh-ed25519 AAAA core@x'] });
    const host = ign.storage.files[0];
    expect(host).toMatchObject({ path: '/etc/hostname', mode: 0o644 });
    expect(decodeURIComponent(host.contents.source.replace(/^data:,/, ''))).toBe('web-1\nevil: yes');
    expect(ign.storage.files[1].append[0].source).toBe('data:,hello%0A');
    expect(ign.systemd.units[0]).toMatchObject({ name: 'hello.service', enabled: true, contents: expect.stringContaining('ExecStart=') });
  });

  it('maps each variant version to its Ignition spec and refuses what needs Butane itself', () => {
    expect(JSON.parse(butaneToIgnition('b', 'variant: flatcar\nversion: 1.1.0\n')).ignition.version).toBe('3.4.0');
    expect(JSON.parse(butaneToIgnition('b', 'variant: fcos\nversion: 1.6.0\n')).ignition.version).toBe('3.5.0');
    expect(() => butaneToIgnition('b', 'variant: fcos\nversion: 9.0.0\n')).toThrow(/version "9.0.0" is not one netboot translates/);
    expect(() => butaneToIgnition('b', 'variant: openshift\nversion: 4.14.0\n')).toThrow(/variant "openshift"/);
    expect(() => butaneToIgnition('b', 'variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: /x\n      contents: {local: x.txt}\n')).toThrow(/local: a file beside/);
    expect(() => butaneToIgnition('b', 'variant: fcos\nversion: 1.5.0\nstorage:\n  trees: [{local: t}]\n')).toThrow(/storage.trees needs Butane/);
    expect(() => butaneToIgnition('b', 'variant: fcos\nversion: 1.5.0\nboot_device: {mirror: {}}\n')).toThrow(/"boot_device" needs Butane/);
    expect(() => butaneToIgnition('b', 'variant: fcos\nversion: 1.5.0\nx: [\n')).toThrow(/YAML line/);
  });
});
