/**
 * Prometheus metrics for `/netboot/metrics`, fed from the event bus. Uses a private prom-client
 * `Registry` (never the global default one), so two hubs in one process, or Node-RED's own metrics,
 * never collide.
 *
 * Label values come from the network (DHCP architecture) and are bounded: anything outside
 * `[a-z0-9_-]{1,32}` or beyond 32 distinct values becomes `other`.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { NetbootEvent } from '../events/vocabulary';
import type { FleetSummary } from './device-metrics';
import { STAGES } from './stages';

export interface PrometheusOptions {
  /** Fleet figures for `netboot_devices{status}`, read at scrape time. */
  fleet?: () => FleetSummary;
  bootBuckets?: number[];
  stageBuckets?: number[];
  /** A TFTP transfer with no news for this long no longer counts as active (default 600 000 ms). */
  staleTransferMs?: number;
}

const LABEL_OK = /^[a-z0-9_-]{1,32}$/;
const MAX_ARCH_LABELS = 32;
const DEVICE_STATUSES = ['booting', 'stalled', 'ready', 'failed'] as const;

export class PrometheusMetrics {
  /** Private registry; never `prom-client`'s global one. */
  readonly registry = new Registry();
  private readonly archLabels = new Set<string>();
  private readonly activeTftp = new Map<string, number>();
  private readonly iscsiSessions = new Set<string>();
  /** Bytes already counted per in-flight transfer, so progress + done never count twice. */
  private readonly seenBytes = new Map<string, { bytes: number; ts: number }>();
  private readonly staleTransferMs: number;

  private readonly dhcpRequests: Counter<'type' | 'arch'>;
  private readonly dhcpAnswers: Counter<'type' | 'arch'>;
  private readonly tftpTransfers: Counter<'outcome'>;
  private readonly tftpBytes: Counter;
  private readonly tftpErrors: Counter;
  private readonly httpBytes: Counter;
  private readonly boots: Counter<'outcome'>;
  private readonly stalls: Counter;
  private readonly bootDuration: Histogram;
  private readonly stageDuration: Histogram<'stage'>;
  private readonly refusals: Counter<'where' | 'reason'>;
  private readonly evictions: Counter<'what'>;
  private readonly missingBootFiles: Counter<'file'>;
  private readonly secureBootSuspected: Counter;
  private readonly builds: Counter<'outcome'>;
  private readonly buildSeconds: Histogram;
  private readonly disklessSessions: Counter<'outcome'>;
  private readonly disklessSeconds: Histogram;
  private readonly iscsiBytes: Counter<'direction'>;
  /** Bytes of each diskless session already counted (iscsi.stats carries running totals). */
  private readonly iscsiSeen = new Map<string, { read: number; write: number }>();

