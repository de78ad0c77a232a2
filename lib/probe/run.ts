/**
 * `runProbe`: walk through what one kind of machine does on the wire — DHCP, the proxy exchange,
 * TFTP or HTTP — record what came back (observations) with the time each stage took, then let
 * `diagnose()` name what would make the boot fail.
 *
 * The runner decides only what to ask next (from `planBoot`); it never judges. Network trouble of
 * the probe itself (cannot bind, unknown interface, nothing can be sent) is thrown as a
 * `ProbeNetworkError` (CLI exit 3).
 */
import type * as dgram from 'node:dgram';
import * as os from 'node:os';
import { NetbootError } from '../core/errors';
import { isIPv4 } from '../dhcp/packet';
import { directedBroadcast } from '../dhcp/server';
import { MESSAGE_TYPE_NAMES, getMessageType } from '../dhcp/options';
import { closeSocket } from '../net/bind';
import type { TftpOptionList } from '../tftp/packet';
import { validateIpxeScript } from '../render/ipxe-validate';
import { diagnose, exitCodeFor } from './diagnose';
import { bootServerExchange, discover, localAddressFor, openDhcpClientSocket, type Target } from './dhcp-client';
import { httpFetch } from './http-client';
import { buildBootServerRequest, buildDiscover, makeIdentity, randomXid, type ProbeIdentity } from './identity';
import { chainTargets, expandSettings, resolveUri } from './ipxe-settings';
import { ProbeNetworkError } from './network-error';
import { describeOffer, isUrl, planBoot, pxeTftpServer, type OfferInfo } from './offers';
import { tftpRead } from './tftp-client';
import { peSignatureOf } from '../core/pe-signature';
import {
  DEFAULT_PORTS,
  isPiKind,
  type FileResult,
  type HttpObservation,
  type Observations,
  type ProbeOptions,
  type ProbePorts,
  type ProbeReport,
  type SecureBootObservation,
  type StageResult,
  type StageStatus,
  type TftpObservation,
  type TftpRole,
} from './types';

export const DEFAULT_OFFER_WINDOW_MS = 3000;
export const DEFAULT_TIMEOUT_MS = 3000;

/** Files read after the fixed start of each Pi sequence (protocols.md 1.3). */
export const PI_DEFAULT_FILES = {
  pi3: ['config.txt', 'start.elf', 'fixup.dat', 'cmdline.txt'],
  pi4: ['config.txt', 'start4.elf', 'fixup4.dat', 'cmdline.txt'],
  pi5: ['config.txt', 'cmdline.txt'],
} as const;

/** Size probes: EDK2 aborts with ERROR 8, the Pi bootloader with ERROR 0 (harness README, protocols.md 1.4). */
const EDK2_ABORT = { code: 8, message: 'User aborted the transfer' };
const PI_ABORT = { code: 0, message: 'Early terminate' };

/** Small text files whose bytes we keep (config.txt is parsed for kernel=/initramfs). */
const KEEP_TEXT_BYTES = 64 * 1024;
/** `--as uefi-sb` keeps whole EFI programs to read their signature (shim ~1 MB, GRUB ~2 MB). */
const KEEP_EFI_BYTES = 32 * 1024 * 1024;

export interface ResolvedNetwork {
  /** Unicast sockets bind here (0.0.0.0 without --interface). */
  bindAddress: string;
  /** Where DISCOVERs go. */
  targets: Target[];
  interfaceName?: string;
}

