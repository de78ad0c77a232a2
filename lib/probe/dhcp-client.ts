/**
 * The probe's DHCP side: bind the client port, send the DISCOVER, collect every OFFER for a window,
 * and the PXE boot-server REQUEST on port 4011.
 *
 * Node has no SO_BINDTODEVICE: a socket bound to 0.0.0.0:68 hears replies from every interface, and a
 * datagram to 255.255.255.255 leaves by the routing table (or fails with ENETUNREACH when there is
 * no default route). So `--interface` sends to that interface's subnet broadcast instead (it follows
 * the subnet route) and binds the unicast sockets (4011, TFTP, HTTP) to its address; the port-68
 * socket stays on 0.0.0.0 because Linux does not deliver broadcasts to a socket bound to a unicast
 * address. Replies are matched by xid and MAC, which is what a real client does too.
 */
import * as dgram from 'node:dgram';
import { bindUdp, closeSocket } from '../net/bind';
import { DhcpPacket, encodePacket, parsePacket } from '../dhcp/packet';
import { MessageType, getMessageType } from '../dhcp/options';
import type { BootServerObservation, SeenReply } from './types';
import { ProbeNetworkError } from './network-error';

export interface Target {
  address: string;
  port: number;
}

export async function openDhcpClientSocket(address: string, port: number): Promise<dgram.Socket> {
  try {
    return await bindUdp({ purpose: 'DHCP client', port, address, broadcast: true, shared: true });
  } catch (err) {
    throw new ProbeNetworkError('bind_failed', `${(err as Error).message}. Use --client-port to pick another port (the server must then answer there)`, { port, address }, { cause: err });
  }
}

function sendOne(socket: dgram.Socket, buf: Buffer, target: Target): Promise<Error | undefined> {
  return new Promise((resolve) => {
    try {
      socket.send(buf, target.port, target.address, (err) => resolve(err ?? undefined));
    } catch (err) {
      resolve(err as Error);
    }
  });
}

function matches(p: DhcpPacket, xid: number, chaddr: Buffer): boolean {
  return p.op === 2 && p.xid === xid && p.chaddr.subarray(0, 6).equals(chaddr.subarray(0, 6));
}

export interface DiscoverResult {
  offers: SeenReply[];
  /** Other replies with our xid (e.g. an ACK or NAK); kept for the record. */
  others: SeenReply[];
  sendErrors: { target: Target; error: string }[];
}

/**
 * Sends `packet` to each target and collects matching OFFERs for `windowMs`. When nothing has arrived
 * by half the window the DISCOVER is sent once more (as a ROM would). Throws `ProbeNetworkError`
 * when it could not be sent anywhere.
 */
export async function discover(socket: dgram.Socket, packet: DhcpPacket, targets: Target[], windowMs: number): Promise<DiscoverResult> {
  const bytes = encodePacket(packet);
  const offers: SeenReply[] = [];
  const others: SeenReply[] = [];
  const started = performance.now();
  const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const r = parsePacket(msg);
    if (!r.ok || !matches(r.packet, packet.xid, packet.chaddr)) return;
    const seen: SeenReply = { packet: r.packet, from: { address: rinfo.address, port: rinfo.port }, atMs: Math.round(performance.now() - started) };
    if (getMessageType(r.packet) === MessageType.OFFER) offers.push(seen);
    else others.push(seen);
  };
  socket.on('message', onMessage);
  try {
    const sendErrors: DiscoverResult['sendErrors'] = [];
    const sendAll = async (): Promise<number> => {
      let sent = 0;
      for (const t of targets) {
        const err = await sendOne(socket, bytes, t);
        if (err) sendErrors.push({ target: t, error: (err as NodeJS.ErrnoException).code ?? err.message });
        else sent++;
      }
      return sent;
    };
    if ((await sendAll()) === 0) {
      const list = sendErrors.map((e) => `${e.target.address}:${e.target.port} (${e.error})`).join(', ');
      const hint = targets.some((t) => t.address === '255.255.255.255')
        ? ': 255.255.255.255 follows the routing table (Node cannot bind to a device); use --interface NAME to broadcast on that subnet, or --server IP to unicast'
        : '';
      throw new ProbeNetworkError('bind_failed', `cannot send the DHCP DISCOVER to ${list}${hint}`, { targets, errors: sendErrors });
    }
    await new Promise<void>((resolve) => {
      const resend = setTimeout(() => {
        if (offers.length === 0) void sendAll();
      }, windowMs / 2);
      setTimeout(() => {
        clearTimeout(resend);
        resolve();
      }, windowMs);
    });
    return { offers, others, sendErrors };
  } finally {
    socket.off('message', onMessage);
  }
}

