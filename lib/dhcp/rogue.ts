/**
 * Other DHCP servers on the wire. Feed it every BOOTREPLY (op 2) OFFER/ACK the server sees (a
 * socket on port 68 receives broadcast replies); each other server is reported once, keyed by its
 * server identifier (option 54, else the source address).
 */
import { DhcpPacket, OP_REPLY } from './packet';
import { MessageType, Opt, getBootfile, getMessageType, getServerId, getVendorClass, hasOption } from './options';

export interface RogueReport {
  serverId: string;
  sourceIp: string;
  messageType: 'OFFER' | 'ACK';
  /** yiaddr != 0: it hands out addresses. */
  offersAddress: boolean;
  /** siaddr, when set. */
  nextServer?: string;
  /** file field or option 67. */
  bootfile?: string;
  /** Option 60 of the reply (PXEClient / HTTPClient for PXE-aware servers). */
  vendorClass?: string;
  /** Looks like a proxyDHCP: no address, but PXE data (option 60 PXEClient/HTTPClient or 43). */
  isProxy: boolean;
}

export class RogueDetector {
  private readonly seen = new Set<string>();
  private readonly ours: Set<string>;
  private readonly maxTracked: number;

  constructor(ourAddresses: string[], maxTracked = 1024) {
    this.ours = new Set(ourAddresses);
    this.maxTracked = maxTracked;
  }

  setOurAddresses(addresses: string[]): void {
    this.ours.clear();
    for (const a of addresses) this.ours.add(a);
  }

  /** The report for a server not seen before, else undefined. */
  observe(p: DhcpPacket, sourceIp: string): RogueReport | undefined {
    if (p.op !== OP_REPLY) return undefined;
    const mt = getMessageType(p);
    if (mt !== MessageType.OFFER && mt !== MessageType.ACK) return undefined;
    const serverId = getServerId(p) ?? sourceIp;
    if (this.ours.has(serverId)) return undefined;
    if (this.seen.has(serverId)) return undefined;
    if (this.seen.size >= this.maxTracked) return undefined;
    this.seen.add(serverId);
    const vendorClass = getVendorClass(p);
    const offersAddress = p.yiaddr !== '0.0.0.0';
    const pxeAware = vendorClass === 'PXEClient' || vendorClass === 'HTTPClient' || hasOption(p, Opt.VendorSpecific);
    const bootfile = p.file || getBootfile(p) || undefined;
    return {
      serverId,
      sourceIp,
      messageType: mt === MessageType.OFFER ? 'OFFER' : 'ACK',
      offersAddress,
      nextServer: p.siaddr !== '0.0.0.0' ? p.siaddr : undefined,
      bootfile,
      vendorClass,
      isProxy: !offersAddress && pxeAware,
    };
  }

  /** Forget what was reported (e.g. on redeploy). */
  reset(): void {
    this.seen.clear();
  }
}
