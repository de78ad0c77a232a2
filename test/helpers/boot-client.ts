/**
 * A machine booting with real clients, for the browser tests: a PXE request to the proxyDHCP port
 * (a real DHCP packet), iPXE over TFTP (curl), its menu over HTTP (curl), each machine from its
 * own loopback address so the server can tell whose transfer is whose; and the end of the boot as
 * an installer reports it (a progress line of 100 %).
 */
import { execFile } from 'node:child_process';
import * as dgram from 'node:dgram';
import { promisify } from 'node:util';
import { clientBytes, PXE_EFI_X64 } from '../../support/dhcp-packets';
import type { StartedServer } from './start-server';

const run = promisify(execFile);

/**
 * One machine's boot with real clients, step by step, each machine from its own loopback address
 * (so the server can tell whose TFTP transfer is whose): a PXE request to the proxy port, iPXE over
 * TFTP (curl), its menu over HTTP (curl).
 */
export function machine(srv: StartedServer, mac: string, ip: string) {
  return {
    async dhcp(): Promise<void> {
      const client = dgram.createSocket('udp4');
      await new Promise<void>((r) => client.bind(0, ip, () => r()));
      try {
        const reply = new Promise<Buffer>((resolve) => client.once('message', (m) => resolve(m)));
        client.send(clientBytes({ mac, type: 3, vendorClass: PXE_EFI_X64, arch: 7, serverId: '127.0.0.1', ciaddr: ip }), srv.udp.proxy, '127.0.0.1');
        await reply;
      } finally {
        client.close();
      }
    },
    async tftp(): Promise<void> {
      await run('curl', ['-s', '--fail', '--max-time', '10', '--interface', ip, '-o', '/dev/null', `tftp://127.0.0.1:${srv.udp.tftp}/ipxe.efi`]);
    },
    async menu(): Promise<void> {
      await run('curl', ['-s', '--fail', '--max-time', '10', '--interface', ip, '-o', '/dev/null', `${srv.baseUrl}/boot/menu.ipxe?mac=${mac}&arch=x86_64&platform=efi`]);
    },
    async boot(): Promise<void> {
      await this.dhcp();
      await this.tftp();
      await this.menu();
    },
    /** The installer's last progress line: the boot is done (kept in the inventory's boots). */
    async finish(): Promise<void> {
      const res = await fetch(`${srv.baseUrl}/api/v1/boot/log`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mac, progress: 100, line: 'install complete' }) });
      if (!res.ok) throw new Error(`boot log: HTTP ${res.status} ${await res.text()}`);
    },
  };
}

