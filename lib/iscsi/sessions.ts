import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { NetbootError } from '../core/errors';
import { normalizeMac } from '../core/mac';
import { deviceIqn } from '../render';
import type { Device, Image, InventoryStore, Session } from '../store';
import { isServedImage, type DiskTarget, type SessionHost } from './served';

/**
 * Diskless sessions: a known machine runs from an iSCSI disk for a while, then stops.
 *
 * - `persistent`: the machine's own disk (the image as it is); what it writes stays.
 * - `clean`: a copy of the golden image made at start (a reflink where the filesystem can, else a
 *   sparse copy), deleted at stop, so every session starts from the same bytes.
 *
 * A start links the machine to the disk (its `imageId`, and so the target's ACL) and, when asked,
 * reserves its address for full-mode DHCP; the steps are undone in reverse when one fails, and again
 * at stop, which restores what the device had before. A stop never pulls a disk from under a
 * logged-in initiator: it is refused, or (`afterLogout`) carried out when the machine logs out.
 * Sessions whose machine stays logged out for `idleStopMs` stop by themselves. tgtd's per-session
 * counters give each session's bytes read and written (`iscsi.stats`).
 */

export type SessionMode = 'persistent' | 'clean';

export interface SessionDetail {
  mode: SessionMode;
  /** The image the session was started from (for a clean session, the golden image). */
  image: string;
  /** Its version when the session started. */
  imageVersion?: number;
  /** The image the machine really boots: the golden image itself, or the session's copy. */
  served: string;
  /** The disk file of a clean session's copy. */
  copy?: string;
  previousImageId: string | null;
  previousIp: string | null;
  ip?: string;
  by?: string;
  startedAt: string;
  activeAt?: string;
  stoppedAt?: string;
  stopReason?: string;
  error?: string;
  readBytes: number;
  writeBytes: number;
  /** When the machine was last seen logged in to its target. */
  lastLoginAt?: string;
}

export interface SessionView extends Omit<Session, 'detail'> {
  detail: SessionDetail;
  /** The session's target as tgtd serves it now (active sessions). */
  target?: DiskTarget;
  /** A clean session's copy in progress. */
  copyProgress?: { bytes: number; total: number };
}

export interface SessionStats {
  byState: Record<Session['state'], number>;
  active: number;
  /** Stopped sessions: how long they ran. */
  durationsSeconds: { count: number; sum: number; max: number };
  readBytes: number;
  writeBytes: number;
}

export interface SessionManagerOptions {
  store: InventoryStore;
  /** Stop a session whose machine has not been logged in for this long (0: never). Default 10 min. */
  idleStopMs?: number;
  /** How often tgtd's counters and logins are read (default 5 s). */
  pollMs?: number;
  log?: { info(m: string): void; warn(m: string): void; error(m: string): void };
}

export interface SessionChange {
  type: 'session.start' | 'session.stop' | 'session.failed';
  session: SessionView;
}

export interface SessionBytes {
  mac: string;
  target: string;
  readBytes: number;
  writeBytes: number;
}

const LIVE: ReadonlySet<Session['state']> = new Set(['starting', 'active', 'stopping']);
const STATES: readonly Session['state'][] = ['starting', 'active', 'stopping', 'stopped', 'failed'];

async function allSessions(store: InventoryStore, filter?: Record<string, string>): Promise<Session[]> {
  const out: Session[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = await store.sessions.list({ offset, limit: 500, ...(filter ? { filter } : {}) });
    out.push(...page.items);
    if (page.items.length === 0 || out.length >= page.total) return out;
  }
}

function view(s: Session | SessionView): SessionView {
  return { ...s, detail: s.detail as unknown as SessionDetail };
}

