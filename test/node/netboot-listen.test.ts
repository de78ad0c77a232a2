import { execFile } from 'node:child_process';
import * as dgram from 'node:dgram';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { coreNode, distNode, nodeRedSuite, waitFor } from '../helpers/node-red';
import { clientBytes, PXE_EFI_X64 } from '../../support/dhcp-packets';
import { parsePacket } from '../../lib/dhcp';
import type { BootServerState } from '../../lib/server/boot-server';
import { ipv4Interfaces } from '../../lib/net/interfaces';

const run = promisify(execFile);
const functionNode = coreNode('function/10-function.js');
const { helper, tempDir } = nodeRedSuite();
let dir: string;


/** Server + listen node; virtual files answered by a function node wired back into the listen node. */
function flow(listen: Record<string, unknown> = {}, answer = '', events: string[] = ['events']) {
  dir = tempDir('netboot-listen-');
  mkdirSync(path.join(dir, 'assets', 'firmware'), { recursive: true });
  writeFileSync(path.join(dir, 'assets', 'undionly.kpxe'), Buffer.alloc(70_000, 7));
  writeFileSync(path.join(dir, 'assets', 'firmware', 'start4.elf'), 'shared firmware');
  return [
    { id: 'srv', type: 'netboot-server', serverIp: '127.0.0.1', bind: '127.0.0.1', httpPort: '1880', dhcpMode: 'proxy', dhcpPort: '0', proxyPort: '0', tftpPort: '0', dataDir: dir },
    { id: 'listen', type: 'netboot-listen', server: 'srv', wires: [events, ['answer']], ...listen },
    { id: 'answer', type: 'function', func: answer, wires: [['listen']] },
    { id: 'events', type: 'helper' },
  ];
}

async function started(): Promise<BootServerState> {
  const node = await waitFor(() => helper.getNode('srv'), 'node');
  return waitFor(() => {
    const s = node.bootServer?.state as BootServerState | undefined;
    return s && s.ports.every((p) => p.state !== 'closed') && node.bootServer.dhcp ? s : undefined;
  }, 'server start');
}

const portOf = (s: BootServerState, key: string) => s.ports.find((p) => p.key === key)!.boundPort!;

async function curlTftp(port: number, file: string): Promise<Buffer> {
  const { stdout } = await run('curl', ['-s', '--fail', '--max-time', '10', `tftp://127.0.0.1:${port}/${file}`], { encoding: 'buffer', maxBuffer: 1 << 26 });
  return stdout;
}

const PI_ANSWER = `
  const p = msg.payload.path;
  if (p === 'abcd1234/config.txt') { msg.payload = 'arm_64bit=1\\nenable_uart=1\\n'; return msg; }
  if (p.startsWith('abcd1234/')) { msg.filename = 'firmware/' + p.slice(9); msg.payload = null; return msg; }
  msg.payload = null; return msg;`;

