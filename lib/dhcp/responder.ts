/**
 * The reply policy: (request, facts, config, context) → reply packet or null. Pure: address leasing
 * is decided beforehand by the caller (`LeasePool`) and passed in as `ctx.lease`.
 *
 * Proxy mode (port 67): only clients whose option 60 starts with `PXEClient`/`HTTPClient` (or a
 * Raspberry Pi) are answered; nothing is assigned (yiaddr 0.0.0.0).
 *   - DISCOVER → OFFER with the broadcast flag, siaddr = next server, file/67, 54, 60, 97 echoed.
 *     BIOS (arch 0) also gets 43 = {6: 8} (skip discovery, take siaddr/file). UEFI gets no 43, so
 *     EDK2 unicasts a REQUEST to port 4011; iPXE accepts the OFFER because it has siaddr + file.
 *     A Raspberry Pi gets the PXE menu in 43, 66 = server and 60 = PXEClient.
 *   - REQUEST naming us in 54 → ACK (broadcast) with the same boot data; naming another server or
 *     none → ignored (it belongs to the real DHCP server).
 * Boot-server port (4011), both modes: REQUEST/INFORM → ACK with the boot data to the client's
 *   source (the server picks the destination); 43.71 (boot item) is echoed when the client sent it.
 * Full mode (port 67): DISCOVER → OFFER, REQUEST → ACK/NAK, INFORM → ACK without lease, with
 *   options 1, 3, 6, 15, 51, 58, 59, 54 and, for PXE/HTTP/Pi clients, the boot data (no 43 except
 *   the Pi menu, 60 only for HTTPClient and the Pi). RELEASE/DECLINE get no reply.
 *   `override.skip` in full mode drops only the boot data; the address is still given.
 * Off: never answers.
 * Every reply carries option 54 and echoes options 97 and 82 when the request had them.
 */
import { ClientFacts } from './classify';
import { BootAnswer, BootAnswerConfig, BootOverride, DEFAULT_BOOT_CONFIG, bootAnswer } from './boot-answer';
import { DhcpOption, DhcpPacket, FLAG_BROADCAST, OP_REPLY, OP_REQUEST } from './packet';
import { MessageType, Opt, build, encodeTlv, getOption, getPxeOptions, pxe } from './options';

export type DhcpMode = 'proxy' | 'full' | 'off';

export interface NetworkOptions {
  netmask: string;
  router?: string;
  dns?: string[];
  domain?: string;
}

export interface LeaseGrant extends NetworkOptions {
  ip: string;
  /** Seconds. */
  leaseTime: number;
}

export type LeaseDecision =
  | { kind: 'offer'; grant: LeaseGrant }
  | { kind: 'ack'; grant: LeaseGrant }
  | { kind: 'nak'; message: string }
  | { kind: 'inform'; network: NetworkOptions }
  | { kind: 'none'; reason: string };

export interface ResponderConfig {
  mode: DhcpMode;
  /** Our address for this packet (option 54, default next server). */
  serverIp: string;
  boot?: BootAnswerConfig;
  /** Written into `sname` of boot replies when set. */
  serverName?: string;
}

export interface ResponderContext {
  /** 'dhcp' = arrived on port 67, 'boot' = arrived on the PXE boot-server port 4011. */
  port: 'dhcp' | 'boot';
  /** Full mode: the lease pool's decision for this request. */
  lease?: LeaseDecision;
  override?: BootOverride;
}

export type IgnoreReason =
  | 'mode-off'
  | 'not-request'
  | 'not-pxe'
  | 'other-server'
  | 'unhandled-type'
  | 'no-lease'
  | 'no-reply-needed'
  | 'skipped'
  | 'unsupported-arch';

export type ResponderResult =
  | { reply: DhcpPacket; type: MessageType; boot?: BootAnswer }
  | { reply: null; reason: IgnoreReason; detail?: string };

function baseReply(req: DhcpPacket): DhcpPacket {
  return {
    op: OP_REPLY,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags & FLAG_BROADCAST,
    ciaddr: req.ciaddr,
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: req.giaddr,
    chaddr: Buffer.from(req.chaddr),
    sname: '',
    file: '',
    options: [],
  };
}

