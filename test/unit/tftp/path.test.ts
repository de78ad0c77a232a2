/**
 * Path safety. Decision for absolute paths: a leading "/" is dropped, so "/etc/passwd" means
 * "<root>/etc/passwd" — normally simply not found, never the host's /etc/passwd.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNetbootError } from '../../../lib/core/errors';
import { normalizeTftpPath, resolveUnderRoot } from '../../../lib/tftp/path';
import type { TftpRequest } from '../../../lib/tftp/server';
import { chainResolvers, createStaticResolver, deadline } from '../../../lib/tftp/static-resolver';

describe('normalizeTftpPath', () => {
  const ok: Array<[string, string]> = [
    ['pxelinux.0', 'pxelinux.0'],
    ['/boot/vmlinuz', 'boot/vmlinuz'],
    ['//boot//vmlinuz', 'boot/vmlinuz'],
    ['\\EFI\\boot\\bootx64.efi', 'EFI/boot/bootx64.efi'],
    ['9ffefdef/start4.elf', '9ffefdef/start4.elf'],
    ['/etc/passwd', 'etc/passwd'],
    ['%2e%2e/%2e%2e/etc/passwd', '%2e%2e/%2e%2e/etc/passwd'],
    ['foo../bar..', 'foo../bar..'],
    ['dc-a6-32-01-36-c2/config.txt', 'dc-a6-32-01-36-c2/config.txt'],
    // GRUB's per-machine config, named with its $net_default_mac
    ['/grub/grub.cfg-52:54:00:81:5b:01', 'grub/grub.cfg-52:54:00:81:5b:01'],
  ];
  it.each(ok)('%s → %s', (raw, want) => {
    expect(normalizeTftpPath(raw)).toEqual({ ok: true, path: want });
  });

  const bad: Array<[string, string]> = [
    ['../etc/passwd', 'segments'],
    ['a/../../x', 'segments'],
    ['a/./b', 'segments'],
    ['\\..\\..\\windows', 'segments'],
    ['..', 'segments'],
    ['foo/..', 'segments'],
    ['a\u0000b', 'control'],
    ['a\nb', 'control'],
    ['C:\\x', 'drive'],
    ['c:/windows/win.ini', 'drive'],
    ['/C:/x', 'drive'],
    ['file:stream', ':'],
    ['grub.cfg-52:54:00:81:5b:01:stream', ':'],
    ['52:54:00:81:5b:01/x:y', ':'],
    ['grub.cfg-552:54:00:81:5b:01', ':'],
    ['a:52:54:00:81:5b:01', ':'],
    ['', 'empty'],
    ['/', 'no file name'],
    ['x'.repeat(1025), 'longer'],
    ['.hidden', 'dot files'],
    ['a/.git/config', 'dot files'],
    ['..foo/bar', 'dot files'],
  ];
  it.each(bad)('refuses %j', (raw, why) => {
    const r = normalizeTftpPath(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(isNetbootError(r.error, 'unsafe_value')).toBe(true);
      expect(r.error.message).toContain(why);
    }
  });
});

describe('resolveUnderRoot and the static resolver', () => {
  let base: string;
  let root: string;
  beforeAll(async () => {
    base = await fsp.mkdtemp(path.join(os.tmpdir(), 'netboot-tftp-path-'));
    root = path.join(base, 'root');
    await fsp.mkdir(path.join(root, 'sub'), { recursive: true });
    await fsp.writeFile(path.join(root, 'sub', 'ok.txt'), 'ok');
    await fsp.writeFile(path.join(base, 'secret.txt'), 'secret');
    await fsp.mkdir(path.join(base, 'outside'));
    await fsp.writeFile(path.join(base, 'outside', 'x'), 'x');
    await fsp.symlink(path.join(base, 'secret.txt'), path.join(root, 'leak'));
    await fsp.symlink(path.join(base, 'outside'), path.join(root, 'dirleak'));
    await fsp.symlink('sub/ok.txt', path.join(root, 'inside-link'));
    await fsp.writeFile(path.join(root, '%2e%2e'), 'literal');
  });
  afterAll(async () => {
    await fsp.rm(base, { recursive: true, force: true });
  });

  it('serves a normal file', async () => {
    const r = await resolveUnderRoot(root, 'sub/ok.txt');
    expect(r.kind).toBe('file');
  });

  it('follows a symlink that stays inside the root', async () => {
    const r = await resolveUnderRoot(root, 'inside-link');
    expect(r.kind === 'file' && r.realPath.endsWith(path.join('sub', 'ok.txt'))).toBe(true);
  });

  it('refuses a symlink to a file outside the root', async () => {
    const r = await resolveUnderRoot(root, 'leak');
    expect(r.kind).toBe('unsafe');
  });

  it('refuses a symlinked directory outside the root', async () => {
    expect((await resolveUnderRoot(root, 'dirleak/x')).kind).toBe('unsafe');
  });

  it('directories and missing files are "missing"', async () => {
    expect((await resolveUnderRoot(root, 'sub')).kind).toBe('missing');
    expect((await resolveUnderRoot(root, 'nope')).kind).toBe('missing');
    expect((await resolveUnderRoot(root, 'etc/passwd')).kind).toBe('missing');
  });

  const req = (raw: string): TftpRequest => {
    const n = normalizeTftpPath(raw);
    return { path: n.ok ? n.path : raw, rawPath: raw, client: { address: '127.0.0.1', port: 1 }, mode: 'octet', options: {} };
  };

  it('the static resolver never serves anything outside the root', async () => {
    const resolve = createStaticResolver(root);
    for (const raw of ['../secret.txt', 'a/../../secret.txt', '\\..\\secret.txt', 'leak', 'dirleak/x', 'C:\\secret.txt', 'sub/ok.txt\u0000']) {
      await expect(resolve(req(raw))).rejects.toMatchObject({ code: 'unsafe_value' });
    }
    expect(await resolve(req('/etc/passwd'))).toBeNull();
    // %2e%2e is a literal name
    expect(await resolve(req('%2e%2e'))).toMatchObject({ kind: 'file' });
    expect(await resolve(req('%2e%2e/secret.txt'))).toBeNull();
  });

  it('caches small files as buffers', async () => {
    const resolve = createStaticResolver(root, { cacheSmallFiles: 1024 });
    const a = await resolve(req('sub/ok.txt'));
    expect(a).toEqual({ kind: 'buffer', data: Buffer.from('ok') });
    const b = await resolve(req('sub/ok.txt'));
    expect(b && b.kind === 'buffer' && a && a.kind === 'buffer' && b.data === a.data).toBe(true);
  });

  it('chainResolvers and deadline', async () => {
    const slow = async (): Promise<{ kind: 'buffer'; data: Buffer }> => {
      await new Promise((r) => setTimeout(r, 200));
      return { kind: 'buffer', data: Buffer.from('late') };
    };
    const chained = chainResolvers(deadline(slow, 20), createStaticResolver(root));
    expect(await chained(req('sub/ok.txt'))).toMatchObject({ kind: 'file' });
    expect(await chained(req('nope'))).toBeNull();
    expect(await deadline(slow, 1000)(req('x'))).toEqual({ kind: 'buffer', data: Buffer.from('late') });
  });
});
