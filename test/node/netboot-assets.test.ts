import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { coreNode, distNode, nodeRedSuite, waitFor } from '../helpers/node-red';

const { helper, tempDir } = nodeRedSuite();
let dir: string;
// the runtime's httpNode (where netboot-assets mounts its route), caught by a module loaded with the nodes
let httpNode: Parameters<typeof request>[0];
const catchHttpNode = (RED: { httpNode: Parameters<typeof request>[0] }) => {
  httpNode = RED.httpNode;
};
const get = (url: string) => request(httpNode).get(url);


const httpNodes = coreNode('network/21-httpin.js');
const functionNode = coreNode('function/10-function.js');

async function load(wires: string[][], more: object[] = []) {
  dir = tempDir('netboot-assets-');
  mkdirSync(path.join(dir, 'assets', 'ipxe'), { recursive: true });
  writeFileSync(path.join(dir, 'assets', 'ipxe', 'menu.ipxe'), '#!ipxe\necho menu\n');
  writeFileSync(path.join(dir, 'assets', 'big.bin'), Buffer.alloc(100_000, 3));
  writeFileSync(path.join(dir, 'assets', 'special.txt'), 'the file\n');
  await helper.load([distNode('netboot-server'), distNode('netboot-assets'), httpNodes, functionNode, catchHttpNode], [
    { id: 'srv', type: 'netboot-server', serverIp: '127.0.0.1', bind: '127.0.0.1', httpPort: '1880', dhcpMode: 'off', dhcpPort: '-1', proxyPort: '-1', tftpPort: '-1', dataDir: dir },
    { id: 'a', type: 'netboot-assets', server: 'srv', url: '/boot/assets', wires },
    { id: 'out', type: 'helper' },
    ...more,
  ]);
  await waitFor(() => helper.getNode('srv')?.bootServer, 'server');
  return helper.getNode('a');
}

describe('netboot-assets', () => {
  it('serves a file and sends one msg per finished transfer', async () => {
    await load([['out']]);
    const got: Array<{ topic: string; payload: { path: string; bytes: number; status: number } }> = [];
    helper.getNode('out').on('input', (m: never) => got.push(m));
    const res = await get('/boot/assets/big.bin').expect(200);
    expect(res.body.length ?? Buffer.byteLength(res.text ?? '')).toBe(100_000);
    const msg = await waitFor(() => got[0], 'http.done msg');
    expect(msg.topic).toBe('http.done');
    expect(msg.payload).toMatchObject({ path: '/big.bin', bytes: 100_000, status: 200 });
    await get('/boot/assets/../inventory.json').expect(404);
  });

  it('builds no msg with nothing wired, and updates its status at most twice per half second', async () => {
    const node = await load([[]]);
    const send = vi.spyOn(node, 'send');
    const status = vi.spyOn(node, 'status');
    for (let i = 0; i < 30; i++) await get('/boot/assets/ipxe/menu.ipxe').expect(200);
    expect(send).not.toHaveBeenCalled();
    // the first transfer shows at once; the rest wait for the timer, which shows only the latest
    expect(status.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(status.mock.calls.length).toBeLessThan(30);
    await new Promise((r) => setTimeout(r, 600));
    const calls = status.mock.calls.length;
    expect(calls).toBeLessThanOrEqual(2 + 2 * Math.ceil(30 / 10));
    // nothing new: no further updates
    await new Promise((r) => setTimeout(r, 600));
    expect(status.mock.calls.length).toBe(calls);
  });

  it('answers HEAD and Range, and leaves a path to an http in of the flow, wherever that node is', async () => {
    // a user's logic in front of one file: http in → function → http response, after the assets node in the flow
    await load([['out']], [
      { id: 'in', type: 'http in', url: '/boot/assets/special.txt', method: 'get', wires: [['fn']] },
      { id: 'fn', type: 'function', func: 'msg.payload = "from the flow"; return msg;', wires: [['res']] },
      { id: 'res', type: 'http response', wires: [] },
    ]);
    const got: Array<{ payload: { path: string; bytes: number; status: number } }> = [];
    helper.getNode('out').on('input', (m: never) => got.push(m));
    await waitFor(async () => (await get('/boot/assets/special.txt')).text === 'from the flow' || undefined, 'the flow answers its path');
    const head = await request(httpNode).head('/boot/assets/big.bin').expect(200);
    expect(head.headers['content-length']).toBe('100000');
    const part = await get('/boot/assets/big.bin').set('Range', 'bytes=10-19').expect(206);
    expect(part.headers['content-range']).toBe('bytes 10-19/100000');
    const file = await get('/boot/assets/ipxe/menu.ipxe').expect(200);
    expect(file.text ?? file.body.toString()).toBe('#!ipxe\necho menu\n');
    await waitFor(() => got.find((m) => m.payload.path === '/ipxe/menu.ipxe'), 'http.done msg of the served file');
    expect(got.some((m) => m.payload.path === '/special.txt')).toBe(false);
  });
});
