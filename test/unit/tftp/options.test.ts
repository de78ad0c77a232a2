import { describe, expect, it } from 'vitest';
import { blksizeCap, negotiateOptions } from '../../../lib/tftp/options';

describe('option negotiation', () => {
  it('no options → no OACK, 512-byte lock-step', () => {
    expect(negotiateOptions({ options: {}, direction: 'read', size: 10 })).toEqual({ blksize: 512, windowsize: 1, oack: [] });
  });

  it('only unknown or invalid options → no OACK', () => {
    const r = negotiateOptions({ options: { multicast: '', blksize: '7', timeout: '0', windowsize: '0', foo: 'bar' }, direction: 'read', size: 10 });
    expect(r.oack).toEqual([]);
    expect(r.blksize).toBe(512);
  });

  it('blksize is capped by the MTU (1500 → 1468) and by maxBlksize', () => {
    expect(blksizeCap()).toBe(1468);
    expect(negotiateOptions({ options: { blksize: '65464' }, direction: 'read' }).oack).toEqual([['blksize', '1468']]);
    expect(negotiateOptions({ options: { blksize: '1024' }, direction: 'read' }).blksize).toBe(1024);
    expect(negotiateOptions({ options: { blksize: '8' }, direction: 'read' }).blksize).toBe(8);
    expect(negotiateOptions({ options: { blksize: '9000' }, direction: 'read', limits: { mtu: 9000 } }).blksize).toBe(8968);
    expect(negotiateOptions({ options: { blksize: '9000' }, direction: 'read', limits: { mtu: 9000, maxBlksize: 4096 } }).blksize).toBe(4096);
    expect(negotiateOptions({ options: { blksize: '99999' }, direction: 'read', limits: { mtu: 70000 } }).blksize).toBe(65464);
  });

  it('rejects non-decimal values instead of guessing', () => {
    for (const v of ['-1', '0x400', ' 1024', '1024 ', '1e3', '', '99999999999']) {
      expect(negotiateOptions({ options: { blksize: v }, direction: 'read' }).oack).toEqual([]);
    }
  });

  it('tsize is answered with the size on reads, omitted when unknown', () => {
    expect(negotiateOptions({ options: { tsize: '0' }, direction: 'read', size: 4096 }).oack).toEqual([['tsize', '4096']]);
    expect(negotiateOptions({ options: { tsize: '0' }, direction: 'read' }).oack).toEqual([]);
  });

  it('tsize is echoed on writes', () => {
    const r = negotiateOptions({ options: { tsize: '1234' }, direction: 'write' });
    expect(r.tsize).toBe(1234);
    expect(r.oack).toEqual([['tsize', '1234']]);
  });

  it('timeout 1..255 echoed exactly', () => {
    expect(negotiateOptions({ options: { timeout: '6' }, direction: 'read' })).toMatchObject({ timeoutSec: 6, oack: [['timeout', '6']] });
    expect(negotiateOptions({ options: { timeout: '255' }, direction: 'read' }).oack).toEqual([['timeout', '255']]);
    expect(negotiateOptions({ options: { timeout: '256' }, direction: 'read' }).oack).toEqual([]);
  });

  it('windowsize capped (default 64), reads only', () => {
    expect(negotiateOptions({ options: { windowsize: '16' }, direction: 'read' }).windowsize).toBe(16);
    expect(negotiateOptions({ options: { windowsize: '65535' }, direction: 'read' }).oack).toEqual([['windowsize', '64']]);
    expect(negotiateOptions({ options: { windowsize: '65535' }, direction: 'read', limits: { maxWindowsize: 4 } }).windowsize).toBe(4);
    expect(negotiateOptions({ options: { windowsize: '65536' }, direction: 'read' }).oack).toEqual([]);
    expect(negotiateOptions({ options: { windowsize: '8' }, direction: 'write' }).oack).toEqual([]);
  });

  it('EDK2 request: all three accepted, stable order', () => {
    const r = negotiateOptions({ options: { tsize: '0', blksize: '1468', windowsize: '4' }, direction: 'read', size: 1000 });
    expect(r.oack).toEqual([['blksize', '1468'], ['tsize', '1000'], ['windowsize', '4']]);
  });
});
