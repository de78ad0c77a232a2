/**
 * Boot programs found, not copied: with an empty boot-assets folder, the server hands out Debian's
 * iPXE builds from /usr/lib/ipxe over TFTP (curl) and HTTP (the asset server), byte for byte; a file the
 * user puts into the folder wins from then on; the status table names each client class; a DHCP
 * answer that names a file the server does not have is logged once with the fix. Needs Debian's
 * `ipxe` package (.ci/run installs it).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dgram from 'node:dgram';
import { BootServer, type BootServerConfig } from '../../lib/server/boot-server';
import { clientBytes, PXE_EFI_ARM64 } from '../../support/dhcp-packets';
import { waitFor } from '../helpers/node-red';

const run = promisify(execFile);
const IPXE = '/usr/lib/ipxe';
const missing = ['undionly.kpxe', 'ipxe.efi'].filter((f) => !existsSync(path.join(IPXE, f)));
if (missing.length && process.env.CI) throw new Error(`boot-programs: CI needs Debian's ipxe package (${missing.join(', ')} missing)`);

describe.skipIf(missing.length > 0)('boot programs served from the distribution\'s packages', () => {
  let dir: string;
  let server: BootServer;
  let web: http.Server;
  let webPort: number;
  const logs: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-programs-'));
    const config: BootServerConfig = {
      serverIp: '127.0.0.1', bind: '127.0.0.1', httpBaseUrl: 'http://127.0.0.1:1', dhcpMode: 'proxy', iqnPrefix: 'iqn.2026-12.test',
      ports: { dhcp: -1, proxy: 0, tftp: 0, monitor: -1 }, dataDir: dir, assetsRoot: path.join(dir, 'assets'), networkPollMs: 0,
    };
    server = new BootServer(config, { log: { info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m) } });
    await server.start();
    web = http.createServer((req, res) => void server.assets.handle(req, res, decodeURIComponent((req.url ?? '').replace(/^\/boot\/assets\//, ''))));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
    webPort = (web.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((r) => web?.close(r));
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tftpPort = () => server.state.ports.find((p) => p.key === 'tftp')!.boundPort!;
  const tftp = async (file: string) => (await run('curl', ['-s', '--fail', '--max-time', '10', `tftp://127.0.0.1:${tftpPort()}/${file}`], { encoding: 'buffer', maxBuffer: 1 << 24 })).stdout;
  const get = async (file: string) => {
    const res = await fetch(`http://127.0.0.1:${webPort}/boot/assets/${file}`);
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  };

  it('serves iPXE from /usr/lib/ipxe over TFTP and HTTP with nothing copied, and the user\'s own file wins', async () => {
    for (const f of ['undionly.kpxe', 'ipxe.efi', 'snponly.efi']) {
      const want = readFileSync(path.join(IPXE, f));
      expect((await tftp(f)).equals(want), `TFTP ${f}`).toBe(true);
      const got = await get(f);
      expect(got.status).toBe(200);
      expect(got.body.equals(want), `HTTP ${f}`).toBe(true);
    }
    // not a boot program: nothing outside the catalog comes from the system
    await expect(tftp('ipxe.lkrn')).rejects.toThrow();
    expect((await get('ipxe.lkrn')).status).toBe(404);
    // the user's own build, put in later, is served instead
    writeFileSync(path.join(dir, 'assets', 'undionly.kpxe'), 'my own iPXE build');
    expect((await tftp('undionly.kpxe')).toString()).toBe('my own iPXE build');
    expect((await get('undionly.kpxe')).body.toString()).toBe('my own iPXE build');
  });

  it('lists every client class in the state, ready with the file and its source, or with the missing file and the fix', () => {
    const table = server.state.bootPrograms!;
    expect(table.map((c) => c.label)).toEqual(['BIOS', 'UEFI x64', 'UEFI x64 HTTP boot', 'UEFI x64 Secure Boot', 'arm64 UEFI', 'Raspberry Pi 3', 'Raspberry Pi 4', 'Raspberry Pi 5', 'Registration of unknown machines', 'Registration of unknown Raspberry Pis']);
    expect(table.find((c) => c.id === 'uefi-x64')).toMatchObject({ ready: true, files: [{ name: 'ipxe.efi', path: '/usr/lib/ipxe/ipxe.efi', source: 'system' }] });
    expect(table.find((c) => c.id === 'uefi-arm64')).toMatchObject({ ready: false, missing: 'ipxe-arm64.efi' });
    const lines = server.describeBootPrograms();
    expect(lines.find((l) => l.startsWith('UEFI x64:'))).toBe('UEFI x64: ready (ipxe.efi from /usr/lib/ipxe/ipxe.efi)');
    expect(lines.find((l) => l.startsWith('arm64 UEFI:'))).toMatch(/cannot boot: ipxe-arm64\.efi is missing\. Fix: /);
  });

  it('a DHCP answer naming a boot file the server does not have is logged once, with the fix, and counted', async () => {
    const proxy = server.state.ports.find((p) => p.key === 'proxy')!.boundPort!;
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    try {
      for (const mac of ['52:54:00:a6:40:01', '52:54:00:a6:40:02']) {
        const reply = new Promise<Buffer>((resolve) => client.once('message', (m) => resolve(m)));
        // an arm64 UEFI machine: Debian ships no arm64 iPXE
        client.send(clientBytes({ mac, type: 3, vendorClass: PXE_EFI_ARM64, arch: 11, serverId: '127.0.0.1' }), proxy, '127.0.0.1');
        await reply;
      }
    } finally {
      client.close();
    }
    const told = await waitFor(() => logs.filter((l) => l.startsWith('DHCP answers name ipxe-arm64.efi')).length > 0 || undefined, 'the warning');
    expect(told).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const lines = logs.filter((l) => l.startsWith('DHCP answers name ipxe-arm64.efi'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/which this server does not have: those machines cannot boot\. Fix: install an arm64 iPXE build/);
    expect((await server.metrics!.metrics()).text).toMatch(/netboot_boot_file_missing_total\{file="ipxe-arm64\.efi"\} 1/);
    // a file it has (iPXE from /usr/lib/ipxe) is not reported
    expect(logs.some((l) => l.startsWith('DHCP answers name ipxe.efi'))).toBe(false);
  });
});
