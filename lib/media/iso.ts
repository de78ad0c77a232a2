import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NetbootError } from '../core/errors';
import type { ProfileInput } from '../store';

/**
 * Installation media: an ISO's tree unpacked into the boot-assets folder with xorriso (Debian's
 * `xorriso`, the libisoburn reader; not a reader of our own), recognised by the files it holds, and
 * a profile proposed that boots its kernel and initrd over HTTP.
 *
 * | distribution | recognised by | kernel / initrd | kernel arguments |
 * |---|---|---|---|
 * | Ubuntu live-server | `casper/vmlinuz`, `casper/initrd` | those | `ip=dhcp url=<the ISO>` (casper loads it into RAM) |
 * | Debian installer | `install.amd/vmlinuz`, `install.amd/initrd.gz` | those | (preseed via a config document) |
 * | Fedora, AlmaLinux, Rocky | `images/pxeboot/vmlinuz`, `initrd.img`, `.treeinfo` | those | `inst.repo=<the unpacked tree>` |
 * | Talos | `boot/vmlinuz`, `boot/initramfs.xz` | those | `talos.platform=metal` |
 * | Flatcar | `flatcar/vmlinuz`, `flatcar/cpio.gz` | those | `flatcar.first_boot=1` |
 */

export interface MediaInfo {
  id: string;
  distro: 'ubuntu' | 'debian' | 'fedora' | 'almalinux' | 'rocky' | 'talos' | 'flatcar';
  label: string;
  volumeId?: string;
  /** Paths relative to the boot-assets folder. */
  kernel: string;
  initrd: string[];
  /** The ISO kept beside the tree (Ubuntu's casper fetches it whole), relative to the assets folder. */
  iso?: string;
  files: number;
  bytes: number;
  profile: ProfileInput;
}

const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

async function xorriso(args: string[], timeoutMs = 30 * 60_000): Promise<string> {
  const { execa } = await import('execa');
  const r = await execa('xorriso', args, { reject: false, timeout: timeoutMs, stdin: 'ignore', all: true });
  if ((r as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(r.message ?? ''))) {
    throw new NetbootError('unavailable', 'xorriso is not installed: apt-get install xorriso (it reads the ISO)', { tool: 'xorriso' });
  }
  if (r.exitCode !== 0) {
    const said = String(r.all ?? '').split('\n').filter((l) => /FAILURE|SORRY|NOT|cannot|No such/i.test(l)).slice(0, 3).join(' ').trim();
    throw new NetbootError('validation', `not a readable ISO image: ${said || `xorriso exit ${String(r.exitCode)}`}`, { field: 'path' });
  }
  return String(r.stdout);
}

