import * as dgram from 'node:dgram';
import { NetbootError } from '../core/errors';
import { udpSocket } from './udp-socket';

export interface UdpBindRequest {
  /** What the port is for, as the user knows it: "DHCP", "proxyDHCP", "TFTP". */
  purpose: string;
  port: number;
  address: string;
  /** Name of the environment variable that sets this port, quoted in the fix. */
  envVar?: string;
  broadcast?: boolean;
  /** Share the port with other sockets that also ask for it (see `udpSocket`). */
  shared?: boolean;
  /** Ask the kernel for this receive buffer (SO_RCVBUF); it grants at most net.core.rmem_max. */
  recvBuffer?: number;
  socketFactory?: (type: 'udp4') => dgram.Socket;
}

/** Binds a UDP socket or fails with a `bind_failed` error that says why and how to fix it. */
export function bindUdp(req: UdpBindRequest): Promise<dgram.Socket> {
  const socket = req.socketFactory ? req.socketFactory('udp4') : udpSocket('udp4', req.shared === true);
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      socket.removeListener('listening', onListening);
      socket.close(() => undefined);
      reject(describeBindError(err, req));
    };
    const onListening = () => {
      socket.removeListener('error', onError);
      if (req.broadcast) socket.setBroadcast(true);
      if (req.recvBuffer) {
        try {
          socket.setRecvBufferSize(req.recvBuffer);
        } catch {
          // the default buffer still works; `receiveBuffer` tells what the socket got
        }
      }
      resolve(socket);
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    try {
      socket.bind({ port: req.port, address: req.address, exclusive: true });
    } catch (err) {
      onError(err as NodeJS.ErrnoException);
    }
  });
}

/** Turns EACCES / EADDRINUSE / EADDRNOTAVAIL into one sentence with the fixes. */
export function describeBindError(err: NodeJS.ErrnoException, req: Pick<UdpBindRequest, 'purpose' | 'port' | 'address' | 'envVar'>, proto = 'UDP'): NetbootError {
  const where = `${proto} ${req.address}:${req.port} (${req.purpose})`;
  const other = req.envVar ? `set ${req.envVar} to another port` : 'use another port';
  let why: string;
  switch (err.code) {
    case 'EACCES':
    case 'EPERM':
      why = `permission denied (${err.code}): ports below 1024 need privileges. Fix: run as root, or grant the capability once with ` +
        `"sudo setcap cap_net_bind_service=+ep $(readlink -f $(command -v node))", or ${other} above 1023`;
      break;
    case 'EADDRINUSE':
      why = `the port is already in use (EADDRINUSE), probably by another DHCP/TFTP server (dnsmasq, tftpd-hpa) or another Node-RED. Fix: stop that program, or ${other}`;
      break;
    case 'EADDRNOTAVAIL':
      why = `address ${req.address} is not on this machine (EADDRNOTAVAIL). Fix: check NETBOOT_SERVER_IP / NETBOOT_BIND, or bind 0.0.0.0`;
      break;
    default:
      why = `${err.message}${err.code ? ` (${err.code})` : ''}`;
  }
  return new NetbootError('bind_failed', `cannot bind ${where}: ${why}`, { port: req.port, address: req.address, purpose: req.purpose, errno: err.code }, { cause: err });
}

export function closeSocket(socket: { close(callback?: () => void): unknown } | undefined): Promise<void> {
  if (!socket) return Promise.resolve();
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

/**
 * Receive buffer the listening DHCP and TFTP sockets ask for. A boot storm (a rack powering on) lands
 * hundreds of DISCOVERs on port 67 within milliseconds; the kernel's default buffer (~208 KiB, a
 * hundred-odd packets) drops the rest while the event loop is busy, and a PXE ROM waits 4 s or more
 * before it asks again. Linux doubles the value asked for and caps it at net.core.rmem_max.
 */
export const LISTEN_RECV_BUFFER = 4 << 20;

/** The receive buffer a socket got (bytes, as the kernel reports it), or undefined. */
export function receiveBuffer(socket: Pick<dgram.Socket, 'getRecvBufferSize'>): number | undefined {
  try {
    return socket.getRecvBufferSize();
  } catch {
    return undefined;
  }
}
