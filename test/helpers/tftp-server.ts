/** Starts a TftpServer on 127.0.0.1 with a listening socket the test owns (random port). */
import * as dgram from 'node:dgram';
import { TftpServer, type TftpServerOptions } from '../../lib/tftp/server';

export interface TestTftpServer {
  server: TftpServer;
  port: number;
  socket: dgram.Socket;
  close(): Promise<void>;
}

export async function startTftpServer(opts: Omit<TftpServerOptions, 'address'> & { address?: string }): Promise<TestTftpServer> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const server = new TftpServer({ address: '127.0.0.1', ...opts });
  server.attach(socket);
  const port = socket.address().port;
  return {
    server,
    port,
    socket,
    async close() {
      await server.close();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

/** Waits for one event, with a timeout. */
export function once<T>(emitter: { once(ev: string, fn: (arg: T) => void): unknown }, ev: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no "${ev}" event within ${ms} ms`)), ms);
    emitter.once(ev, (arg: T) => {
      clearTimeout(t);
      resolve(arg);
    });
  });
}