/** Every regular file of the ISO, as `/dir/file`. */
export async function isoFiles(iso: string): Promise<string[]> {
  const out = await xorriso(['-indev', iso, '-find', '/', '-type', 'f'], 120_000);
  return out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith("'") && l.endsWith("'")).map((l) => l.slice(1, -1).replace(/'"'"'/g, "'"));
}

async function volumeId(iso: string): Promise<string | undefined> {
  const out = await xorriso(['-indev', iso, '-pvd_info'], 60_000).catch(() => '');
  return /^Volume Id\s*:\s*(.+)$/m.exec(out)?.[1]?.trim() || undefined;
}

interface Rule {
  distro: MediaInfo['distro'];
  kernel: string;
  initrd: string[];
  test(files: ReadonlySet<string>, read: (p: string) => Promise<string>): Promise<boolean> | boolean;
  label(read: (p: string) => Promise<string>, vol?: string): Promise<string>;
  cmdline(base: { tree: string; iso?: string }): Record<string, string>;
  type: ProfileInput['type'];
  keepIso?: boolean;
}

const firstLine = async (read: (p: string) => Promise<string>, p: string) => (await read(p).catch(() => '')).split('\n')[0].trim();
const treeinfo = async (read: (p: string) => Promise<string>) => {
  const t = await read('/.treeinfo').catch(() => '');
  const family = /^\s*family\s*=\s*(.+)$/m.exec(t)?.[1]?.trim() ?? '';
  const version = /^\s*version\s*=\s*(.+)$/m.exec(t)?.[1]?.trim() ?? '';
  return { family, version };
};

const RULES: Rule[] = [
  {
    distro: 'ubuntu', kernel: '/casper/vmlinuz', initrd: ['/casper/initrd'], type: 'ubuntu', keepIso: true,
    test: (f) => f.has('/casper/vmlinuz') && f.has('/casper/initrd'),
    label: async (read, vol) => (await firstLine(read, '/.disk/info')) || vol || 'Ubuntu',
    cmdline: ({ iso }) => ({ ip: 'dhcp', ...(iso ? { url: iso } : {}), 'cloud-config-url': '/dev/null' }),
  },
  {
    distro: 'debian', kernel: '/install.amd/vmlinuz', initrd: ['/install.amd/initrd.gz'], type: 'debian',
    test: (f) => f.has('/install.amd/vmlinuz') && f.has('/install.amd/initrd.gz'),
    label: async (read, vol) => (await firstLine(read, '/.disk/info')) || vol || 'Debian',
    cmdline: () => ({}),
  },
  {
    distro: 'fedora', kernel: '/images/pxeboot/vmlinuz', initrd: ['/images/pxeboot/initrd.img'], type: 'custom',
    test: async (f, read) => f.has('/images/pxeboot/vmlinuz') && f.has('/images/pxeboot/initrd.img') && !/alma|rocky/i.test((await treeinfo(read)).family),
    label: async (read, vol) => { const t = await treeinfo(read); return t.family ? `${t.family} ${t.version}`.trim() : vol || 'Fedora'; },
    cmdline: ({ tree }) => ({ 'inst.repo': tree }),
  },
  {
    distro: 'almalinux', kernel: '/images/pxeboot/vmlinuz', initrd: ['/images/pxeboot/initrd.img'], type: 'custom',
    test: async (f, read) => f.has('/images/pxeboot/vmlinuz') && /alma/i.test((await treeinfo(read)).family),
    label: async (read) => { const t = await treeinfo(read); return `${t.family} ${t.version}`.trim(); },
    cmdline: ({ tree }) => ({ 'inst.repo': tree }),
  },
  {
    distro: 'rocky', kernel: '/images/pxeboot/vmlinuz', initrd: ['/images/pxeboot/initrd.img'], type: 'custom',
    test: async (f, read) => f.has('/images/pxeboot/vmlinuz') && /rocky/i.test((await treeinfo(read)).family),
    label: async (read) => { const t = await treeinfo(read); return `${t.family} ${t.version}`.trim(); },
    cmdline: ({ tree }) => ({ 'inst.repo': tree }),
  },
  {
    distro: 'talos', kernel: '/boot/vmlinuz', initrd: ['/boot/initramfs.xz'], type: 'talos',
    test: (f) => f.has('/boot/vmlinuz') && f.has('/boot/initramfs.xz'),
    label: async (_read, vol) => vol || 'Talos',
    cmdline: () => ({ 'talos.platform': 'metal', console: 'tty0' }),
  },
  {
    distro: 'flatcar', kernel: '/flatcar/vmlinuz', initrd: ['/flatcar/cpio.gz'], type: 'custom',
    test: (f) => f.has('/flatcar/vmlinuz') && f.has('/flatcar/cpio.gz'),
    label: async (_read, vol) => vol || 'Flatcar',
    cmdline: () => ({ 'flatcar.first_boot': '1' }),
  },
];

/**
 * Unpacks `isoPath` into `<assets>/media/<id>/` (whole tree, made complete in a temporary folder and
 * renamed into place), recognises it and proposes a profile. An unrecognised ISO is refused and
 * leaves nothing behind.
 */
export async function importIso(opts: { assetsRoot: string; isoPath: string; id: string; baseUrl: string }): Promise<MediaInfo> {
  if (!ID.test(opts.id)) throw new NetbootError('validation', `field "id": "${opts.id}" must be lowercase letters, digits, ".", "_" or "-"`, { field: 'id' });
  if (!path.isAbsolute(opts.isoPath)) throw new NetbootError('validation', 'field "path": the absolute path of an ISO file on the server', { field: 'path' });
  const st = await fsp.stat(opts.isoPath).catch(() => undefined);
  if (!st?.isFile()) throw new NetbootError('not_found', `field "path": no file ${opts.isoPath}`, { field: 'path' });
  const mediaDir = path.join(path.resolve(opts.assetsRoot), 'media');
  const dest = path.join(mediaDir, opts.id);
  if (await fsp.stat(dest).catch(() => undefined)) throw new NetbootError('conflict', `media "${opts.id}" already exists`, { field: 'id' });

  const files = await isoFiles(opts.isoPath);
  if (!files.length) throw new NetbootError('validation', `not a readable ISO image: ${opts.isoPath} holds no ISO 9660 file system`, { field: 'path' });
  const set = new Set(files);
  const vol = await volumeId(opts.isoPath);
  await fsp.mkdir(mediaDir, { recursive: true });
  const tmp = path.join(mediaDir, `.${opts.id}.partial-${process.pid}-${Date.now()}`);
  try {
    await xorriso(['-osirrox', 'on', '-indev', opts.isoPath, '-extract', '/', tmp]);
    // xorriso restores the ISO's read-only modes: make the tree ours to serve and to delete
    const { execa } = await import('execa');
    await execa('chmod', ['-R', 'u+rwX,go+rX', tmp]);
    const read = (p: string) => fsp.readFile(path.join(tmp, p), 'utf8');
    let rule: Rule | undefined;
    for (const r of RULES) if (await r.test(set, read)) { rule = r; break; }
    if (!rule) {
      throw new NetbootError('validation', `not an installer ISO netboot recognises (Ubuntu live-server, Debian, Fedora, AlmaLinux, Rocky, Talos, Flatcar): no ${[...new Set(RULES.map((r) => r.kernel))].join(', ')}`, { field: 'path' });
    }
    const label = (await rule.label(read, vol)).replace(/[^\x20-\x7e]/g, '').slice(0, 60) || opts.id;
    let iso: string | undefined;
    if (rule.keepIso) {
      await fsp.copyFile(opts.isoPath, path.join(tmp, `${opts.id}.iso`));
      iso = `media/${opts.id}/${opts.id}.iso`;
    }
    await fsp.writeFile(path.join(tmp, '.netboot-media.json'), JSON.stringify({ id: opts.id, distro: rule.distro, label, volumeId: vol, source: opts.isoPath, importedAt: new Date().toISOString() }, null, 2));
    await fsp.rename(tmp, dest);
    const rel = (p: string) => `media/${opts.id}${p}`;
    const base = opts.baseUrl.replace(/\/+$/, '');
    const profile: ProfileInput = {
      id: `${opts.id}`, name: label.slice(0, 64), type: rule.type, kernel: rel(rule.kernel), initrd: rule.initrd.map(rel),
      cmdline: rule.cmdline({ tree: `${base}/boot/assets/media/${opts.id}/`, ...(iso ? { iso: `${base}/boot/assets/${iso}` } : {}) }),
      description: `from ${path.basename(opts.isoPath)} (${rule.distro})`,
    };
    return { id: opts.id, distro: rule.distro, label, ...(vol ? { volumeId: vol } : {}), kernel: rel(rule.kernel), initrd: rule.initrd.map(rel), ...(iso ? { iso } : {}), files: files.length, bytes: st.size, profile };
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw new NetbootError('store_io', 'unpacking the ISO: no space left on the device', { field: 'path' });
    throw err;
  }
}

/** The media unpacked so far. */
export async function listMedia(assetsRoot: string): Promise<Array<Record<string, unknown>>> {
  const dir = path.join(path.resolve(assetsRoot), 'media');
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const out: Array<Record<string, unknown>> = [];
  for (const n of names.filter((x) => ID.test(x))) {
    const meta = await fsp.readFile(path.join(dir, n, '.netboot-media.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>, () => undefined);
    if (meta) out.push(meta);
  }
  return out;
}

export async function removeMedia(assetsRoot: string, id: string): Promise<void> {
  if (!ID.test(id)) throw new NetbootError('validation', `"${id}" is not a media id`, { field: 'id' });
  const dest = path.join(path.resolve(assetsRoot), 'media', id);
  if (!(await fsp.stat(path.join(dest, '.netboot-media.json')).catch(() => undefined))) throw new NetbootError('not_found', `no media "${id}"`, { id });
  await fsp.rm(dest, { recursive: true, force: true });
}
