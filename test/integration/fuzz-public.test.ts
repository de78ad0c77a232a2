import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';
import { rng } from '../helpers/rng';
import { inventoryOnDisk } from '../helpers/inventory-on-disk';

/**
 * A bounded random fuzz of the public HTTP endpoints of the real `npm start`, limits on: methods,
 * content types, bodies up to (and past) the limits, repeated and odd query keys, from 200 client
 * addresses. Afterwards the process is up, no request got a 5xx, memory is back near where it was,
 * and the inventory file parses and holds every device an answer acknowledged (201).
 * Replay a failure with FUZZ_SEED=<seed>.
 */
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const TOTAL = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const CLIENTS = 200;
const IN_FLIGHT = 16;
const password = 'fuzz the public side';

let dir: string;
let srv: StartedServer;
let token: string;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'netboot-fuzz-'));
  mkdirSync(path.join(dir, 'assets', 'ubuntu'), { recursive: true });
  writeFileSync(path.join(dir, 'assets', 'ubuntu', 'vmlinuz'), Buffer.alloc(64 * 1024, 1));
  srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: password });
  await srv.waitForOutput(/inventory: .*inventory\.json/);
  token = await login(srv.baseUrl, password);
  const api = (p: string, body: unknown) => fetch(`${srv.baseUrl}/netboot/api${p}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await api('/profiles', { id: 'ubuntu', name: 'ubuntu', type: 'ubuntu', kernel: 'ubuntu/vmlinuz', cmdline: 'console=tty0 console=ttyS0,115200' });
  await api('/devices', { mac: '52:54:00:00:00:01', profileId: 'ubuntu' });
}, 60_000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const PATHS = [
  '/api/v1/enroll', '/api/v1/boot/check-in', '/api/v1/boot/log', '/api/v1/boot/winpe/logs/upload', '/boot/menu.ipxe',
  '/boot/ubuntu.ipxe', '/boot/nope.ipxe', '/boot/pi/9ffefdef/config.txt', '/boot/pi/dc-a6-32-01-36-c2/cmdline.txt', '/api/v1/boot/ipxe/menu',
  '/api/v1/boot/winpe/startnet.cmd', '/api/v1/boot/winpe/winpeshl.ini', '/boot/assets/ubuntu/vmlinuz', '/boot/assets/../inventory.json',
  '/boot/%2e%2e/inventory.json', '/metrics', '/api/v1/', '/boot/', '/api/v1/enroll/extra', '/boot/pi/x/y/z',
];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'];
const TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/xml', '', 'garbage/?%%'];
const KEYS = ['mac', 'mac', 'uuid', 'serial', 'arch', 'platform', 'ip', 'hostname', 'service_tag', 'stage', 'progress', 'line', 'name', 'device_type', 'mac[]', 'mac[a]', '__proto__', 'constructor', '', '%00'];
const VALUES = ['52:54:00:00:00:01', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '00:00:00:00:00:00', 'x86_64', 'i386', 'evil arch', '${x}', '&&', '%0a', '\u00e9', '-1', '1e999', '9ffefdef', '4c4c4544-0042-3510-8052-b4c04f4e4a31', 'a'.repeat(300), '', 'efi'];

interface Req { method: string; path: string; type: string; body?: Buffer; from: string; enrolMac?: string }

function makeRequest(next: () => number, i: number): Req {
  const pick = <T>(a: readonly T[]) => a[Math.floor(next() * a.length)];
  const method = pick(METHODS);
  const p = next() < 0.05 ? `/${Array.from({ length: 1 + Math.floor(next() * 4) }, () => pick(['boot', 'api', 'v1', '..', '%2f', 'x', '.git'])).join('/')}` : pick(PATHS);
  const nq = Math.floor(next() * 5);
  const q = Array.from({ length: nq }, () => `${encodeURIComponent(pick(KEYS))}=${next() < 0.1 ? pick(VALUES).replace(/[^\x21-\x7e]/g, encodeURIComponent) : encodeURIComponent(pick(VALUES))}`).join('&');
  const from = `127.13.${Math.floor((i % CLIENTS) / 250)}.${(i % CLIENTS) % 250 + 1}`;
  let body: Buffer | undefined;
  let enrolMac: string | undefined;
  const type = pick(TYPES);
  if (method !== 'GET' && method !== 'HEAD' && next() < 0.8) {
    const r = next();
    if (r < 0.4) {
      // a plausible enrolment, often valid
      enrolMac = `52:54:13:${[0, 0, 0].map(() => Math.floor(next() * 256).toString(16).padStart(2, '0')).join(':')}`;
      const doc: Record<string, unknown> = { mac_address: enrolMac };
      if (next() < 0.5) doc.hardware = { model: pick(VALUES), extra: 'y'.repeat(Math.floor(next() * 20_000)), uuid: next() < 0.1 ? pick(VALUES) : '' };
      if (next() < 0.1) doc.service_tag = pick(VALUES);
      if (next() < 0.05) doc.evil = true;
      body = Buffer.from(JSON.stringify(doc));
    } else if (r < 0.55) body = Buffer.from('{"mac_address": "52:54'.slice(0, Math.floor(next() * 22)));
    else if (r < 0.7) body = Buffer.from(`mac=${pick(VALUES)}&line=${'z'.repeat(Math.floor(next() * 6000))}`);
    else if (r < 0.9) body = Buffer.alloc(Math.floor(next() * 80 * 1024), Math.floor(next() * 256));
    else body = Buffer.alloc(1024 * 1024 + Math.floor(next() * 64 * 1024), 0x41);
  }
  // about one request in ten is a well-formed enrolment, so acknowledged writes are many
  if (enrolMac && next() < 0.5) return { method: 'POST', path: '/api/v1/enroll', type: 'application/json', body, from, enrolMac };
  return { method, path: q ? `${p}?${q}` : p, type, body, from, enrolMac };
}

function send(r: Req): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = {};
    if (r.type) headers['content-type'] = r.type;
    if (r.body) headers['content-length'] = String(r.body.length);
    const req = http.request({ host: '127.0.0.1', port: srv.httpPort, method: r.method, path: r.path, headers, localAddress: r.from, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size < 4096) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve({ status: res.statusCode ?? -1, body: '' }));
    });
    req.setTimeout(20_000, () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: -1, body: String(err) }));
    req.end(r.body);
  });
}

describe(`public HTTP fuzz (seed ${SEED}, ${TOTAL} requests)`, () => {
  it('stays up, never answers 5xx, gives memory back and loses no acknowledged write', async () => {
    const next = rng(SEED);
    const pid = srv.child.pid!;
    const statuses = new Map<number, number>();
    const bad: string[] = [];
    const acknowledged = new Set<string>();
    // warm-up (not counted): the heap and malloc arenas grow to their working size first, so the
    // check below sees growth with the number of requests, not the first use of each path
    let i = 0;
    const warm = Math.floor(TOTAL / 5);
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (i < warm) await send(makeRequest(next, i++));
    }));
    const before = rssMiB(pid);
    i = 0;
    const worker = async () => {
      while (i < TOTAL) {
        const n = i++;
        const r = makeRequest(next, n);
        const out = await send(r);
        statuses.set(out.status, (statuses.get(out.status) ?? 0) + 1);
        // a body far past its limit may be cut off by the server before the client has sent it all
        const cutOff = out.status < 0 && (r.body?.length ?? 0) > 64 * 1024 && /EPIPE|ECONNRESET/.test(out.body);
        if ((out.status >= 500 || out.status < 0) && !cutOff) bad.push(`${out.status} ${r.method} ${r.path.slice(0, 120)} ${r.type} ${r.body?.length ?? 0}B: ${out.body.slice(0, 200)}`);
        if (out.status === 201 && r.enrolMac && r.path.startsWith('/api/v1/enroll') && r.method === 'POST') acknowledged.add(r.enrolMac);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const summary = [...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(' ');
    expect(bad, `seed ${SEED}; statuses ${summary}`).toEqual([]);
    // the limits took part
    expect(statuses.get(413) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(415) ?? 0).toBeGreaterThan(0);
    expect(acknowledged.size).toBeGreaterThan(0);
    // up, and answering
    const status = await fetch(`${srv.baseUrl}/netboot/api/status`, { headers: { authorization: `Bearer ${token}` } });
    expect(status.status).toBe(200);
    expect((await fetch(`${srv.baseUrl}/boot/menu.ipxe?mac=52:54:00:00:00:01`)).status).toBe(200);
    // memory: back near the start (GC runs on its own schedule; give it up to 45 idle seconds)
    let after = rssMiB(pid);
    for (let t = 0; t < 90 && after - before > 64; t++) {
      await new Promise((r) => setTimeout(r, 500));
      after = rssMiB(pid);
    }
    const files = readdirSync(dir).filter((f) => f.endsWith('.json') || f.endsWith('.jsonl')).map((f) => `${f} ${(statSync(path.join(dir, f)).size / 1048576).toFixed(1)} MiB`).join(', ');
    expect(after - before, `RSS ${before.toFixed(0)} → ${after.toFixed(0)} MiB; ${files}`).toBeLessThan(64);
    // every acknowledged enrolment is on disk (the file and its journal parse)
    const inv = inventoryOnDisk(dir);
    const stored = new Set(inv.devices.map((d) => d.mac));
    const missing = [...acknowledged].filter((m) => !stored.has(m));
    expect(missing, `seed ${SEED}`).toEqual([]);
    console.log(`fuzz seed ${SEED}: ${TOTAL} requests; statuses ${summary}; ${acknowledged.size} enrolments acknowledged; RSS ${before.toFixed(0)} → ${after.toFixed(0)} MiB`);
  }, 600_000);
});