function networkOptions(n: NetworkOptions): DhcpOption[] {
  const out: DhcpOption[] = [build.ip(Opt.SubnetMask, n.netmask)];
  if (n.router) out.push(build.ip(Opt.Router, n.router));
  if (n.dns && n.dns.length) out.push(build.ips(Opt.DnsServer, n.dns));
  if (n.domain) out.push(build.str(Opt.DomainName, n.domain));
  return out;
}

function leaseOptions(g: LeaseGrant): DhcpOption[] {
  return [
    build.u32(Opt.LeaseTime, g.leaseTime),
    build.u32(Opt.RenewalTime, Math.floor(g.leaseTime / 2)),
    build.u32(Opt.RebindingTime, Math.floor((g.leaseTime * 7) / 8)),
    ...networkOptions(g),
  ];
}

/** `06 01 08 ff`: skip discovery, use siaddr/file directly. */
export const PXE_BIOS_DISCOVERY = encodeTlv([pxe.discoveryControl(8)], true);

interface BootStyle {
  /** Proxy replies send 60 always and 43 {6:8} for BIOS. */
  proxy: boolean;
  /** The REQUEST's option 43 (boot-server requests) for echoing 43.71. */
  request?: DhcpPacket;
}

function applyBoot(reply: DhcpPacket, answer: BootAnswer, facts: ClientFacts, style: BootStyle, serverName?: string): DhcpOption[] {
  const opts: DhcpOption[] = [];
  reply.siaddr = answer.nextServer;
  if (answer.filename && Buffer.byteLength(answer.filename, 'latin1') <= 127) reply.file = answer.filename;
  if (serverName && Buffer.byteLength(serverName, 'latin1') <= 63) reply.sname = serverName;
  const send60 = style.proxy || answer.kind === 'rpi' || answer.vendorClass === 'HTTPClient';
  if (send60) opts.push(build.vendorClass(answer.vendorClass));
  if (answer.tftpServer) opts.push(build.tftpServer(answer.tftpServer));
  if (answer.filename) opts.push(build.bootfile(answer.filename));
  if (answer.option43) {
    opts.push(build.raw(Opt.VendorSpecific, answer.option43));
  } else if (style.request) {
    const item = getPxeOptions(style.request)?.bootItem;
    if (item) opts.push(build.pxe([pxe.bootItem(item.type, item.layer)]));
  } else if (style.proxy && facts.arch === 0 && answer.kind !== 'http-boot') {
    opts.push(build.raw(Opt.VendorSpecific, PXE_BIOS_DISCOVERY));
  }
  return opts;
}

function finish(reply: DhcpPacket, req: DhcpPacket, type: MessageType, serverIp: string, middle: DhcpOption[]): DhcpPacket {
  reply.options = [build.messageType(type), build.serverId(serverIp), ...middle];
  const uuid = getOption(req, Opt.ClientUuid);
  if (uuid) reply.options.push(build.raw(Opt.ClientUuid, Buffer.from(uuid)));
  const relay = getOption(req, Opt.RelayAgent);
  if (relay) reply.options.push(build.raw(Opt.RelayAgent, Buffer.from(relay)));
  return reply;
}