describe('netboot-listen', () => {
  it('serves static files, virtual files from the flow, and mapped folders to curl over TFTP', async () => {
    await helper.load([distNode('netboot-server'), distNode('netboot-listen'), functionNode], flow({}, PI_ANSWER));
    const state = await started();
    const port = portOf(state, 'tftp');
    const events: Array<{ topic: string; payload: Record<string, unknown> }> = [];
    helper.getNode('events').on('input', (msg: { topic: string; payload: Record<string, unknown> }) => events.push(msg));

    expect((await curlTftp(port, 'undionly.kpxe')).equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect((await curlTftp(port, 'abcd1234/config.txt')).toString()).toBe('arm_64bit=1\nenable_uart=1\n');
    expect((await curlTftp(port, 'abcd1234/start4.elf')).toString()).toBe('shared firmware');
    await expect(curlTftp(port, 'abcd1234/missing.dtb')).rejects.toThrow();

    await waitFor(() => events.filter((e) => e.topic === 'tftp.done').length >= 3, 'done events');
    const done = events.find((e) => e.topic === 'tftp.done' && e.payload.path === 'undionly.kpxe')!;
    expect(done.payload.bytes).toBe(70_000);
    expect(events.some((e) => e.topic === 'tftp.notfound' && e.payload.path === 'abcd1234/missing.dtb')).toBe(true);
  });

  it('answers from the address the client talked to when bound to 0.0.0.0', async () => {
    const nodes = flow({}, PI_ANSWER);
    // advertised on this machine's LAN address, listening on every address; curl talks to
    // 127.0.0.1 and gives up on a reply that comes from the LAN address
    const lan = ipv4Interfaces()[0];
    expect(lan, 'this test needs one non-loopback IPv4 interface').toBeDefined();
    Object.assign(nodes[0], { bind: '0.0.0.0', serverIp: lan.address });
    await helper.load([distNode('netboot-server'), distNode('netboot-listen'), functionNode], nodes);
    const state = await started();
    expect((await curlTftp(portOf(state, 'tftp'), 'undionly.kpxe')).length).toBe(70_000);
  });

  it('gives "file not found" when the flow does not answer before the deadline', async () => {
    await helper.load([distNode('netboot-server'), distNode('netboot-listen'), functionNode], flow({}, 'return null;'));
    const state = await started();
    const t0 = Date.now();
    await expect(curlTftp(portOf(state, 'tftp'), 'nobody/answers.txt')).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(9000);
  });

  it('refuses a flow answer that points outside the boot-assets root', async () => {
    await helper.load([distNode('netboot-server'), distNode('netboot-listen'), functionNode], flow({}, "msg.filename = '../../etc/passwd'; msg.payload = null; return msg;"));
    const state = await started();
    await expect(curlTftp(portOf(state, 'tftp'), 'x/passwd')).rejects.toThrow();
  });

  it('answers a UEFI proxyDHCP request on the proxy port and lets the flow override the boot file', async () => {
    const answer = "if (msg.topic === 'dhcp.decide') { msg.payload = { filename: 'snponly.efi' }; return msg; } msg.payload = null; return msg;";
    await helper.load([distNode('netboot-server'), distNode('netboot-listen'), functionNode], flow({ decideDhcp: true }, answer));
    const state = await started();
    const events: Array<{ topic: string; mac?: string }> = [];
    helper.getNode('events').on('input', (msg: { topic: string; mac?: string }) => events.push(msg));

    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    try {
      const reply = new Promise<Buffer>((resolve) => client.once('message', (m) => resolve(m)));
      const req = clientBytes({ mac: '52:54:00:aa:bb:01', type: 3, vendorClass: PXE_EFI_X64, arch: 7, serverId: '127.0.0.1' });
      client.send(req, portOf(state, 'proxy'), '127.0.0.1');
      const parsed = parsePacket(await reply);
      expect(parsed.ok).toBe(true);
      if (!parsed.ok) return;
      expect(parsed.packet.yiaddr).toBe('0.0.0.0');
      expect(parsed.packet.siaddr).toBe('127.0.0.1');
      expect(parsed.packet.file).toBe('snponly.efi');
      await waitFor(() => events.some((e) => e.topic === 'dhcp.ack'), 'ack event');
      expect(events.find((e) => e.topic === 'dhcp.request')?.mac).toBe('52:54:00:aa:bb:01');
    } finally {
      client.close();
    }
  });
  it('does not subscribe to the event bus while nothing is wired to output 1, and the server still answers and feeds the metrics', async () => {
    await helper.load([distNode('netboot-server'), distNode('netboot-listen'), functionNode], flow({}, '', []));
    const state = await started();
    const server = helper.getNode('srv').bootServer;
    const unwired = server.events.subscriberCount;
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    try {
      const reply = new Promise<Buffer>((resolve) => client.once('message', (m) => resolve(m)));
      client.send(clientBytes({ mac: '52:54:00:aa:bb:02', type: 3, vendorClass: PXE_EFI_X64, arch: 7, serverId: '127.0.0.1' }), portOf(state, 'proxy'), '127.0.0.1');
      expect(parsePacket(await reply).ok).toBe(true);
      // the metrics hub hears the exchange without the node's events
      await waitFor(() => server.metrics.devices.macs().includes('52:54:00:aa:bb:02') || undefined, 'device in the metrics');
    } finally {
      client.close();
    }
    // wired again (a deploy): the events come back
    await helper.unload();
    rmSync(dir, { recursive: true, force: true });
    await helper.load([distNode('netboot-server'), distNode('netboot-listen'), functionNode], flow());
    await started();
    expect(helper.getNode('srv').bootServer.events.subscriberCount).toBe(unwired + 1);
  });

  it('sends the vocabulary\'s names; a node saved before it sends the previous names and warns', async () => {
    const answer = 'msg.payload = null; return msg;';
    const ask = async (listen: Record<string, unknown>) => {
      // output 2 also goes to a helper node, which gets its own copy of each request
      const nodes = flow({ decideDhcp: true, ...listen }, answer);
      (nodes[1] as { wires: string[][] }).wires[1].push('asked');
      nodes.push({ id: 'asked', type: 'helper' });
      await helper.load([distNode('netboot-server'), distNode('netboot-listen'), functionNode], nodes);
      const state = await started();
      const events: Array<{ topic: string; mac?: string; payload: Record<string, unknown> }> = [];
      helper.getNode('events').on('input', (msg: { topic: string; mac?: string; payload: Record<string, unknown> }) => events.push(msg));
      const asked: Array<{ topic: string; mac?: string; payload: Record<string, unknown> }> = [];
      helper.getNode('asked').on('input', (msg: { topic: string; mac?: string; payload: Record<string, unknown> }) => {
        if (msg.topic === 'dhcp.decide') asked.push(msg);
      });
      await curlTftp(portOf(state, 'tftp'), 'undionly.kpxe');
      const client = dgram.createSocket('udp4');
      await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
      const reply = new Promise<Buffer>((resolve) => client.once('message', (m) => resolve(m)));
      client.send(clientBytes({ mac: '52:54:00:aa:bb:03', type: 3, vendorClass: PXE_EFI_X64, arch: 7, serverId: '127.0.0.1' }), portOf(state, 'proxy'), '127.0.0.1');
      await reply;
      client.close();
      await waitFor(() => events.some((e) => e.topic === 'dhcp.ack') && events.some((e) => e.topic === 'tftp.done'), 'events');
      const warned = helper.log().args.some((a) => {
        const m = a[0] as { level?: number; type?: string; msg?: unknown };
        return m.type === 'netboot-listen' && m.level === 30 && String(m.msg).includes('previousNames');
      });
      return { events, decide: asked[0].payload, decideMac: asked[0].mac, warned };
    };
    const current = await ask({ eventNames: 'current' });
    const topics = current.events.map((e) => e.topic);
    expect(topics).toContain('tftp.start');
    expect(topics).not.toContain('tftp.request');
    const ack = current.events.find((e) => e.topic === 'dhcp.ack')!;
    // one MAC, in msg.mac and payload.mac; one arch name, the option 93 number beside it only where DHCP carries one
    expect(ack.mac).toBe('52:54:00:aa:bb:03');
    expect(ack.payload.mac).toBe(ack.mac);
    expect(ack.payload.arch).toBe('efi-x64');
    expect(ack.payload).not.toHaveProperty('archCode');
    expect(current.decide.arch).toBe('efi-x64');
    expect(current.decide.archCode).toBe(7);
    expect(current.decideMac).toBe('52:54:00:aa:bb:03');
    expect(current.warned).toBe(false);
    await helper.unload();
    rmSync(dir, { recursive: true, force: true });

    const previous = await ask({});
    const old = previous.events.map((e) => e.topic);
    expect(old).toContain('tftp.request');
    expect(old).not.toContain('tftp.start');
    expect(previous.events.find((e) => e.topic === 'dhcp.ack')!.payload.archCode).toBe(7);
    expect(previous.decide.arch).toBe(7);
    expect(previous.decide.archName).toBe('efi-x64');
    expect(previous.warned).toBe(true);
  });
});
