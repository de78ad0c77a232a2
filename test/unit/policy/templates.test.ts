import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderBootScript } from '../../../lib/policy/boot-script';
import type { BootContext } from '../../../lib/policy/boot-script';
import { validateIpxeScript } from '../../../lib/render';

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'netboot-tpl-'));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

const server = () => ({ serverIp: '10.0.0.5', httpBaseUrl: 'http://10.0.0.5:1880', iqnPrefix: 'iqn.2024-01.local.netboot', dataDir });
const profile = { id: 'talos', name: 'Talos worker', type: 'talos' as const, kernel: 'talos/vmlinuz', initrd: ['talos/initramfs.xz'], cmdline: { 'talos.platform': 'metal' }, template: 'kernel', createdAt: '', updatedAt: '' };
const ctx = (p: typeof profile, params: Record<string, string | null> = {}): BootContext => ({
  device: undefined, group: undefined, image: undefined, profile: p, params,
  decision: { action: 'boot_profile', output: 1, known: true, source: 'device', profileId: p.id },
  facts: { mac: '52:54:00:00:00:01' },
} as unknown as BootContext);

describe('profile templates', () => {
  it('renders a kernel profile through the shipped template, values allow-listed', async () => {
    const script = await renderBootScript(ctx(profile, { 'talos.hostname': 'w1' }), server());
    expect(script.text).toContain('kernel http://10.0.0.5:1880/boot/assets/talos/vmlinuz initrd=initrd.img talos.platform=metal talos.hostname=w1 || goto nb_failed');
    expect(script.text).toContain('initrd --name initrd.img http://10.0.0.5:1880/boot/assets/talos/initramfs.xz');
    expect(validateIpxeScript(script.text)).toEqual([]);
  });

  it('prefers the user\'s copy in <dataDir>/templates', async () => {
    mkdirSync(path.join(dataDir, 'templates'));
    writeFileSync(path.join(dataDir, 'templates', 'kernel.ipxe.tmpl'), '#!ipxe\necho mine {{mac}}\nkernel {{kernel_url:url}} {{args:kernelArgs}}\nboot\n');
    const script = await renderBootScript(ctx(profile), server());
    expect(script.text).toBe('#!ipxe\necho mine 52:54:00:00:00:01\nkernel http://10.0.0.5:1880/boot/assets/talos/vmlinuz talos.platform=metal\nboot\n');
  });

  it('refuses a template that needs a key the profile cannot fill, naming it', async () => {
    mkdirSync(path.join(dataDir, 'templates'));
    writeFileSync(path.join(dataDir, 'templates', 'custom.ipxe.tmpl'), '#!ipxe\nkernel {{kernel_url:url}} {{cloud_config:url}}\nboot\n');
    await expect(renderBootScript(ctx({ ...profile, template: 'custom' }), server())).rejects.toThrow(/missing key "cloud_config"/);
  });

  it('refuses an unsafe value placed through a template', async () => {
    await expect(renderBootScript(ctx(profile, { 'talos.hostname': 'w1 && shell' }), server())).rejects.toThrow(/unsafe|field/);
  });
});

describe('sanboot targets', () => {
  const image = { id: 'd1', name: 'd1', kind: 'iscsi' as const, iqn: 'iqn.2024-01.local.netboot:d1', createdAt: '', updatedAt: '' };
  const sanCtx = (img: Record<string, unknown>): BootContext => ({
    device: { mac: '52:54:00:00:00:01' }, image: img, params: {},
    decision: { action: 'boot_image', output: 1, known: true, source: 'device', imageId: 'd1' },
    facts: { mac: '52:54:00:00:00:01' },
  } as unknown as BootContext);

  it('boots LUN 1 on this server by default (tgtd keeps LUN 0 for its controller)', async () => {
    const script = await renderBootScript(sanCtx(image), server(), { kind: 'sanboot' });
    expect(script.text).toContain('sanboot iscsi:10.0.0.5:::1:iqn.2024-01.local.netboot:d1');
  });

  it("uses the image's own portal and LUN when it names them", async () => {
    const script = await renderBootScript(sanCtx({ ...image, targetHost: 'nas.lan', targetPort: 3261, lun: 0 }), server(), { kind: 'sanboot' });
    expect(script.text).toContain('sanboot iscsi:nas.lan::3261:0:iqn.2024-01.local.netboot:d1');
  });
});