export function decideReply(req: DhcpPacket, facts: ClientFacts, config: ResponderConfig, ctx: ResponderContext): ResponderResult {
  if (config.mode === 'off') return { reply: null, reason: 'mode-off' };
  if (req.op !== OP_REQUEST) return { reply: null, reason: 'not-request' };
  const mt = facts.messageType;
  if (mt === undefined) return { reply: null, reason: 'not-request', detail: 'no option 53' };
  const bootCfg = config.boot ?? DEFAULT_BOOT_CONFIG;
  const serverIp = config.serverIp;
  const wantsBoot = facts.clientClass !== 'other' || facts.pi !== undefined;
  const namesOther = facts.serverId !== undefined && facts.serverId !== serverIp;

  // ---- PXE boot-server port (4011), any mode but off
  if (ctx.port === 'boot') {
    if (mt !== MessageType.REQUEST && mt !== MessageType.INFORM) return { reply: null, reason: 'unhandled-type', detail: `message type ${mt} on the boot-server port` };
    if (namesOther) return { reply: null, reason: 'other-server', detail: facts.serverId };
    const d = bootAnswer(facts, serverIp, bootCfg, ctx.override);
    if (!d.answer) return { reply: null, reason: d.reason };
    const reply = baseReply(req);
    const middle = applyBoot(reply, d.answer, facts, { proxy: true, request: req }, config.serverName);
    return { reply: finish(reply, req, MessageType.ACK, serverIp, middle), type: MessageType.ACK, boot: d.answer };
  }

  // ---- proxyDHCP on port 67
  if (config.mode === 'proxy') {
    if (!wantsBoot) return { reply: null, reason: 'not-pxe', detail: facts.vendorClass };
    let type: MessageType;
    if (mt === MessageType.DISCOVER) type = MessageType.OFFER;
    else if (mt === MessageType.REQUEST) {
      if (facts.serverId !== serverIp) return { reply: null, reason: 'other-server', detail: facts.serverId ?? 'no server identifier' };
      type = MessageType.ACK;
    } else if (mt === MessageType.INFORM || mt === MessageType.RELEASE || mt === MessageType.DECLINE) {
      return { reply: null, reason: namesOther ? 'other-server' : 'unhandled-type', detail: `message type ${mt} in proxy mode` };
    } else return { reply: null, reason: 'not-request', detail: `message type ${mt}` };
    const d = bootAnswer(facts, serverIp, bootCfg, ctx.override);
    if (!d.answer) return { reply: null, reason: d.reason };
    const reply = baseReply(req);
    reply.flags |= FLAG_BROADCAST;
    const middle = applyBoot(reply, d.answer, facts, { proxy: true }, config.serverName);
    return { reply: finish(reply, req, type, serverIp, middle), type, boot: d.answer };
  }

  // ---- full DHCP on port 67
  if (mt === MessageType.RELEASE || mt === MessageType.DECLINE) return { reply: null, reason: 'no-reply-needed' };
  if (mt !== MessageType.DISCOVER && mt !== MessageType.REQUEST && mt !== MessageType.INFORM) return { reply: null, reason: 'not-request', detail: `message type ${mt}` };
  if (namesOther) return { reply: null, reason: 'other-server', detail: facts.serverId };
  const lease = ctx.lease;
  const reply = baseReply(req);
  let type: MessageType;
  const middle: DhcpOption[] = [];
  if (mt === MessageType.DISCOVER) {
    if (lease?.kind !== 'offer') return { reply: null, reason: 'no-lease', detail: lease?.kind === 'none' ? lease.reason : undefined };
    type = MessageType.OFFER;
    reply.yiaddr = lease.grant.ip;
    middle.push(...leaseOptions(lease.grant));
  } else if (mt === MessageType.REQUEST) {
    if (lease?.kind === 'nak') {
      reply.flags |= FLAG_BROADCAST;
      reply.ciaddr = '0.0.0.0';
      return { reply: finish(reply, req, MessageType.NAK, serverIp, [build.str(Opt.Message, lease.message)]), type: MessageType.NAK };
    }
    if (lease?.kind !== 'ack') return { reply: null, reason: 'no-lease', detail: lease?.kind === 'none' ? lease.reason : undefined };
    type = MessageType.ACK;
    reply.yiaddr = lease.grant.ip;
    middle.push(...leaseOptions(lease.grant));
  } else {
    type = MessageType.ACK;
    if (lease?.kind === 'inform') middle.push(...networkOptions(lease.network));
  }
  let boot: BootAnswer | undefined;
  if (wantsBoot) {
    const d = bootAnswer(facts, serverIp, bootCfg, ctx.override);
    if (d.answer) {
      boot = d.answer;
      middle.push(...applyBoot(reply, d.answer, facts, { proxy: false }, config.serverName));
    }
  }
  return { reply: finish(reply, req, type, serverIp, middle), type, boot };
}

/** Convenience form: the reply packet, or null when the request is not answered. */
export function respond(req: DhcpPacket, facts: ClientFacts, config: ResponderConfig, ctx: ResponderContext = { port: 'dhcp' }): DhcpPacket | null {
  return decideReply(req, facts, config, ctx).reply;
}
