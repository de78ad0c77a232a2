import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, summarizeChange } from '../../../lib/audit/audit-log';

describe('audit log', () => {
  it('appends, filters, survives a reopen and rotates past its size', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'netboot-audit-'));
    try {
      const file = path.join(dir, 'audit.jsonl');
      const log = await AuditLog.open(file, { maxBytes: 4096, keep: 2 });
      for (let i = 0; i < 60; i++) log.append({ kind: i % 3 ? 'fetch' : 'change', method: 'GET', endpoint: '/boot/menu.ipxe', outcome: 200, mac: i % 2 ? '52:54:00:00:00:01' : '52:54:00:00:00:02' });
      await log.flush();
      expect(log.list({ kind: 'change', limit: 1000 })).toHaveLength(20);
      expect(log.list({ mac: '52:54:00:00:00:01', limit: 5 }).map((r) => r.seq)).toEqual([52, 54, 56, 58, 60]);
      expect(log.list({ afterSeq: 57 }).map((r) => r.seq)).toEqual([58, 59, 60]);
      expect(existsSync(`${file}.1`)).toBe(true);
      expect(existsSync(`${file}.3`)).toBe(false);
      expect(statSync(file).size).toBeLessThanOrEqual(4096);
      expect(statSync(file).mode & 0o077).toBe(0);
      await log.close();
      const again = await AuditLog.open(file);
      expect(again.list({ limit: 1 })[0].seq).toBe(60);
      expect(again.append({ kind: 'fetch', method: 'GET', endpoint: '/x', outcome: 200 })!.seq).toBe(61);
      await again.close();
      expect(readFileSync(file, 'utf8').trim().split('\n').at(-1)).toContain('"seq":61');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('summarises a change without the value of anything secret or large', () => {
    const s = summarizeChange({ name: 'a', chapSecret: 'old', notes: 'x', big: { a: 1 } }, { name: 'b', chapSecret: 'new', big: { a: 2 }, updatedAt: 'now' }, 'id1');
    expect(s).toEqual({ id: 'id1', fields: { name: { before: 'a', after: 'b' }, chapSecret: null, notes: { before: 'x' }, big: null } });
    expect(JSON.stringify(s)).not.toMatch(/old|new/);
  });
});
