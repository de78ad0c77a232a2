import { execFile } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { distNode, nodeRedSuite, waitFor } from '../helpers/node-red';
import { clientBytes, PXE_EFI_X64 } from '../../support/dhcp-packets';
import type { BootServerState } from '../../lib/server/boot-server';

const run = promisify(execFile);
const { helper, tempDir } = nodeRedSuite();
const MAC = '52:54:00:aa:bb:07';
let dir: string;


function flow(settings: Record<string, unknown> = {}, wires: string[][] = [['devices'], ['events']]) {
  dir = tempDir('netboot-metrics-');
  mkdirSync(path.join(dir, 'assets'), { recursive: true });
  writeFileSync(path.join(dir, 'inventory.json'), JSON.stringify({ schemaVersion: 3, devices: [], images: [], profiles: [], groups: [], sessions: [], boots: [], settings }));
  writeFileSync(path.join(dir, 'assets', 'ipxe.efi'), Buffer.alloc(300_000, 1));
  return [
    { id: 'srv', type: 'netboot-server', serverIp: '127.0.0.1', bind: '127.0.0.1', httpPort: '1880', dhcpMode: 'proxy', dhcpPort: '0', proxyPort: '0', tftpPort: '0', dataDir: dir },
    { id: 'm', type: 'netboot-metrics', server: 'srv', interval: 1, wires },
    { id: 'devices', type: 'helper' },
    { id: 'events', type: 'helper' },
  ];
}

async function started(): Promise<BootServerState> {
  const node = await waitFor(() => helper.getNode('srv'), 'node');
  return waitFor(() => (node.bootServer?.metrics ? node.bootServer.state as BootServerState : undefined), 'server start');
}
const portOf = (s: BootServerState, key: string) => s.ports.find((p) => p.key === key)!.boundPort!;

/** The UEFI boot-server REQUEST on the proxy port; resolves with the ACK. */
async function bootServerRequest(client: dgram.Socket, state: BootServerState): Promise<Buffer> {
  const ack = new Promise<Buffer>((resolve) => client.once('message', (m) => resolve(m)));
  // like EDK2, the boot-server REQUEST comes from the address the client already holds (ciaddr)
  client.send(clientBytes({ mac: MAC, type: 3, vendorClass: PXE_EFI_X64, arch: 7, serverId: '127.0.0.1', ciaddr: '127.0.0.1' }), portOf(state, 'proxy'), '127.0.0.1');
  return ack;
}

async function udpClient(): Promise<dgram.Socket> {
  const client = dgram.createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  return client;
}

/** A UEFI machine on 127.0.0.1: the 4011 boot-server request, then the TFTP download of its NBP. */
async function scriptedBoot(state: BootServerState): Promise<void> {
  const client = await udpClient();
  try {
    await bootServerRequest(client, state);
  } finally {
    client.close();
  }
  await run('curl', ['-s', '--fail', '--max-time', '10', '-o', '/dev/null', `tftp://127.0.0.1:${portOf(state, 'tftp')}/ipxe.efi`]);
}

