// Node-RED settings for `npm start` (scripts/start.ts). Every value comes from NETBOOT_* environment
// variables; the start script fills in their defaults and prepares the data folder first
// (admin password hash, credential secret, the reference flow) and passes them in `global.netboot`.
const path = require('node:path');

const env = process.env;
const prepared = globalThis.netbootPrepared || {};
const dataDir = path.resolve(env.NETBOOT_DATA_DIR || path.join(__dirname, '.netboot'));

module.exports = {
  uiPort: Number(env.NETBOOT_HTTP_PORT || 1880),
  uiHost: env.NETBOOT_BIND || '0.0.0.0',
  userDir: dataDir,
  flowFile: 'flows.json',
  flowFilePretty: true,
  // load this package from the working tree, and (in a clone) the Dashboard 2.0 fleet widget beside it:
  // Dashboard 2.0 finds a third-party widget in a package named by nodesDir or the user's package.json
  nodesDir: [__dirname, ...[path.join(__dirname, 'packages', 'node-red-dashboard-2-netboot-fleet')].filter((d) => require('node:fs').existsSync(path.join(d, 'resources')))],
  credentialSecret: prepared.credentialSecret,
  adminAuth: prepared.adminHash
    ? {
        type: 'credentials',
        users: [
          { username: prepared.adminUser || 'admin', password: prepared.adminHash, permissions: '*' },
          // NETBOOT_VIEWER_PASSWORD: a read-only user "viewer"
          ...(prepared.viewerHash ? [{ username: 'viewer', password: prepared.viewerHash, permissions: 'read' }] : []),
        ],
      }
    : undefined,
  httpAdminRoot: '/',
  httpNodeRoot: '/',
  // boot endpoints are public; only the editor and /netboot/api need a login
  httpNodeCors: undefined,
  apiMaxLength: '5mb',
  diagnostics: { enabled: false },
  runtimeState: { enabled: false },
  telemetry: { enabled: false },
  externalModules: { palette: { allowInstall: true } },
  editorTheme: {
    projects: { enabled: false },
    tours: false,
    page: { title: 'netboot' },
    header: { title: 'netboot' },
  },
  logging: { console: { level: env.NETBOOT_LOG_LEVEL || 'info', metrics: false, audit: false } },
  exportGlobalContextKeys: false,
};
