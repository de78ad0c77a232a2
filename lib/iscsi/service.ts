import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NetbootError } from '../core/errors';
import { normalizeMac } from '../core/mac';
import { deviceIqn, iscsiUri, type SanBootInfo, type SanProvider } from '../render';
import { listAll, type Device, type Image, type InventoryStore, type StoreChange } from '../store';
import { DiskFiles } from './disks';
import { planTargets, type Busy, type ChapConfig, type DesiredTarget } from './plan';
import { DisklessSessions } from './sessions';
import { isServedImage, type DiskTarget } from './served';

export { isServedImage, type DiskTarget } from './served';
import { TgtAdmin, TgtDaemon } from './tgtadm';
import type { TgtTarget } from './tgt-show';

/**
 * Serves the inventory's iSCSI disk images with tgtd. The inventory is the desired state: every
 * image of kind `iscsi` with a `path` (a disk file in the disks folder) and no `targetHost` gets a
 * target of its own, LUN `lun` (default 1), whose ACL lets in the devices linked to the image
 * (`device.imageId`) by initiator name (`<iqnPrefix>:device-<mac>`, which our sanboot scripts set)
 * plus the node's extra `allow` entries, with the node's CHAP accounts bound. Any change to images
 * or devices, and a timer, re-plan and apply (`planTargets`); a target never changes under a
 * logged-in machine. Images, devices and disk files are changed through the actions below, so a
 * flow, the admin API and the editor all do the same thing.
 */

/** `auto`: use a running tgtd, else start one; `own`: start one; `external`: only use a running one; `off`: serve nothing. */
export type DaemonMode = 'auto' | 'own' | 'external' | 'off';

export interface IscsiServiceOptions {
  store: InventoryStore;
  disksDir: string;
  /** tgtd.pid and tgtd.log go here. */
  stateDir: string;
  iqnPrefix: string;
  /** The address machines reach the portal on (the boot server's advertised address). */
  advertise: string;
  /** Where tgtd listens (default 0.0.0.0) and on which port (3260). */
  listen?: string;
  port?: number;
  controlPort?: number;
  daemon?: DaemonMode;
  chap?: ChapConfig;
  /** ACL entries every target gets besides its linked devices: addresses, `a.b.c.d/nn`, initiator names. */
  allow?: string[];
  /** Stop our own tgtd when the service closes (default: leave it running so machines keep their disks). */
  stopOnClose?: boolean;
  resyncMs?: number;
  /** How often logins and logouts are looked for (default 2 s). */
  sessionPollMs?: number;
  /** Diskless sessions whose machine stays logged out this long stop by themselves (default 10 min; 0: never). */
  sessionIdleStopMs?: number;
  log?: { info(m: string): void; warn(m: string): void; error(m: string): void };
}

export interface IscsiStatus {
  state: 'starting' | 'ready' | 'failed' | 'closed' | 'off';
  error?: string;
  /** `own`: we started tgtd; `external`: it was already running. */
  daemon?: 'own' | 'external';
  targets: number;
  sessions: number;
  busy: Busy[];
  problems: Problem[];
}

export interface Problem {
  image: string;
  reason: string;
}

/** A machine logged in to (or out of) one of our targets; `mac` when its initiator name is one our scripts set. */
export interface SessionEvent {
  type: 'iscsi.login' | 'iscsi.logout';
  target: string;
  initiator: string;
  ip?: string;
  mac?: string;
}

export interface SyncReport {
  applied: string[];
  failed: Array<{ what: string; error: string }>;
  busy: Busy[];
  problems: Problem[];
}




export class IscsiService extends EventEmitter implements SanProvider {
  readonly disks: DiskFiles;
  readonly admin: TgtAdmin;
  /** Diskless sessions on this service's disks (lib/iscsi/sessions.ts). */
  readonly sessions: DisklessSessions;
  private readonly daemon: TgtDaemon;
  private readonly opts: Required<Omit<IscsiServiceOptions, 'log' | 'chap'>> & Pick<IscsiServiceOptions, 'log'> & { chap: ChapConfig };
  private current: IscsiStatus = { state: 'starting', targets: 0, sessions: 0, busy: [], problems: [] };
  private queue: Promise<unknown> = Promise.resolve();
  private pending?: Promise<SyncReport>;
  private debounce?: NodeJS.Timeout;
  private timer?: NodeJS.Timeout;
  private unsubscribe?: () => void;
  private closed = false;
  private firstSync = true;
  private sessionTimer?: NodeJS.Timeout;
  private connecting?: Promise<void>;
  /** Sessions seen at the last look, by `iqn|initiator|address`. */
  private logins = new Map<string, SessionEvent>();
  /** The initiator names our scripts give machines: `<prefix>:device-aa-bb-cc-dd-ee-ff`. */
  private readonly deviceInitiator: RegExp;
  /** Targets created here with an IQN outside our prefix: still ours to delete. */
  private readonly created = new Set<string>();

