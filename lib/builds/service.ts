import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createReadStream, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { NetbootError } from '../core/errors';
import { normalizeMac } from '../core/mac';
import type { Build, Device, InventoryStore } from '../store';
import { BUILTIN_RECIPES, checkParams, stepsFor, type Recipe } from './recipes';

/**
 * Image builds for machines: a queue (concurrency, per-build timeout, cancel), the recipe runner, and
 * what a build's success or failure means for the machine.
 *
 * Lifecycle: a build sets the device `building`; success copies the artifacts into
 * `<assets>/machines/<mac>/<build id>/`, points the machine's own profile (`machine-<mac>`, created on
 * the first build) at them in one store write, and sets the device `ready`; failure sets it `failed`
 * with the reason and leaves its profile on the previous build, so a broken recipe never leaves a
 * machine without an image. The last `keep` successful builds stay; older ones are deleted.
 *
 * Several servers, one queue: a build is taken with `store.claimBuild` (on PostgreSQL `SELECT … FOR
 * UPDATE SKIP LOCKED`, so no build runs twice) under a lease the runner renews every `leaseMs / 3`.
 * A server that dies stops renewing; once its lease lapses another server takes the build over and
 * runs it again. A runner whose renewal is refused (taken over, or cancelled elsewhere) stops and
 * writes nothing. The queue is looked at when a build is requested or finishes, when the store
 * announces a `builds` change (from any server), and every `leaseMs / 2`.
 *
 * Restart safety: a build that was `building` for this server when Node-RED stopped is marked
 * `failed` ("interrupted") at the next start (see `open`); `pending` ones run.
 */

export interface BuildServiceOptions {
  store: InventoryStore;
  assetsRoot: string;
  dataDir: string;
  /** The server's base URL, for NETBOOT_SERVER. */
  baseUrl: string;
  concurrency?: number;
  timeoutMs?: number;
  /** Successful builds kept per machine (default 3). */
  keep?: number;
  /** Recipes besides the shipped ones (by name; a user recipe may replace a shipped one). */
  recipes?: Record<string, Recipe>;
  log?: { info(m: string): void; warn(m: string): void; error(m: string): void };
  /** This server in `claimedBy` (default `<hostname>:<pid>`). */
  owner?: string;
  /** How long a claim holds without renewal (default 60 s); renewed every third of it. */
  leaseMs?: number;
}

export interface BuildProgress {
  build: Build;
  /** `status` (a status change) or `log` (a line of output). */
  kind: 'status' | 'log';
  line?: string;
}

const LIVE: ReadonlySet<Build['status']> = new Set(['pending', 'building']);

