import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JsonInventoryStore } from '../../../lib/store';
import { listAll } from '../../../lib/store/list-all';

const writer = path.join(__dirname, '../../fixtures/store-writer.cjs');
const dir = mkdtempSync(path.join(tmpdir(), 'netboot-kill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the writer, SIGKILLs it after `ms` of writing, returns the MACs it had acknowledged created and renamed. */
function runAndKill(file: string, start: number, ms: number): Promise<{ created: string[]; renamed: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, file, String(start)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => {
      out += b;
      if (out.startsWith('ready\n') && !timer) timer = setTimeout(() => child.kill('SIGKILL'), ms);
    });
    child.stderr.on('data', (b) => (err += b));
    let timer: NodeJS.Timeout | undefined;
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`writer exited ${code}: ${err}`));
      // only complete lines count: a line cut by the kill was not fully acknowledged
      const lines = out.split('\n').slice(0, -1);
      resolve({ created: lines.filter((l) => l.startsWith('ack ')).map((l) => l.slice(4)), renamed: lines.filter((l) => l.startsWith('renamed ')).map((l) => l.slice(8)) });
    });
  });
}

describe('inventory store under SIGKILL', () => {
  it('always leaves files that open holding every acknowledged write (the file, and its journal replayed)', async () => {
    const file = path.join(dir, 'inventory.json');
    const acked = new Set<string>();
    const renamed = new Set<string>();
    let start = 0;
    let totalAcked = 0;
    let snapshots = 0;
    for (let round = 0; round < 15; round++) {
      const run = await runAndKill(file, start, 60 + ((round * 37) % 200));
      run.created.forEach((m) => acked.add(m));
      run.renamed.forEach((m) => renamed.add(m));
      totalAcked += run.created.length;
      start += 100_000; // each round writes fresh MACs
      // the file written whole always parses; how far it got is told by its journalSeq
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { schemaVersion: number; journalSeq?: number };
      expect(doc.schemaVersion).toBe(3);
      if ((doc.journalSeq ?? 0) > 0) snapshots++;
      // what a restart sees
      const store = await JsonInventoryStore.open(file);
      const devices = await listAll((q) => store.devices.list(q));
      await store.close();
      const byMac = new Map(devices.map((d) => [d.mac, d]));
      const lost = [...acked].filter((m) => !byMac.has(m));
      expect(lost, `round ${round}: acknowledged but missing`).toEqual([]);
      const unrenamed = [...renamed].filter((m) => !byMac.get(m)?.hostname?.startsWith('renamed-'));
      expect(unrenamed, `round ${round}: rename acknowledged but not kept`).toEqual([]);
    }
    // the test means something only if the writer got far enough to be killed mid-stream, and through whole-file writes
    expect(totalAcked).toBeGreaterThan(50);
    expect(renamed.size).toBeGreaterThan(50);
    expect(snapshots).toBeGreaterThan(0);
    expect(readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
  }, 120_000);
});