export class DisklessSessions extends EventEmitter {
  private readonly store: InventoryStore;
  private readonly idleStopMs: number;
  private readonly pollMs: number;
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  /** Per session: tgtd's counters of the I_T nexus seen last, and what earlier logins of the session added up to. */
  private readonly counters = new Map<string, { sid?: number; read: number; write: number; baseRead: number; baseWrite: number }>();
  private readonly copying = new Map<string, { bytes: number; total: number }>();
  /** One start or stop per machine at a time. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly iscsi: SessionHost, private readonly opts: SessionManagerOptions) {
    super();
    this.store = opts.store;
    this.idleStopMs = opts.idleStopMs ?? 600_000;
    this.pollMs = opts.pollMs ?? 5000;
  }

  /** Starts watching; a session left `starting` by a stopped Node-RED is undone and marked failed. */
  async open(): Promise<void> {
    for (const s of await allSessions(this.store)) {
      if (s.state === 'starting') {
        const v = view(s);
        await this.undo(v).catch(() => undefined);
        await this.finish(v, 'failed', { error: 'interrupted: Node-RED stopped while the session was starting' });
      }
    }
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    return this.polling ?? Promise.resolve();
  }

  private exclusive<T>(mac: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.locks.get(mac) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(mac, tail);
    void tail.then(() => {
      if (this.locks.get(mac) === tail) this.locks.delete(mac);
    });
    return run;
  }

  async list(query: { active?: boolean; mac?: string; state?: string } = {}): Promise<SessionView[]> {
    const filter: Record<string, string> = {};
    if (query.mac) filter.mac = normalizeMac(query.mac);
    if (query.state) filter.state = query.state;
    let items = (await allSessions(this.store, filter)).map(view);
    if (query.active) items = items.filter((s) => LIVE.has(s.state));
    return items.map((s) => this.withProgress(s)).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async get(id: string): Promise<SessionView> {
    const s = await this.store.sessions.get(id);
    if (!s) throw new NetbootError('not_found', `no session "${id}"`, { field: 'id', id });
    const v = this.withProgress(view(s));
    if (LIVE.has(v.state)) v.target = await this.iscsi.target(v.detail.served).catch(() => undefined);
    return v;
  }

  /** The machine's live session, if it has one. */
  async activeFor(rawMac: string): Promise<SessionView | undefined> {
    const mac = normalizeMac(rawMac);
    const live = (await this.list({ mac, active: true }))[0];
    return live ? this.get(live.id) : undefined;
  }

  private withProgress(s: SessionView): SessionView {
    const p = this.copying.get(s.id);
    return p ? { ...s, copyProgress: { ...p } } : s;
  }

  /**
   * Starts a session for a known machine on a ready image (the machine's own when `image` is not
   * given). 409 when the machine already has a live session.
   */
  start(input: { mac: string; image?: string; mode?: SessionMode; ip?: string; by?: string }): Promise<SessionView> {
    const mac = normalizeMac(input.mac);
    return this.exclusive(mac, () => this.doStart({ ...input, mac }));
  }

  private async doStart(input: { mac: string; image?: string; mode?: SessionMode; ip?: string; by?: string }): Promise<SessionView> {
    const { mac } = input;
    const mode: SessionMode = input.mode ?? 'persistent';
    if (mode !== 'persistent' && mode !== 'clean') throw new NetbootError('validation', `field "mode": "${String(mode)}" is not persistent or clean`, { field: 'mode' });
    if (input.ip !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(input.ip)) throw new NetbootError('validation', `field "ip": "${String(input.ip)}" is not an IPv4 address`, { field: 'ip' });
    const device = await this.store.devices.get(mac);
    if (!device) throw new NetbootError('not_found', `machine ${mac} is not in the inventory: enrol or add it first`, { field: 'mac' });
    const live = (await this.list({ mac, active: true }))[0];
    if (live) throw new NetbootError('conflict', `machine ${mac} already has a ${live.state} session (${live.id}): stop it first`, { field: 'mac', session: live.id });
    const imageId = input.image ?? device.imageId ?? undefined;
    if (!imageId) throw new NetbootError('validation', `field "image": machine ${mac} has no disk image of its own; name the image to start from`, { field: 'image' });
    const image = await this.readyImage(imageId);
    if (mode === 'persistent') await this.assertNotShared(image, mac);

    const id = `s-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const detail: SessionDetail = {
      mode, image: image.id, ...(image.version !== undefined ? { imageVersion: image.version } : {}), served: image.id,
      previousImageId: device.imageId ?? null, previousIp: device.ipReservation ?? null,
      ...(input.ip ? { ip: input.ip } : {}), ...(input.by ? { by: input.by } : {}),
      startedAt: new Date().toISOString(), readBytes: 0, writeBytes: 0,
    };
    let session = view(await this.store.sessions.create({ id, mac, imageId: image.id, state: 'starting', detail: { ...detail } }));
    try {
      if (mode === 'clean') {
        const copy = `sessions/${id}.img`;
        session = await this.patch(session, { copy, served: `session-${id}` });
        await this.copyDisk(id, image.path!, copy);
        await this.store.images.create({
          id: `session-${id}`, name: `${image.name} (session ${id})`, kind: 'iscsi', path: copy, session: id,
          ...(image.lun !== undefined ? { lun: image.lun } : {}), description: `clean copy of ${image.id} for ${mac}, removed when the session stops`,
        });
      }
      await this.store.devices.update(mac, { imageId: session.detail.served, ...(input.ip ? { ipReservation: input.ip } : {}) });
      await this.iscsi.sync();
      const target = await this.iscsi.target(session.detail.served);
      if (target.state !== 'ready') throw new NetbootError('unavailable', `the session's disk is not served: ${target.state}${this.iscsi.status.error ? ` (${this.iscsi.status.error})` : ''}`);
      session = view(await this.store.sessions.update(id, { state: 'active', detail: { ...session.detail, activeAt: new Date().toISOString() } }));
      this.counters.set(id, { read: 0, write: 0, baseRead: 0, baseWrite: 0 });
      const out = { ...session, target };
      await this.record('session.start', out, `session ${id} started (${mode}, image ${image.id}${image.version !== undefined ? ` v${image.version}` : ''}): sanboot ${target.uri}`);
      this.opts.log?.info(`iSCSI session ${id}: ${mac} on ${session.detail.served} (${mode})`);
      return out;
    } catch (err) {
      const why = (err as Error).message;
      await this.undo(session).catch((e: unknown) => this.opts.log?.error(`iSCSI session ${id}: undoing a failed start: ${(e as Error).message}`));
      const failed = await this.finish(session, 'failed', { error: why });
      await this.record('session.failed', failed, `session ${id} could not start: ${why}`);
      throw err;
    } finally {
      this.copying.delete(id);
    }
  }

