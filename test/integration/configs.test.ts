import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateIpxeScript } from '../../lib/render';
import { login, startNetboot, type StartedServer } from '../helpers/start-server';

/**
 * Installer configuration documents through `npm start` (the reference flow's netboot-config node),
 * fetched with curl as an installer would, user-data checked by cloud-init's own `cloud-init schema`
 * (Debian's cloud-init; CI installs it).
 */
const CI = process.env.CI === 'true';
const haveCloudInit = spawnSync('sh', ['-c', 'command -v cloud-init']).status === 0;
if (CI && !haveCloudInit) throw new Error('configs: CI=true but cloud-init is not installed');

const password = 'configs test pw';
const A = '52:54:00:18:00:01';
const B = '52:54:00:18:00:02';
const USER_DATA = `#cloud-config
hostname: {{hostname}}
users:
  - name: ops
    ssh_authorized_keys: [{{labels.ssh_key}}]
write_files:
  - path: /etc/netboot-join
    content: {{secrets.join_token}}
phone_home:
  url: {{done:url}}
  post: [instance_id]
`;

describe('installer configs (npm start)', () => {
  let dir: string;
  let srv: StartedServer;
  let token: string;
  const api = (p: string, method = 'GET', body?: unknown) => fetch(`${srv.baseUrl}/netboot/api${p}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const curl = (url: string, ...extra: string[]) => {
    const r = spawnSync('curl', ['-s', '-o', '-', '-w', '\n%{http_code}', ...extra, url], { encoding: 'utf8', timeout: 20_000 });
    const i = r.stdout.lastIndexOf('\n');
    return { body: r.stdout.slice(0, i), status: Number(r.stdout.slice(i + 1)) };
  };
  const script = async (mac: string) => (await fetch(`${srv.baseUrl}/boot/menu.ipxe?mac=${mac.replace(/:/g, '-')}`)).text();
  const seedOf = (text: string) => /ds=nocloud-net;s=(\S+\/)/.exec(text)?.[1];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'netboot-configs-'));
    srv = await startNetboot(dir, { NETBOOT_ADMIN_PASSWORD: password, NETBOOT_CONFIG_SECRETS: JSON.stringify({ join_token: 'tok-A: "secret"\nline2' }) });
    await srv.waitForOutput(/inventory: .*inventory\.json/);
    token = await login(srv.baseUrl, password);
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses documents their format would refuse, naming the line (and cloud-init\'s schema)', async () => {
    const bad = await api('/configs', 'POST', { id: 'bad', name: 'bad', format: 'cloud-config', template: '#cloud-config\nusers:\n  - name: a\n   x: [\n' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatchObject({ field: 'template', message: expect.stringMatching(/YAML line \d/) });
    const header = await api('/configs', 'POST', { id: 'bad', name: 'bad', format: 'cloud-config', template: 'hostname: x\n' });
    expect((await header.json()).error.message).toMatch(/#cloud-config/);
    if (haveCloudInit) {
      const schema = await api('/configs', 'POST', { id: 'bad', name: 'bad', format: 'cloud-config', template: '#cloud-config\npackages: "vim"\n' });
      expect(schema.status).toBe(400);
      expect((await schema.json()).error.message).toMatch(/cloud-init schema: .*packages/);
    }
  });

  it('serves a machine its own rendered user-data through the token in its script, and nothing to anyone else', async () => {
    const made = await api('/configs', 'POST', { id: 'ud', name: 'fleet user-data', format: 'cloud-config', template: USER_DATA.replace('{{done:url}}', '"http://127.0.0.1/done"') });
    expect(made.status, await made.clone().text()).toBe(201);
    expect((await api('/profiles', 'POST', { id: 'ubuntu', name: 'Ubuntu', type: 'ubuntu', kernel: 'ubuntu/vmlinuz', initrd: ['ubuntu/initrd'], configs: ['ud'] })).status).toBe(201);
    for (const [mac, key] of [[A, 'ssh-ed25519 AAAA a@x'], [B, 'ssh-ed25519 BBBB b@x']]) {
      expect((await api('/devices', 'POST', { mac, hostname: mac === A ? 'node-a' : 'node-b', profileId: 'ubuntu', labels: { ssh_key: key } })).status).toBe(201);
    }
    const sa = await script(A);
    expect(validateIpxeScript(sa)).toEqual([]);
    const seedA = seedOf(sa);
    expect(seedA, sa).toMatch(new RegExp(`^${srv.baseUrl}/boot/configs/52-54-00-18-00-01/v1\\.[0-9a-z]+\\.a\\.[A-Za-z0-9_-]{32}/$`));
    const seedB = seedOf(await script(B))!;

    const ud = curl(`${seedA}user-data`);
    expect(ud.status).toBe(200);
    expect(ud.body).toContain('hostname: "node-a"');
    expect(ud.body).toContain('"ssh-ed25519 AAAA a@x"');
    expect(ud.body).toContain(JSON.stringify('tok-A: "secret"\nline2'));
    if (haveCloudInit) {
      const file = path.join(dir, 'ud-a.yaml');
      writeFileSync(file, ud.body);
      const check = spawnSync('cloud-init', ['schema', '-c', file], { encoding: 'utf8' });
      expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    }
    expect(curl(`${seedA}meta-data`).body).toMatch(/^instance-id: "netboot-525400180001-ubuntu"\nlocal-hostname: "node-a"\n$/);
    expect(curl(`${seedA}vendor-data`).status).toBe(200);

    // B's token for A's folder, A's token for B's folder, no token, a forged one, another address: a bare 403
    const tokenB = seedB.split('/').slice(-2, -1)[0];
    const forged = [
      `${srv.baseUrl}/boot/configs/52-54-00-18-00-01/${tokenB}/user-data`,
      seedB.replace('52-54-00-18-00-02', '52-54-00-18-00-01') + 'user-data',
      `${srv.baseUrl}/boot/configs/52-54-00-18-00-01/v1.zzzzzz.n.${'A'.repeat(32)}/user-data`,
      `${srv.baseUrl}/boot/configs/52-54-00-18-00-01/none/user-data`,
    ];
    for (const url of forged) {
      const r = curl(url);
      expect(r, url).toEqual({ status: 403, body: 'forbidden\n' });
    }
    const elsewhere = curl(`${seedA}user-data`, '--interface', '127.0.0.2');
    expect(elsewhere.status).toBe(403);
    // recorded: the refusals in the server's log with the reason, the fetch on A's timeline
    await srv.waitForOutput(/installer config user-data for 52:54:00:18:00:01 from 127\.0\.0\.2 refused: token refused \(wrong-address\)/);
    const timeline = await (await api(`/devices/${A}/timeline`)).json() as { boots: Array<{ stages: Array<{ stage: string }> }> };
    expect(timeline.boots.flatMap((b) => b.stages.map((s) => s.stage))).toContain('config');
  });

  it('the completion report makes the machine ready and its next boot local; removing the label reinstalls', async () => {
    const seed = seedOf(await script(A))!;
    const done = curl(`${seed}done`, '-X', 'POST', '-d', 'instance_id=x');
    expect(done).toEqual({ status: 200, body: 'ok\n' });
    const dev = await (await api(`/devices/${A}`)).json() as { status: string; labels: Record<string, string> };
    expect(dev).toMatchObject({ status: 'ready', labels: { 'netboot.installed': 'ubuntu' } });
    const next = await script(A);
    expect(next).toMatch(/# netboot: local script/);
    expect(seedOf(next)).toBeUndefined();
    // B's token cannot mark A installed
    const seedB = seedOf(await script(B))!;
    expect(curl(seedB.replace('52-54-00-18-00-02', '52-54-00-18-00-01') + 'done', '-X', 'POST').status).toBe(403);
    await api(`/devices/${A}`, 'PATCH', { labels: {} });
    expect(seedOf(await script(A))).toBeDefined();
  });

  it('renders preseed, Kickstart, Talos and Ignition with the kernel arguments each installer reads', async () => {
    const docs = [
      { id: 'ps', format: 'preseed', template: 'd-i netcfg/get_hostname string {{hostname:line}}\nd-i preseed/late_command string in-target true\n' },
      { id: 'ks', format: 'kickstart', template: 'network --hostname={{hostname:token}}\n%post\ntrue\n%end\n' },
      { id: 'talos', format: 'talos', template: 'version: v1alpha1\nmachine:\n  type: worker\n  token: {{secrets.join_token}}\n  network:\n    hostname: {{hostname}}\n' },
      { id: 'bt', format: 'butane', template: 'variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /etc/hostname\n      mode: 0644\n      contents:\n        inline: {{hostname}}\n' },
      { id: 'ign', format: 'ignition', template: '{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/hostname","contents":{"source":{{params.hostsrc:json}}}}]}}' },
    ];
    for (const d of docs) expect((await api('/configs', 'POST', { name: d.id, ...d })).status, d.id).toBe(201);
    const cases: Array<[string, RegExp, string]> = [
      ['ps', /auto=true priority=critical url=(\S+preseed\.cfg)/, 'd-i netcfg/get_hostname string node-c'],
      ['ks', /inst\.ks=(\S+ks\.cfg)/, 'network --hostname=node-c'],
      ['talos', /talos\.config=(\S+talos\.yaml)/, 'hostname: "node-c"'],
      ['ign', /ignition\.config\.url=(\S+config\.ign) ignition\.platform\.id=metal/, '"source":"data:,node-c"'],
      ['bt', /ignition\.config\.url=(\S+config\.ign) ignition\.platform\.id=metal/, '{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/hostname","mode":420,"contents":{"source":"data:,node-c"}}]}}'],
    ];
    let n = 0;
    for (const [id, arg, expected] of cases) {
      const mac = `52:54:00:18:01:0${++n}`;
      expect((await api('/profiles', 'POST', { id: `p-${id}`, name: id, type: 'custom', kernel: 'k/vmlinuz', configs: [id] })).status).toBe(201);
      expect((await api('/devices', 'POST', { mac, hostname: 'node-c', profileId: `p-${id}`, paramsOverride: { hostsrc: 'data:,node-c' } })).status).toBe(201);
      const s = await script(mac);
      expect(validateIpxeScript(s), s).toEqual([]);
      const url = arg.exec(s)?.[1];
      expect(url, s).toBeDefined();
      const got = curl(url!);
      expect(got.status, `${id}: ${got.body}`).toBe(200);
      expect(got.body).toContain(expected);
    }
  });
});