/** Where to bind and send, from --interface / --server / --unicast. Throws `ProbeNetworkError` for an unknown interface. */
export function resolveNetwork(opts: Pick<ProbeOptions, 'interface' | 'server' | 'unicast'>, ports: ProbePorts, interfaces = os.networkInterfaces()): ResolvedNetwork {
  let bindAddress = '0.0.0.0';
  let broadcast = '255.255.255.255';
  if (opts.interface) {
    const addrs = interfaces[opts.interface]?.filter((a) => a.family === 'IPv4') ?? [];
    if (addrs.length === 0) {
      const have = Object.entries(interfaces)
        .filter(([, list]) => list?.some((a) => a.family === 'IPv4'))
        .map(([name]) => name);
      throw new ProbeNetworkError('not_found', `no interface "${opts.interface}" with an IPv4 address (have: ${have.join(', ') || 'none'})`, { interface: opts.interface });
    }
    bindAddress = addrs[0].address;
    broadcast = directedBroadcast({ address: addrs[0].address, netmask: addrs[0].netmask });
  }
  const unicast = opts.server !== undefined && (opts.unicast === true || opts.server.startsWith('127.'));
  const targets = unicast ? [{ address: opts.server!, port: ports.dhcp }] : [{ address: broadcast, port: ports.dhcp }];
  return { bindAddress, targets, interfaceName: opts.interface };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function describeInfo(o: OfferInfo): string {
  const parts = [o.isProxy ? `proxy (${o.vendorClass})` : o.givesAddress ? `address ${o.yiaddr}` : 'no address'];
  if (o.bootfile) parts.push(`file "${o.bootfile}"`);
  if (o.siaddr !== '0.0.0.0') parts.push(`next-server ${o.siaddr}`);
  if (o.tftpServerOption) parts.push(`66 ${o.tftpServerOption}`);
  if (o.menuTexts.length) parts.push(`menu ${o.menuTexts.map((t) => JSON.stringify(t)).join(',')}`);
  else if (o.option43) parts.push(`43 ${o.option43.toString('hex')}`);
  return `${o.serverId}: ${parts.join(', ')}`;
}

function shortSha(s: string | undefined): string {
  return s ? s.slice(0, 12) : '-';
}

class Runner {
  readonly stages: StageResult[] = [];
  readonly files: FileResult[] = [];
  readonly obs: Observations;
  private readonly ports: ProbePorts;
  private readonly windowMs: number;
  private readonly timeoutMs: number;
  private net!: ResolvedNetwork;

  constructor(
    private readonly opts: ProbeOptions,
    private readonly id: ProbeIdentity,
  ) {
    this.ports = { ...DEFAULT_PORTS, ...opts.ports };
    this.windowMs = opts.offerWindowMs ?? DEFAULT_OFFER_WINDOW_MS;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.obs = { kind: opts.kind, mac: id.mac, xid: randomXid(), expectedServer: opts.server, offers: [], tftp: [], http: [], scripts: [] };
  }

  private record(name: string, started: number, status: StageStatus, summary: string, details?: Record<string, unknown>): void {
    const stage: StageResult = { name, status, ms: Math.round(performance.now() - started), summary, details };
    this.stages.push(stage);
    this.opts.onStage?.(stage);
  }

  async run(): Promise<void> {
    this.net = resolveNetwork(this.opts, this.ports);
    const socket = await openDhcpClientSocket('0.0.0.0', this.ports.client);
    try {
      const started = performance.now();
      const result = await discover(socket, buildDiscover(this.id, this.obs.xid), this.net.targets, this.windowMs);
      this.obs.offers = result.offers;
      const infos = result.offers.map(describeOffer);
      const sentTo = this.net.targets.map((t) => `${t.address}:${t.port}`).join(', ');
      const ignored = result.others.length ? `; also ${result.others.map((r) => MESSAGE_TYPE_NAMES[getMessageType(r.packet) ?? 0] ?? '?').join(', ')}` : '';
      this.record(
        'dhcp-discover',
        started,
        infos.length ? 'ok' : 'fail',
        infos.length ? `${infos.length} OFFER(s) in ${this.windowMs} ms: ${infos.map(describeInfo).join('; ')}${ignored}` : `no OFFER in ${this.windowMs} ms (DISCOVER xid ${hex(this.obs.xid)} to ${sentTo})`,
        { xid: this.obs.xid, sentTo: this.net.targets, sendErrors: result.sendErrors, offers: infos.map((o) => ({ server: o.serverId, source: `${o.source}:${o.reply.from.port}`, atMs: o.reply.atMs, yiaddr: o.yiaddr, siaddr: o.siaddr, proxy: o.isProxy, vendorClass: o.vendorClass, bootfile: o.bootfile, option66: o.tftpServerOption, menu: o.menuTexts })) },
      );
      if (infos.length === 0) return;
      await this.follow(infos, socket);
    } finally {
      await closeSocket(socket);
    }
  }

  private async follow(infos: OfferInfo[], socket: dgram.Socket): Promise<void> {
    const plan = planBoot(this.opts.kind, infos);
    const started = performance.now();
    switch (plan.kind) {
      case 'none':
        this.record('boot-info', started, 'fail', `nothing usable for a ${this.opts.kind} machine (${plan.reason})`);
        return;
      case 'pi':
        this.record('boot-info', started, 'ok', `option 43 menu from ${plan.offer.serverId}; TFTP server ${plan.server}`);
        await this.piSequence(plan.server);
        return;
      case 'http':
        this.record('boot-info', started, 'ok', `${plan.url} from ${plan.offer.serverId}${plan.offer.vendorClass ? ` (60 ${plan.offer.vendorClass})` : ''}`);
        if (this.opts.kind === 'ipxe') await this.ipxeScript(plan.url, plan.offer);
        else await this.httpBoot(plan.url);
        return;
      case 'tftp':
        this.record('boot-info', started, 'ok', `TFTP "${plan.file}" from ${plan.server} (offer from ${plan.offer.serverId})`);
        await this.pxeTftp(plan.server, plan.file);
        if (this.opts.kind === 'uefi-sb') await this.secureBootChain(plan.server, plan.file, plan.offer.reply.packet.file, socket);
        return;
      case 'boot-server': {
        this.record('boot-info', started, 'ok', `proxy answer from ${plan.offer.serverId}: ask its boot-server port`);
        const ack = await this.bootServer(plan.server, infos, plan.bootItem, socket);
        if (!ack) return;
        const a = describeOffer(ack);
        if (!a.bootfile) return;
        const server = pxeTftpServer(a) ?? plan.server;
        await this.pxeTftp(server, a.bootfile);
        if (this.opts.kind === 'uefi-sb') await this.secureBootChain(server, a.bootfile, ack.packet.file, socket);
        return;
      }
    }
  }

  private async bootServer(server: string, infos: OfferInfo[], bootItem: { type: number; layer: number } | undefined, socket: dgram.Socket) {
    const started = performance.now();
    const target = { address: server, port: this.ports.proxy };
    const ciaddr = this.net.bindAddress !== '0.0.0.0' ? this.net.bindAddress : ((await localAddressFor(server, this.ports.proxy)) ?? infos.find((o) => o.givesAddress)?.yiaddr ?? '0.0.0.0');
    const xid = randomXid();
    const packet = buildBootServerRequest(this.id, xid, isIPv4(ciaddr) ? ciaddr : '0.0.0.0', bootItem);
    const obs = await bootServerExchange({ packet, target, bindAddress: this.net.bindAddress, sourcePort: this.ports.proxy, timeoutMs: this.timeoutMs, alsoListen: socket });
    this.obs.bootServer = obs;
    const sent = `REQUEST xid ${hex(xid)} to ${server}:${this.ports.proxy} from port ${obs.sourcePort}${obs.sourcePort === this.ports.proxy ? '' : ` (${this.ports.proxy} is taken or needs privileges)`}`;
    if (!obs.ack) {
      this.record('proxy-request', started, 'fail', `${sent}: no ACK after ${obs.tries} tries${obs.sendError ? ` (send error ${obs.sendError})` : ''}`, { target, sourcePort: obs.sourcePort, xid, tries: obs.tries });
      return undefined;
    }
    const a = describeOffer(obs.ack);
    this.record('proxy-request', started, a.bootfile ? 'ok' : 'fail', `${sent} → ACK from ${obs.ack.from.address}:${obs.ack.from.port}: ${a.bootfile ? `file "${a.bootfile}"` : 'no boot file'}${a.siaddr !== '0.0.0.0' ? `, next-server ${a.siaddr}` : ''}`, {
      target,
      sourcePort: obs.sourcePort,
      xid,
      bootfile: a.bootfile,
      siaddr: a.siaddr,
    });
    return obs.ack;
  }

  private async tftp(server: string, file: string, role: TftpRole, options: TftpOptionList, extra: { probe?: { code: number; message: string }; needsBlksizeOack?: boolean; keep?: boolean | number } = {}): Promise<TftpObservation> {
    const started = performance.now();
    const outcome = await tftpRead({
      host: server,
      port: this.ports.tftp,
      filename: file,
      options,
      probe: extra.probe,
      bindAddress: this.net.bindAddress,
      silenceMs: this.timeoutMs,
      retryMs: Math.min(500, Math.max(100, Math.floor(this.timeoutMs / 4))),
      keepUpTo: typeof extra.keep === 'number' ? extra.keep : extra.keep ? KEEP_TEXT_BYTES : 0,
    });
    const t: TftpObservation = { file, server, port: this.ports.tftp, role, requested: options, needsBlksizeOack: extra.needsBlksizeOack ?? false, outcome };
    this.obs.tftp.push(t);
    const opts = options.map(([k, v]) => `${k} ${v}`).join(' ') || 'no options';
    const oack = outcome.oack ? `OACK ${Object.entries(outcome.oack).map(([k, v]) => `${k}=${v}`).join(' ')}` : 'no OACK';
    const name = `${extra.probe ? 'tftp-probe' : 'tftp'} ${file}`;
    if (!outcome.ok) {
      const e = outcome.error!;
      const expected = (role === 'expect-missing' || role === 'prefix-probe') && e.kind === 'remote' && e.code === 1;
      const optional = role === 'optional' && e.kind === 'remote' && e.code === 1;
      this.record(name, started, expected ? 'ok' : optional ? 'warn' : 'fail', `${e.kind === 'remote' ? `ERROR ${e.code} "${e.message}"` : e.message}${expected ? ' (expected)' : ''} [${opts}]`, { server, port: this.ports.tftp, role, requested: options, error: e });
      return t;
    }
    if (outcome.probed) {
      this.record(name, started, 'ok', `${oack}${outcome.oack ? '' : ' (DATA 1 came directly)'}; aborted with ERROR ${extra.probe!.code} "${extra.probe!.message}" [${opts}]`, { server, role, requested: options, oack: outcome.oack });
      return t;
    }
    const tsize = outcome.oack?.tsize;
    const sizeNote = tsize === undefined ? '' : Number(tsize) === outcome.bytes ? ', size = tsize' : `, tsize said ${tsize}`;
    const unexpectedFile = role === 'expect-missing' ? ' (present; usually absent)' : '';
    this.record(name, started, tsize !== undefined && Number(tsize) !== outcome.bytes ? 'fail' : 'ok', `${outcome.bytes} bytes${sizeNote}, ${oack}, blksize ${outcome.blksize}${outcome.windowsize > 1 ? ` windowsize ${outcome.windowsize}` : ''}, sha256 ${shortSha(outcome.sha256)}${unexpectedFile} [${opts}]`, {
      server,
      role,
      requested: options,
      oack: outcome.oack,
      bytes: outcome.bytes,
      sha256: outcome.sha256,
    });
    this.files.push({ name: file, via: 'tftp', source: `${server}:${this.ports.tftp}`, bytes: outcome.bytes, sha256: outcome.sha256, announced: tsize !== undefined ? Number(tsize) : undefined });
    return t;
  }

  /** BIOS (iPXE-like options) or EDK2 (size probe, then the windowed read). */
  private async pxeTftp(server: string, file: string): Promise<void> {
    if (this.opts.kind === 'uefi' || this.opts.kind === 'uefi-sb' || this.opts.kind === 'arm64') {
      const probe = await this.tftp(server, file, 'probe', [['tsize', '0'], ['blksize', '1468'], ['windowsize', '4']], { probe: EDK2_ABORT });
      if (!probe.outcome.ok) return;
      const real = await this.tftp(server, file, 'read', [['blksize', '1468'], ['windowsize', '4']], { keep: this.opts.kind === 'uefi-sb' ? KEEP_EFI_BYTES : false });
      const announced = probe.outcome.oack?.tsize;
      if (real.outcome.ok && announced !== undefined && real.outcome.oack?.tsize === undefined) {
        // the size check of the real read uses the probe's tsize (EDK2 does the same)
        real.outcome.oack = { ...(real.outcome.oack ?? {}), tsize: announced };
        const f = this.files[this.files.length - 1];
        if (f) f.announced = Number(announced);
      }
      return;
    }
    await this.tftp(server, file, 'read', [['blksize', '1432'], ['tsize', '0']]);
  }

  /**
   * What Secure Boot makes of the boot program: its Authenticode signature. Unsigned, the firmware
   * refuses it and starts over, so the probe sends a fresh DISCOVER as the firmware would (the server
   * then records secureboot.suspected). Signed (shim), the chain goes on as shim and GRUB do:
   * grubx64.efi from the directory of the BOOTP file field, then /grub/grub.cfg and grub.cfg-<mac>.
   */
  private async secureBootChain(server: string, nbp: string, fileField: string, socket: dgram.Socket): Promise<void> {
    const started = performance.now();
    const read = [...this.obs.tftp].reverse().find((t) => t.file === nbp && t.role === 'read');
    const data = read?.outcome.ok ? read.outcome.data : undefined;
    const sig = data ? peSignatureOf(data) : undefined;
    const sb: SecureBootObservation = { nbp, fileField, signature: sig?.kind ?? 'not-read', signers: sig?.kind === 'signed' ? sig.signers : undefined, reason: sig && sig.kind !== 'signed' ? sig.reason : undefined };
    this.obs.secureBoot = sb;
    if (!sig) return;
    if (sig.kind !== 'signed') {
      this.record(`secure-boot ${nbp}`, started, 'fail', `${sig.kind === 'not-pe' ? 'not an EFI program' : 'no Authenticode signature'} (${sig.reason}): Secure Boot refuses it ("Access Denied")`, { signature: sig.kind });
      const again = performance.now();
      const result = await discover(socket, buildDiscover(this.id, randomXid()), this.net.targets, Math.min(this.windowMs, 1000));
      sb.rediscovered = true;
      this.record('dhcp-rediscover', again, 'ok', `as the firmware does after a refusal: a fresh DISCOVER (${result.offers.length} OFFER(s)); the server should record secureboot.suspected for ${this.id.mac}`);
      return;
    }
    this.record(`secure-boot ${nbp}`, started, 'ok', `signed by ${sig.signers.join(', ') || '(certificate not readable)'}; file field "${fileField}"`, { signers: sig.signers, fileField });
    const dir = fileField.includes('/') ? fileField.slice(0, fileField.lastIndexOf('/') + 1) : '';
    const grubFile = `${dir}grubx64.efi`;
    const opts: TftpOptionList = [['blksize', '1468'], ['windowsize', '4']];
    const grub = await this.tftp(server, grubFile, 'read', opts, { keep: KEEP_EFI_BYTES });
    const grubSig = grub.outcome.ok && grub.outcome.data ? peSignatureOf(grub.outcome.data) : undefined;
    sb.grub = { file: grubFile, signature: grubSig?.kind ?? 'not-read' };
    if (!grubSig) return;
    this.record(`secure-boot ${grubFile}`, performance.now(), grubSig.kind === 'signed' ? 'ok' : 'fail', grubSig.kind === 'signed' ? `signed by ${grubSig.signers.join(', ')}` : `no Authenticode signature: shim refuses it ("Security Violation")`);
    if (grubSig.kind !== 'signed') return;
    sb.grub.rootConfig = (await this.tftp(server, 'grub/grub.cfg', 'read', [['blksize', '1468']], { keep: true })).outcome.ok;
    if (sb.grub.rootConfig) sb.grub.machineConfig = (await this.tftp(server, `grub/grub.cfg-${this.id.mac}`, 'optional', [['blksize', '1468']], { keep: true })).outcome.ok;
  }

  private async httpGetHead(url: string, role: HttpObservation['role'], methods: ('HEAD' | 'GET')[]): Promise<HttpObservation | undefined> {
    let get: HttpObservation | undefined;
    for (const method of methods) {
      const started = performance.now();
      const h = await httpFetch({ method, url, role, timeoutMs: this.timeoutMs, localAddress: this.net.bindAddress !== '0.0.0.0' ? this.net.bindAddress : undefined });
      this.obs.http.push(h);
      const ok = !h.error && h.status !== undefined && h.status >= 200 && h.status < 300;
      const len = h.contentLength !== undefined ? `Content-Length ${h.contentLength}` : 'no Content-Length';
      const summary = h.error ? h.error : method === 'HEAD' ? `${h.status}, ${len}` : `${h.status}, ${h.bytes} bytes (${len}), sha256 ${shortSha(h.sha256)}`;
      this.record(`http-${method.toLowerCase()} ${url}`, started, ok ? 'ok' : 'fail', summary, { url, status: h.status, contentLength: h.contentLength, bytes: h.bytes, sha256: h.sha256, role });
      if (method === 'GET') {
        get = h;
        if (ok) this.files.push({ name: url, via: 'http', source: url, bytes: h.bytes, sha256: h.sha256, announced: h.contentLength });
      }
    }
    return get;
  }

  private async httpBoot(url: string): Promise<void> {
    await this.httpGetHead(url, 'boot', ['HEAD', 'GET']);
  }

  private ipxeSettings(offer: OfferInfo): Parameters<typeof expandSettings>[1] {
    const ip = this.obs.offers.map(describeOffer).find((o) => o.givesAddress)?.yiaddr ?? offer.yiaddr;
    return { mac: this.id.mac, uuid: this.id.uuidText, buildarch: 'i386', platform: 'pcbios', ip: ip === '0.0.0.0' ? '' : ip, hostname: '' };
  }

  private checkScript(url: string, role: 'script' | 'chain', text: string): void {
    const started = performance.now();
    const firstLine = (text.split('\n')[0] ?? '').replace(/\r$/, '');
    const problems = validateIpxeScript(text);
    this.obs.scripts.push({ url, role, firstLine, problems });
    const ok = firstLine === '#!ipxe' && problems.length === 0;
    this.record(`ipxe-validate ${url}`, started, ok ? 'ok' : 'fail', ok ? `valid iPXE script, ${text.split('\n').length} lines` : `${problems.length} problem(s): ${problems.slice(0, 3).map((p) => `line ${p.line}: ${p.message}`).join('; ')}`, { problems });
  }

  private async ipxeScript(rawUrl: string, offer: OfferInfo): Promise<void> {
    const settings = this.ipxeSettings(offer);
    const url = expandSettings(rawUrl, settings);
    const got = await this.httpGetHead(url, 'script', ['GET']);
    if (!got || got.error || got.status === undefined || got.status < 200 || got.status > 299) return;
    const text = got.text ?? '';
    this.checkScript(url, 'script', text);
    // Follow `chain` one level: a script is validated, anything else just has to download.
    for (const target of chainTargets(text)) {
      const resolved = resolveUri(expandSettings(target, settings), url);
      if (!resolved || !isUrl(resolved)) continue;
      const chained = await this.httpGetHead(resolved, 'chain', ['GET']);
      if (chained?.text !== undefined && chained.text.startsWith('#!ipxe')) this.checkScript(resolved, 'chain', chained.text);
    }
  }

  private async piSequence(server: string): Promise<void> {
    const kind = this.opts.kind as 'pi3' | 'pi4' | 'pi5';
    const serial = this.id.serial!;
    const userFiles = this.opts.files;
    const list: string[] = [...(userFiles ?? PI_DEFAULT_FILES[kind])];
    const timedOut = (t: TftpObservation) => t.outcome.error?.kind === 'timeout';
    const found = (t: TftpObservation) => t.outcome.ok;
    let prefix = '';
    const done = new Set<string>();
    let opts: TftpOptionList = [];
    let needsOack = false;

    if (kind === 'pi3') {
      // ROM: plain 512-byte reads, no options (protocols.md 1.3/1.4).
      if (timedOut(await this.tftp(server, 'bootcode.bin', 'read', []))) return;
      await this.tftp(server, 'bootsig.bin', 'expect-missing', []);
      const probe = await this.tftp(server, `${serial}/start.elf`, 'prefix-probe', []);
      if (timedOut(probe)) return;
      if (found(probe)) {
        prefix = `${serial}/`;
        done.add('start.elf');
      }
    } else if (kind === 'pi4') {
      opts = [['tsize', '0'], ['blksize', '1024']];
      needsOack = true;
      for (const elf of ['start4.elf', 'start.elf']) {
        const probe = await this.tftp(server, `${serial}/${elf}`, 'prefix-probe', opts, { probe: PI_ABORT, needsBlksizeOack: true });
        if (timedOut(probe)) return;
        if (found(probe)) {
          prefix = `${serial}/`;
          break;
        }
      }
    } else {
      opts = [['tsize', '0'], ['blksize', '1468']];
      needsOack = true;
      const probe = await this.tftp(server, `${serial}/config.txt`, 'prefix-probe', opts, { needsBlksizeOack: true, keep: true });
      if (timedOut(probe)) return;
      if (found(probe)) {
        prefix = `${serial}/`;
        done.add('config.txt');
        this.addConfigFiles(probe, list, userFiles !== undefined);
      }
    }

    for (let i = 0; i < list.length; i++) {
      const f = list[i];
      if (done.has(f)) continue;
      done.add(f);
      const isConfig = f === 'config.txt';
      const role: TftpRole = i >= (userFiles ?? PI_DEFAULT_FILES[kind]).length ? 'optional' : 'read';
      const t = await this.tftp(server, `${prefix}${f}`, role, opts, { needsBlksizeOack: needsOack, keep: isConfig });
      if (timedOut(t)) return;
      if (isConfig) this.addConfigFiles(t, list, userFiles !== undefined);
    }
  }

  /** Adds the kernel and initramfs named in config.txt to the list (only without --files). */
  private addConfigFiles(t: TftpObservation, list: string[], userChose: boolean): void {
    if (userChose || !t.outcome.data) return;
    for (const name of configTxtFiles(t.outcome.data.toString('latin1'))) if (!list.includes(name)) list.push(name);
  }
}

/**
 * Files a config.txt makes the firmware load: `kernel=NAME` and `initramfs NAME [followkernel]`.
 * Only plain relative names are taken (no `..`, no absolute paths).
 */
export function configTxtFiles(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    let name: string | undefined;
    const k = /^kernel\s*=\s*(\S+)$/.exec(line);
    if (k) name = k[1];
    const i = /^initramfs\s+(\S+)/.exec(line);
    if (i) name = i[1];
    if (name && /^[A-Za-z0-9._+-][A-Za-z0-9._+/-]*$/.test(name) && !name.split('/').includes('..') && !out.includes(name)) out.push(name);
  }
  return out;
}

