/**
 * A transfer socket that cannot be bound (the address it should answer from is gone from the host) is
 * told to the client as what happened, never as "server busy": nothing was busy, an address was gone.
 */
import { describe, expect, it } from 'vitest';
import { tftpReceive } from '../../lib/tftp/client';
import { startTftpServer } from '../helpers/tftp-server';

describe('TFTP transfer socket errors', () => {
  it('says the address is not available, and serves again once the address is right', async () => {
    const warnings: string[] = [];
    // 192.0.2.1 (TEST-NET-1) is on no interface of this host: the transfer socket cannot bind to it
    let address = '192.0.2.1';
    const t = await startTftpServer({
      address: '127.0.0.1',
      replyAddress: () => address,
      resolver: async () => ({ kind: 'buffer', data: Buffer.from('hello') }),
      log: { warn: (m) => warnings.push(m) },
    });
    try {
      const failed = await tftpReceive({ host: '127.0.0.1', port: t.port, filename: 'undionly.kpxe', bindAddress: '127.0.0.1', maxRetries: 2 });
      expect(failed.ok).toBe(false);
      expect(failed.failure).toEqual({ kind: 'remote', code: 0, message: 'cannot bind a transfer socket to 192.0.2.1: address not available' });
      expect(failed.failure && 'message' in failed.failure ? failed.failure.message : '').not.toMatch(/busy/);
      address = '127.0.0.1';
      const ok = await tftpReceive({ host: '127.0.0.1', port: t.port, filename: 'undionly.kpxe', bindAddress: '127.0.0.1', keepUpTo: 100 });
      expect(ok.ok).toBe(true);
      expect(ok.data?.toString()).toBe('hello');
    } finally {
      await t.close();
    }
  });
});