  constructor(options: IscsiServiceOptions) {
    super();
    this.opts = {
      listen: '0.0.0.0', port: 3260, controlPort: 0, daemon: 'auto', allow: [], stopOnClose: false, resyncMs: 30_000, sessionPollMs: 2000, sessionIdleStopMs: 600_000, chap: {},
      ...options,
    } as IscsiService['opts'];
    if (this.opts.chap.incoming) checkChap(this.opts.chap.incoming.user, this.opts.chap.incoming.password, 'chap');
    if (this.opts.chap.outgoing) checkChap(this.opts.chap.outgoing.user, this.opts.chap.outgoing.password, 'mutual chap');
    if (this.opts.chap.outgoing && !this.opts.chap.incoming) throw new NetbootError('validation', 'mutual CHAP needs the one-way CHAP account too', { field: 'mutualUser' });
    for (const a of this.opts.allow) checkAclEntry(a);
    this.deviceInitiator = new RegExp(`^${this.opts.iqnPrefix.replace(/[.]/g, '\\.')}:device-((?:[0-9a-f]{2}-){5}[0-9a-f]{2})$`);
    this.disks = new DiskFiles(this.opts.disksDir);
    this.daemon = new TgtDaemon({
      controlPort: this.opts.controlPort,
      portal: `${this.opts.listen}:${this.opts.port}`,
      logFile: path.join(this.opts.stateDir, 'tgtd.log'),
      pidFile: path.join(this.opts.stateDir, `tgtd.${this.opts.controlPort}.pid`),
    });
    this.admin = this.daemon.admin;
    this.sessions = new DisklessSessions(this, {
      store: this.opts.store, log: this.opts.log, pollMs: Math.max(this.opts.sessionPollMs, 1000),
      ...(options.sessionIdleStopMs !== undefined ? { idleStopMs: options.sessionIdleStopMs } : {}),
    });
  }

  get store(): InventoryStore {
    return this.opts.store;
  }

  get iqnPrefix(): string {
    return this.opts.iqnPrefix;
  }

  get status(): IscsiStatus {
    return structuredClone(this.current);
  }

  private setStatus(patch: Partial<IscsiStatus>): void {
    this.current = { ...this.current, ...patch };
    if (patch.state !== 'failed') delete this.current.error;
    if (patch.error) this.current.error = patch.error;
    this.emit('status', this.status);
  }

  /** Connects to (or starts) tgtd, then serves every image. Never rejects: a failure lands in `status`. */
  async start(): Promise<IscsiStatus> {
    if (this.opts.daemon === 'off') {
      this.setStatus({ state: 'off' });
      return this.status;
    }
    await fsp.mkdir(this.opts.stateDir, { recursive: true });
    await fsp.mkdir(this.disks.dir, { recursive: true });
    this.unsubscribe = this.opts.store.onChange((c: StoreChange) => {
      if (c === 'images' || c === 'devices' || c === 'all') this.schedule();
    });
    this.timer = setInterval(() => this.schedule(0), this.opts.resyncMs);
    this.timer.unref();
    this.sessionTimer = setInterval(() => {
      if (this.current.state !== 'ready') return;
      void this.serialized(() => this.admin.targets()).then((t) => this.watchSessions(t), () => undefined);
    }, this.opts.sessionPollMs);
    this.sessionTimer.unref();
    await this.connect();
    await this.sessions.open().catch((err: unknown) => this.opts.log?.error(`iSCSI sessions: ${(err as Error).message}`));
    return this.status;
  }

