import { describe, expect, it } from 'vitest';
import {
  DhcpPacket,
  LeaseDecision,
  MessageType,
  Opt,
  ResponderConfig,
  ResponderContext,
  build,
  classify,
  decideReply,
  getBootfile,
  getOption,
  getServerId,
  getTftpServer,
  getVendorClass,
  piOption43,
  pxe,
  respond,
  resolveBootConfig,
} from '../../helpers/dhcp-imports';
import { ClientSpec, HTTP_ARM64, HTTP_X64, PXE_BIOS, PXE_EFI_ARM64, PXE_EFI_X64, PXE_EFI_X64_IPXE, clientPacket, piUuid } from '../../../support/dhcp-packets';

const S = '10.0.0.1';
const BOOT = resolveBootConfig({ httpPort: 1880 });
const URL_IPXE = `http://${S}:1880/boot/menu.ipxe?mac=\${netX/mac:hexhyp}&uuid=\${uuid}&arch=\${buildarch}&platform=\${platform}`;
const GUID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const PI43 = piOption43().toString('hex');
const BIOS43 = '060108ff';

const CLIENTS: Record<string, ClientSpec> = {
  'BIOS PXE': { mac: '52:54:00:00:00:01', vendorClass: PXE_BIOS, arch: 0, uuid: GUID },
  'BIOS iPXE': { mac: '52:54:00:00:00:02', vendorClass: PXE_BIOS, arch: 0, userClass: 'iPXE', ipxeEncap: true, uuid: GUID },
  'UEFI x64 PXE': { mac: '52:54:00:00:00:03', vendorClass: PXE_EFI_X64, arch: 7, uuid: GUID },
  'UEFI x64 iPXE': { mac: '52:54:00:00:00:04', vendorClass: PXE_EFI_X64_IPXE, arch: 7, userClass: 'iPXE', uuid: GUID },
  ARM64: { mac: '52:54:00:00:00:05', vendorClass: PXE_EFI_ARM64, arch: 11, uuid: GUID },
  'HTTPClient x64': { mac: '52:54:00:00:00:06', vendorClass: HTTP_X64, arch: 16, uuid: GUID },
  'HTTPClient arm64': { mac: '52:54:00:00:00:07', vendorClass: HTTP_ARM64, arch: 19, uuid: GUID },
  'Pi 3': { mac: 'b8:27:eb:12:34:56', vendorClass: PXE_BIOS, arch: 0, uuid: Buffer.alloc(16, 0x11) },
  'Pi 4': { mac: 'dc:a6:32:01:36:c2', vendorClass: PXE_BIOS, arch: 0, uuid: piUuid(4, 0x00c03111, 'dc:a6:32:01:36:c2', 0x9ffefdef) },
  'Pi 5': { mac: '2c:cf:67:00:00:01', vendorClass: PXE_BIOS, arch: 0, uuid: piUuid(5, 0x00d04170, '2c:cf:67:00:00:01', 0x12345678) },
  'non-PXE': { mac: '52:54:00:00:00:99' },
};

type Row = { yiaddr: string; siaddr: string; file: string; o43?: string; o60?: string; o66?: string; o67?: string } | null;

const TFTP = (file: string, o43?: string): Row => ({ yiaddr: '0.0.0.0', siaddr: S, file, o43, o60: 'PXEClient', o67: file });
const HTTPB = (path: string): Row => ({ yiaddr: '0.0.0.0', siaddr: S, file: `http://${S}:1880${path}`, o60: 'HTTPClient', o67: `http://${S}:1880${path}` });
const PI: Row = { yiaddr: '0.0.0.0', siaddr: S, file: '', o43: PI43, o60: 'PXEClient', o66: S };

const PROXY_67: Record<string, Row> = {
  'BIOS PXE': TFTP('undionly.kpxe', BIOS43),
  'BIOS iPXE': TFTP(URL_IPXE, BIOS43),
  'UEFI x64 PXE': TFTP('ipxe.efi'),
  'UEFI x64 iPXE': TFTP(URL_IPXE),
  ARM64: TFTP('ipxe-arm64.efi'),
  'HTTPClient x64': HTTPB('/boot/assets/ipxe.efi'),
  'HTTPClient arm64': HTTPB('/boot/assets/ipxe-arm64.efi'),
  'Pi 3': PI,
  'Pi 4': PI,
  'Pi 5': PI,
  'non-PXE': null,
};

// Boot-server port: same data, no discovery-control 43 (the client is already past discovery).
const PROXY_4011: Record<string, Row> = Object.fromEntries(
  Object.entries(PROXY_67).map(([k, v]) => [k, v && v.o43 === BIOS43 ? { ...v, o43: undefined } : v]),
);