/**
 * Runs one probe and returns the report with the raw observations (for tests and callers that want
 * the facts). Throws `ProbeNetworkError` for the probe's own network trouble and
 * `NetbootError('validation' | 'invalid_mac')` for bad options.
 */
export async function runProbeWithObservations(opts: ProbeOptions): Promise<{ report: ProbeReport; observations: Observations }> {
  const started = performance.now();
  if (opts.server !== undefined && !isIPv4(opts.server)) throw new NetbootError('validation', `server "${String(opts.server).slice(0, 40)}" is not an IPv4 address`);
  const id = makeIdentity(opts.kind, opts.mac, opts.serial);
  const runner = new Runner(opts, id);
  await runner.run();
  const diagnoses = diagnose(runner.obs, { windowMs: opts.offerWindowMs ?? DEFAULT_OFFER_WINDOW_MS });
  const report: ProbeReport = {
    kind: opts.kind,
    mac: id.mac,
    xid: runner.obs.xid,
    serial: isPiKind(opts.kind) ? id.serial : undefined,
    server: opts.server,
    durationMs: Math.round(performance.now() - started),
    stages: runner.stages,
    diagnoses,
    files: runner.files,
    exitCode: exitCodeFor(diagnoses),
  };
  return { report, observations: runner.obs };
}

/** Runs one probe (see `runProbeWithObservations`). */
export async function runProbe(opts: ProbeOptions): Promise<ProbeReport> {
  return (await runProbeWithObservations(opts)).report;
}
