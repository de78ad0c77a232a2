/**
 * One PXE client's DHCP exchange as the firmware does it: a request sent from the machine's own
 * address to one or more servers (several: a broadcast reaching every boot server on the segment),
 * sent again after `intervalMs` up to `tries` times, and the first reply with its transaction id
 * taken. Used by the whole-boot benchmark and the failover test.
 */
import * as dgram from 'node:dgram';

export interface PxeExchange {
  /** The reply's boot file field (a TFTP file name, or iPXE's script URL). */
  file: string;
  /** Which target answered (its index in `targets`). */
  from: number;
  /** Requests sent again before the answer. */
  retries: number;
}

export async function pxeExchange(opts: { localAddress: string; targets: Array<{ host: string; port: number }>; packet: Buffer; xid: number; tries: number; intervalMs: number; what?: string }): Promise<PxeExchange> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, opts.localAddress, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  try {
    return await new Promise((resolve, reject) => {
      let tries = 0;
      let timer: NodeJS.Timeout | undefined;
      const send = (): void => {
        if (tries >= opts.tries) return reject(new Error(`${opts.what ?? 'proxyDHCP'}: no answer after ${opts.tries} tries`));
        tries++;
        for (const t of opts.targets) sock.send(opts.packet, t.port, t.host);
        timer = setTimeout(send, opts.intervalMs);
      };
      sock.on('message', (msg, rinfo) => {
        if (msg.length < 240 || msg[0] !== 2 || msg.readUInt32BE(4) !== opts.xid) return;
        // one target: whatever answers is it; several: the one whose address and port sent the reply
        const from = opts.targets.length === 1 ? 0 : opts.targets.findIndex((t) => t.port === rinfo.port && t.host === rinfo.address);
        if (from < 0) return;
        clearTimeout(timer);
        resolve({ file: msg.subarray(108, 236).toString('latin1').replace(/\0.*$/s, ''), from, retries: tries - 1 });
      });
      send();
    });
  } finally {
    sock.close();
  }
}
