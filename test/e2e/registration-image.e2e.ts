/**
 * The registration image an unknown machine boots, as a user makes it: `npm run build:registration`
 * (boot-assets/registration/build-image.sh) from a distribution kernel (Debian's cloud kernel, the one
 * the e2e lab downloads) and busybox, with the project's register.sh inside. A QEMU machine boots it
 * (user-mode network: the server is 10.0.2.2 from the guest) with the command line our register script
 * writes, and enrols itself with the running `npm start` server: the device appears, enrolled, with
 * the hardware facts the VM has. Not the netns lab: the image and its /init are the product's.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';
import { buildLinuxAssets, REPO } from './lab';

const MAC = '52:54:00:8e:61:01';

describe('the registration image built by npm run build:registration', () => {
  let dir: string;
  let server: StartedServer;
  let kernelDir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-regimg-'));
    mkdirSync(path.join(dir, 'assets'), { recursive: true });
    // a distribution kernel with its network modules (cached by the lab; downloaded once)
    kernelDir = path.dirname(buildLinuxAssets().vmlinuz);
    server = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: 'registration-image-1' });
  }, 400_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds from the kernel and busybox, boots in QEMU, and the machine enrols itself', async () => {
    const built = spawnSync('npm', ['run', '--silent', 'build:registration', '--', path.join(dir, 'assets')], {
      cwd: REPO, encoding: 'utf8', timeout: 120_000, env: { ...process.env, KERNEL: path.join(kernelDir, 'vmlinuz'), MODDIR: path.join(kernelDir, 'modules') },
    });
    expect(built.status, built.stderr + built.stdout).toBe(0);
    expect(built.stderr).toMatch(/8 network driver module\(s\)/);
    for (const f of ['vmlinuz', 'initrd.img']) expect(existsSync(path.join(dir, 'assets', 'registration', f))).toBe(true);
    expect(readFileSync(path.join(dir, 'assets', 'registration', 'arch'), 'utf8').trim()).toBe('x86_64');

    const port = new URL(server.baseUrl).port;
    // the command line the register script writes, plus a serial console to watch
    const append = `console=ttyS0 netboot_server=http://10.0.2.2:${port} netboot_mac=${MAC.replace(/:/g, '-')}`;
    const vm = spawn('qemu-system-x86_64', [
      '-accel', 'tcg', '-m', '512', '-smp', '1', '-nographic', '-nodefaults', '-no-reboot', '-serial', 'stdio',
      '-kernel', path.join(dir, 'assets', 'registration', 'vmlinuz'), '-initrd', path.join(dir, 'assets', 'registration', 'initrd.img'),
      '-append', append, '-nic', `user,model=virtio-net-pci,mac=${MAC}`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let console = '';
    vm.stdout!.on('data', (d: Buffer) => (console += d.toString()));
    vm.stderr!.on('data', (d: Buffer) => (console += d.toString()));
    try {
      const end = Date.now() + 150_000;
      while (!/netboot: registered|registration failed|is not registered/.test(console) && Date.now() < end && vm.exitCode === null) await new Promise((r) => setTimeout(r, 250));
    } finally {
      vm.kill('SIGKILL');
    }
    expect(console, console.slice(-3000)).toContain('netboot: registering this machine');
    expect(console, console.slice(-3000)).toContain('netboot: registered. An administrator can now assign it a profile.');

    const token = await login(server.baseUrl, 'registration-image-1');
    const res = await fetch(`${server.baseUrl}/netboot/api/devices/${MAC}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const dev = (await res.json()) as { status: string; hardware?: { manufacturer?: string; memory?: { total_kb?: number } } };
    expect(dev.status).toBe('enrolled');
    expect(dev.hardware?.manufacturer).toBe('QEMU');
    expect(dev.hardware?.memory?.total_kb).toBeGreaterThan(400 * 1024);
  }, 300_000);
});
