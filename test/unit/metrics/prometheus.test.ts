import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { MetricsHub } from '../../../lib/metrics';
import { T0, biosBoot, fakeClock, play } from './scenario';

// ---- a small strict parser for the Prometheus text exposition format (version 0.0.4) ----

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  help?: string;
  type?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s: string, line: number): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`line ${line}: bad value ${JSON.stringify(s)}`);
  return Number(s);
}

function parseLabels(s: string, line: number): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`line ${line}: label without "="`);
    const name = s.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`line ${line}: bad label name ${JSON.stringify(name)}`);
    if (name in out) throw new Error(`line ${line}: duplicate label ${name}`);
    if (s[eq + 1] !== '"') throw new Error(`line ${line}: label value must be quoted`);
    let j = eq + 2;
    let value = '';
    for (;;) {
      if (j >= s.length) throw new Error(`line ${line}: unterminated label value`);
      const c = s[j];
      if (c === '\\') {
        const n = s[j + 1];
        if (n === '\\') value += '\\';
        else if (n === '"') value += '"';
        else if (n === 'n') value += '\n';
        else throw new Error(`line ${line}: bad escape \\${n}`);
        j += 2;
      } else if (c === '"') {
        j++;
        break;
      } else if (c === '\n') {
        throw new Error(`line ${line}: raw newline in label value`);
      } else {
        value += c;
        j++;
      }
    }
    out[name] = value;
    if (j === s.length) break;
    if (s[j] !== ',') throw new Error(`line ${line}: expected "," after label ${name}`);
    i = j + 1;
  }
  return out;
}

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  if (families.has(sample)) return families.get(sample);
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sample.endsWith(suffix)) {
      const f = families.get(sample.slice(0, -suffix.length));
      if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
    }
  }
  return undefined;
}

