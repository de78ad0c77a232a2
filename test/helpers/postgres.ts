/**
 * A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` binaries, a data folder under
 * the system's temp folder, a free TCP port on 127.0.0.1, trust authentication, no fsync. initdb
 * refuses to run as root, so under root it runs as the `postgres` user the package creates. `stop()`
 * ends it (immediate mode), `destroy()` also removes the folder.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import * as path from 'node:path';
import { freeTcpPort } from '../../support/ports';

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

export const POSTGRES_BIN = binDir();
export const havePostgres = POSTGRES_BIN !== undefined;

export interface TestPostgres {
  /** `postgres://netboot@127.0.0.1:<port>/<db>` for a database of this name (default `postgres`). */
  url(db?: string): string;
  /** A new empty database; its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (the data stays; `start()` brings it back). */
  stop(): void;
  start(): void;
  /** Stops it and removes its folder. */
  destroy(): void;
}

export async function startPostgres(): Promise<TestPostgres> {
  if (!POSTGRES_BIN) throw new Error('PostgreSQL is not installed (Debian package postgresql)');
  const dir = mkdtempSync(path.join(tmpdir(), 'netboot-pg-'));
  const port = await freeTcpPort();
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const ids = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
    chownSync(dir, Number(ids), Number(gid));
  }
  const run = (bin: string, args: string[]) => execFileSync(asRoot ? 'runuser' : path.join(POSTGRES_BIN!, bin), asRoot ? ['-u', 'postgres', '--', path.join(POSTGRES_BIN!, bin), ...args] : args, { stdio: 'pipe' });
  const data = path.join(dir, 'data');
  run('initdb', ['-D', data, '--auth=trust', '-U', 'netboot', '--no-sync', '-E', 'UTF8']);
  const start = () => run('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, 'start']);
  start();
  const url = (db = 'postgres') => `postgres://netboot@127.0.0.1:${port}/${db}`;
  const pg: TestPostgres = {
    url,
    async createDatabase(name: string) {
      const { Client } = await import('pg');
      const c = new Client({ connectionString: url() });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    start,
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      } catch {
        // already stopped
      }
    },
    destroy() {
      pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return pg;
}
