import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import { isIP } from 'node:net';

/** IP literals already looked at, with their family (at most 4096, then it starts again). */
const literals = new Map<string, number>();

/**
 * Every unconnected send resolves its address through the socket's lookup, and Node's default
 * (dns.lookup) answers even an IP literal only on the next tick. Our servers always send to
 * literals (the client's source address, a broadcast address), so this answers those at once and
 * the reply leaves synchronously from the handler of the packet it answers.
 */
export function literalLookup(host: string, options: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  // Every datagram goes through here: a literal seen before skips isIP's regular expressions.
  let family = literals.get(host);
  if (family === undefined) {
    family = isIP(host);
    if (family !== 0) {
      if (literals.size >= 4096) literals.clear();
      literals.set(host, family);
    }
  }
  if (family !== 0) callback(null, host, family);
  else dns.lookup(host, options as dns.LookupOneOptions, callback);
}

/**
 * A UDP socket for our servers, with literal lookups. No SO_REUSEADDR by default: a second server
 * on a port must fail. `shared` sets it, for a socket that only listens for broadcasts (the DHCP
 * monitor on 68, the probe's client port): Linux hands every broadcast to each socket that shares
 * the port, as long as all of them set the option.
 */
export function udpSocket(type: 'udp4' | 'udp6', shared = false): dgram.Socket {
  return dgram.createSocket({ type, reuseAddr: shared, lookup: literalLookup as dgram.SocketOptions['lookup'] });
}