async function allBuilds(store: InventoryStore, filter?: Record<string, string>): Promise<Build[]> {
  const out: Build[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = await store.builds.list({ offset, limit: 500, ...(filter ? { filter } : {}) });
    out.push(...page.items);
    if (page.items.length === 0 || out.length >= page.total) return out;
  }
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function machineProfileId(mac: string): string {
  return `machine-${mac.replace(/:/g, '')}`;
}

export class BuildService extends EventEmitter {
  private readonly store: InventoryStore;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly keep: number;
  private readonly running = new Map<string, AbortController>();
  private readonly runs = new Set<Promise<void>>();
  /** Running builds whose lease another server now holds (or that were cancelled elsewhere). */
  private readonly lost = new Set<string>();
  private readonly owner: string;
  private readonly leaseMs: number;
  private closed = false;
  private pumping = false;
  /** Settles when the pump under way has claimed what it will (close waits for it). */
  private pumpDone: Promise<void> = Promise.resolve();
  /** Asked to pump while pumping: go round once more (a build may have arrived after the last claim). */
  private again = false;
  private stopWatching?: () => void;
  private poll?: NodeJS.Timeout;
  /** Log lines per build sent as progress, for the rate limit (20 per second). */
  private readonly lineBudget = new Map<string, { at: number; n: number; dropped: number }>();

  constructor(private readonly opts: BuildServiceOptions) {
    super();
    this.store = opts.store;
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.timeoutMs = opts.timeoutMs ?? 30 * 60_000;
    this.keep = Math.max(1, opts.keep ?? 3);
    this.owner = opts.owner ?? `${hostname()}:${process.pid}`;
    const lease = opts.leaseMs ?? 60_000;
    this.leaseMs = Number.isFinite(lease) && lease > 0 ? Math.max(30, lease) : 60_000;
  }

  get recipes(): Record<string, Recipe> {
    return { ...BUILTIN_RECIPES, ...(this.opts.recipes ?? {}) };
  }

  /**
   * Marks builds a stopped Node-RED left running as failed, then runs what is pending and watches the
   * queue. Only this server's builds are failed at once: those claimed by its owner, by nobody (from
   * before leases), or by an earlier process on this host that is gone (the JSON file after a restart).
   * Another live server's builds are left to their lease.
   */
  async open(): Promise<void> {
    for (const b of await allBuilds(this.store, { status: 'building' })) {
      if (!this.leftByUs(b.claimedBy)) continue;
      await this.store.builds.update(b.id, { status: 'failed', error: 'interrupted: Node-RED stopped during the build', endedAt: new Date().toISOString() });
      await this.setDevice(b.mac, 'failed', `build ${b.id} interrupted`).catch(() => undefined);
      await this.record(b, 'build.failed', `build ${b.id} (${b.recipe}) interrupted: Node-RED stopped during the build`);
    }
    this.stopWatching = this.store.onChange((c) => {
      if (c === 'builds' || c === 'all') void this.pump();
    });
    this.poll = setInterval(() => void this.pump(), this.leaseMs / 2);
    this.poll.unref();
    void this.pump();
  }

  /** Whether a `building` build's owner is this server or one that cannot still be running it. */
  private leftByUs(owner: string | undefined): boolean {
    if (!owner || owner === this.owner) return true;
    const m = /^(.*):(\d+)$/.exec(owner);
    if (!m || m[1] !== hostname()) return false;
    try {
      process.kill(Number(m[2]), 0);
      return false; // that process lives (another server on this host)
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }

  /** Stops running builds (they end `cancelled`) and waits until they have written their outcome. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopWatching?.();
    clearInterval(this.poll);
    await this.pumpDone;
    for (const c of this.running.values()) c.abort(new Error('Node-RED is stopping'));
    await Promise.allSettled([...this.runs]);
  }

  /** Queues a build for a known machine; its recipe is the argument, else the device's `build.recipe` label. */
  async request(input: { mac: string; recipe?: string; params?: unknown; by?: string }): Promise<Build> {
    const mac = normalizeMac(input.mac);
    const device = await this.store.devices.get(mac);
    if (!device) throw new NetbootError('not_found', `machine ${mac} is not in the inventory`, { field: 'mac' });
    const recipe = input.recipe ?? device.labels['build.recipe'];
    if (!recipe) throw new NetbootError('validation', 'field "recipe": name one (initramfs, debian, nixos or a recipe of the build node), or give the device the label build.recipe', { field: 'recipe' });
    const r = this.recipes[recipe];
    if (!r) throw new NetbootError('validation', `field "recipe": no recipe "${recipe}" (have ${Object.keys(this.recipes).join(', ')})`, { field: 'recipe' });
    const params = checkParams(input.params);
    stepsFor(r, { outputDir: '/x', params }); // a missing required param is refused now, not at run time
    const live = (await allBuilds(this.store, { mac })).find((b) => LIVE.has(b.status));
    if (live) throw new NetbootError('conflict', `machine ${mac} already has a ${live.status} build (${live.id})`, { field: 'mac', build: live.id });
    const id = `b-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const build = await this.store.builds.create({ id, mac, recipe, params, status: 'pending', log: path.join('builds', `${id}.log`), ...(input.by ? { by: input.by } : {}) });
    this.emit('progress', { build, kind: 'status' } satisfies BuildProgress);
    void this.pump();
    return build;
  }

  async get(id: string): Promise<Build> {
    const b = await this.store.builds.get(id);
    if (!b) throw new NetbootError('not_found', `no build "${id}"`, { id });
    return b;
  }

  async list(query: { mac?: string; status?: string } = {}): Promise<Build[]> {
    const filter: Record<string, string> = {};
    if (query.mac) filter.mac = normalizeMac(query.mac);
    if (query.status) filter.status = query.status;
    return (await allBuilds(this.store, filter)).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async log(id: string): Promise<string> {
    const b = await this.get(id);
    return fsp.readFile(path.join(this.opts.dataDir, b.log ?? ''), 'utf8').catch(() => '');
  }

  /** Cancels a pending build, or stops a running one (its process is killed). */
  async cancel(id: string): Promise<Build> {
    const b = await this.get(id);
    if (!LIVE.has(b.status)) throw new NetbootError('conflict', `build ${id} is ${b.status}`, { id });
    const c = this.running.get(id);
    if (c) {
      c.abort(new Error('cancelled'));
      return b;
    }
    // running on another server: it sees the cancel at its next lease renewal and stops
    const error = b.status === 'building' ? `cancelled while running on ${b.claimedBy ?? 'another server'}` : 'cancelled before it started';
    const done = await this.store.builds.update(id, { status: 'cancelled', endedAt: new Date().toISOString(), error });
    this.emit('progress', { build: done, kind: 'status' } satisfies BuildProgress);
    return done;
  }

  /** The oldest pending build (or one whose server's lease lapsed), taken for this server. */
  private async claim(): Promise<Build | undefined> {
    return this.store.claimBuild(this.owner, this.leaseMs);
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    let done!: () => void;
    this.pumpDone = new Promise((r) => (done = r));
    try {
      do {
        this.again = false;
        await this.fill();
      } while (this.again && !this.closed);
    } catch (err) {
      // the database may be away for a while: the next change or tick tries again
      this.opts.log?.warn(`build queue: ${(err as Error).message}`);
    } finally {
      this.pumping = false;
      done();
    }
  }

  /** Claims builds while there is room, each run in the background. */
  private async fill(): Promise<void> {
    while (!this.closed && this.running.size < this.concurrency) {
      const b = await this.claim();
      if (!b) break;
      if (this.closed) {
        // claimed while Node-RED was stopping: hand it back at once (its lease ends now) rather than run it
        await this.store.builds.update(b.id, { leaseUntil: new Date().toISOString() }).catch(() => undefined);
        break;
      }
      const ctl = new AbortController();
      this.running.set(b.id, ctl);
      // a run that cannot even record its outcome (the store closed or away) is logged, never left unhandled
      const run: Promise<void> = this.run(b, ctl).catch((err: Error) => {
        this.opts.log?.warn(`build ${b.id}: ${err.message}`);
      }).finally(() => {
        this.running.delete(b.id);
        this.lineBudget.delete(b.id);
        this.runs.delete(run);
        void this.pump();
      });
      this.runs.add(run);
    }
  }

  /**
   * Renews this server's lease on a running build; when the store refuses (taken over after the
   * lease lapsed, or cancelled from another server) the run is stopped and will write nothing.
   * A renewal that fails (the database away) is only logged: the lease may still hold.
   */
  private async renew(b: Build, ctl: AbortController): Promise<boolean> {
    let mine: boolean;
    try {
      mine = await this.store.renewBuild(b.id, this.owner, this.leaseMs);
    } catch (err) {
      this.opts.log?.warn(`build ${b.id}: renewing its lease: ${(err as Error).message}`);
      return true;
    }
    if (!mine && !this.lost.has(b.id)) {
      this.lost.add(b.id);
      this.opts.log?.warn(`build ${b.id} is no longer this server's (${this.owner}): taken over after its lease lapsed, or cancelled; stopping it without recording an outcome`);
      ctl.abort(new Error('lease lost'));
    }
    return mine;
  }

  private async run(b: Build, ctl: AbortController): Promise<void> {
    const started = Date.now();
    const leaseLost = () => this.lost.has(b.id);
    const recipe = this.recipes[b.recipe];
    const device = await this.store.devices.get(b.mac);
    const logFile = path.join(this.opts.dataDir, b.log ?? path.join('builds', `${b.id}.log`));
    await fsp.mkdir(path.dirname(logFile), { recursive: true });
    const log = await fsp.open(logFile, 'a');
    const work = await fsp.mkdtemp(path.join(this.opts.dataDir, 'builds', `${b.id}-`));
    const outputDir = path.join(work, 'out');
    await fsp.mkdir(outputDir);
    const write = async (line: string) => {
      await log.write(`${line}\n`);
      this.progressLine(b, line);
    };
    this.emit('progress', { build: b, kind: 'status' } satisfies BuildProgress);
    await this.setDevice(b.mac, 'building');
    await this.record(b, 'build.start', `build ${b.id} started (${b.recipe})${(b.attempts ?? 1) > 1 ? `, attempt ${b.attempts} (taken over from a server that stopped)` : ''}`);
    const lease = setInterval(() => void this.renew(b, ctl), this.leaseMs / 3);
    lease.unref();
    try {
      if (!recipe) throw new NetbootError('validation', `recipe "${b.recipe}" is gone (the build node no longer has it)`);
      const deviceJson = path.join(work, 'device.json');
      await fsp.writeFile(deviceJson, JSON.stringify(device ?? { mac: b.mac }, null, 2));
      const env: Record<string, string> = {
        ...(recipe.env ?? {}),
        NETBOOT_MAC: b.mac, NETBOOT_MAC_DASHED: b.mac.replace(/:/g, '-'), NETBOOT_HOSTNAME: device?.hostname ?? '', NETBOOT_BUILD_ID: b.id,
        NETBOOT_RECIPE: b.recipe, NETBOOT_WORK_DIR: work, NETBOOT_OUTPUT_DIR: outputDir, NETBOOT_DEVICE_JSON: deviceJson, NETBOOT_SERVER: this.opts.baseUrl,
      };
      for (const [k, v] of Object.entries(b.params ?? {})) env[`NETBOOT_PARAM_${k.toUpperCase()}`] = v;
      const { execa } = await import('execa');
      const deadline = started + (recipe.timeoutMs ?? this.timeoutMs);
      for (const step of stepsFor(recipe, { outputDir, params: b.params ?? {} })) {
        await write(`$ ${step.join(' ')}`);
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new NetbootError('timeout', `timed out after ${Math.round((recipe.timeoutMs ?? this.timeoutMs) / 1000)} s`);
        // each step in a process group of its own, so a cancel or a timeout ends what it started too
        const opts = { cwd: work, env, extendEnv: true, reject: false, stdin: 'ignore', all: true, detached: true } as const;
        const child = recipe.shell ? execa(step.join(' '), { ...opts, shell: true }) : execa(step[0], step.slice(1), opts);
        let timedOut = false;
        const killGroup = (sig: NodeJS.Signals) => {
          try {
            if (child.pid) process.kill(-child.pid, sig);
          } catch {
            // already gone
          }
        };
        const stop = () => {
          killGroup('SIGTERM');
          setTimeout(() => killGroup('SIGKILL'), 3000).unref();
        };
        const timer = setTimeout(() => {
          timedOut = true;
          stop();
        }, remaining);
        ctl.signal.addEventListener('abort', stop, { once: true });
        child.all?.setEncoding('utf8');
        let rest = '';
        child.all?.on('data', (chunk: string) => {
          const lines = (rest + chunk).split('\n');
          rest = lines.pop() ?? '';
          for (const l of lines) void write(l);
        });
        const r = await child.finally(() => {
          clearTimeout(timer);
          ctl.signal.removeEventListener('abort', stop);
        });
        if (rest) await write(rest);
        if (timedOut) throw new NetbootError('timeout', `timed out after ${Math.round((recipe.timeoutMs ?? this.timeoutMs) / 1000)} s`, { exitCode: null });
        if (ctl.signal.aborted) throw Object.assign(new NetbootError('conflict', 'cancelled'), { cancelled: true });
        if ((r as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(r.message ?? ''))) throw new NetbootError('unavailable', `${step[0]} is not installed`, { exitCode: null });
        if (r.exitCode !== 0) throw new NetbootError('internal', `${path.basename(step[0])} exited with ${String(r.exitCode)}${r.signal ? ` (${r.signal})` : ''}`, { exitCode: r.exitCode ?? null });
      }
      // the last word on whose build this is, before anything points at what it made
      if (!(await this.renew(b, ctl)) || leaseLost()) throw new NetbootError('conflict', 'lease lost');
      const artifacts = await this.install(b, recipe, outputDir);
      const done = await this.store.builds.update(b.id, { status: 'success', endedAt: new Date().toISOString(), exitCode: 0, artifacts });
      await write(`build ${b.id}: success in ${Math.round((Date.now() - started) / 1000)} s`);
      await this.setDevice(b.mac, 'ready');
      await this.record(done, 'build.success', `build ${b.id} (${b.recipe}) ready: ${artifacts.map((a) => `${a.kind} ${a.path}`).join(', ')}`);
      this.emit('progress', { build: done, kind: 'status' } satisfies BuildProgress);
      this.emit('done', done);
    } catch (err) {
      if (leaseLost()) {
        // another server has it now (or it was cancelled there): its outcome is not ours to write
        await write(`build ${b.id}: stopped on ${this.owner}: no longer this server's build`).catch(() => undefined);
        return;
      }
      // Node-RED stopping is not the user's cancel: the build failed, interrupted (as after a crash)
      const cancelled = !this.closed && ((err as { cancelled?: boolean }).cancelled === true || ctl.signal.aborted);
      const why = this.closed ? 'interrupted: Node-RED stopped during the build' : (err as Error).message;
      await write(`build ${b.id}: ${cancelled ? 'cancelled' : `failed: ${why}`}`).catch(() => undefined);
      const exitCode = (err as NetbootError).details?.exitCode as number | null | undefined;
      const done = await this.store.builds.update(b.id, { status: cancelled ? 'cancelled' : 'failed', endedAt: new Date().toISOString(), error: cancelled ? 'cancelled' : why, ...(exitCode !== undefined ? { exitCode } : {}) });
      await this.setDevice(b.mac, 'failed', why).catch(() => undefined);
      await this.record(done, cancelled ? 'build.cancelled' : 'build.failed', `build ${b.id} (${b.recipe}) ${cancelled ? 'cancelled' : `failed: ${why}`}; the machine keeps its previous image`);
      this.emit('progress', { build: done, kind: 'status' } satisfies BuildProgress);
      this.emit('done', done);
    } finally {
      clearInterval(lease);
      this.lost.delete(b.id);
      await log.close().catch(() => undefined);
      await fsp.rm(work, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /**
   * Copies the outputs into `<assets>/machines/<mac>/<build id>/` (complete before anything points at
   * them), switches the machine's profile to them in one store write, and prunes old builds.
   */
  private async install(b: Build, recipe: Recipe, outputDir: string): Promise<NonNullable<Build['artifacts']>> {
    const macDir = b.mac.replace(/:/g, '-');
    const relDir = path.posix.join('machines', macDir, b.id);
    const dest = path.join(this.opts.assetsRoot, relDir);
    const tmp = `${dest}.partial`;
    await fsp.mkdir(tmp, { recursive: true });
    const artifacts: NonNullable<Build['artifacts']> = [];
    for (const [kind, rel] of Object.entries(recipe.outputs) as Array<[NonNullable<Build['artifacts']>[number]['kind'], string | undefined]>) {
      if (!rel) continue;
      const src = path.join(outputDir, rel);
      const st = await fsp.stat(src).catch(() => undefined);
      if (!st?.isFile()) throw new NetbootError('validation', `the recipe did not produce its ${kind} (${rel})`);
      const name = path.basename(rel);
      await fsp.copyFile(src, path.join(tmp, name));
      artifacts.push({ kind, path: path.posix.join(relDir, name), size: st.size, sha256: await sha256(path.join(tmp, name)) });
    }
    await fsp.rename(tmp, dest);
    const kernel = artifacts.find((a) => a.kind === 'kernel')!.path;
    const initrd = artifacts.filter((a) => a.kind === 'initrd').map((a) => a.path);
    const id = machineProfileId(b.mac);
    const device = await this.store.devices.get(b.mac);
    const existing = await this.store.profiles.get(id);
    if (existing) await this.store.profiles.update(id, { kernel, initrd, description: `built by ${b.id} (${b.recipe})` });
    else {
      await this.store.profiles.create({ id, name: `${device?.hostname ?? b.mac} (built)`, type: 'custom', kernel, initrd, cmdline: { console: 'ttyS0' }, description: `built by ${b.id} (${b.recipe})` });
    }
    if (device && device.profileId !== id) await this.store.devices.update(b.mac, { profileId: id });
    await this.prune(b.mac, b.id);
    return artifacts;
  }

  /** Keeps the newest `keep` successful builds' folders of a machine (the one just made among them). */
  private async prune(mac: string, current: string): Promise<void> {
    const ok = (await allBuilds(this.store, { mac })).filter((x) => x.status === 'success' || x.id === current).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    for (const old of ok.slice(this.keep)) {
      if (old.id === current) continue;
      await fsp.rm(path.join(this.opts.assetsRoot, 'machines', mac.replace(/:/g, '-'), old.id), { recursive: true, force: true });
    }
  }

  private async setDevice(mac: string, status: Device['status'], why?: string): Promise<void> {
    const d = await this.store.devices.get(mac);
    if (!d) return;
    await this.store.devices.update(mac, { status, ...(why ? { notes: `${d.notes ? `${d.notes}\n` : ''}build: ${why}`.slice(-2000) } : {}) });
  }

  private async record(b: Build, type: 'build.start' | 'build.success' | 'build.failed' | 'build.cancelled', message: string): Promise<void> {
    const ms = b.startedAt && b.endedAt ? Date.parse(b.endedAt) - Date.parse(b.startedAt) : undefined;
    await this.store.appendEvent({ type, mac: b.mac, message, data: { build: b.id, recipe: b.recipe, status: b.status, ...(ms !== undefined ? { durationMs: ms } : {}) } }).catch(() => undefined);
  }

  /** A log line as progress, at most 20 a second per build (the rest only in the log file). */
  private progressLine(b: Build, line: string): void {
    const now = Date.now();
    const budget = this.lineBudget.get(b.id) ?? { at: now, n: 0, dropped: 0 };
    if (now - budget.at >= 1000) {
      if (budget.dropped) this.emit('progress', { build: b, kind: 'log', line: `… ${budget.dropped} more lines in the build log` } satisfies BuildProgress);
      budget.at = now;
      budget.n = 0;
      budget.dropped = 0;
    }
    if (budget.n < 20) {
      budget.n++;
      this.emit('progress', { build: b, kind: 'log', line: line.slice(0, 1000) } satisfies BuildProgress);
    } else budget.dropped++;
    this.lineBudget.set(b.id, budget);
  }
}
