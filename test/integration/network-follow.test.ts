/**
 * The server follows its host's network: the real `npm start` entry point in a network namespace of
 * its own (vs0: 10.57.0.1/24 with a default route, as a host that got its address from DHCP), the
 * compiled netboot-probe and curl in a second namespace on the other end of the veth pair. Then the
 * host's address changes (a renewal that hands out a new one), an address and a second link come and
 * go, a second address joins the same subnet, and a pinned address vanishes; after each, real clients
 * boot from what the server advertises now, with no restart. Needs root and iproute2 (CI has both).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/node-red';
import { repo } from '../helpers/start-server';
import { NetnsServer, vethLab } from '../helpers/netns-server';

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot && process.env.CI) throw new Error('network-follow: CI needs root for network namespaces');

const ID = process.pid % 100000;
const SRV = `nbnfs${ID}`;
const CLI = `nbnfc${ID}`;
const PASSWORD = 'network-follow-password-1';
const KPXE = Buffer.alloc(90_000, 0x5a);
const KPXE_SHA = createHash('sha256').update(KPXE).digest('hex');

function sh(args: string[], timeout = 15_000): string {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
}
const inClient = (...args: string[]) => sh(['ip', 'netns', 'exec', CLI, ...args]);

interface Probe { ok: boolean; stages: Array<{ name: string; ok: boolean; detail: string }>; files: Array<{ name: string; via: string; source: string; bytes: number }> }

/** The address the boot file came from (`10.57.0.9:69` → `10.57.0.9`). */
const fileServer = (p: Probe) => p.files.find((f) => f.via === 'tftp')?.source.split(':')[0];

function probe(kind: 'bios' | 'ipxe', iface = 'vc0'): Probe {
  const cli = path.join(repo, 'dist', 'scripts', 'netboot-probe.js');
  try {
    return JSON.parse(inClient(process.execPath, cli, '--as', kind, '--interface', iface, '--timeout', '3s', '--json')) as Probe;
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    if (e.stdout?.startsWith('{')) return JSON.parse(e.stdout) as Probe;
    throw new Error(`probe exited ${e.status}: ${e.stderr}${e.stdout}`);
  }
}

/** sha256 of a file read over TFTP from the client namespace with curl. */
function tftpSha(address: string, file: string): string {
  const out = execFileSync('ip', ['netns', 'exec', CLI, 'curl', '-s', '--fail', '--max-time', '10', `tftp://${address}/${file}`], { timeout: 15_000 });
  return createHash('sha256').update(out).digest('hex');
}

