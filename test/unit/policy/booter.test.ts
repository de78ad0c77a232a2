import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FlowBooter, checkInOrigin, httpCheckInInput } from '../../../lib/policy/booter';
import { FlowRequests } from '../../../lib/policy/flow-requests';
import type { ClientFacts } from '../../../lib/dhcp';
import type { TftpRequest } from '../../../lib/tftp';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const request = (p: string): TftpRequest => ({ path: p, rawPath: p, client: { address: '10.0.0.9', port: 2000 }, mode: 'octet', options: {} });

describe('flow requests', () => {
  it('an answer in time wins; past the signal\'s abort the asker gets undefined and a late answer is refused', async () => {
    const r = new FlowRequests<string, string>('q:');
    const sent: string[] = [];
    r.setSender((id) => sent.push(id));
    const first = r.ask('a', new AbortController().signal);
    expect(r.answer(sent[0], 'yes')).toBe(true);
    expect(await first).toBe('yes');

    const deadline = new AbortController();
    const second = r.ask('b', deadline.signal);
    deadline.abort();
    expect(await second).toBeUndefined();
    expect(r.answer(sent[1], 'late')).toBe(false);
    expect(r.size).toBe(0);
    // an already passed deadline sends nothing
    expect(await r.ask('c', deadline.signal)).toBeUndefined();
    expect(sent).toHaveLength(2);
    expect(sent.every((id) => id.startsWith('q:'))).toBe(true);
  });

  it('with no one listening, nothing is asked', async () => {
    const r = new FlowRequests<string, string>();
    expect(r.hasSender).toBe(false);
    expect(await r.ask('a', 10)).toBeUndefined();
  });
});

describe('the boot policy seam', () => {
  it('DHCP: the default without a listener, the flow\'s override with one', async () => {
    const booter = new FlowBooter({ store: () => undefined, assetsRoot: '/nonexistent', publish: () => undefined });
    const facts = { mac: '52:54:00:00:00:01' } as ClientFacts;
    expect(await booter.dhcp(facts, new AbortController().signal)).toBeUndefined();
    booter.dhcpDecisions.setSender((id) => queueMicrotask(() => booter.dhcpDecisions.answer(id, { filename: 'snponly.efi' })));
    expect(await booter.dhcp(facts, new AbortController().signal)).toEqual({ filename: 'snponly.efi' });
    booter.close();
    expect(await booter.dhcp(facts, new AbortController().signal)).toBeUndefined();
  });

  it('TFTP: content, a file under the root, nothing, and never a file outside the root', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'booter-'));
    mkdirSync(path.join(dir, 'root', 'firmware'), { recursive: true });
    writeFileSync(path.join(dir, 'root', 'firmware', 'start4.elf'), 'fw');
    writeFileSync(path.join(dir, 'secret'), 'no');
    symlinkSync(path.join(dir, 'secret'), path.join(dir, 'root', 'link'));
    const root = path.join(dir, 'root');
    const booter = new FlowBooter({ store: () => undefined, assetsRoot: root, fileDeadlineMs: 200, publish: () => undefined });
    const answers: Record<string, Parameters<typeof booter.virtualFiles.answer>[1]> = {
      'a/config.txt': { kind: 'data', data: Buffer.from('arm_64bit=1\n') },
      'a/start4.elf': { kind: 'file', path: 'firmware/start4.elf' },
      'a/none': { kind: 'none' },
      'a/escape': { kind: 'file', path: '../secret' },
      'a/link': { kind: 'file', path: 'link' },
    };
    booter.virtualFiles.setSender((id, req) => booter.virtualFiles.answer(id, answers[req.path]));
    expect(await booter.file(request('a/config.txt'))).toEqual({ kind: 'buffer', data: Buffer.from('arm_64bit=1\n') });
    expect(await booter.file(request('a/start4.elf'))).toMatchObject({ kind: 'file', path: path.join(root, 'firmware', 'start4.elf'), size: 2 });
    expect(await booter.file(request('a/none'))).toBeNull();
    await expect(booter.file(request('a/escape'))).rejects.toThrow();
    await expect(booter.file(request('a/link'))).rejects.toThrow();
    // no answer within the file deadline: not found
    booter.virtualFiles.setSender(() => undefined);
    expect(await booter.file(request('a/slow'))).toBeNull();
  });

  it('HTTP: who asked, and the facts of an http in request', () => {
    expect(checkInOrigin('/boot/menu.ipxe')).toBe('ipxe');
    expect(checkInOrigin('/boot/ipxe/debian')).toBe('ipxe');
    expect(checkInOrigin('/api/v1/boot/check-in')).toBe('os');
    expect(checkInOrigin(undefined)).toBe('os');
    expect(httpCheckInInput({ params: { mac: '52-54-00-00-00-01', arch: 'i386' }, query: { arch: 'x86_64' } })).toEqual({ mac: '52-54-00-00-00-01', arch: 'x86_64' });
  });

  it('HTTP: refuses a check-in while the inventory is not open, with the reason', async () => {
    const booter = new FlowBooter({ store: () => undefined, assetsRoot: '/nonexistent', publish: () => undefined });
    await expect(booter.checkIn({ input: { mac: '52:54:00:00:00:01' } })).rejects.toThrow(/inventory is not open/);
  });
});
