import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const writer = path.join(__dirname, '../../fixtures/store-writer.cjs');
const dir = mkdtempSync(path.join(tmpdir(), 'netboot-kill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the writer, SIGKILLs it after `ms` of writing, returns the MACs it had acknowledged. */
function runAndKill(file: string, start: number, ms: number): Promise<string[]> {
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
      resolve(lines.filter((l) => l.startsWith('ack ')).map((l) => l.slice(4)));
    });
  });
}

describe('inventory store under SIGKILL', () => {
  it('always leaves a parseable file holding every acknowledged write', async () => {
    const file = path.join(dir, 'inventory.json');
    const acked = new Set<string>();
    let start = 0;
    let totalAcked = 0;
    for (let round = 0; round < 15; round++) {
      const macs = await runAndKill(file, start, 60 + ((round * 37) % 200));
      macs.forEach((m) => acked.add(m));
      totalAcked += macs.length;
      start += 100_000; // each round writes fresh MACs
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { devices: Array<{ mac: string }>; schemaVersion: number };
      expect(doc.schemaVersion).toBe(3);
      const onDisk = new Set(doc.devices.map((d) => d.mac));
      const lost = [...acked].filter((m) => !onDisk.has(m));
      expect(lost, `round ${round}: acknowledged but missing`).toEqual([]);
    }
    // the test means something only if the writer got far enough to be killed mid-stream
    expect(totalAcked).toBeGreaterThan(50);
    expect(readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
  }, 120_000);
});