  /** A disk an image serves here, whose file is in place and not a session's copy. */
  private async readyImage(imageId: string): Promise<Image> {
    const image = await this.store.images.get(imageId);
    if (!image) throw new NetbootError('not_found', `no image "${imageId}"`, { field: 'image' });
    if (!isServedImage(image)) throw new NetbootError('validation', `field "image": "${imageId}" is not an iSCSI disk served by this server`, { field: 'image' });
    if (image.session !== undefined) throw new NetbootError('validation', `field "image": "${imageId}" is the copy of session ${image.session}, not an image to start from`, { field: 'image' });
    await this.iscsi.disks.existing(image.path, 'image');
    const problem = this.iscsi.status.problems.find((p) => p.image === image.id);
    if (problem) throw new NetbootError('conflict', `image "${imageId}" is not ready: ${problem.reason}`, { field: 'image' });
    return image;
  }

  /** A persistent session writes to the image itself: no other machine may be running on it. */
  private async assertNotShared(image: Image, mac: string): Promise<void> {
    const others = (await allSessions(this.store)).filter((s) => LIVE.has(s.state) && s.mac !== mac && view(s).detail.served === image.id);
    if (others.length) throw new NetbootError('conflict', `image "${image.id}" is in a persistent session of ${others.map((s) => s.mac).join(', ')}: start a clean session, or stop that one`, { field: 'image' });
  }