describe('netboot-metrics and the metrics routes', () => {
  it('follows a scripted boot into the timeline, the node outputs and Prometheus', async () => {
    await helper.load([distNode('netboot-server'), distNode('netboot-metrics')], flow());
    const state = await started();
    const devices: Array<{ topic: string; payload: Record<string, unknown> }> = [];
    const events: Array<{ topic: string; payload: Record<string, unknown> }> = [];
    helper.getNode('devices').on('input', (m: never) => devices.push(m));
    helper.getNode('events').on('input', (m: never) => events.push(m));

    await scriptedBoot(state);
    await waitFor(() => events.some((e) => e.topic === 'tftp.done'), 'tftp.done event');
    // the TFTP download carried no MAC: it was attributed from the DHCP request's source address
    const done = events.find((e) => e.topic === 'tftp.done')!;
    expect(done.payload.mac).toBe(MAC);

    const tl = await helper.request().get(`/netboot/api/devices/${MAC}/timeline`).expect(200);
    const stages = tl.body.boots[0].stages.map((s: { stage: string }) => s.stage);
    expect(stages).toEqual(['dhcp', 'firmware-tftp']);
    expect(tl.body.boots[0].stages[1].bytes).toBe(300_000);

    // sent at once on the stage change, then on the 1 s timer with the bytes served
    expect(devices.find((d) => d.topic === MAC)?.payload.stage).toBe('dhcp');
    const dev = await waitFor(() => devices.find((d) => d.topic === MAC && d.payload.stage === 'firmware-tftp' && (d.payload.network as { txBytes: number }).txBytes > 0), 'device metrics', 4000);
    expect((dev.payload.network as { txBytes: number }).txBytes).toBe(300_000);
    expect(devices.some((d) => d.topic === 'fleet')).toBe(true);

    const prom = await helper.request().get('/netboot/metrics').expect(200);
    expect(prom.headers['content-type']).toMatch(/text\/plain/);
    expect(prom.text).toMatch(/^netboot_tftp_transfers_total\{outcome="done"\} 1$/m);
    expect(prom.text).toMatch(/^netboot_tftp_bytes_total 300000$/m);

    const debug = await helper.request().get('/netboot/api/metrics/debug').expect(200);
    expect(debug.body.devices[MAC]).toBeDefined();

    // the OS checks in: the boot is done and kept in the inventory
    helper.getNode('srv').bootServer.publish({ type: 'checkin', mac: MAC, ip: '127.0.0.1', action: 'ready' });
    const store = helper.getNode('srv').bootServer.store;
    const kept = await waitFor(async () => (await store.listBoots(MAC)).length > 0 || undefined, 'kept boot');
    expect(kept).toBe(true);
    const boots = await store.listBoots(MAC);
    expect(boots[0].outcome).toBe('done');
    expect(boots[0].stages.map((st: { stage: string }) => st.stage)).toEqual(['dhcp', 'firmware-tftp', 'os']);

    // the boot event log in the inventory has the DHCP request for this MAC
    const log = await helper.request().get(`/netboot/api/devices/${MAC}/events`).expect(200);
    expect(log.body.map((e: { type: string }) => e.type)).toContain('dhcp.request');
  });

  it('reports a stalled transfer once, within the threshold, and clears it when the machine moves again', async () => {
    await helper.load([distNode('netboot-server'), distNode('netboot-metrics')], flow({ stallSeconds: 5 }));
    const state = await started();
    const events: Array<{ topic: string; payload: { ts: number; mac?: string; stage?: string } }> = [];
    helper.getNode('events').on('input', (m: never) => events.push(m));
    // the machine gets its boot file name, starts the download and then goes silent (never ACKs)
    const client = await udpClient();
    try {
      await bootServerRequest(client, state);
      const rrq = Buffer.concat([Buffer.from([0, 1]), Buffer.from('ipxe.efi\0octet\0')]);
      client.send(rrq, portOf(state, 'tftp'), '127.0.0.1');
      const stall = await waitFor(() => events.find((e) => e.topic === 'stall'), 'stall event', 15_000);
      const before = events.filter((e) => e.payload.ts < stall.payload.ts && e.topic !== 'stall');
      const quietFor = stall.payload.ts - Math.max(...before.map((e) => e.payload.ts));
      expect(quietFor).toBeGreaterThanOrEqual(5000);
      expect(quietFor).toBeLessThan(6500);
      expect(stall.payload.mac).toBe(MAC);
      expect(events.filter((e) => e.topic === 'stall')).toHaveLength(1);
      // the machine retries: the stall clears
      await run('curl', ['-s', '--fail', '--max-time', '10', '-o', '/dev/null', `tftp://127.0.0.1:${portOf(state, 'tftp')}/ipxe.efi`]);
      await waitFor(() => events.some((e) => e.topic === 'stall.cleared'), 'stall cleared');
    } finally {
      client.close();
    }
  }, 30_000);

  it('streams events over SSE in order and replays what a reconnecting client missed', async () => {
    await helper.load([distNode('netboot-server'), distNode('netboot-metrics')], flow());
    const state = await started();
    await scriptedBoot(state);
    await waitFor(() => helper.getNode('srv').bootServer.metrics.bus, 'bus');

    // the admin app on a real socket, so the stream can be read as it arrives
    const admin = http.createServer((helper as unknown as { _httpAdmin: http.RequestListener })._httpAdmin);
    await new Promise<void>((r) => admin.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(admin.address() as { port: number }).port}`;
    const read = async (headers: Record<string, string>) => {
      const ctrl = new AbortController();
      const res = await fetch(`${url}/netboot/api/events`, { headers, signal: ctrl.signal });
      expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
      const reader = res.body!.getReader();
      let text = '';
      const end = Date.now() + 3000;
      while (Date.now() < end && !/event: tftp\.done/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
      ctrl.abort();
      return [...text.matchAll(/^id: (\d+)\nevent: (\S+)/gm)].map((m) => ({ id: Number(m[1]), type: m[2] }));
    };
    const first = await read({});
    expect(first.length).toBeGreaterThan(2);
    const ids = first.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(first.map((e) => e.type)).toContain('dhcp.request');
    // reconnect after the second event: only later events come back
    const again = await read({ 'Last-Event-ID': String(ids[1]) });
    expect(again[0].id).toBe(ids[2]);
    admin.closeAllConnections();
    await new Promise((r) => admin.close(r));
  });
  it('builds no message for an output with nothing wired, and still shows the fleet in its status', async () => {
    await helper.load([distNode('netboot-server'), distNode('netboot-metrics')], flow({}, [[], []]));
    const state = await started();
    const m = helper.getNode('m');
    const send = vi.spyOn(m, 'send');
    const status = vi.spyOn(m, 'status');
    await scriptedBoot(state);
    // a stage change and the input would each emit on output 1, every event on output 2
    m.receive({});
    // (the test runtime has no message catalogue: the status text is the key)
    await waitFor(() => status.mock.calls.some(([st]) => /status\.fleet/.test(String((st as { text?: string }).text))), 'fleet status');
    expect(helper.getNode('srv').bootServer.metrics.devices.macs()).toContain(MAC);
    expect(send).not.toHaveBeenCalled();
  });

  it('sends thousands of devices a slice at a time, with the event loop free in between, then the fleet', async () => {
    await helper.load([distNode('netboot-server'), distNode('netboot-metrics')], flow({}, [['devices'], []]));
    await started();
    const server = helper.getNode('srv').bootServer;
    const N = 1000;
    for (let i = 0; i < N; i++) {
      const mac = `52:54:01:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
      server.publish({ type: 'dhcp.discover', mac, ip: '0.0.0.0', arch: 'bios', isIpxe: false });
    }
    const m = helper.getNode('m');
    // count turns of the event loop while the node sends, and note the turn of every send
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const turns: number[] = [];
    const topics: string[] = [];
    vi.spyOn(m, 'send').mockImplementation((msgs: unknown) => {
      turns.push(turn);
      topics.push((msgs as Array<{ topic: string } | null>)[0]!.topic);
    });
    m.receive({});
    await waitFor(() => topics.includes('fleet') || undefined, 'fleet message');
    ticking = false;
    const devices = topics.filter((t) => t !== 'fleet');
    expect(new Set(devices).size).toBe(N);
    expect(topics.at(-1)).toBe('fleet');
    // 1000 devices at 200 per slice: at least 5 separate turns, each holding at most 200 sends
    expect(new Set(turns).size).toBeGreaterThanOrEqual(5);
    const perTurn = new Map<number, number>();
    for (const t of turns) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(201);
  });
});

describe('public /metrics', () => {
  it('compares the bearer token without throwing: a non-ASCII token of the right length is a 401, not a 404', async () => {
    // the runtime's httpNode (where the public /metrics lives), caught by a module loaded with the nodes
    let httpNode: Parameters<typeof request>[0] | undefined;
    const catchHttpNode = (RED: { httpNode: Parameters<typeof request>[0] }) => {
      httpNode = RED.httpNode;
    };
    await helper.load([distNode('netboot-server'), distNode('netboot-metrics'), catchHttpNode], flow(), { srv: { metricsToken: 's3cret' } });
    await started();
    const get = async (auth?: string): Promise<number> => {
      const req = request(httpNode!).get('/metrics');
      return (await (auth ? req.set('authorization', auth) : req)).status;
    };
    // six characters like the token, eight bytes: timingSafeEqual threw and the answer was a 404
    expect(await get('Bearer s3crét')).toBe(401);
    expect(await get('Bearer ssssss')).toBe(401);
    expect(await get()).toBe(401);
    expect(await get('Bearer s3cret')).toBe(200);
  });
});
