/**
 * The palette path: what a Node-RED user gets who installs this package into the Node-RED they
 * already run. The package is packed (`npm pack`), installed with `--omit=dev` into a fresh user
 * folder as the palette manager does, and a plain Node-RED (no adminAuth, none of npm start's
 * NETBOOT_* variables) is started on it inside a network namespace of its own, so the default ports
 * (67, 4011, 69) are real and free. Then: the nodes load, the reference flow deploys and serves,
 * every example imports beside it without a second server fighting for the ports, and the
 * management API is closed with the reason.
 *
 * Runs on the Node-RED of the repo (4.1), or the one NETBOOT_NODE_RED names (CI: Node-RED 5 on
 * Node 22). Needs root for the namespace; in CI a skip is a failure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/node-red';
import { repo } from '../helpers/start-server';

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot && process.env.CI) throw new Error('palette: CI needs root for network namespaces');

const NS = `nbpal${process.pid % 100000}`;
const SERVER = '10.79.0.1';
const PORT = 1880;
const nodeRedDir = process.env.NETBOOT_NODE_RED ? path.resolve(process.env.NETBOOT_NODE_RED) : path.join(repo, 'node_modules', 'node-red');
const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { name: string; 'node-red': { nodes: Record<string, string> } };

function sh(args: string[], opts: { cwd?: string; timeout?: number } = {}): string {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8', timeout: opts.timeout ?? 20_000, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** curl inside the namespace: [status, body]. */
function curl(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): [number, string] {
  const args = ['ip', 'netns', 'exec', NS, 'curl', '-sS', '-m', '20', '-X', method, '-o', '-', '-w', '\n%{http_code}'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body));
  const out = sh([...args, `http://${SERVER}:${PORT}${url}`], { timeout: 30_000 });
  const i = out.lastIndexOf('\n');
  return [Number(out.slice(i + 1)), out.slice(0, i)];
}

type FlowNode = Record<string, unknown> & { id: string; type: string };

/** What the editor does on import: every node gets a new id, and every reference follows it. */
function withNewIds(flow: FlowNode[], tag: string): FlowNode[] {
  const ids = new Map(flow.map((n) => [n.id, `${n.id}-${tag}`]));
  const map = (v: unknown): unknown => {
    if (typeof v === 'string') return ids.get(v) ?? v;
    if (Array.isArray(v)) return v.map(map);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, map(x)]));
    return v;
  };
  return flow.map((n) => map(n) as FlowNode);
}