  private async copyDisk(id: string, from: string, to: string): Promise<void> {
    const total = (await this.iscsi.disks.info(from))?.sizeBytes ?? 0;
    this.copying.set(id, { bytes: 0, total });
    await this.iscsi.disks.copy(from, to, (bytes) => {
      const p = this.copying.get(id);
      if (p) p.bytes = bytes;
    });
  }

  /**
   * Stops a session: the device gets back the disk (and address) it had, a clean session's copy is
   * deleted. Refused while the machine is logged in, unless `afterLogout` (then it stops at logout).
   */
  async stop(id: string, opts: { afterLogout?: boolean; commit?: boolean; reason?: string } = {}): Promise<SessionView> {
    const found = await this.get(id);
    return this.exclusive(found.mac, async () => {
      const s = await this.get(id);
      if (!LIVE.has(s.state)) throw new NetbootError('conflict', `session ${id} is ${s.state}`, { id });
      const logged = s.target?.sessions ?? [];
      if (logged.length) {
        if (!opts.afterLogout) {
          throw new NetbootError('conflict', `session ${id}: ${s.mac} is logged in to its disk (${logged.map((l) => l.addresses.join(',') || l.initiator).join('; ')}); shut the machine down first, or stop it with afterLogout to stop when it logs out`, { id });
        }
        if (s.state !== 'stopping') this.opts.log?.info(`iSCSI session ${id}: stops when ${s.mac} logs out`);
        return view(await this.store.sessions.update(id, { state: 'stopping', detail: { ...s.detail, stopReason: opts.reason ?? 'stopped', ...(opts.commit ? { commitAtStop: true } : {}) } }));
      }
      if (opts.commit) await this.doCommit(s);
      return this.teardown(s, opts.reason ?? 'stopped');
    });
  }

  private async teardown(s: SessionView, reason: string): Promise<SessionView> {
    await this.sample(s).catch(() => undefined);
    const latest = view((await this.store.sessions.get(s.id)) ?? s);
    await this.undo(latest);
    const done = await this.finish(latest, 'stopped', { stopReason: reason });
    const secs = Math.round((Date.parse(done.detail.stoppedAt!) - Date.parse(done.detail.startedAt)) / 1000);
    await this.record('session.stop', done, `session ${s.id} stopped (${reason}) after ${secs} s; read ${done.detail.readBytes} B, wrote ${done.detail.writeBytes} B${done.detail.mode === 'clean' ? '; its copy is deleted' : ''}`);
    this.counters.delete(s.id);
    return done;
  }

  /** Puts the device back as it was and removes a clean session's copy; each step tolerates an earlier undo. */
  private async undo(s: SessionView): Promise<void> {
    const d = s.detail;
    const device: Device | undefined = await this.store.devices.get(s.mac);
    if (device && device.imageId === d.served) {
      await this.store.devices.update(s.mac, {
        imageId: d.previousImageId === d.served ? d.served : d.previousImageId,
        ...(d.ip && device.ipReservation === d.ip ? { ipReservation: d.previousIp } : {}),
      });
    }
    if (d.mode === 'clean') {
      const copyImage = await this.store.images.get(d.served);
      if (copyImage?.session === s.id) await this.store.images.remove(d.served);
      await this.iscsi.sync().catch(() => undefined);
      if (d.copy && (await this.iscsi.disks.info(d.copy))) await this.iscsi.disks.remove(d.copy);
    } else {
      await this.iscsi.sync().catch(() => undefined);
    }
  }

