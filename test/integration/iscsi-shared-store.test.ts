import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IscsiService, TgtAdmin } from '../../lib/iscsi';
import { PgInventoryStore } from '../../lib/store/pg-store';
import { havePostgres, startPostgres, type TestPostgres } from '../helpers/postgres';
import { freeTcpPort } from '../helpers/start-server';

/**
 * The iSCSI service of one boot server follows a change made through another server on the same
 * PostgreSQL inventory: a machine linked to a disk on server B can log in to server A's tgtd
 * moments later, checked with a real initiator (libiscsi's iscsi-inq) against a real tgtd. Needs
 * root, tgt, libiscsi-bin and PostgreSQL; skips locally without them, fails in CI (CI=true).
 */
const CI = process.env.CI === 'true';
const which = (c: string) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0;
const missing = ['tgtd', 'tgtadm', 'iscsi-inq'].filter((c) => !which(c));
if (process.getuid?.() !== 0) missing.push('root');
if (!havePostgres) missing.push('postgresql');
if (missing.length && CI) throw new Error(`iscsi-shared-store: CI=true but missing ${missing.join(', ')}`);

const P = 'iqn.2024-01.local.netboot';
const MAC = '52:54:00:15:1a:01';
const INITIATOR = `${P}:device-52-54-00-15-1a-01`;
/** A control port of our own, away from iscsi.test.ts's 300–899 and the e2e suite's 81. */
const controlPort = 1000 + (process.pid % 500);

describe.skipIf(missing.length > 0)('iSCSI on one server follows the shared inventory changed through another', () => {
  let pg: TestPostgres;
  let dir: string;
  let a: PgInventoryStore;
  let b: PgInventoryStore;
  let svc: IscsiService;
  let port: number;
  const admin = new TgtAdmin(controlPort);
  const logs: string[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
    const url = await pg.createDatabase('netboot_iscsi_shared');
    a = await PgInventoryStore.open(url);
    b = await PgInventoryStore.open(url);
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-iscsi-shared-'));
    port = await freeTcpPort();
    const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };
    svc = new IscsiService({
      store: a, disksDir: path.join(dir, 'disks'), stateDir: dir, iqnPrefix: P, advertise: '127.0.0.1', listen: '127.0.0.1', port,
      // the periodic resync is far away: only the change feed can bring the change in time
      controlPort, daemon: 'own', chap: {}, stopOnClose: false, resyncMs: 600_000, sessionPollMs: 1000, log,
    });
    const status = await svc.start();
    expect(status, status.error).toMatchObject({ state: 'ready' });
  }, 60_000);

  afterAll(async () => {
    await svc?.close();
    await admin.shutdown();
    rmSync(`/var/run/tgtd/socket.${controlPort}`, { force: true });
    rmSync(`/var/run/tgtd/socket.${controlPort}.lock`, { force: true });
    await a?.close();
    await b?.close();
    pg?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('lets a machine linked through the other server log in', async () => {
    await svc.create({ id: 'shared', name: 'shared disk', sizeBytes: 8 * 1024 * 1024 });
    const url = `iscsi://127.0.0.1:${port}/${P}:shared/1`;
    const inq = () => spawnSync('iscsi-inq', ['-i', INITIATOR, url], { encoding: 'utf8', timeout: 20_000 });
    // not linked yet: the target refuses this initiator
    expect(inq().status).not.toBe(0);
    const t0 = Date.now();
    await b.devices.create({ mac: MAC, status: 'configured', imageId: 'shared' });
    let r = inq();
    while (r.status !== 0 && Date.now() - t0 < 15_000) {
      await new Promise((res) => setTimeout(res, 100));
      r = inq();
    }
    expect(r.status, `${r.stdout}${r.stderr}\n${logs.join('\n')}`).toBe(0);
    console.log(`linked through server B → login allowed by server A's tgtd after ${Date.now() - t0} ms`);
    // and unlinked through B, it is refused again
    await b.devices.update(MAC, { imageId: null });
    const t1 = Date.now();
    r = inq();
    while (r.status === 0 && Date.now() - t1 < 15_000) {
      await new Promise((res) => setTimeout(res, 100));
      r = inq();
    }
    expect(r.status).not.toBe(0);
  }, 60_000);
});