  /** One attempt at a time: the restart after tgtd died and the periodic check must not both start one. */
  private connect(): Promise<void> {
    this.connecting ??= this.tryConnect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async tryConnect(): Promise<void> {
    try {
      if (await this.admin.alive()) {
        this.setStatus({ daemon: this.daemon.pid !== undefined ? 'own' : 'external' });
        this.opts.log?.info(`iSCSI: using the tgtd that answers on control port ${this.opts.controlPort}`);
      } else if (this.opts.daemon === 'external') {
        throw new NetbootError('unavailable', `no tgtd answers on control port ${this.opts.controlPort}: start tgtd (tgtd -C ${this.opts.controlPort}), or let the iSCSI node start its own`);
      } else {
        const pid = await this.daemon.start((code, signal) => this.lost(code, signal));
        this.setStatus({ daemon: 'own' });
        this.opts.log?.info(`iSCSI: started tgtd (pid ${pid}) on portal ${this.opts.listen}:${this.opts.port}, control port ${this.opts.controlPort}`);
      }
      await this.sync();
    } catch (err) {
      this.setStatus({ state: 'failed', error: (err as Error).message });
      this.opts.log?.error(`iSCSI: ${(err as Error).message}`);
    }
  }

  /** Our tgtd went away: say so, start a new one and restore every target. */
  private lost(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.closed) return;
    const why = `tgtd exited (${signal ?? `code ${String(code)}`}): ${this.daemon.logTail(2) || 'no output'}; restarting it in 2 s`;
    this.opts.log?.error(`iSCSI: ${why}`);
    // daemon unknown again: until a start works, the periodic check keeps trying to connect
    this.setStatus({ state: 'failed', error: why, daemon: undefined, targets: 0, sessions: 0 });
    this.firstSync = true;
    setTimeout(() => {
      if (!this.closed) void this.connect();
    }, 2000).unref();
  }

