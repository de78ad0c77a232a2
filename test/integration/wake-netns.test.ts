/**
 * Wake-on-LAN on a real link: `npm start` in one network namespace, a listener on UDP 9 in another
 * at the other end of a veth pair. The API wakes a known machine; the magic packet that arrives is
 * byte-exact (without and with a SecureOn password), went to the subnet's broadcast address, and the
 * wake is on the machine's timeline and in its history. Needs root and iproute2 (CI has both).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { magicPacket } from '../../lib/net/wake';
import { NetnsServer, vethLab } from '../helpers/netns-server';
import { waitFor } from '../helpers/node-red';

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot && process.env.CI) throw new Error('wake-netns: CI needs root for network namespaces');

const ID = process.pid % 100000;
const SRV = `nbwks${ID}`;
const CLI = `nbwkc${ID}`;
const MAC = '52:54:00:77:0a:01';


describe.skipIf(!isRoot)('Wake-on-LAN across a veth pair', () => {
  let dir: string;
  let listener: ChildProcess | undefined;
  let heard = '';
  let dropLab: (() => void) | undefined;
  const server = new NetnsServer(SRV, 'wake-netns-password-1', { NETBOOT_DHCP_MODE: 'proxy' });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-wake-'));
    dropLab = vethLab({ srv: SRV, cli: CLI, srvDev: 'ws0', cliDev: 'wc0', srvCidr: '10.59.0.1/24', cliCidr: '10.59.0.50/24', gateway: '10.59.0.254' });
    // what a sleeping NIC would see: every datagram to UDP 9, with where it came from and where it went
    const script = "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>console.log(r.address+' '+m.toString('hex')));s.bind(9,'0.0.0.0');";
    listener = spawn('ip', ['netns', 'exec', CLI, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    listener.stdout!.on('data', (d: Buffer) => (heard += d.toString()));
    await server.start(dir);
  }, 60_000);

  afterAll(async () => {
    listener?.kill('SIGKILL');
    await server.stop();
    dropLab?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the exact magic packet to the subnet broadcast, records the wake, and refuses a second one within 5 s', async () => {
    expect(server.api('POST', '/devices', { mac: MAC }).status).toBe(201);
    const woke = server.api('POST', `/devices/${MAC}/wake`);
    expect(woke.status, JSON.stringify(woke.body)).toBe(202);
    expect(woke.body).toEqual({ mac: MAC, from: '10.59.0.1', to: '10.59.0.255', port: 9, bytes: 102 });
    await waitFor(() => heard.trim().split('\n').filter(Boolean).length >= 1 || undefined, 'the magic packet');
    expect(heard.trim().split('\n')[0]).toBe(`10.59.0.1 ${magicPacket(MAC).toString('hex')}`);

    expect(server.api('POST', `/devices/${MAC}/wake`).status).toBe(409);
    await new Promise((r) => setTimeout(r, 5100));
    const secure = server.api('POST', `/devices/${MAC}/wake`, { password: '01:02:03:04:05:06' });
    expect(secure.status).toBe(202);
    await waitFor(() => heard.trim().split('\n').length >= 2 || undefined, 'the SecureOn packet');
    const second = heard.trim().split('\n')[1].split(' ')[1];
    expect(second).toBe(magicPacket(MAC, '01:02:03:04:05:06').toString('hex'));
    expect(second.length).toBe(108 * 2);

    const timeline = server.api('GET', `/devices/${MAC}/timeline`).body as { notices: Array<{ type: string; message: string }> };
    expect(timeline.notices.filter((n) => n.type === 'wake').map((n) => n.message)).toEqual(['woken: magic packet to 10.59.0.255:9 on ws0', 'woken: magic packet to 10.59.0.255:9 on ws0']);
    const history = server.api('GET', `/devices/${MAC}/events`).body as Array<{ type: string; data?: { by?: string } }>;
    expect(history.filter((e) => e.type === 'wake').map((e) => e.data?.by)).toEqual(['api', 'api']);
    // an unknown machine is not woken, a bad port is refused
    expect(server.api('POST', '/devices/52:54:00:77:0a:99/wake').status).toBe(404);
    expect(server.api('POST', `/devices/${MAC}/wake`, { port: 70000 }).status).toBe(400);
  }, 60_000);
});