/** The local address the kernel would use to reach `remote` (for ciaddr). */
export async function localAddressFor(remote: string, port: number): Promise<string | undefined> {
  const s = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.connect(port, remote, () => resolve());
    });
    return s.address().address;
  } catch {
    return undefined;
  } finally {
    await closeSocket(s);
  }
}

/** Binds the boot-server source port (as EDK2: the same port as the server's), else an ephemeral one. */
async function bindBootSource(address: string, port: number): Promise<dgram.Socket> {
  try {
    return await bindUdp({ purpose: 'PXE boot-server client', port, address });
  } catch {
    try {
      return await bindUdp({ purpose: 'PXE boot-server client', port: 0, address });
    } catch (err) {
      throw new ProbeNetworkError('bind_failed', (err as Error).message, { address }, { cause: err });
    }
  }
}

export interface BootServerParams {
  packet: DhcpPacket;
  target: Target;
  bindAddress: string;
  /** Preferred source port (EDK2 uses 4011). */
  sourcePort: number;
  timeoutMs: number;
  /** The DHCP client socket: an ACK that comes back to port 68 counts too. */
  alsoListen?: dgram.Socket;
  tries?: number;
}

/** Unicasts the boot-server REQUEST and waits for the ACK, retrying as EDK2 does. */
export async function bootServerExchange(params: BootServerParams): Promise<BootServerObservation> {
  const { packet, target, timeoutMs } = params;
  const tries = Math.max(1, params.tries ?? 3);
  const sock = await bindBootSource(params.bindAddress, params.sourcePort);
  const sourcePort = sock.address().port;
  const bytes = encodePacket(packet);
  const obs: BootServerObservation = { target, sourcePort, xid: packet.xid, tries: 0 };
  const started = performance.now();
  try {
    await new Promise<void>((resolve) => {
      const timers: ReturnType<typeof setTimeout>[] = [];
      const finish = (): void => {
        for (const t of timers) clearTimeout(t);
        sock.off('message', onMessage);
        params.alsoListen?.off('message', onMessage);
        resolve();
      };
      function onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
        const r = parsePacket(msg);
        if (!r.ok || !matches(r.packet, packet.xid, packet.chaddr)) return;
        const seen: SeenReply = { packet: r.packet, from: { address: rinfo.address, port: rinfo.port }, atMs: Math.round(performance.now() - started) };
        if (getMessageType(r.packet) === MessageType.ACK) {
          obs.ack = seen;
          finish();
        } else if (!obs.other) obs.other = seen;
      }
      sock.on('message', onMessage);
      params.alsoListen?.on('message', onMessage);
      const send = (): void => {
        obs.tries++;
        sock.send(bytes, target.port, target.address, (err) => {
          if (err) obs.sendError = (err as NodeJS.ErrnoException).code ?? err.message;
        });
      };
      for (let i = 0; i < tries; i++) timers.push(setTimeout(send, Math.floor((timeoutMs * i) / tries)));
      timers.push(setTimeout(finish, timeoutMs));
    });
    return obs;
  } finally {
    await closeSocket(sock);
  }
}
