#!/usr/bin/env node
/**
 * `npm start`: Node-RED with this package loaded from the working tree, the repo's settings file,
 * the data folder `.netboot/` (NETBOOT_DATA_DIR) and the reference flow. Prints what it bound and
 * where the editor is. What needs root (DHCP, TFTP) may fail; the rest keeps running.
 */
import * as http from 'node:http';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureAdminCredentials, ensureCredentialSecret } from '../lib/server/admin-auth';
import { pickServerAddress } from '../lib/net/interfaces';
import { createDispatcher } from '../lib/http/dispatch';
import { checkDataModes } from '../lib/store/file-modes';

const repo = path.resolve(__dirname, '..', '..');
/** Run from an installed package (npx netboot-start, a global install) rather than a clone. */
const installed = repo.split(path.sep).includes('node_modules');

/**
 * Node-RED is a dependency of a clone (devDependencies) but only an optional peer of the installed
 * package: a palette user already has one. Look for it beside this package, then from the current
 * folder; without it, say how to get one.
 */
function loadNodeRed(): { init(app: http.Server, settings: unknown): void; start(): Promise<void>; stop(): Promise<void>; events: NodeJS.EventEmitter; httpAdmin: never; httpNode: never } {
  for (const from of [repo, process.cwd()]) {
    try {
      return require(require.resolve('node-red', { paths: [from] }));
    } catch {
      // not here; try the next place
    }
  }
  throw new Error('Node-RED is not installed: run `npm install node-red@4` in this folder (or install this package into your own Node-RED from its palette manager)');
}

const DEFAULT_ENV: Record<string, string> = {
  NETBOOT_HTTP_PORT: '1880',
  NETBOOT_BIND: '0.0.0.0',
  NETBOOT_DHCP_PORT: '67',
  NETBOOT_PROXY_PORT: '4011',
  NETBOOT_TFTP_PORT: '69',
  NETBOOT_DHCP_MODE: 'proxy',
  NETBOOT_INTERFACE: '',
  NETBOOT_DHCP_RANGE: '',
  NETBOOT_DHCP_NETMASK: '',
  NETBOOT_DHCP_ROUTER: '',
  NETBOOT_DHCP_DNS: '',
  NETBOOT_ISCSI: 'auto',
  NETBOOT_ISCSI_PORT: '3260',
  NETBOOT_TGTD_CONTROL_PORT: '0',
  NETBOOT_ISCSI_STOP_TGTD: 'false',
  NETBOOT_ALLOWLIST: '',
  NETBOOT_HTTP_RATE: '',
  NETBOOT_SECURE_BOOT: 'false',
};