  /**
   * Makes a clean session's disk the golden image's next version: a copy of it becomes the image's
   * disk in one store write (version + 1). Sessions started afterwards get the new version; running
   * ones keep their own copies. Refused while the machine is logged in (the disk would be mid-write).
   */
  async commit(id: string): Promise<{ image: string; version: number; path: string }> {
    const found = await this.get(id);
    return this.exclusive(found.mac, async () => {
      const s = await this.get(id);
      if (!LIVE.has(s.state)) throw new NetbootError('conflict', `session ${id} is ${s.state}`, { id });
      if (s.target?.sessions.length) throw new NetbootError('conflict', `session ${id}: ${s.mac} is logged in; shut it down before committing its disk`, { id });
      return this.doCommit(s);
    });
  }

  private async doCommit(s: SessionView): Promise<{ image: string; version: number; path: string }> {
    if (s.detail.mode !== 'clean' || !s.detail.copy) throw new NetbootError('validation', `session ${s.id} is persistent: its writes are already in image "${s.detail.image}"`, { id: s.id });
    const golden = await this.store.images.get(s.detail.image);
    if (!golden) throw new NetbootError('not_found', `image "${s.detail.image}" is gone`, { id: s.id });
    const users = (await this.iscsi.target(golden.id).catch(() => undefined))?.sessions ?? [];
    if (users.length) throw new NetbootError('conflict', `image "${golden.id}" is in use by ${users.map((u) => u.initiator).join(', ')}: its disk cannot change now`, { id: s.id });
    const version = (golden.version ?? 1) + 1;
    const path = `versions/${golden.id}/v${version}.img`;
    await this.iscsi.disks.copy(s.detail.copy, path);
    try {
      await this.store.images.update(golden.id, { path, version });
    } catch (err) {
      await this.iscsi.disks.remove(path).catch(() => undefined);
      throw err;
    }
    await this.iscsi.sync().catch(() => undefined);
    this.opts.log?.info(`iSCSI session ${s.id}: committed into image ${golden.id} as version ${version} (${path}; the previous disk ${golden.path} is kept)`);
    return { image: golden.id, version, path };
  }

  private async patch(s: SessionView, detail: Partial<SessionDetail>): Promise<SessionView> {
    return view(await this.store.sessions.update(s.id, { detail: { ...s.detail, ...detail } }));
  }

  private async finish(s: SessionView, state: 'stopped' | 'failed', detail: Partial<SessionDetail>): Promise<SessionView> {
    const latest = view((await this.store.sessions.get(s.id)) ?? s);
    return view(await this.store.sessions.update(s.id, { state, detail: { ...latest.detail, ...detail, stoppedAt: new Date().toISOString() } }));
  }

  private async record(type: SessionChange['type'], session: SessionView, message: string): Promise<void> {
    await this.store.appendEvent({
      type, mac: session.mac, message,
      data: {
        session: session.id, mode: session.detail.mode, image: session.detail.image, readBytes: session.detail.readBytes, writeBytes: session.detail.writeBytes,
        ...(session.detail.stoppedAt ? { durationMs: Date.parse(session.detail.stoppedAt) - Date.parse(session.detail.startedAt) } : {}),
      },
    }).catch(() => undefined);
    this.emit('change', { type, session } satisfies SessionChange);
  }

  /** Counts by state, durations of stopped sessions and bytes of all of them. */
  async stats(): Promise<SessionStats> {
    const all = (await allSessions(this.store)).map(view);
    const byState = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<Session['state'], number>;
    const durations = { count: 0, sum: 0, max: 0 };
    let readBytes = 0;
    let writeBytes = 0;
    for (const s of all) {
      byState[s.state] = (byState[s.state] ?? 0) + 1;
      readBytes += s.detail.readBytes ?? 0;
      writeBytes += s.detail.writeBytes ?? 0;
      if (s.state === 'stopped' && s.detail.stoppedAt) {
        const secs = (Date.parse(s.detail.stoppedAt) - Date.parse(s.detail.startedAt)) / 1000;
        durations.count++;
        durations.sum += secs;
        durations.max = Math.max(durations.max, secs);
      }
    }
    return { byState, active: byState.starting + byState.active + byState.stopping, durationsSeconds: durations, readBytes, writeBytes };
  }