const LEASE_IP = '10.0.0.50';
const full = (r: Row): Row => (r === null ? { yiaddr: LEASE_IP, siaddr: '0.0.0.0', file: '' } : { ...r, yiaddr: LEASE_IP, o43: r.o43 === BIOS43 ? undefined : r.o43, o60: r.o60 === 'PXEClient' && r.o43 !== PI43 ? undefined : r.o60 });
const FULL: Record<string, Row> = Object.fromEntries(Object.entries(PROXY_67).map(([k, v]) => [k, full(v)]));

function fields(p: DhcpPacket | null): Row {
  if (!p) return null;
  const hex = (code: number) => getOption(p, code)?.toString('hex');
  const row: NonNullable<Row> = { yiaddr: p.yiaddr, siaddr: p.siaddr, file: p.file };
  const o43 = hex(Opt.VendorSpecific);
  if (o43) row.o43 = o43;
  const o60 = getVendorClass(p);
  if (o60) row.o60 = o60;
  const o66 = getTftpServer(p);
  if (o66) row.o66 = o66;
  const o67 = getBootfile(p);
  if (o67) row.o67 = o67;
  return row;
}

function clean(r: Row): Row {
  if (!r) return r;
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Row;
}

const proxy: ResponderConfig = { mode: 'proxy', serverIp: S, boot: BOOT };
const fullCfg: ResponderConfig = { mode: 'full', serverIp: S, boot: BOOT };
const offer: LeaseDecision = { kind: 'offer', grant: { ip: LEASE_IP, leaseTime: 600, netmask: '255.255.255.0', router: '10.0.0.254', dns: ['10.0.0.53'] } };

function run(spec: ClientSpec, type: number, cfg: ResponderConfig, ctx: ResponderContext) {
  const req = clientPacket({ ...spec, type, broadcast: false });
  return { req, res: decideReply(req, classify(req), cfg, ctx) };
}

describe('responder table', () => {
  for (const name of Object.keys(CLIENTS)) {
    const spec = CLIENTS[name];
    it(`${name}: proxy DISCOVER on 67`, () => {
      const { req, res } = run(spec, MessageType.DISCOVER, proxy, { port: 'dhcp' });
      expect(fields(res.reply)).toEqual(clean(PROXY_67[name]));
      if (res.reply) {
        expect(res.type).toBe(MessageType.OFFER);
        expect(res.reply.flags & 0x8000).toBe(0x8000);
        expect(getServerId(res.reply)).toBe(S);
        expect(getOption(res.reply, 97)).toEqual(getOption(req, 97));
        expect(res.reply.xid).toBe(req.xid);
        expect(res.reply.options[0]).toEqual(build.messageType(MessageType.OFFER));
      } else {
        expect(res).toMatchObject({ reason: 'not-pxe' });
      }
    });
    it(`${name}: proxy REQUEST on 4011`, () => {
      const { req, res } = run(spec, MessageType.REQUEST, proxy, { port: 'boot' });
      expect(fields(res.reply)).toEqual(clean(PROXY_4011[name]));
      if (res.reply) {
        expect(res.type).toBe(MessageType.ACK);
        expect(getServerId(res.reply)).toBe(S);
        expect(getOption(res.reply, 97)).toEqual(getOption(req, 97));
      }
    });
    it(`${name}: full DISCOVER`, () => {
      const { res } = run(spec, MessageType.DISCOVER, fullCfg, { port: 'dhcp', lease: offer });
      expect(fields(res.reply)).toEqual(clean(FULL[name]));
      expect(res.reply && getOption(res.reply, Opt.SubnetMask)?.toString('hex')).toBe('ffffff00');
      expect(res.reply && getOption(res.reply, Opt.LeaseTime)?.readUInt32BE(0)).toBe(600);
      expect(res.reply && getOption(res.reply, Opt.Router)?.toString('hex')).toBe('0a0000fe');
      expect(res.reply && getServerId(res.reply)).toBe(S);
    });
  }
});

