import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JsonFileLeaseStore, LeasePool, MemoryLeaseStore, NetbootError } from '../../helpers/dhcp-imports';

const A = 'aa:aa:aa:00:00:01';
const B = 'aa:aa:aa:00:00:02';

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

const base = { rangeStart: '10.0.0.10', rangeEnd: '10.0.0.12', netmask: '255.255.255.0', router: '10.0.0.1', leaseTime: 100, offerTime: 10, declineTime: 50 };

describe('LeasePool', () => {
  it('offers, binds, renews the same address, and keeps clients apart', async () => {
    const c = clock();
    const store = new MemoryLeaseStore();
    const pool = await LeasePool.open({ ...base, clock: c.now, store });
    const o = await pool.offer(A);
    expect(o).toMatchObject({ kind: 'offer', grant: { ip: '10.0.0.10', leaseTime: 100, netmask: '255.255.255.0', router: '10.0.0.1' } });
    expect(await pool.offer(B)).toMatchObject({ grant: { ip: '10.0.0.11' } });
    expect(await pool.request(A, '10.0.0.10')).toMatchObject({ kind: 'ack', grant: { ip: '10.0.0.10' } });
    expect(await pool.request(B, '10.0.0.10')).toMatchObject({ kind: 'nak' });
    expect(await pool.offer(A)).toMatchObject({ grant: { ip: '10.0.0.10' } });
    c.t += 60_000;
    expect(await pool.request(A, '10.0.0.10')).toMatchObject({ kind: 'ack' });
    expect(store.saves).toBeGreaterThanOrEqual(2);
    expect((await store.load()).find((l) => l.mac === A)).toMatchObject({ state: 'bound', expiresAt: c.t + 100_000 });
  });

  it('requested address, wrong network NAK, outside pool NAK, exhaustion, expiry', async () => {
    const c = clock();
    const pool = await LeasePool.open({ ...base, clock: c.now });
    expect(await pool.offer(A, '10.0.0.12')).toMatchObject({ grant: { ip: '10.0.0.12' } });
    expect(await pool.request(A, '192.168.1.5')).toMatchObject({ kind: 'nak' });
    expect(await pool.request(A, '10.0.0.99')).toMatchObject({ kind: 'nak' });
    await pool.request(A, '10.0.0.12');
    await pool.request(B, '10.0.0.10');
    await pool.request('aa:aa:aa:00:00:03', '10.0.0.11');
    expect(await pool.offer('aa:aa:aa:00:00:04')).toMatchObject({ kind: 'none' });
    c.t += 101_000;
    expect(await pool.offer('aa:aa:aa:00:00:04')).toMatchObject({ kind: 'offer' });
  });

  it('release frees; decline quarantines; reservation and probe are honoured', async () => {
    const c = clock();
    const probed: string[] = [];
    const pool = await LeasePool.open({
      ...base,
      clock: c.now,
      reservation: (mac) => (mac === B ? '10.0.0.200' : undefined),
      probe: async (ip) => {
        probed.push(ip);
        return ip === '10.0.0.10';
      },
    });
    expect(await pool.offer(B)).toMatchObject({ grant: { ip: '10.0.0.200' } });
    expect(await pool.request(B, '10.0.0.11')).toMatchObject({ kind: 'nak' });
    expect(await pool.request(B, '10.0.0.200')).toMatchObject({ kind: 'ack' });
    expect(await pool.offer(A)).toMatchObject({ grant: { ip: '10.0.0.11' } });
    expect(probed).toEqual(['10.0.0.10', '10.0.0.11']);
    await pool.request(A, '10.0.0.11');
    expect(await pool.decline(A, '10.0.0.11')).toBe(true);
    expect(await pool.request(A, '10.0.0.11')).toMatchObject({ kind: 'nak' });
    expect(await pool.offer(A)).toMatchObject({ grant: { ip: '10.0.0.12' } });
    await pool.request(A, '10.0.0.12');
    expect(await pool.release(B, '10.0.0.12')).toBe(false);
    expect(await pool.release(A, '10.0.0.12')).toBe(true);
    expect(await pool.offer('aa:aa:aa:00:00:05')).toMatchObject({ grant: { ip: '10.0.0.12' } });
    // quarantine ends after declineTime
    c.t += 51_000;
    expect(await pool.request('aa:aa:aa:00:00:06', '10.0.0.11')).toMatchObject({ kind: 'ack' });
  });

  it('validates its configuration', async () => {
    await expect(LeasePool.open({ ...base, rangeEnd: '10.0.1.5' })).rejects.toBeInstanceOf(NetbootError);
    await expect(LeasePool.open({ ...base, rangeStart: 'x' })).rejects.toThrow(/rangeStart/);
  });
});

describe('JsonFileLeaseStore', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'netboot-leases-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips through a file with no temp file left behind', async () => {
    const file = path.join(dir, 'sub', 'leases.json');
    const store = new JsonFileLeaseStore(file);
    expect(await store.load()).toEqual([]);
    const c = clock();
    const pool = await LeasePool.open({ ...base, clock: c.now, store });
    await pool.offer(A);
    await pool.request(A, '10.0.0.10', 'host-a');
    const again = await LeasePool.open({ ...base, clock: c.now, store: new JsonFileLeaseStore(file) });
    expect(again.leases()).toEqual([{ mac: A, ip: '10.0.0.10', state: 'bound', expiresAt: c.t + 100_000, hostname: 'host-a' }]);
    expect(readdirSync(path.dirname(file))).toEqual(['leases.json']);
    expect(JSON.parse(readFileSync(file, 'utf8')).version).toBe(1);
  });

  it('reports a corrupt file as store_corrupt', async () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{not json');
    await expect(new JsonFileLeaseStore(file).load()).rejects.toMatchObject({ code: 'store_corrupt' });
  });
});
