import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { coreNode, distNode, nodeRedSuite, waitFor } from '../helpers/node-red';

/**
 * The boot script's fast path (nodes/shared/menu-chain.ts): the plain chain http in → netboot-checkin
 * → netboot-ipxe → http response answered by the check-in node without messages, compared over real
 * HTTP with the same chain made to go through messages (a pass-through function node in it).
 */
const { helper, tempDir } = nodeRedSuite();
let httpNode: Parameters<typeof request>[0];
const catchHttpNode = (RED: { httpNode: Parameters<typeof request>[0] }) => {
  httpNode = RED.httpNode;
};
const nodes = [distNode('netboot-server'), distNode('netboot-checkin'), distNode('netboot-ipxe'), coreNode('network/21-httpin.js'), coreNode('function/10-function.js'),
  coreNode('common/25-catch.js'), coreNode('common/24-complete.js'), catchHttpNode];

type Def = Record<string, unknown>;
let dir: string;

const server: Def = { id: 'srv', type: 'netboot-server', serverIp: '10.0.0.5', bind: '127.0.0.1', httpPort: '1880', dhcpMode: 'off', dhcpPort: '-1', proxyPort: '-1', tftpPort: '-1', httpRate: 'off' };

/** The reference flow's menu chain, with its catch node; `between` goes between netboot-ipxe and http response. */
function chain(opts: { between?: boolean; tap?: boolean; complete?: boolean; headers?: Record<string, string> } = {}): Def[] {
  return [
    { id: 'tab', type: 'tab' },
    { ...server, dataDir: dir },
    { id: 'in', z: 'tab', type: 'http in', url: '/boot/menu.ipxe', method: 'get', wires: [['ck']] },
    { id: 'ck', z: 'tab', type: 'netboot-checkin', server: 'srv', wires: opts.tap ? [['ipxe'], ['ipxe'], ['ipxe', 'fn']] : [['ipxe'], ['ipxe'], ['ipxe']] },
    { id: 'ipxe', z: 'tab', type: 'netboot-ipxe', server: 'srv', script: 'auto', wires: [[opts.between ? 'fn' : 'res']] },
    { id: 'fn', z: 'tab', type: 'function', func: 'flow.set("seen", (flow.get("seen") || 0) + 1); return msg;', wires: [opts.between ? ['res'] : []] },
    { id: 'res', z: 'tab', type: 'http response', statusCode: '', headers: opts.headers ?? {}, wires: [] },
    { id: 'catcher', z: 'tab', type: 'catch', scope: ['ck', 'ipxe'], uncaught: false, wires: [['res']] },
    ...(opts.complete ? [{ id: 'done', z: 'tab', type: 'complete', scope: ['ipxe'], uncaught: false, wires: [['fn']] }] : []),
  ];
}

async function load(flow: Def[]) {
  await helper.load(nodes, flow);
  const srv = await waitFor(() => helper.getNode('srv'), 'server node');
  return { srv, store: await waitFor(() => srv.bootServer?.store, 'store') };
}

/** Deploys a changed flow into the running runtime, as the editor's Deploy does. */
async function deploy(flow: Def[], type: 'nodes') {
  await helper.setFlows(flow, type);
  await new Promise((r) => setTimeout(r, 50));
}

/** Stops the flows and starts `flow` on the same data folder. */
async function reload(flow: Def[]) {
  await helper.unload();
  return load(flow);
}

/** The flow's message path ran for the last requests: the http in node made messages. */
function messages() {
  // the same spy again when the http in node kept running over a deploy: counted from now
  return vi.spyOn(helper.getNode('in'), 'send').mockClear();
}

/** How many msgs the function node saw. */
const seen = (): number => helper.getNode('fn').context().flow.get('seen') ?? 0;
const get = (url: string) => request(httpNode).get(url);
const answer = (r: request.Response) => ({
  status: r.status, body: r.text,
  headers: Object.fromEntries(['content-type', 'cache-control', 'content-length', 'etag', 'access-control-allow-origin'].map((h) => [h, r.headers[h]])),
});

