/**
 * A finished build installs files under the boot assets: the boot server's HTTP asset side, which
 * remembers file checks for a second, forgets them at once so the new kernel is served without
 * waiting (a real BuildService running a recipe of the test's own, attached to a real BootServer).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BuildService } from '../../lib/builds/service';
import { parseRecipe } from '../../lib/builds/recipes';
import { BootServer } from '../../lib/server/boot-server';

describe('a finished build and the HTTP asset side', () => {
  let dir: string;
  let server: BootServer;
  let builds: BuildService;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-build-assets-'));
    server = new BootServer({
      serverIp: '127.0.0.1', bind: '127.0.0.1', httpBaseUrl: 'http://127.0.0.1:1', dhcpMode: 'off', iqnPrefix: 'iqn.2026-12.test',
      ports: { dhcp: -1, proxy: -1, tftp: -1, monitor: -1 }, dataDir: dir, assetsRoot: path.join(dir, 'assets'), networkPollMs: 0,
    }, {});
    await server.start();
    const recipe = parseRecipe('tiny', {
      steps: [['sh', '-c', 'printf k >"$NETBOOT_OUTPUT_DIR/k"; printf i >"$NETBOOT_OUTPUT_DIR/i"']],
      outputs: { kernel: 'k', initrd: 'i' },
    });
    builds = new BuildService({ store: server.store!, assetsRoot: server.config.assetsRoot, dataDir: dir, baseUrl: 'http://127.0.0.1:1', recipes: { tiny: recipe } });
    await builds.open();
    expect(server.attachBuilds(builds)).toBeTypeOf('function');
  });

  afterAll(async () => {
    await builds?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('forgets the remembered file checks when a build is done', async () => {
    const forget = vi.spyOn(server.assets, 'forget');
    await server.store!.devices.create({ mac: '52:54:00:23:00:01', status: 'configured' });
    const b = await builds.request({ mac: '52:54:00:23:00:01', recipe: 'tiny' });
    await expect.poll(async () => (await builds.get(b.id)).status, { timeout: 20_000 }).toBe('success');
    await expect.poll(() => forget.mock.calls.length).toBeGreaterThan(0);
  });
});