  constructor(options: PrometheusOptions = {}) {
    const registers = [this.registry];
    this.staleTransferMs = options.staleTransferMs ?? 600_000;
    this.dhcpRequests = new Counter({ name: 'netboot_dhcp_requests_total', help: 'DHCP discovers and requests received from boot clients.', labelNames: ['type', 'arch'], registers });
    this.dhcpAnswers = new Counter({ name: 'netboot_dhcp_answers_total', help: 'DHCP offers and acks sent.', labelNames: ['type', 'arch'], registers });
    this.tftpTransfers = new Counter({ name: 'netboot_tftp_transfers_total', help: 'TFTP read requests by how they ended.', labelNames: ['outcome'], registers });
    this.tftpBytes = new Counter({ name: 'netboot_tftp_bytes_total', help: 'Bytes moved over TFTP.', registers });
    this.tftpErrors = new Counter({ name: 'netboot_tftp_errors_total', help: 'TFTP transfers that were aborted.', registers });
    this.httpBytes = new Counter({ name: 'netboot_http_asset_bytes_total', help: 'Bytes of boot assets served over HTTP.', registers });
    this.boots = new Counter({ name: 'netboot_boots_total', help: 'Finished boots by outcome.', labelNames: ['outcome'], registers });
    this.stalls = new Counter({ name: 'netboot_stalls_total', help: 'Boots that stalled (no progress for the stall threshold).', registers });
    this.bootDuration = new Histogram({ name: 'netboot_boot_duration_seconds', help: 'Time from the first boot event to the outcome.', buckets: options.bootBuckets ?? [5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600], registers });
    this.stageDuration = new Histogram({ name: 'netboot_stage_duration_seconds', help: 'Time spent in each boot stage.', labelNames: ['stage'], buckets: options.stageBuckets ?? [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800], registers });
    this.refusals = new Counter({ name: 'netboot_public_refusals_total', help: 'Requests of the public side refused: allowlist, rate limit, body size or type, malformed JSON.', labelNames: ['where', 'reason'], registers });
    this.missingBootFiles = new Counter({ name: 'netboot_boot_file_missing_total', help: 'Boot files named in DHCP answers that the server does not have (each file counted once per start).', labelNames: ['file'], registers });
    this.secureBootSuspected = new Counter({ name: 'netboot_secureboot_suspected_total', help: 'UEFI x64 machines that fetched the unsigned iPXE and started over without running it (Secure Boot probably refused it).', registers });
    this.disklessSessions = new Counter({ name: 'netboot_diskless_sessions_total', help: 'Diskless iSCSI sessions by how they ended up: started, stopped, failed (to start).', labelNames: ['outcome'], registers });
    this.disklessSeconds = new Histogram({ name: 'netboot_diskless_session_seconds', help: 'How long stopped diskless sessions ran.', buckets: [60, 300, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400], registers });
    this.iscsiBytes = new Counter({ name: 'netboot_iscsi_bytes_total', help: 'Bytes diskless machines read from and wrote to their iSCSI disks (tgtd\'s counters).', labelNames: ['direction'], registers });
    this.builds = new Counter({ name: 'netboot_builds_total', help: 'Image builds by how they ended: success, failed, cancelled.', labelNames: ['outcome'], registers });
    this.buildSeconds = new Histogram({ name: 'netboot_build_seconds', help: 'How long finished image builds ran.', buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 3600], registers });
    this.evictions = new Counter({ name: 'netboot_evictions_total', help: 'Records dropped by a growth cap (unconfirmed devices, log bytes).', labelNames: ['what'], registers });

