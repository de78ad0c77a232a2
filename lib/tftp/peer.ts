/**
 * What every transfer does first with a packet on its own socket: is it from the client, and is it
 * one of the packets this side of the transfer expects. Shared by the read (transfer.ts) and the
 * write (write-transfer.ts) transfers.
 */
import type * as dgram from 'node:dgram';
import { encodeError, parsePacket, TftpErrorCode, type TftpPacket } from './packet';
import type { TftpPeer } from './types';

/**
 * RFC 1350: a packet from another address or port gets ERROR 5 ("unknown transfer ID") and the
 * transfer carries on. Returns true when the packet is from the transfer's client.
 */
export function fromClient(socket: dgram.Socket, client: TftpPeer, rinfo: dgram.RemoteInfo, onStranger?: (from: TftpPeer) => void): boolean {
  if (rinfo.port === client.port && rinfo.address === client.address) return true;
  try {
    socket.send(encodeError(TftpErrorCode.UNKNOWN_TID, 'unknown transfer ID'), rinfo.port, rinfo.address);
  } catch {
    // the socket is closing
  }
  onStranger?.({ address: rinfo.address, port: rinfo.port });
  return false;
}

/** The client's packet when it is `op` or an ERROR; undefined for anything else (the transfer then ends with ILLEGAL_OPERATION). */
export function expectPacket<O extends 'ACK' | 'DATA'>(msg: Buffer, op: O): Extract<TftpPacket, { op: O | 'ERROR' }> | undefined {
  const parsed = parsePacket(msg);
  if (!parsed.ok || (parsed.packet.op !== op && parsed.packet.op !== 'ERROR')) return undefined;
  return parsed.packet as Extract<TftpPacket, { op: O | 'ERROR' }>;
}