describe('responder rules', () => {
  const bios = CLIENTS['BIOS PXE'];

  it('REQUEST on 67 naming another server is ignored in proxy and full mode', () => {
    for (const cfg of [proxy, fullCfg]) {
      const { res } = run({ ...bios, serverId: '10.0.0.254' }, MessageType.REQUEST, cfg, { port: 'dhcp', lease: { kind: 'ack', grant: offer.grant } });
      expect(res).toMatchObject({ reply: null, reason: 'other-server' });
    }
  });

  it('proxy: REQUEST on 67 without a server id is ignored; naming us gets a broadcast ACK', () => {
    expect(run(bios, MessageType.REQUEST, proxy, { port: 'dhcp' }).res).toMatchObject({ reply: null, reason: 'other-server' });
    const { res } = run({ ...bios, serverId: S }, MessageType.REQUEST, proxy, { port: 'dhcp' });
    expect(res.reply?.file).toBe('undionly.kpxe');
    expect(res.reply && res.reply.flags & 0x8000).toBe(0x8000);
    expect(res.reply && getOption(res.reply, 53)?.[0]).toBe(MessageType.ACK);
  });

  it('4011 REQUEST naming another server is ignored', () => {
    expect(run({ ...bios, serverId: '10.9.9.9' }, MessageType.REQUEST, proxy, { port: 'boot' }).res).toMatchObject({ reason: 'other-server' });
  });

  it('4011 echoes the PXE boot item (43.71)', () => {
    const { res } = run({ ...bios, extra: [build.pxe([pxe.bootItem(0x8000, 0)])] }, MessageType.REQUEST, proxy, { port: 'boot' });
    expect(res.reply && getOption(res.reply, 43)?.toString('hex')).toBe('470480000000ff');
  });

  it('mode off never answers', () => {
    expect(run(bios, MessageType.DISCOVER, { ...proxy, mode: 'off' }, { port: 'dhcp' }).res).toMatchObject({ reason: 'mode-off' });
    expect(respond(clientPacket(bios), classify(clientPacket(bios)), { ...proxy, mode: 'off' })).toBeNull();
  });

  it('relayed: giaddr kept and option 82 echoed', () => {
    const relay = build.raw(82, Buffer.from([1, 2, 0xaa, 0xbb]));
    const { res } = run({ ...bios, giaddr: '10.5.0.1', extra: [relay] }, MessageType.DISCOVER, proxy, { port: 'dhcp' });
    expect(res.reply?.giaddr).toBe('10.5.0.1');
    expect(res.reply && getOption(res.reply, 82)?.toString('hex')).toBe('0102aabb');
  });

  it('overrides: filename, httpUrl, nextServer, skip', () => {
    const a = run(bios, MessageType.DISCOVER, proxy, { port: 'dhcp', override: { filename: 'snponly.efi', nextServer: '10.0.0.9' } }).res;
    expect(a.reply?.file).toBe('snponly.efi');
    expect(a.reply?.siaddr).toBe('10.0.0.9');
    expect(a.reply && getServerId(a.reply)).toBe(S);
    const b = run(CLIENTS['BIOS iPXE'], MessageType.DISCOVER, proxy, { port: 'dhcp', override: { httpUrl: 'http://x/y.ipxe' } }).res;
    expect(b.reply?.file).toBe('http://x/y.ipxe');
    expect(run(bios, MessageType.DISCOVER, proxy, { port: 'dhcp', override: { skip: true } }).res).toMatchObject({ reply: null, reason: 'skipped' });
    // full mode: skip only drops the boot data
    const c = run(bios, MessageType.DISCOVER, fullCfg, { port: 'dhcp', lease: offer, override: { skip: true } }).res;
    expect(c.reply?.yiaddr).toBe(LEASE_IP);
    expect(c.reply?.file).toBe('');
  });

  it('a URL longer than the file field goes only into option 67', () => {
    const long = `http://${'a'.repeat(140)}/menu.ipxe`;
    const { res } = run(CLIENTS['BIOS iPXE'], MessageType.DISCOVER, proxy, { port: 'dhcp', override: { httpUrl: long } });
    expect(res.reply?.file).toBe('');
    expect(res.reply && getBootfile(res.reply)).toBe(long);
  });

  it('full mode: NAK, INFORM, RELEASE, no lease', () => {
    const nak = run({ ...bios, serverId: S, requestedIp: '10.9.0.5' }, MessageType.REQUEST, fullCfg, { port: 'dhcp', lease: { kind: 'nak', message: 'wrong network' } }).res;
    expect(nak.reply && getOption(nak.reply, 53)?.[0]).toBe(MessageType.NAK);
    expect(nak.reply?.yiaddr).toBe('0.0.0.0');
    expect(nak.reply && getOption(nak.reply, 56)?.toString()).toBe('wrong network');
    const inf = run({ mac: '52:54:00:00:00:42', ciaddr: '10.0.0.77' }, MessageType.INFORM, fullCfg, { port: 'dhcp', lease: { kind: 'inform', network: { netmask: '255.255.255.0' } } }).res;
    expect(inf.reply?.yiaddr).toBe('0.0.0.0');
    expect(inf.reply?.ciaddr).toBe('10.0.0.77');
    expect(inf.reply && getOption(inf.reply, Opt.LeaseTime)).toBeUndefined();
    expect(run(bios, MessageType.RELEASE, fullCfg, { port: 'dhcp' }).res).toMatchObject({ reason: 'no-reply-needed' });
    expect(run(bios, MessageType.DISCOVER, fullCfg, { port: 'dhcp', lease: { kind: 'none', reason: 'pool exhausted' } }).res).toMatchObject({ reason: 'no-lease' });
  });

  it('unsupported architecture is not answered in proxy mode', () => {
    const { res } = run({ mac: '52:54:00:00:01:01', vendorClass: 'PXEClient:Arch:00025:UNDI:003000', arch: 25 }, MessageType.DISCOVER, proxy, { port: 'dhcp' });
    expect(res).toMatchObject({ reply: null, reason: 'unsupported-arch' });
  });
});
