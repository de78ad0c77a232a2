/**
 * `netboot-store copy` (the built CLI) moves an inventory from the JSON file to a real PostgreSQL
 * and back, and says both exports match; it refuses to copy over a store that holds records unless
 * told to replace them, and says why. CI installs PostgreSQL, so there a missing one is a failure.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonInventoryStore } from '../../lib/store';
import { compareExports } from '../../lib/store/copy';
import { havePostgres, startPostgres, type TestPostgres } from '../helpers/postgres';
import { repo } from '../helpers/start-server';

if (!havePostgres && process.env.CI) throw new Error('store copy test: CI needs PostgreSQL (Debian package postgresql)');

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, [path.join(repo, 'dist', 'scripts', 'netboot-store.js'), ...args]).then(
  (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
  (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
);

describe.skipIf(!havePostgres)('netboot-store copy, file to PostgreSQL and back', { timeout: 60_000 }, () => {
  let pg: TestPostgres;
  let dir: string;
  let source: string;

  beforeAll(async () => {
    pg = await startPostgres();
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-copy-'));
    source = path.join(dir, 'inventory.json');
    const s = await JsonInventoryStore.open(source);
    await s.profiles.create({ id: 'debian', name: 'Debian', type: 'debian', kernel: 'debian/linux' });
    await s.configs.create({ id: 'seed', name: 'seed', format: 'cloud-config', template: '#cloud-config\nhostname: {{hostname:hostOrIp}}\n' });
    await s.groups.create({ id: 'rack2', name: 'Rack 2', selector: { rack: '2' }, profileId: 'debian', configs: ['seed'] });
    await s.images.create({ id: 'disk1', name: 'disk 1', kind: 'iscsi', path: 'disk1.img' });
    for (let i = 0; i < 30; i++) {
      await s.devices.create({ mac: `52:54:00:15:10:${i.toString(16).padStart(2, '0')}`, hostname: `n${i}`, labels: { rack: String(i % 3) }, status: 'configured', ...(i === 4 ? { imageId: 'disk1' } : {}) });
    }
    await s.devices.touch('52:54:00:15:10:01', { ip: '10.0.0.9', reported: { hostname: 'said-so' } });
    await s.updateSettings({ menuTimeoutMs: 4000, bootsKeptPerDevice: 5 });
    await s.recordBoot({ mac: '52:54:00:15:10:01', id: 'b1', startedAt: 1, endedAt: 2, outcome: 'done' });
    await s.close();
  }, 60_000);

  afterAll(() => {
    pg?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('copies the file into PostgreSQL, and back into a new file, each time checking both exports', async () => {
    const db = await pg.createDatabase('netboot_copy');
    const there = await cli('copy', '--from', `file:${source}`, '--to', db);
    expect(there.err).toBe('');
    expect(there.code).toBe(0);
    expect(there.out).toMatch(/copied 30 devices, 1 images, 1 profiles, 1 groups, 1 kept boots\nboth exports match/);
    const back = path.join(dir, 'back.json');
    const home = await cli('copy', '--from', db, '--to', back);
    expect(home.code).toBe(0);
    expect(home.out).toContain('both exports match');
    // the round trip gives the same inventory, record for record
    const a = await JsonInventoryStore.open(source);
    const b = await JsonInventoryStore.open(back);
    expect(compareExports(await a.exportAll(), await b.exportAll())).toEqual([]);
    expect((await b.listBoots('52:54:00:15:10:01')).map((x) => x.id)).toEqual(['b1']);
    expect((await b.devices.get('52:54:00:15:10:01'))?.lastIp).toBe('10.0.0.9');
    await a.close();
    await b.close();
  });

  it('refuses to copy over records unless told to replace them, and explains its arguments', async () => {
    const db = await pg.createDatabase('netboot_full');
    expect((await cli('copy', '--from', source, '--to', db)).code).toBe(0);
    const again = await cli('copy', '--from', source, '--to', db);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already holds 30 devices.*--replace/);
    expect((await cli('copy', '--from', source, '--to', db, '--replace')).code).toBe(0);
    const usage = await cli('copy', '--from', source);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/give --from and --to/);
    const odd = await cli('copy', '--from', 'mysql://x@y/z', '--to', db);
    expect(odd.code).toBe(1);
    expect(odd.err).toMatch(/postgres:\/\//);
  });
});