  /** One look at tgtd: counters of live sessions, stops after logout, idle stops. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().catch((err: unknown) => this.opts.log?.warn(`iSCSI sessions: ${(err as Error).message}`)).finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    if (this.iscsi.status.state !== 'ready') return;
    const live = (await allSessions(this.store)).map(view).filter((s) => s.state === 'active' || s.state === 'stopping');
    for (const s of live) {
      const loggedIn = await this.sample(s);
      if (loggedIn) continue;
      if (s.state === 'stopping') {
        await this.exclusive(s.mac, async () => {
          const now = view((await this.store.sessions.get(s.id)) ?? s);
          if (now.state !== 'stopping') return;
          if ((now.detail as SessionDetail & { commitAtStop?: boolean }).commitAtStop) {
            await this.doCommit(now).catch((err: unknown) => this.opts.log?.error(`iSCSI session ${s.id}: commit at stop failed: ${(err as Error).message}`));
          }
          await this.teardown(now, now.detail.stopReason ?? 'stopped');
        });
        continue;
      }
      const since = Date.parse(s.detail.lastLoginAt ?? s.detail.activeAt ?? s.detail.startedAt);
      if (this.idleStopMs > 0 && Date.now() - since >= this.idleStopMs) {
        await this.stop(s.id, { reason: `idle: no login for ${Math.round(this.idleStopMs / 1000)} s` }).catch(() => undefined);
      }
    }
  }

  /**
   * Reads tgtd's counters for a live session and stores its totals when they moved (tgtd counts per
   * login, so earlier logins of the same session are added). True when the machine is logged in.
   */
  private async sample(s: SessionView): Promise<boolean> {
    const target = await this.iscsi.target(s.detail.served).catch(() => undefined);
    const tgt = target ? (await this.iscsi.admin.targets()).find((t) => t.iqn === target.iqn) : undefined;
    if (!target || !tgt) return false;
    const initiator = deviceIqn(this.iscsi.iqnPrefix, s.mac);
    const nexus = tgt.nexus.find((n) => n.initiator === initiator);
    const c = this.counters.get(s.id) ?? { read: 0, write: 0, baseRead: s.detail.readBytes, baseWrite: s.detail.writeBytes };
    this.counters.set(s.id, c);
    if (nexus) {
      const rows = (await this.iscsi.admin.lunStats(tgt.tid)).filter((r) => r.sid === nexus.id && r.lun === target.lun);
      const read = rows.reduce((n, r) => n + r.readBytes, 0);
      const write = rows.reduce((n, r) => n + r.writeBytes, 0);
      if (c.sid !== undefined && c.sid !== nexus.id) {
        c.baseRead += c.read;
        c.baseWrite += c.write;
      }
      c.sid = nexus.id;
      c.read = read;
      c.write = write;
    } else if (c.sid !== undefined) {
      c.baseRead += c.read;
      c.baseWrite += c.write;
      c.sid = undefined;
      c.read = 0;
      c.write = 0;
    }
    const readBytes = c.baseRead + c.read;
    const writeBytes = c.baseWrite + c.write;
    const moved = readBytes !== s.detail.readBytes || writeBytes !== s.detail.writeBytes;
    // a login is noted once a minute at most: the idle stop needs no finer grain
    const noteLogin = nexus !== undefined && Date.now() - Date.parse(s.detail.lastLoginAt ?? '1970-01-01') > 60_000;
    if (moved || noteLogin) {
      const latest = view((await this.store.sessions.get(s.id)) ?? s);
      await this.store.sessions.update(s.id, { detail: { ...latest.detail, readBytes, writeBytes, ...(noteLogin ? { lastLoginAt: new Date().toISOString() } : {}) } });
    }
    if (moved) this.emit('bytes', { mac: s.mac, target: target.iqn, readBytes, writeBytes } satisfies SessionBytes);
    return nexus !== undefined;
  }
}