describe.skipIf(!isRoot)(`installed from the palette into Node-RED ${path.basename(nodeRedDir)}`, () => {
  let work: string;
  let userDir: string;
  let red: ChildProcess | undefined;
  let log = '';

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'netboot-palette-'));
    userDir = path.join(work, 'user');
    mkdirSync(path.join(userDir, 'assets'), { recursive: true });
    // the package as it would be published (dist/ is built by `npm test` before the tests run)
    const tarball = sh(['npm', 'pack', '--ignore-scripts', '--silent', '--pack-destination', work, repo], { cwd: work, timeout: 60_000 }).trim().split('\n').pop()!;
    writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
    sh(['npm', 'install', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts', path.join(work, tarball)], { cwd: userDir, timeout: 120_000 });
    writeFileSync(path.join(userDir, 'settings.js'), `module.exports = { uiPort: ${PORT}, uiHost: '${SERVER}', flowFile: 'flows.json', credentialSecret: false, logging: { console: { level: 'info' } } };\n`);
    writeFileSync(path.join(userDir, 'assets', 'hello.txt'), 'served from the palette install\n');

    sh(['ip', 'netns', 'add', NS]);
    sh(['ip', '-n', NS, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', NS, 'link', 'add', 'vp0', 'type', 'veth', 'peer', 'name', 'vp1']);
    sh(['ip', '-n', NS, 'addr', 'add', `${SERVER}/24`, 'dev', 'vp0']);
    sh(['ip', '-n', NS, 'link', 'set', 'vp0', 'up']);
    sh(['ip', '-n', NS, 'link', 'set', 'vp1', 'up']);
    sh(['ip', '-n', NS, 'route', 'add', 'default', 'via', '10.79.0.254', 'dev', 'vp0']);

    // a plain Node-RED: none of npm start's NETBOOT_* variables, no adminAuth
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NETBOOT_')));
    red = spawn('ip', ['netns', 'exec', NS, process.execPath, path.join(nodeRedDir, 'red.js'), '--userDir', userDir, '--settings', path.join(userDir, 'settings.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    red.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
    red.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    await waitFor(() => /Started flows/.test(log), `Node-RED to start:\n${log}`, 60_000);
  }, 240_000);

  afterAll(() => {
    red?.kill('SIGTERM');
    try {
      sh(['ip', 'netns', 'delete', NS]);
    } catch {
      // already gone
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('loads every node of the package, with no error', () => {
    const [status, body] = curl('GET', '/nodes', undefined, { Accept: 'application/json' });
    expect(status).toBe(200);
    const sets = (JSON.parse(body) as Array<{ module: string; types: string[]; err?: string; enabled: boolean }>).filter((s) => s.module === pkg.name);
    expect(sets.map((s) => s.err).filter(Boolean)).toEqual([]);
    expect(sets.flatMap((s) => s.types).sort()).toEqual(Object.keys(pkg['node-red'].nodes).sort());
  });

  it('deploys the reference flow with the defaults (no ${NETBOOT_*} set) and serves boot files on the standard ports', async () => {
    const reference = JSON.parse(readFileSync(path.join(repo, 'examples', '00-reference-flow.json'), 'utf8')) as FlowNode[];
    const [status, body] = curl('POST', '/flows', reference, { 'Node-RED-Deployment-Type': 'full' });
    expect(status, body).toBe(204);
    await waitFor(() => /TFTP\b.*\b69\b/i.test(log) && /inventory: /.test(log), `the boot server to start:\n${log}`, 30_000);
    expect(log).not.toMatch(/invalid configuration/);
    const file = sh(['ip', 'netns', 'exec', NS, 'curl', '-sS', '-m', '10', `tftp://${SERVER}/hello.txt`]);
    expect(file).toBe('served from the palette install\n');
    // the base URL follows the host's uiPort: the chain script points at it
    const [, script] = curl('GET', '/boot/menu.ipxe?mac=52:54:00:12:34:56');
    expect(script).toContain(`http://${SERVER}:${PORT}/`);
  });

  it('imports every example beside the reference flow without a second server fighting for the ports', async () => {
    const examples = readdirSync(path.join(repo, 'examples')).filter((f) => f.endsWith('.json'));
    expect(examples.length).toBeGreaterThan(0);
    const [, current] = curl('GET', '/flows', undefined, { Accept: 'application/json' });
    let flows = JSON.parse(current) as FlowNode[];
    examples.forEach((f, i) => {
      flows = flows.concat(withNewIds(JSON.parse(readFileSync(path.join(repo, 'examples', f), 'utf8')) as FlowNode[], `ex${i}`));
    });
    const before = log.length;
    const [status, body] = curl('POST', '/flows', flows, { 'Node-RED-Deployment-Type': 'full' });
    expect(status, body).toBe(204);
    await waitFor(() => (log.slice(before).match(/sharing its boot server/g) ?? []).length >= examples.length, `every example to share the server:\n${log.slice(before)}`, 30_000);
    const after = log.slice(before);
    expect(after).not.toMatch(/EADDRINUSE|address already in use/i);
    expect(after).not.toMatch(/invalid configuration/);
    // still one server, still serving
    expect(sh(['ip', 'netns', 'exec', NS, 'curl', '-sS', '-m', '10', `tftp://${SERVER}/hello.txt`])).toBe('served from the palette install\n');
  });

  it('keeps the management API closed without adminAuth, and says why', () => {
    for (const [method, url] of [['GET', '/netboot/api/devices'], ['POST', '/netboot/api/import'], ['GET', '/netboot/api/status']]) {
      const [status, body] = curl(method, url, method === 'POST' ? {} : undefined);
      expect(status, `${method} ${url}`).toBe(403);
      expect((JSON.parse(body) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'no_admin_auth', message: expect.stringMatching(/adminAuth/) });
    }
    expect(log).toMatch(/no adminAuth/);
  });
});
