/**
 * A big inventory (issue 23, item 3): 10 000 devices, 200 groups, 1 000 000 kept boot events in the
 * JSON store, written as the store's own files before `npm start` (the import API would validate and
 * fsync each record). Measured against the issue's targets, ours only (no other netboot tool keeps
 * this inventory): start to ready, RSS at idle and after 500 machines' check-ins, the device list with
 * filters and pages, the check-in decision (the menu a known machine gets), one device update.
 */
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { login } from './lib/browser';
import { BenchResult, exitCleanly, fmt, parseCommon, pct, procRssMiB, RunOptions, sleep } from './lib/common';
import { haveDist, startNetboot } from './lib/netboot';

const DEVICES = 10_000;
const GROUPS = 200;
const EVENTS = 1_000_000;
const TARGETS = { readyS: 3, listMs: 50, checkinMs: 5, updateMs: 10, rssMiB: 300 };

function mac(i: number): string {
  const h = (n: number) => n.toString(16).padStart(2, '0');
  return ['02', '7e', 'ed', h((i >> 16) & 0xff), h((i >> 8) & 0xff), h(i & 0xff)].join(':');
}

/** inventory.json (schema 3) and inventory.events.jsonl (streamed: 1 M lines), with the log's limit raised to keep them all. */
export async function seed(dir: string): Promise<{ s: number; inventoryMB: number; eventsMB: number }> {
  const t0 = performance.now();
  const at = new Date(Date.now() - 86_400_000).toISOString();
  const profiles = Array.from({ length: 20 }, (_, i) => ({ id: `p${i}`, name: `profile ${i}`, type: 'custom', kernel: `p${i}/vmlinuz`, initrd: [`p${i}/initrd.img`], createdAt: at, updatedAt: at }));
  // 200 groups by rack label, each with its profile (the decision's group matching walks them)
  const groups = Array.from({ length: GROUPS }, (_, i) => ({ id: `rack-${i}`, name: `rack ${i}`, selector: { rack: `r${i}` }, profileId: `p${i % 20}`, createdAt: at, updatedAt: at }));
  const devices = Array.from({ length: DEVICES }, (_, i) => ({
    mac: mac(i), macs: [], hostname: `host-${i}`, arch: i % 3 ? 'efi-x64' : 'bios', firmware: i % 3 ? 'efi' : 'bios',
    labels: { rack: `r${i % GROUPS}`, role: i % 7 ? 'compute' : 'storage' }, status: i % 10 ? 'ready' : 'configured',
    firstSeen: at, lastSeen: at, lastIp: `10.1.${(i >> 8) & 0xff}.${i & 0xff}`, createdAt: at, updatedAt: at,
  }));
  writeFileSync(path.join(dir, 'inventory.json'), JSON.stringify({
    schemaVersion: 3, devices, images: [], profiles, groups, sessions: [], configs: [], builds: [], boots: [],
    settings: { eventLogLimit: EVENTS, registerUnknown: false },
  }));
  const out = createWriteStream(path.join(dir, 'inventory.events.jsonl'));
  const t = Date.now() - EVENTS * 50;
  let chunk = '';
  for (let i = 0; i < EVENTS; i++) {
    const m = mac(i % DEVICES);
    chunk += `${JSON.stringify({ seq: i + 1, ts: new Date(t + i * 50).toISOString(), type: i % 3 ? 'stage' : 'checkin', mac: m, ip: '10.1.0.1', message: i % 3 ? 'dhcp → script' : 'checkin ready', data: i % 3 ? { from: 'dhcp', to: 'script', bootId: 1 } : { action: 'ready' } })}\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      chunk = '';
    }
  }
  out.end(chunk);
  await new Promise<void>((r) => out.once('finish', () => r()));
  const mb = (f: string) => statSync(path.join(dir, f)).size / 1e6;
  return { s: (performance.now() - t0) / 1000, inventoryMB: mb('inventory.json'), eventsMB: mb('inventory.events.jsonl') };
}

/** One request at a time on one keep-alive connection; the time of each. */
async function timed(n: number, req: (i: number) => { method: string; url: string; body?: string; headers?: Record<string, string> }): Promise<{ ms: number[]; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ms: number[] = [];
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const r = req(i);
    const t0 = performance.now();
    const status = await new Promise<number>((resolve, reject) => {
      const q = http.request(r.url, { method: r.method, agent, headers: { ...(r.headers ?? {}), ...(r.body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(r.body) } : {}) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      q.on('error', reject);
      q.end(r.body);
    });
    ms.push(performance.now() - t0);
    if (status >= 400) errors++;
  }
  agent.destroy();
  return { ms: ms.sort((a, b) => a - b), errors };
}

export async function runInventory(opts: RunOptions): Promise<BenchResult> {
  const t0 = performance.now();
  const r: BenchResult = {
    name: 'inventory', title: 'A big inventory: 10 000 devices, 200 groups, 1 000 000 kept events (ours only, against the issue\'s targets)',
    notes: [], header: ['what', 'measured', 'target', ''], rows: [], ratios: [], skipped: [], findings: [], seconds: 0,
  };
  if (!haveDist()) {
    r.skipped.push('dist/ missing: run npm run build');
    return r;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'netboot-bench-inventory-'));
  try {
    const seeded = await seed(dir);
    r.notes.push(`The JSON store (the default), its files written before start in ${fmt(seeded.s)} s: inventory.json ${fmt(seeded.inventoryMB)} MB (${DEVICES} devices labelled by rack and role, ${GROUPS} groups selecting a rack each with a profile, 20 profiles), inventory.events.jsonl ${fmt(seeded.eventsMB)} MB (${EVENTS} events, the event log's limit raised to keep them). \`npm start\` with UDP services off and the public HTTP rate limit off (the client asks from one address). Requests one at a time on one keep-alive connection from a client on the same 2 cores. "check-in decision" = \`GET /boot/menu.ipxe?mac=…\` of a known machine: find it, record the sighting, match its group, render its script.`);
    const started = performance.now();
    const srv = await startNetboot(dir, '/boot/menu.ipxe', { NETBOOT_HTTP_RATE: 'off' }, 180_000);
    const readyS = (performance.now() - started) / 1000;
    try {
      await sleep(2000);
      const rssIdle = procRssMiB(srv.pid);
      const token = await login(srv.baseUrl, 'bench-password-1');
      const auth = { authorization: `Bearer ${token}` };
      const n = opts.quick ? 100 : 400;
      const list = await timed(n, (i) => ({
        method: 'GET', headers: auth,
        url: `${srv.baseUrl}/netboot/api/devices?${[`label.rack=r${i % GROUPS}&limit=100`, `status=ready&offset=${(i * 100) % 9000}&limit=100`, `q=host-${i}&limit=100`, `offset=${(i * 1000) % 9000}&limit=1000`][i % 4]}`,
      }));
      const checkin = await timed(n, (i) => ({ method: 'GET', url: `${srv.baseUrl}/boot/menu.ipxe?mac=${mac((i * 37) % DEVICES)}&arch=x86_64&platform=efi` }));
      const update = await timed(opts.quick ? 50 : 200, (i) => ({ method: 'PATCH', headers: auth, url: `${srv.baseUrl}/netboot/api/devices/${mac((i * 53) % DEVICES)}`, body: JSON.stringify({ labels: { rack: `r${(i * 53) % GROUPS}`, role: 'compute', touched: String(i) } }) }));
      // 500 machines asking for their menus, 50 at a time
      const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
      let storm = 0;
      await Promise.all(Array.from({ length: 50 }, async (_, w) => {
        for (let i = w; i < 500; i += 50) {
          await new Promise<void>((resolve) => http.get(`${srv.baseUrl}/boot/menu.ipxe?mac=${mac(5000 + i)}&arch=x86_64&platform=efi`, { agent }, (res) => {
            if (res.statusCode === 200) storm++;
            res.resume();
            res.on('end', () => resolve());
          }).on('error', () => resolve()));
        }
      }));
      agent.destroy();
      const rssStorm = procRssMiB(srv.pid);
      const row = (what: string, value: number, unit: string, target: number, extra = '') => r.rows.push([what, `${fmt(value, 1)} ${unit}${extra}`, `≤ ${target} ${unit}`, value <= target ? 'met' : '**missed**']);
      row('`npm start` to the first boot script served', readyS, 's', TARGETS.readyS);
      row('RSS at idle', rssIdle, 'MiB', TARGETS.rssMiB);
      row('RSS after 500 machines\' menus (50 at once)', rssStorm, 'MiB', TARGETS.rssMiB, ` (${storm}/500 answered)`);
      const p = (x: { ms: number[] }, q: number) => pct(x.ms, q);
      row(`device list, p99 of ${n} (label filter, status + page, search, 1 000-row pages)`, p(list, 99), 'ms', TARGETS.listMs, ` (p50 ${fmt(p(list, 50))})`);
      row(`check-in decision, p99 of ${n}`, p(checkin, 99), 'ms', TARGETS.checkinMs, ` (p50 ${fmt(p(checkin, 50))})`);
      row(`one device update (PATCH, acknowledged on disk), p99 of ${update.ms.length}`, p(update, 99), 'ms', TARGETS.updateMs, ` (p50 ${fmt(p(update, 50))})`);
      for (const [what, x] of [['list', list], ['check-in', checkin], ['update', update]] as const) if (x.errors) r.findings.push(`**${what}: ${x.errors} answers were errors**`);
      for (const row of r.rows) if (row[3] !== 'met') r.findings.push(`**${row[0]}: ${row[1]}** (target ${row[2]})`);
    } finally {
      await srv.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  r.seconds = (performance.now() - t0) / 1000;
  return r;
}

if (require.main === module) {
  exitCleanly(async () => {
    const r = await runInventory(parseCommon(process.argv.slice(2)));
    console.log(JSON.stringify(r, null, 1));
  });
}