  private schedule(delayMs = 100): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      if (this.current.state === 'failed' && this.current.daemon === undefined) void this.connect();
      else void this.sync().catch(() => undefined);
    }, delayMs);
    this.debounce.unref();
  }

  /** Brings tgtd in line with the inventory. Calls made while one runs share the next run. */
  sync(): Promise<SyncReport> {
    if (this.opts.daemon === 'off') return Promise.reject(offError());
    if (this.pending) return this.pending;
    const run = this.queue.then(() => {
      this.pending = undefined;
      return this.runSync();
    });
    this.pending = run;
    this.queue = run.catch(() => undefined);
    return run;
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private owns = (iqn: string): boolean => iqn.startsWith(`${this.opts.iqnPrefix}:`) || this.created.has(iqn);

  /** The target name of an image: its own `iqn`, else `<prefix>:<image id>`. */
  iqnOf(image: Pick<Image, 'id' | 'iqn'>): string {
    return image.iqn ?? `${this.opts.iqnPrefix}:${image.id.toLowerCase().replace(/[^a-z0-9.-]/g, '-')}`;
  }

  private async desired(): Promise<{ desired: DesiredTarget[]; problems: Problem[]; images: Image[]; devices: Device[] }> {
    const store = this.opts.store;
    const [images, devices] = await Promise.all([listAll((q) => store.images.list(q)), listAll((q) => store.devices.list(q))]);
    const desired: DesiredTarget[] = [];
    const problems: Problem[] = [];
    for (const image of images.filter(isServedImage)) {
      const lun = image.lun ?? 1;
      if (lun === 0) {
        problems.push({ image: image.id, reason: 'LUN 0 is tgtd\'s controller: give the image lun 1 or more' });
        continue;
      }
      let file: string;
      try {
        file = await this.disks.existing(image.path, `images.${image.id}.path`);
      } catch (err) {
        problems.push({ image: image.id, reason: (err as Error).message });
        continue;
      }
      const linked = devices.filter((d) => d.imageId === image.id).map((d) => deviceIqn(this.opts.iqnPrefix, d.mac));
      desired.push({ iqn: this.iqnOf(image), lun, path: file, acl: [...linked, ...this.opts.allow] });
    }
    return { desired, problems, images, devices };
  }

  private async runSync(): Promise<SyncReport> {
    if (this.closed) throw new NetbootError('internal', 'the iSCSI service is closed');
    const { desired, problems, images } = await this.desired();
    // an image without an IQN gets the one its target uses, so every sanboot script names it
    for (const image of images.filter((i) => isServedImage(i) && i.iqn === undefined)) {
      await this.opts.store.images.update(image.id, { iqn: this.iqnOf(image) }).catch(() => undefined);
    }
    const [current, accounts] = await Promise.all([this.admin.targets(), this.admin.accounts()]);
    const plan = planTargets({ desired, current, accounts, chap: this.opts.chap, owns: this.owns, resetAccounts: this.firstSync });
    const result = await this.admin.apply(plan);
    this.firstSync = false;
    for (const d of desired) if (!d.iqn.startsWith(`${this.opts.iqnPrefix}:`)) this.created.add(d.iqn);
    for (const what of result.applied) this.opts.log?.info(`iSCSI: ${what}`);
    for (const f of result.failed) this.opts.log?.error(`iSCSI: ${f.error}`);
    const newBusy = plan.busy.filter((b) => !this.current.busy.some((o) => o.iqn === b.iqn && o.reason === b.reason));
    for (const b of newBusy) this.opts.log?.warn(`iSCSI: ${b.iqn}: ${b.reason}`);
    const newProblems = problems.filter((p) => !this.current.problems.some((o) => o.image === p.image && o.reason === p.reason));
    for (const p of newProblems) this.opts.log?.warn(`iSCSI: image "${p.image}": ${p.reason}`);
    const all = await this.admin.targets();
    this.watchSessions(all);
    const after = all.filter((t) => this.owns(t.iqn));
    this.setStatus({
      state: result.failed.length ? 'failed' : 'ready',
      ...(result.failed.length ? { error: result.failed[0].error } : {}),
      targets: after.length,
      sessions: after.reduce((n, t) => n + t.nexus.length, 0),
      busy: plan.busy,
      problems,
    });
    return { applied: result.applied, failed: result.failed, busy: plan.busy, problems };
  }

  /** Emits `session` (iscsi.login / iscsi.logout) for every session that appeared or ended since the last look. */
  private watchSessions(targets: readonly TgtTarget[]): void {
    const now = new Map<string, SessionEvent>();
    for (const t of targets) {
      if (!this.owns(t.iqn)) continue;
      for (const n of t.nexus) {
        for (const ip of n.addresses.length ? n.addresses : ['']) {
          const mac = this.macOfInitiator(n.initiator);
          now.set(`${t.iqn}|${n.initiator}|${ip}`, { type: 'iscsi.login', target: t.iqn, initiator: n.initiator, ...(ip ? { ip } : {}), ...(mac ? { mac } : {}) });
        }
      }
    }
    for (const [key, e] of now) if (!this.logins.has(key)) this.emit('session', e);
    for (const [key, e] of this.logins) if (!now.has(key)) this.emit('session', { ...e, type: 'iscsi.logout' });
    this.logins = now;
    const sessions = targets.filter((t) => this.owns(t.iqn)).reduce((n, t) => n + t.nexus.length, 0);
    if (sessions !== this.current.sessions) this.setStatus({ sessions });
  }

  /** `<prefix>:device-aa-bb-cc-dd-ee-ff` (the name our scripts give a machine) → its MAC. */
  private macOfInitiator(initiator: string): string | undefined {
    const m = this.deviceInitiator.exec(initiator);
    return m ? m[1].replace(/-/g, ':') : undefined;
  }

  /** What a sanboot of one of our images needs besides the URI: CHAP, the initiator name the ACL allows, a non-default port. */
  bootInfo(image: Image, mac: string | undefined): SanBootInfo | undefined {
    if (!isServedImage(image) || this.opts.daemon === 'off') return undefined;
    const { incoming, outgoing } = this.opts.chap;
    return {
      ...(this.opts.port !== 3260 ? { port: this.opts.port } : {}),
      ...(incoming ? { chap: { username: incoming.user, password: incoming.password, ...(outgoing ? { reverseUsername: outgoing.user, reversePassword: outgoing.password } : {}) } } : {}),
      ...(mac ? { initiatorIqn: deviceIqn(this.opts.iqnPrefix, mac) } : {}),
    };
  }

  /** Every served image with its target as tgtd has it now. */
  async list(): Promise<DiskTarget[]> {
    const { desired, problems, images, devices } = await this.desired();
    const current: TgtTarget[] = this.opts.daemon === 'off' || (this.current.state === 'failed' && this.current.daemon === undefined) ? [] : await this.admin.targets().catch(() => []);
    const out: DiskTarget[] = [];
    for (const image of images.filter(isServedImage)) {
      const iqn = this.iqnOf(image);
      const lun = image.lun ?? 1;
      const want = desired.find((d) => d.iqn === iqn);
      const have = current.find((t) => t.iqn === iqn);
      const info = await this.disks.info(image.path!);
      out.push({
        image: image.id, name: image.name, iqn, lun, path: image.path!,
        ...(info ? { sizeBytes: info.sizeBytes, allocatedBytes: info.allocatedBytes } : {}),
        uri: iscsiUri({ server: this.opts.advertise, port: this.opts.port === 3260 ? undefined : this.opts.port, lun, iqn }),
        linked: devices.filter((d) => d.imageId === image.id).map((d) => d.mac),
        acl: have?.acl ?? [],
        sessions: (have?.nexus ?? []).map((n) => ({ initiator: n.initiator, addresses: n.addresses })),
        state: problems.some((p) => p.image === image.id) && !info ? 'missing-disk' : want && have?.luns.some((l) => l.lun === lun && l.path === want.path) ? 'ready' : 'not-served',
      });
    }
    return out;
  }

  /** Disk changes need tgtd: refuse them up front rather than half-apply them. */
  private assertConnected(): void {
    if (this.opts.daemon === 'off') throw offError();
    if (this.current.state === 'failed' && this.current.daemon === undefined) throw new NetbootError('unavailable', `iSCSI is not running: ${this.current.error ?? 'tgtd is not available'}`);
  }

  private async targetOf(id: string): Promise<{ image: Image; target?: TgtTarget }> {
    const image = await this.opts.store.images.get(id);
    if (!image) throw new NetbootError('not_found', `no image "${id}"`, { field: 'id', id });
    const iqn = this.iqnOf(image);
    const target = (await this.admin.targets().catch(() => [])).find((t) => t.iqn === iqn);
    return { image, target };
  }

  /** One served image's target as tgtd has it now. */
  async target(id: string): Promise<DiskTarget> {
    const found = (await this.list()).find((t) => t.image === id);
    if (!found) throw new NetbootError('not_found', `image "${id}" is not an iSCSI disk served here`, { id });
    return found;
  }

  /**
   * Creates a disk image: a new sparse disk of `sizeBytes`, or a copy of another image's disk
   * (`from`), registered in the inventory and served at once. With `mac`, linked to that machine.
   */
  create(input: { id?: string; name?: string; sizeBytes?: number; from?: string; path?: string; lun?: number; description?: string; mac?: string }): Promise<DiskTarget> {
    return this.serialized(async () => {
      this.assertConnected();
      const id = input.id ?? slug(input.name);
      const file = input.path ?? `${id}.img`;
      this.disks.resolve(file);
      if (await this.opts.store.images.get(id)) throw new NetbootError('conflict', `image "${id}" already exists`, { field: 'id', id });
      if (input.from !== undefined) {
        const src = await this.opts.store.images.get(input.from);
        if (!src || !isServedImage(src)) throw new NetbootError('not_found', `field "from": no iSCSI disk image "${input.from}" to copy`, { field: 'from' });
        const from = src.id;
        await this.disks.copy(src.path!, file, (bytes, size) => this.emit('progress', { image: id, from, bytes, size }));
      } else {
        if (input.sizeBytes === undefined) throw new NetbootError('validation', 'field "sizeBytes": a new disk needs a size (or "from": an image to copy)', { field: 'sizeBytes' });
        await this.disks.create(file, input.sizeBytes);
      }
      const info = await this.disks.info(file);
      try {
        await this.opts.store.images.create({
          id, name: input.name ?? id, kind: 'iscsi', path: file, sizeBytes: info?.sizeBytes, iqn: this.iqnOf({ id }),
          ...(input.lun !== undefined ? { lun: input.lun } : {}), ...(input.description ? { description: input.description } : {}),
        });
      } catch (err) {
        await this.disks.remove(file).catch(() => undefined); // the inventory refused it: leave no orphan disk
        throw err;
      }
      if (input.mac !== undefined) await this.linkDevice(id, input.mac);
      return id;
    }).then(async (id) => {
      await this.sync();
      return this.target(id);
    });
  }

  /** Renames an image's disk file; refused while a machine is logged in to it. */
  rename(input: { id: string; path: string }): Promise<DiskTarget> {
    return this.serialized(async () => {
      this.assertConnected();
      const { image, target } = await this.targetOf(input.id);
      if (!isServedImage(image)) throw new NetbootError('validation', `image "${input.id}" is not an iSCSI disk served here`, { id: input.id });
      if (target?.nexus.length) throw new NetbootError('conflict', `image "${input.id}" is in use by ${target.nexus.map((n) => n.initiator).join(', ')}`, { id: input.id });
      await this.disks.rename(image.path!, input.path);
      await this.opts.store.images.update(image.id, { path: input.path });
    }).then(async () => {
      await this.sync();
      return this.target(input.id);
    });
  }

  /** Removes an image and its target (and with `deleteDisk`, its file). Refused while in use or linked, unless `force`. */
  remove(input: { id: string; deleteDisk?: boolean; force?: boolean }): Promise<{ removed: string; diskDeleted: boolean }> {
    return this.serialized(async () => {
      const { image, target } = await this.targetOf(input.id);
      if (target?.nexus.length && !input.force) throw new NetbootError('conflict', `image "${input.id}" is in use by ${target.nexus.map((n) => n.initiator).join(', ')}`, { id: input.id });
      const linked = (await listAll((q) => this.opts.store.devices.list({ ...q, filter: { imageId: image.id } })));
      if (linked.length && !input.force) throw new NetbootError('conflict', `image "${input.id}" is linked to ${linked.map((d) => d.mac).join(', ')}: unlink them first (or force)`, { id: input.id });
      for (const d of linked) await this.opts.store.devices.update(d.mac, { imageId: null });
      if (target && input.force) await this.admin.run(['--op', 'delete', '--mode', 'target', '--tid', String(target.tid), '--force']);
      await this.opts.store.images.remove(image.id);
      return image;
    }).then(async (image) => {
      await this.sync();
      let diskDeleted = false;
      if (input.deleteDisk && isServedImage(image)) {
        await this.disks.remove(image.path!);
        diskDeleted = true;
      }
      return { removed: image.id, diskDeleted };
    });
  }

  /** Links a machine to an image (its `imageId`; a new device when the MAC is unknown): its initiator name joins the ACL. */
  link(input: { id: string; mac: string }): Promise<DiskTarget> {
    return this.serialized(() => this.linkDevice(input.id, input.mac)).then(async () => {
      await this.sync();
      return this.target(input.id);
    });
  }

  private async linkDevice(id: string, rawMac: string): Promise<void> {
    const mac = normalizeMac(rawMac);
    if (!(await this.opts.store.images.get(id))) throw new NetbootError('not_found', `no image "${id}"`, { field: 'id', id });
    if (await this.opts.store.devices.get(mac)) await this.opts.store.devices.update(mac, { imageId: id });
    else await this.opts.store.devices.create({ mac, imageId: id });
  }

  /** Unlinks a machine from its image: its initiator name leaves the ACL (a running session goes on). */
  unlink(input: { mac: string }): Promise<{ mac: string; imageId: null }> {
    const mac = normalizeMac(input.mac);
    return this.serialized(async () => {
      await this.opts.store.devices.update(mac, { imageId: null });
    }).then(async () => {
      await this.sync();
      return { mac, imageId: null };
    });
  }

  /**
   * Stops watching. The tgtd this service started keeps serving the running machines' disks across a
   * redeploy or restart, unless `stopOnClose` is set or `stopDaemon` asks (the node was deleted: nothing
   * will manage those targets any more).
   */
  async close(opts: { stopDaemon?: boolean } = {}): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounce);
    clearInterval(this.timer);
    clearInterval(this.sessionTimer);
    this.unsubscribe?.();
    await this.sessions.close();
    await this.queue;
    if ((this.opts.stopOnClose || opts.stopDaemon) && this.daemon.pid !== undefined) await this.daemon.stop();
    this.setStatus({ state: 'closed' });
  }
}