    const active = this.activeTftp;
    new Gauge({ name: 'netboot_tftp_active_transfers', help: 'TFTP transfers in progress.', registers, collect() {
      this.set(active.size);
    } });
    const sessions = this.iscsiSessions;
    new Gauge({ name: 'netboot_iscsi_sessions', help: 'iSCSI sessions logged in.', registers, collect() {
      this.set(sessions.size);
    } });
    const fleet = options.fleet;
    new Gauge({ name: 'netboot_devices', help: 'Known devices by status of their latest boot.', labelNames: ['status'], registers, collect() {
      const s = fleet?.();
      for (const status of DEVICE_STATUSES) this.set({ status }, s ? s[status] : 0);
    } });
    // expose zero-valued series up front, so dashboards see them before the first event
    for (const outcome of ['done', 'abort', 'probe', 'notfound']) this.tftpTransfers.inc({ outcome }, 0);
    for (const outcome of ['done', 'failed']) this.boots.inc({ outcome }, 0);
    for (const outcome of ['success', 'failed', 'cancelled']) this.builds.inc({ outcome }, 0);
    for (const outcome of ['started', 'stopped', 'failed']) this.disklessSessions.inc({ outcome }, 0);
    for (const direction of ['read', 'write']) this.iscsiBytes.inc({ direction }, 0);
    for (const stage of STAGES) this.stageDuration.zero({ stage });
  }

  /** A refusal on the public side (where: http, tftp, dhcp; reason: allowlist, rate, size, type, json). */
  countRefusal(where: string, reason: string): void {
    this.refusals.inc({ where, reason });
  }

  /** Records dropped by a growth cap. */
  countMissingBootFile(file: string): void {
    this.missingBootFiles.inc({ file });
  }

  countEviction(what: string, n = 1): void {
    this.evictions.inc({ what }, n);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition of every metric. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  private arch(value: string | undefined): string {
    const v = (value ?? 'unknown').toLowerCase();
    if (!LABEL_OK.test(v)) return 'other';
    if (this.archLabels.has(v)) return v;
    if (this.archLabels.size >= MAX_ARCH_LABELS) return 'other';
    this.archLabels.add(v);
    return v;
  }

  private delta(e: { ts: number; bytes?: number }, key: string, terminal: boolean): number {
    const seen = this.seenBytes.get(key)?.bytes ?? 0;
    const now = e.bytes ?? seen;
    if (terminal) this.seenBytes.delete(key);
    else this.seenBytes.set(key, { bytes: Math.max(seen, now), ts: e.ts });
    return Math.max(0, now - seen);
  }

  observe(e: NetbootEvent): void {
    switch (e.type) {
      case 'dhcp.discover':
      case 'dhcp.request':
        this.dhcpRequests.inc({ type: e.type.slice(5), arch: this.arch(e.arch) });
        break;
      case 'secureboot.suspected':
        this.secureBootSuspected.inc();
        break;
      case 'build.success':
      case 'build.failed':
      case 'build.cancelled':
        this.builds.inc({ outcome: e.type.slice(6) });
        if (e.durationMs !== undefined) this.buildSeconds.observe(e.durationMs / 1000);
        break;
      case 'session.start':
        this.disklessSessions.inc({ outcome: 'started' });
        break;
      case 'session.failed':
        this.disklessSessions.inc({ outcome: 'failed' });
        break;
      case 'session.stop': {
        this.disklessSessions.inc({ outcome: 'stopped' });
        if (e.durationMs !== undefined) this.disklessSeconds.observe(e.durationMs / 1000);
        break;
      }
      case 'iscsi.stats': {
        const key = `${e.mac ?? ''}|${e.target}`;
        const seen = this.iscsiSeen.get(key) ?? { read: 0, write: 0 };
        const read = e.readBytes ?? seen.read;
        const write = e.writeBytes ?? seen.write;
        // a new session on the same target starts from zero again
        this.iscsiBytes.inc({ direction: 'read' }, read >= seen.read ? read - seen.read : read);
        this.iscsiBytes.inc({ direction: 'write' }, write >= seen.write ? write - seen.write : write);
        this.iscsiSeen.set(key, { read, write });
        if (this.iscsiSeen.size > 10_000) this.iscsiSeen.delete(this.iscsiSeen.keys().next().value!);
        break;
      }
      case 'dhcp.offer':
      case 'dhcp.ack':
        this.dhcpAnswers.inc({ type: e.type.slice(5), arch: this.arch(e.arch) });
        break;
      case 'tftp.start':
      case 'tftp.progress':
      case 'tftp.done':
      case 'tftp.abort':
      case 'tftp.probe':
      case 'tftp.notfound': {
        const key = `tftp|${e.ip ?? e.mac ?? '?'}|${e.port ?? ''}|${e.path}`;
        const terminal = e.type !== 'tftp.start' && e.type !== 'tftp.progress';
        this.tftpBytes.inc(this.delta(e, key, terminal));
        if (terminal) {
          this.activeTftp.delete(key);
          this.tftpTransfers.inc({ outcome: e.type.slice(5) });
          if (e.type === 'tftp.abort') this.tftpErrors.inc();
        } else this.activeTftp.set(key, e.ts);
        break;
      }
      case 'http.start':
      case 'http.progress':
      case 'http.done': {
        const key = `http|${e.ip ?? e.mac ?? '?'}|${e.requestId ?? ''}|${e.path}`;
        this.httpBytes.inc(this.delta(e, key, e.type === 'http.done'));
        break;
      }
      case 'iscsi.login':
      case 'iscsi.logout': {
        const key = `${e.mac ?? e.ip ?? '?'}|${e.target}`;
        if (e.type === 'iscsi.login') this.iscsiSessions.add(key);
        else this.iscsiSessions.delete(key);
        break;
      }
      case 'stall':
        this.stalls.inc();
        break;
      case 'stage':
        if (e.from !== undefined && e.durationMs !== undefined) this.stageDuration.observe({ stage: e.from }, e.durationMs / 1000);
        if (e.to === 'done' || e.to === 'failed') {
          this.boots.inc({ outcome: e.to });
          if (e.bootDurationMs !== undefined) this.bootDuration.observe(e.bootDurationMs / 1000);
        }
        break;
      default:
        break;
    }
  }

  /** Forgets transfers whose end was never reported. */
  prune(now: number): void {
    for (const [key, ts] of this.activeTftp) if (now - ts >= this.staleTransferMs) this.activeTftp.delete(key);
    for (const [key, v] of this.seenBytes) if (now - v.ts >= this.staleTransferMs) this.seenBytes.delete(key);
  }
}
