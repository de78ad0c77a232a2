import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');

/** The node-red-node-test-helper, initialised with Node-RED 4 (or NETBOOT_NODE_RED, used by CI for Node-RED 5). */
export function nodeRedHelper() {
  helper.init(process.env.NETBOOT_NODE_RED ? require.resolve(process.env.NETBOOT_NODE_RED) : require.resolve('node-red'));
  // the test runtime has no adminAuth: open the management API on purpose (it is closed without one)
  helper.settings({ netbootOpenApi: true });
  return helper as {
    startServer(): Promise<void>;
    stopServer(): Promise<void>;
    load(nodes: unknown, flow: unknown[], credentials?: unknown): Promise<void>;
    unload(): Promise<void>;
    /** Deploys a new flow into the running runtime ('full', 'nodes' or 'flows'), as the editor's Deploy does. */
    setFlows(flow: unknown[], type: 'full' | 'nodes' | 'flows', credentials?: unknown): Promise<void>;
    getNode(id: string): any; // eslint-disable-line @typescript-eslint/no-explicit-any
    request(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
    settings(s: Record<string, unknown>): void;
    log(): { args: unknown[][] } & Record<string, unknown>;
  };
}

/** A compiled node module from dist/ (Node-RED loads CommonJS .js with its .html beside it). */
export function distNode(name: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(__dirname, '..', '..', 'dist', 'nodes', name, `${name}.js`));
}

export async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, what: string, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A Node-RED core node (e.g. `function/10-function.js`) from the same Node-RED the helper runs. */
export function coreNode(file: string): unknown {
  const base = process.env.NETBOOT_NODE_RED ? [path.dirname(require.resolve(process.env.NETBOOT_NODE_RED))] : [__dirname];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(require.resolve(`@node-red/nodes/core/${file}`, { paths: base }));
}

/**
 * The set-up every node spec shares: one Node-RED test runtime for the file, flows unloaded after
 * each test, and the temporary data folders made with `tempDir` removed with them.
 */
export function nodeRedSuite() {
  const helper = nodeRedHelper();
  const made: string[] = [];
  beforeAll(() => helper.startServer());
  afterAll(() => helper.stopServer());
  afterEach(async () => {
    await helper.unload();
    for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return {
    helper,
    /** A fresh folder under the system's temp folder, removed after the test. */
    tempDir(prefix: string): string {
      const d = mkdtempSync(path.join(tmpdir(), prefix));
      made.push(d);
      return d;
    },
  };
}