function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: Family | undefined;
  const closed = new Set<string>();
  text.split('\n').forEach((raw, idx) => {
    const line = idx + 1;
    if (raw === '') return;
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!m) return; // other comments are allowed
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
      let f = families.get(name);
      if (!f) {
        if (closed.has(name)) throw new Error(`line ${line}: ${name} appears twice`);
        f = { name, samples: [] };
        families.set(name, f);
      }
      if (current && current !== f) closed.add(current.name);
      current = f;
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new Error(`line ${line}: second HELP for ${name}`);
        f.help = rest;
      } else {
        if (f.type !== undefined) throw new Error(`line ${line}: second TYPE for ${name}`);
        if (f.samples.length > 0) throw new Error(`line ${line}: TYPE after samples of ${name}`);
        if (!TYPES.has(rest)) throw new Error(`line ${line}: bad type ${rest}`);
        f.type = rest;
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(raw);
    if (!m) throw new Error(`line ${line}: not a sample: ${JSON.stringify(raw)}`);
    const [, name, labelText, valueText] = m;
    const f = familyOf(name, families);
    if (!f || !f.type) throw new Error(`line ${line}: sample ${name} has no TYPE before it`);
    if (f !== current) throw new Error(`line ${line}: samples of ${f.name} are not grouped`);
    const labels = labelText ? parseLabels(labelText, line) : {};
    const key = `${name}{${Object.entries(labels).sort().map(([k, v]) => `${k}=${v}`).join(',')}}`;
    if (seen.has(key)) throw new Error(`line ${line}: duplicate sample ${key}`);
    seen.add(key);
    const value = parseValue(valueText, line);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`line ${line}: counter ${name} is ${value}`);
    if (f.type === 'histogram' && name.endsWith('_bucket') && labels.le === undefined) throw new Error(`line ${line}: bucket without le`);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) {
    if (!f.type) throw new Error(`${f.name}: no TYPE`);
    if (f.type === 'histogram') checkHistogram(f);
  }
  return families;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name === `${f.name}_bucket`) entry.buckets.push([parseValue(le, 0), s.value]);
    else if (s.name === `${f.name}_sum`) entry.sum = s.value;
    else if (s.name === `${f.name}_count`) entry.count = s.value;
    else throw new Error(`${f.name}: unexpected sample ${s.name}`);
  }
  for (const [key, e] of series) {
    if (e.sum === undefined || e.count === undefined) throw new Error(`${f.name}${key}: missing _sum or _count`);
    for (let i = 1; i < e.buckets.length; i++) {
      if (!(e.buckets[i][0] > e.buckets[i - 1][0])) throw new Error(`${f.name}${key}: le not increasing`);
      if (e.buckets[i][1] < e.buckets[i - 1][1]) throw new Error(`${f.name}${key}: bucket counts decrease`);
    }
    const last = e.buckets[e.buckets.length - 1];
    if (!last || last[0] !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket`);
    if (last[1] !== e.count) throw new Error(`${f.name}${key}: +Inf bucket ${last[1]} != count ${e.count}`);
  }
}

function value(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of fams.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.keys(labels).length === Object.keys(s.labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}

function monotonic(fams: Map<string, Family>): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of fams.values()) {
    if (f.type !== 'counter' && f.type !== 'histogram') continue;
    for (const s of f.samples) out.set(`${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`, s.value);
  }
  return out;
}

// ---- tests ----

const MAC = '52:54:00:12:34:56';
const IP = '10.0.0.50';

describe('parser self-check', () => {
  it('rejects malformed exposition', () => {
    expect(() => parseExposition('foo 1\n')).toThrow(/no TYPE/);
    expect(() => parseExposition('# TYPE foo counter\nfoo{a="x} 1\n')).toThrow();
    expect(() => parseExposition('# TYPE foo counter\nfoo -1\n')).toThrow(/counter/);
    expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n')).toThrow(/decrease/);
    expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n')).toThrow(/\+Inf/);
    expect(parseExposition('# HELP a x\n# TYPE a gauge\na{b="q\\"\\n"} 3\n').get('a')!.samples[0].labels.b).toBe('q"\n');
  });
});

describe('Prometheus metrics', () => {
  it('exposes every metric in valid text format with the figures of a scripted boot', async () => {
    const clock = fakeClock();
    const hub = new MetricsHub({ clock: clock.now, stallMs: 60_000 });
    const m0 = await hub.metrics();
    expect(m0.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    parseExposition(m0.text);

    play(hub, clock, biosBoot(MAC, IP));
    play(hub, clock, [
      [40_000, { type: 'tftp.notfound', ip: IP, port: 2100, path: 'autoexec.ipxe' }],
      [40_100, { type: 'tftp.start', ip: IP, port: 2101, path: 'pxelinux.0' }],
      [40_200, { type: 'tftp.probe', ip: IP, port: 2101, path: 'pxelinux.0' }],
      [41_000, { type: 'tftp.start', ip: IP, port: 2102, path: 'ipxe.efi' }],
      [41_500, { type: 'tftp.abort', ip: IP, port: 2102, path: 'ipxe.efi', bytes: 512, reason: 'timeout' }],
      [42_000, { type: 'tftp.start', ip: IP, port: 2103, path: 'snponly.efi' }],
      [42_000, { type: 'iscsi.login', mac: MAC, target: 'iqn.2026-01.lan:disk' }],
    ]);
    const fams = parseExposition((await hub.metrics()).text);
    for (const name of ['netboot_dhcp_requests_total', 'netboot_dhcp_answers_total', 'netboot_tftp_transfers_total', 'netboot_tftp_bytes_total', 'netboot_tftp_errors_total',
      'netboot_http_asset_bytes_total', 'netboot_boots_total', 'netboot_stalls_total', 'netboot_boot_duration_seconds', 'netboot_stage_duration_seconds',
      'netboot_tftp_active_transfers', 'netboot_iscsi_sessions', 'netboot_devices']) {
      expect(fams.get(name)?.help, name).toBeTruthy();
    }
    expect(value(fams, 'netboot_dhcp_requests_total', { type: 'discover', arch: 'bios' })).toBe(2);
    expect(value(fams, 'netboot_dhcp_requests_total', { type: 'request', arch: 'bios' })).toBe(1);
    expect(value(fams, 'netboot_dhcp_answers_total', { type: 'offer', arch: 'bios' })).toBe(1);
    expect(value(fams, 'netboot_dhcp_answers_total', { type: 'ack', arch: 'bios' })).toBe(2);
    expect(value(fams, 'netboot_tftp_transfers_total', { outcome: 'done' })).toBe(1);
    expect(value(fams, 'netboot_tftp_transfers_total', { outcome: 'notfound' })).toBe(1);
    expect(value(fams, 'netboot_tftp_transfers_total', { outcome: 'probe' })).toBe(1);
    expect(value(fams, 'netboot_tftp_transfers_total', { outcome: 'abort' })).toBe(1);
    expect(value(fams, 'netboot_tftp_errors_total')).toBe(1);
    expect(value(fams, 'netboot_tftp_bytes_total')).toBe(70_512);
    expect(value(fams, 'netboot_http_asset_bytes_total')).toBe(48_001_000);
    expect(value(fams, 'netboot_tftp_active_transfers')).toBe(1);
    expect(value(fams, 'netboot_iscsi_sessions')).toBe(1);
    expect(value(fams, 'netboot_boots_total', { outcome: 'done' })).toBe(1);
    expect(value(fams, 'netboot_boot_duration_seconds_count')).toBe(1);
    expect(value(fams, 'netboot_boot_duration_seconds_sum')).toBe(30);
    expect(value(fams, 'netboot_stage_duration_seconds_count', { stage: 'kernel' })).toBe(1);
    expect(value(fams, 'netboot_stage_duration_seconds_sum', { stage: 'kernel' })).toBe(15);
    expect(value(fams, 'netboot_stage_duration_seconds_bucket', { stage: 'kernel', le: '10' })).toBe(0);
    expect(value(fams, 'netboot_stage_duration_seconds_bucket', { stage: 'kernel', le: '30' })).toBe(1);
    expect(value(fams, 'netboot_devices', { status: 'ready' })).toBe(1);
    expect(value(fams, 'netboot_devices', { status: 'booting' })).toBe(0);
    hub.close();
  });

  it('only ever raises counters across scrapes', async () => {
    const clock = fakeClock();
    const hub = new MetricsHub({ clock: clock.now, stallMs: 60_000 });
    const scrapes: Map<string, number>[] = [];
    const scrape = async () => scrapes.push(monotonic(parseExposition((await hub.metrics()).text)));
    await scrape();
    play(hub, clock, biosBoot(MAC, IP).slice(0, 8));
    await scrape();
    hub.tick(T0 + 200_000); // stall
    await scrape();
    play(hub, clock, biosBoot(MAC, IP).slice(8), T0 + 197_000); // resumes after the stall
    play(hub, clock, biosBoot('52:54:00:00:00:99', '10.0.0.99'), T0 + 300_000);
    await scrape();
    play(hub, clock, [[0, { type: 'dhcp.discover', mac: MAC, isIpxe: false, clientClass: 'PXEClient', arch: 'efi-x86_64' }]], T0 + 400_000);
    await scrape();
    for (let i = 1; i < scrapes.length; i++) {
      for (const [key, before] of scrapes[i - 1]) {
        const after = scrapes[i].get(key);
        expect(after, `${key} disappeared`).toBeDefined();
        expect(after!, key).toBeGreaterThanOrEqual(before);
      }
    }
    expect(scrapes.at(-1)!.get('netboot_stalls_total[]')).toBe(1);
    hub.close();
  });

  it('uses a private registry and bounds hostile label values', async () => {
    const a = new MetricsHub();
    const b = new MetricsHub(); // same metric names, no clash
    a.publish({ type: 'dhcp.discover', mac: MAC, isIpxe: false, arch: 'x"}\nevil 1' });
    for (let i = 0; i < 50; i++) a.publish({ type: 'dhcp.discover', mac: MAC, isIpxe: false, arch: `arch-${i}` });
    const fams = parseExposition((await a.metrics()).text);
    const archs = new Set(fams.get('netboot_dhcp_requests_total')!.samples.map((s) => s.labels.arch));
    expect(archs.size).toBeLessThanOrEqual(33);
    expect(archs.has('other')).toBe(true);
    expect(value(fams, 'netboot_dhcp_requests_total', { type: 'discover', arch: 'other' })).toBe(1 + 50 - 32);
    expect(await globalRegistry.metrics()).not.toContain('netboot_');
    a.close();
    b.close();
  });
});