async function main(): Promise<void> {
  const env = process.env;
  const RED = loadNodeRed();
  for (const [k, v] of Object.entries(DEFAULT_ENV)) if (env[k] === undefined || env[k] === '') env[k] = v;
  // without NETBOOT_SERVER_IP the server follows the host's default-route interface (a DHCP renewal
  // that moves it needs no restart); with it, the address is pinned
  const picked = env.NETBOOT_SERVER_IP ? undefined : pickServerAddress(env.NETBOOT_INTERFACE || undefined);
  const advertised = env.NETBOOT_SERVER_IP || picked!.address;
  if (picked) {
    console.log(`netboot: NETBOOT_SERVER_IP not set, using ${picked.address} (${picked.reason}) and following it if it changes`);
  }
  // a clone keeps its data in .netboot/ beside the code; an installed package never writes into itself
  const dataDir = path.resolve(env.NETBOOT_DATA_DIR || (installed ? path.join(os.homedir(), '.netboot') : path.join(repo, '.netboot')));
  env.NETBOOT_DATA_DIR = dataDir;
  // everything this process writes (Node-RED's .sessions.json with live tokens, the inventory,
  // uploads) is for its own user only: files 0600, folders 0700
  process.umask(0o077);
  await fsp.mkdir(dataDir, { recursive: true, mode: 0o700 });
  await checkDataModes(dataDir, (m) => console.warn(`netboot: warning: ${m}`));

  // the reference flow, copied once: later edits in the editor are the user's
  const flowFile = path.join(dataDir, 'flows.json');
  try {
    await fsp.copyFile(path.join(repo, 'examples', '00-reference-flow.json'), flowFile, (await import('node:fs')).constants.COPYFILE_EXCL);
    console.log(`netboot: deployed the reference flow to ${flowFile}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }

  const admin = await ensureAdminCredentials(dataDir, env.NETBOOT_ADMIN_PASSWORD || undefined);
  const credentialSecret = await ensureCredentialSecret(dataDir);
  // an optional read-only login: sees the editor, the dashboard and the API, changes nothing
  const viewerHash = env.NETBOOT_VIEWER_PASSWORD ? await (await import('bcryptjs')).default.hash(env.NETBOOT_VIEWER_PASSWORD, 10) : undefined;
  (globalThis as Record<string, unknown>).netbootPrepared = { adminUser: admin.username, adminHash: admin.hash, viewerHash, credentialSecret };
  if (admin.generatedPassword) {
    console.log('');
    console.log('netboot: created the editor login (shown once; only a bcrypt hash is stored):');
    console.log(`netboot:   user: ${admin.username}   password: ${admin.generatedPassword}`);
    console.log('netboot: set NETBOOT_ADMIN_PASSWORD to choose your own.');
    console.log('');
  }

  const settings = require(path.join(repo, 'settings.js')) as Record<string, unknown>;
  const app = http.createServer();
  RED.init(app, settings);
  const flowsStarted = new Promise<void>((resolve) => RED.events.once('flows:started', () => resolve()));
  // both roots are "/": public paths to the boot endpoints, the rest to the admin app first
  let ready = false;
  app.on('request', createDispatcher(RED.httpAdmin, RED.httpNode, () => ready));

  const port = Number(env.NETBOOT_HTTP_PORT);
  const host = env.NETBOOT_BIND!;
  await new Promise<void>((resolve, reject) => {
    app.once('error', (err: NodeJS.ErrnoException) => {
      const fix = err.code === 'EADDRINUSE'
        ? 'another program uses it: stop it or set NETBOOT_HTTP_PORT to a free port'
        : err.code === 'EACCES' ? 'ports below 1024 need privileges: use a port above 1023 (NETBOOT_HTTP_PORT) or grant cap_net_bind_service' : err.message;
      reject(new Error(`cannot listen on HTTP ${host}:${port}: ${err.code ?? ''} — ${fix}`));
    });
    app.listen(port, host, () => resolve());
  });
  await RED.start();
  // the management API answers 503 + Retry-After until the flows run (at most 15 s after start)
  await Promise.race([flowsStarted, new Promise((resolve) => setTimeout(resolve, 15_000).unref())]);
  ready = true;
  const shown = host === '0.0.0.0' ? advertised : host;
  console.log(`netboot: HTTP listening on ${host}:${port}`);
  console.log(`netboot: editor     http://${shown}:${port}/`);
  console.log(`netboot: API        http://${shown}:${port}/netboot/api/devices (login required)`);
  console.log(`netboot: boot files http://${shown}:${port}/boot/`);
  // the fleet view is built from editor-ui/ by `npm run build` (so `npm install` leaves it built)
  const built = await fsp.access(path.join(repo, 'resources', 'fleet.html')).then(() => true, () => false);
  console.log(built
    ? `netboot: dashboard  http://${shown}:${port}/netboot/ (and the Netboot tab in the editor's sidebar)`
    : 'netboot: dashboard  not built: run `npm run build` to build the fleet view');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`netboot: ${signal}, stopping`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await RED.stop().catch(() => undefined);
    app.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`netboot: ${(err as Error).message}`);
  process.exit(1);
});