function offError(): NetbootError {
  return new NetbootError('unavailable', 'iSCSI is off for this server (set the netboot-iscsi node\'s tgtd mode, or NETBOOT_ISCSI, to auto)');
}

function slug(name: unknown): string {
  const s = typeof name === 'string' ? name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) : '';
  if (!s) throw new NetbootError('validation', 'field "id": give the image an id or a name', { field: 'id' });
  return s;
}

function checkChap(user: string, password: string, field: string): void {
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(user)) throw new NetbootError('validation', `${field}: the user name must be 1-64 letters, digits, ".", "_", "@" or "-"`, { field });
  // iPXE and most initiators need 12-16 characters (RFC 3720 recommends at least 12); tgtd takes it on the command line
  if (!/^[\x21-\x7e]{12,16}$/.test(password)) throw new NetbootError('validation', `${field}: the secret must be 12-16 printable characters without spaces`, { field });
}

function checkAclEntry(entry: string): void {
  const ok = entry === 'ALL' || /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/.test(entry) || /^(iqn|eui|naa)\.[\x21-\x7e]{1,220}$/.test(entry);
  if (!ok) throw new NetbootError('validation', `allow: "${entry}" is not an address, a.b.c.d/nn, ALL or an initiator name`, { field: 'allow' });
}
