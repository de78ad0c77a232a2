/**
 * Human-readable dump of a DHCP packet: stable text for golden files and debug logs.
 * Known options are decoded; everything else is shown as hex. Text is printed JSON-quoted, so
 * control characters from a hostile packet cannot break the layout.
 */
import { DhcpPacket, ipFromBytes } from './packet';
import { MESSAGE_TYPE_NAMES, Opt, decodePxeOptions, decodeUserClass, formatGuid, parseTlv } from './options';
import { ARCH_NAMES } from './classify';

const OPTION_NAMES: Record<number, string> = {
  1: 'subnet-mask',
  3: 'router',
  6: 'dns-server',
  12: 'hostname',
  15: 'domain-name',
  28: 'broadcast-address',
  43: 'vendor-specific',
  50: 'requested-ip',
  51: 'lease-time',
  52: 'overload',
  53: 'message-type',
  54: 'server-id',
  55: 'parameter-list',
  56: 'message',
  57: 'max-message-size',
  58: 'renewal-time',
  59: 'rebinding-time',
  60: 'vendor-class',
  61: 'client-id',
  66: 'tftp-server',
  67: 'bootfile',
  77: 'user-class',
  82: 'relay-agent-info',
  93: 'client-arch',
  94: 'client-ndi',
  97: 'client-uuid',
  175: 'ipxe-encap',
};

const q = (s: string): string => JSON.stringify(s);
const hex = (b: Buffer): string => (b.length ? b.toString('hex').replace(/(..)(?!$)/g, '$1 ') : '(empty)');

function ipList(b: Buffer): string | undefined {
  if (b.length === 0 || b.length % 4 !== 0) return undefined;
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 4) out.push(ipFromBytes(b, i));
  return out.join(', ');
}

function u32(b: Buffer): string | undefined {
  return b.length === 4 ? String(b.readUInt32BE(0)) : undefined;
}

function decodeOption(code: number, d: Buffer): string | undefined {
  switch (code) {
    case Opt.SubnetMask:
    case Opt.Router:
    case Opt.DnsServer:
    case Opt.BroadcastAddress:
    case Opt.RequestedIp:
    case Opt.ServerId:
      return ipList(d);
    case Opt.LeaseTime:
    case Opt.RenewalTime:
    case Opt.RebindingTime:
      return u32(d);
    case Opt.MessageType:
      return d.length === 1 ? `${MESSAGE_TYPE_NAMES[d[0]] ?? 'unknown'} (${d[0]})` : undefined;
    case Opt.Overload:
      return d.length === 1 ? String(d[0]) : undefined;
    case Opt.ParamList:
      return Array.from(d).join(' ');
    case Opt.MaxSize:
      return d.length === 2 ? String(d.readUInt16BE(0)) : undefined;
    case Opt.Hostname:
    case Opt.DomainName:
    case Opt.Message:
    case Opt.VendorClass:
    case Opt.TftpServer:
    case Opt.Bootfile:
      return q(d.toString('latin1'));
    case Opt.UserClass:
      return decodeUserClass(d).map(q).join(', ');
    case Opt.ClientArch: {
      if (d.length === 0 || d.length % 2) return undefined;
      const out: string[] = [];
      for (let i = 0; i < d.length; i += 2) {
        const a = d.readUInt16BE(i);
        out.push(`${a} (${ARCH_NAMES[a] ?? 'unknown'})`);
      }
      return out.join(', ');
    }
    case Opt.ClientNdi:
      return d.length === 3 ? `type ${d[0]} v${d[1]}.${d[2]}` : undefined;
    case Opt.ClientUuid:
      return d.length === 17 ? `type ${d[0]} ${formatGuid(d.subarray(1))}` : undefined;
    case Opt.ClientId:
      return d.length === 7 && d[0] === 1 ? `hw 1 ${hex(d.subarray(1)).replace(/ /g, ':')}` : undefined;
    default:
      return undefined;
  }
}

function subLines(code: number, d: Buffer): string[] {
  if (code === Opt.VendorSpecific) {
    const p = decodePxeOptions(d);
    if (!p) return ['    (not PXE sub-options)'];
    return p.subs.map((s) => {
      let text: string;
      switch (s.code) {
        case 6:
          text = `discovery-control ${s.data[0] ?? '?'}`;
          break;
        case 8:
          text = `boot-servers ${(p.bootServers ?? []).map((b) => `type ${b.type}: ${b.ips.join(' ')}`).join('; ')}`;
          break;
        case 9:
          text = `boot-menu ${(p.bootMenu ?? []).map((m) => `type ${m.type} ${q(m.text)}`).join('; ')}`;
          break;
        case 10:
          text = p.menuPrompt ? `menu-prompt timeout ${p.menuPrompt.timeout} ${q(p.menuPrompt.text)}` : 'menu-prompt (malformed)';
          break;
        case 71:
          text = p.bootItem ? `boot-item type ${p.bootItem.type} layer ${p.bootItem.layer}` : 'boot-item (malformed)';
          break;
        default:
          text = 'unknown';
      }
      return `    ${String(s.code).padStart(3)} ${text} [${hex(s.data)}]`;
    });
  }
  if (code === Opt.IpxeEncap || code === Opt.RelayAgent) {
    const subs = parseTlv(d);
    if (!subs) return ['    (malformed sub-options)'];
    return subs.map((s) => `    ${String(s.code).padStart(3)} [${hex(s.data)}]`);
  }
  return [];
}

export function printPacket(p: DhcpPacket): string {
  const lines: string[] = [];
  lines.push(`op ${p.op} (${p.op === 1 ? 'BOOTREQUEST' : p.op === 2 ? 'BOOTREPLY' : 'unknown'}) htype ${p.htype} hlen ${p.hlen} hops ${p.hops}`);
  lines.push(`xid 0x${(p.xid >>> 0).toString(16).padStart(8, '0')} secs ${p.secs} flags 0x${p.flags.toString(16).padStart(4, '0')}${p.flags & 0x8000 ? ' (broadcast)' : ''}`);
  lines.push(`ciaddr ${p.ciaddr} yiaddr ${p.yiaddr} siaddr ${p.siaddr} giaddr ${p.giaddr}`);
  const hl = Math.min(p.hlen, 16);
  lines.push(`chaddr ${hex(p.chaddr.subarray(0, hl)).replace(/ /g, ':')}`);
  lines.push(`sname ${q(p.sname)}`);
  lines.push(`file ${q(p.file)}`);
  lines.push('options:');
  for (const o of p.options) {
    const name = OPTION_NAMES[o.code] ?? 'unknown';
    const decoded = decodeOption(o.code, o.data);
    lines.push(`  ${String(o.code).padStart(3)} ${name} (${o.data.length}): ${decoded ?? hex(o.data)}`);
    lines.push(...subLines(o.code, o.data));
  }
  return lines.join('\n') + '\n';
}