describe.skipIf(!isRoot)('the server follows its host\'s network (npm start, netns, probe and curl)', () => {
  let dir: string;
  let dropLab: (() => void) | undefined;
  const server = new NetnsServer(SRV, PASSWORD, { NETBOOT_DHCP_MODE: 'full', NETBOOT_DHCP_RANGE: '10.57.0.100-10.57.0.150' });

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-follow-'));
    for (const data of ['follow', 'pinned']) {
      mkdirSync(path.join(dir, data, 'assets'), { recursive: true });
      writeFileSync(path.join(dir, data, 'assets', 'undionly.kpxe'), KPXE);
    }
    // the host's default route points out of vs0, as a DHCP client would set it
    dropLab = vethLab({ srv: SRV, cli: CLI, srvDev: 'vs0', cliDev: 'vc0', srvCidr: '10.57.0.1/24', cliCidr: '10.57.0.50/24', gateway: '10.57.0.254' });
  });

  afterAll(async () => {
    await server.stop();
    dropLab?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('boots on the address it started with, then on the new one after the host\'s address changes, with no restart', async () => {
    await server.start(path.join(dir, 'follow'));
    expect(server.out).toMatch(/NETBOOT_SERVER_IP not set, using 10\.57\.0\.1 .*following it/);
    const before = probe('bios');
    expect(before.ok, JSON.stringify(before)).toBe(true);
    expect(fileServer(before)).toBe('10.57.0.1');
    expect(server.status().network).toMatchObject({ advertised: '10.57.0.1', pinned: false, interface: 'vs0' });

    // a DHCP renewal hands the host a new address (the default route comes back with it)
    sh(['ip', '-n', SRV, 'addr', 'del', '10.57.0.1/24', 'dev', 'vs0']);
    sh(['ip', '-n', SRV, 'addr', 'add', '10.57.0.9/24', 'dev', 'vs0']);
    sh(['ip', '-n', SRV, 'route', 'replace', 'default', 'via', '10.57.0.254', 'dev', 'vs0']);
    await waitFor(() => /server address changed from 10\.57\.0\.1 to 10\.57\.0\.9/.test(server.out) || undefined, `the change in the log; output:\n${server.out}`, 15_000);
    // said once, not on every poll
    await new Promise((r) => setTimeout(r, 3500));
    expect(server.out.match(/server address changed from/g)).toHaveLength(1);
    expect(server.status().network).toMatchObject({ advertised: '10.57.0.9', lastChange: { kind: 'address-changed' } });

    const after = probe('bios');
    expect(after.ok, JSON.stringify(after)).toBe(true);
    expect(fileServer(after)).toBe('10.57.0.9');
    expect(after.files).toEqual([expect.objectContaining({ name: 'undionly.kpxe', bytes: KPXE.length })]);
    // iPXE is sent to a script URL on the new address, and the script it gets names the new address
    const ipxe = probe('ipxe');
    const script = ipxe.files.find((f) => f.via === 'http' && /menu\.ipxe/.test(f.source));
    expect(script?.source, JSON.stringify(ipxe)).toMatch(/^http:\/\/10\.57\.0\.9:/);
    const menu = inClient('curl', '-s', '--max-time', '10', `http://10.57.0.9:${server.httpPort}/boot/menu.ipxe?mac=52-54-00-00-57-01`);
    expect(menu).toContain(`http://10.57.0.9:${server.httpPort}/`);
    expect(menu).not.toContain('10.57.0.1:');
  }, 120_000);

  it('serves an address added after start, reports one removed and keeps serving the others; two addresses on one subnet both serve', async () => {
    // a second link (a VLAN, a VPN) comes up after start
    sh(['ip', '-n', SRV, 'link', 'add', 'vs1', 'type', 'veth', 'peer', 'name', 'vc1', 'netns', CLI]);
    sh(['ip', '-n', SRV, 'addr', 'add', '10.58.0.1/24', 'dev', 'vs1']);
    sh(['ip', '-n', CLI, 'addr', 'add', '10.58.0.50/24', 'dev', 'vc1']);
    sh(['ip', '-n', SRV, 'link', 'set', 'vs1', 'up']);
    sh(['ip', '-n', CLI, 'link', 'set', 'vc1', 'up']);
    await waitFor(() => /address 10\.58\.0\.1\/24 added on vs1/.test(server.out) || undefined, `the added address; output:\n${server.out}`, 15_000);
    expect(tftpSha('10.58.0.1', 'undionly.kpxe')).toBe(KPXE_SHA);
    expect(inClient('curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', `http://10.58.0.1:${server.httpPort}/boot/assets/undionly.kpxe`)).toBe('200');

    // a second address on the same subnet: both answer, each from the address the client talked to
    sh(['ip', '-n', SRV, 'addr', 'add', '10.57.0.10/24', 'dev', 'vs0']);
    await waitFor(() => /address 10\.57\.0\.10\/24 added on vs0/.test(server.out) || undefined, 'the second address', 15_000);
    expect(tftpSha('10.57.0.9', 'undionly.kpxe')).toBe(KPXE_SHA);
    expect(tftpSha('10.57.0.10', 'undionly.kpxe')).toBe(KPXE_SHA);

    // the link goes away: reported, and the others keep serving
    sh(['ip', '-n', SRV, 'link', 'del', 'vs1']);
    await waitFor(() => /address 10\.58\.0\.1 removed from vs1/.test(server.out) || undefined, `the removed address; output:\n${server.out}`, 15_000);
    expect(tftpSha('10.57.0.9', 'undionly.kpxe')).toBe(KPXE_SHA);
    const still = probe('bios');
    expect(still.ok, JSON.stringify(still)).toBe(true);
    expect(fileServer(still)).toBe('10.57.0.9');
  }, 120_000);

  it('a pinned address the host no longer has turns the status red with the fix, and DHCP says so once', async () => {
    await server.stop();
    await server.start(path.join(dir, 'pinned'), { NETBOOT_SERVER_IP: '10.57.0.10' });
    expect(server.status().network).toMatchObject({ advertised: '10.57.0.10', pinned: true });
    expect(server.status().network.problem).toBeUndefined();
    sh(['ip', '-n', SRV, 'addr', 'del', '10.57.0.10/24', 'dev', 'vs0']);
    await waitFor(() => /pinned server address 10\.57\.0\.10 is not on this host any more/.test(server.out) || undefined, `the report; output:\n${server.out}`, 15_000);
    const net = server.status().network;
    expect(net.problem).toMatch(/Fix: set NETBOOT_SERVER_IP .* or clear it/);
    // a machine asking now is told about in the log, once
    probe('bios');
    probe('bios');
    await waitFor(() => /DHCP: \S+ asks for a boot server, but the pinned server address 10\.57\.0\.10/.test(server.out) || undefined, 'the DHCP note', 10_000);
    expect(server.out.match(/asks for a boot server, but/g)).toHaveLength(1);
    // the address comes back: the problem clears
    sh(['ip', '-n', SRV, 'addr', 'add', '10.57.0.10/24', 'dev', 'vs0']);
    await waitFor(() => /pinned server address 10\.57\.0\.10 is back on vs0/.test(server.out) || undefined, 'the restore', 15_000);
    expect(server.status().network.problem).toBeUndefined();
  }, 120_000);
});