async function seed(store: any) { // eslint-disable-line @typescript-eslint/no-explicit-any
  await store.profiles.create({ id: 'rescue', name: 'Rescue', type: 'rescue', kernel: 'rescue/vmlinuz', initrd: ['rescue/initrd'], cmdline: { ip: 'dhcp' } });
  await store.profiles.create({ id: 'bad', name: 'Bad', type: 'custom', kernel: 'x/vmlinuz', cmdline: { console: 'tty0 ${evil}' } });
  await store.devices.create({ mac: '52:54:00:00:01:01', profileId: 'rescue' });
  await store.devices.create({ mac: '52:54:00:00:01:02' });
  await store.devices.create({ mac: '52:54:00:00:01:03', profileId: 'bad' });
}

const MACHINES = {
  unknown: '/boot/menu.ipxe?mac=52-54-00-00-01-09&arch=x86_64&platform=efi',
  withProfile: '/boot/menu.ipxe?mac=52:54:00:00:01:01&platform=pcbios',
  withoutProfile: '/boot/menu.ipxe?mac=52-54-00-00-01-02',
  unsafe: '/boot/menu.ipxe?mac=52:54:00:00:01:03',
};

describe('the boot script fast path', () => {
  it('answers the plain chain without messages, byte for byte as the message path does, and records the check-in the same', async () => {
    dir = tempDir('netboot-menu-fast-');
    let { srv, store } = await load(chain({ between: true }));
    await seed(store);
    let server = srv.bootServer;
    const events: Array<Record<string, unknown>> = [];
    server.events.subscribe((e: Record<string, unknown>) => {
      if (e.type === 'checkin') events.push(e);
    });

    // the message path (a pass-through function node in the chain), then the plain chain
    const runAll = async () => {
      const out: Record<string, ReturnType<typeof answer>> = {};
      for (const [name, url] of Object.entries(MACHINES)) out[name] = answer(await get(url));
      // a conditional GET and a HEAD take Express's own answer on both paths
      out.conditional = answer(await get(MACHINES.withoutProfile).set('If-None-Match', out.withoutProfile.headers.etag));
      out.head = answer(await request(httpNode).head(MACHINES.withoutProfile));
      return out;
    };
    const viaMessages = await runAll();
    expect(viaMessages.withProfile.body).toContain('rescue/vmlinuz');
    expect(viaMessages.unsafe.status).toBe(400);
    expect(viaMessages.conditional.status).toBe(304);
    const slowEvents = events.splice(0);
    const slowAudit = server.audit.list({ kind: 'fetch' });
    const seenBefore = (await store.devices.get('52:54:00:00:01:01')).lastSeen;

    // the same data folder with the plain chain (a fresh start: the runtime under test rewires badly on a redeploy that changes wires)
    await helper.unload();
    ({ srv, store } = await load(chain()));
    server = srv.bootServer;
    server.events.subscribe((e: Record<string, unknown>) => {
      if (e.type === 'checkin') events.push(e);
    });
    const sent = messages();
    const fast = await runAll();
    expect(sent).not.toHaveBeenCalled();
    expect(fast).toEqual(viaMessages);
    expect(fast.unknown.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(fast.unknown.headers['cache-control']).toBe('no-store');
    expect(fast.unsafe.body).toMatch(/kernel\.params\.console/);

    // the same check-in events, audit records and sightings
    const strip = (e: Record<string, unknown>) => ({ ...e, seq: undefined, ts: undefined });
    expect(events.map(strip)).toEqual(slowEvents.map(strip));
    expect(events.length).toBeGreaterThanOrEqual(3);
    const audit = server.audit.list({ kind: 'fetch', afterSeq: slowAudit.at(-1).seq });
    expect(audit.map(strip).sort((a: { mac: string }, b: { mac: string }) => a.mac.localeCompare(b.mac)))
      .toEqual(slowAudit.map(strip).sort((a: { mac: string }, b: { mac: string }) => a.mac.localeCompare(b.mac)));
    expect(slowAudit.some((a: { profile?: string }) => a.profile === 'rescue')).toBe(true);
    expect((await store.devices.get('52:54:00:00:01:01')).lastSeen >= seenBefore).toBe(true);
    const stored = await waitFor(async () => {
      const list = await store.listEvents({ mac: '52:54:00:00:01:01' });
      return list.filter((e: { type: string }) => e.type === 'checkin').length >= 2 && list;
    }, 'both check-ins stored');
    expect(stored.filter((e: { type: string }) => e.type === 'checkin').map((e: Record<string, unknown>) => ({ ...e, seq: undefined, ts: undefined, id: undefined })))
      .toEqual(expect.arrayContaining([expect.objectContaining({ type: 'checkin', mac: '52:54:00:00:01:01' })]));
    // the nodes' statuses are the message path's
    const status = vi.spyOn(helper.getNode('ipxe'), 'status');
    await new Promise((r) => setTimeout(r, 600));
    await get(MACHINES.withoutProfile).expect(200);
    expect(status).toHaveBeenCalledWith(expect.objectContaining({ fill: 'green' }));
  });

  it('turns itself off for a node in the chain, a second wire or a Complete node, and back on when the plain chain is deployed again', async () => {
    dir = tempDir('netboot-menu-fast-');
    const { store } = await load(chain());
    await seed(store);
    let sent = messages();
    await get(MACHINES.unknown).expect(200);
    expect(sent).not.toHaveBeenCalled();

    // a function node between netboot-ipxe and http response: the flow's logic runs
    await reload(chain({ between: true }));
    sent = messages();
    let before = seen();
    await get(MACHINES.unknown).expect(200);
    expect(sent).toHaveBeenCalledTimes(1);
    expect(seen()).toBe(before + 1);

    // a debug tap on one output of the check-in node
    await reload(chain({ tap: true }));
    sent = messages();
    before = seen();
    await get(MACHINES.unknown).expect(200);
    expect(sent).toHaveBeenCalledTimes(1);
    await waitFor(() => seen() === before + 1, 'the tap got the msg');

    // a Complete node watching netboot-ipxe
    await reload(chain({ complete: true }));
    sent = messages();
    before = seen();
    await get(MACHINES.unknown).expect(200);
    expect(sent).toHaveBeenCalledTimes(1);
    await waitFor(() => seen() === before + 1, 'the complete node got the msg');

    // headers on the response node, changed alone (a "modified nodes" deploy: the check-in node keeps running)
    await reload(chain());
    await deploy(chain({ headers: { 'x-site': 'lab' } }), 'nodes');
    sent = messages();
    const r = await get(MACHINES.unknown).expect(200);
    expect(r.headers['x-site']).toBe('lab');
    expect(sent).toHaveBeenCalledTimes(1);

    // the plain chain again: fast again; the flows stopped: no route
    await deploy(chain(), 'nodes');
    sent = messages();
    await get(MACHINES.unknown).expect(200);
    expect(sent).not.toHaveBeenCalled();
    await helper.unload();
    await get(MACHINES.unknown).expect(404);
  });

  it('sends errors to the Catch node, which answers as in the message path; without one nothing answers', async () => {
    dir = tempDir('netboot-menu-fast-');
    const { store } = await load(chain());
    await seed(store);
    const errors = vi.spyOn(helper.getNode('ipxe'), 'error');
    const sent = messages();
    const r = await get(MACHINES.unsafe).expect(400);
    expect(sent).not.toHaveBeenCalled();
    expect(r.body.error.field).toBe('kernel.params.console');
    expect(errors).toHaveBeenCalledTimes(1);
    expect(errors.mock.calls[0][1]).toMatchObject({ statusCode: 400, req: expect.anything(), res: { _res: expect.anything() }, _msgid: expect.any(String) });

    // no Catch node: the error is logged by the node and the request stays unanswered, as before
    await reload(chain().filter((n) => n.id !== 'catcher'));
    const hung = await get(MACHINES.unsafe).timeout(500).then(() => 'answered', (e: { timeout?: number }) => (e.timeout ? 'timed out' : String(e)));
    expect(hung).toBe('timed out');
  });
});
