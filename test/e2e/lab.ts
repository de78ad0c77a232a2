/**
 * The e2e boot lab from TypeScript: network namespaces (lab/lab.sh), our server started through the
 * `npm start` entry point inside the server namespace, bounded packet captures there, QEMU VMs
 * (lab/qemu-boot.sh) and HTTP calls into the namespace with curl (the test process itself stays in
 * the host namespace, which has no route into the lab).
 *
 * Every process started here is tracked by its PID and stopped by `stopAll()`; nothing is killed by name.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TgtAdmin } from '../../lib/iscsi';

export const REPO = path.resolve(__dirname, '..', '..');
export const LAB_DIR = path.join(__dirname, 'lab');
export const LAB = process.env.E2E_LAB ?? 'nbe2e';
export const NET = process.env.E2E_NET ?? '10.81.0';
export const SERVER_IP = `${NET}.1`;
export const ROUTER_IP = `${NET}.3`;
export const HTTP_PORT = 8080;
export const BASE = `http://${SERVER_IP}:${HTTP_PORT}`;
export const NS = { srv: `${LAB}-srv`, rtr: `${LAB}-rtr`, cli: `${LAB}-cli` };
export const STATE = path.join(tmpdir(), `${LAB}-state`);
/** Serial logs, captures and the server log of the last run (git-ignored). */
export const ARTIFACTS = path.join(REPO, 'test', '.tmp', 'e2e');
export const ADMIN_PASSWORD = 'e2e-admin-password';

const LAB_ENV = { ...process.env, LAB, NET, E2E_STATE: STATE };

export function sh(cmd: string, args: string[], opts: { timeout?: number; env?: NodeJS.ProcessEnv } = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 60_000, env: opts.env ?? LAB_ENV, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status ?? (r.signal ? 128 : 1), stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

function mustSh(cmd: string, args: string[], timeout?: number): string {
  const r = sh(cmd, args, { timeout });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** What the machine lacks to run the suite ([] = ready). */
export function missingTools(): string[] {
  const out: string[] = [];
  if (process.platform !== 'linux' || process.getuid?.() !== 0) out.push('root on Linux');
  const which = (c: string) => sh('sh', ['-c', `command -v ${c}`]).status === 0;
  for (const c of ['ip', 'busybox', 'dnsmasq', 'qemu-system-x86_64', 'dumpcap', 'tshark', 'curl', 'dpkg-deb', 'tgtd', 'tgtadm']) if (!which(c)) out.push(c);
  for (const f of ['/usr/lib/ipxe/undionly.kpxe', '/usr/lib/ipxe/ipxe.efi', '/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/lib/ipxe/qemu/efi-e1000.rom']) if (!existsSync(f)) out.push(f);
  if (!existsSync(path.join(REPO, 'dist', 'scripts', 'start.js'))) out.push('dist/scripts/start.js (npm run build)');
  return out;
}

// ------------------------------------------------------------------------------------------------
// processes we started

const started = new Set<ChildProcess>();

/** Remembers a child; with `pidName` also in $STATE/<pidName>.pid, so `lab.sh down` can stop it after a killed run. */
function track(child: ChildProcess, pidName?: string): ChildProcess {
  started.add(child);
  const pidFile = pidName && child.pid ? path.join(STATE, `${pidName}.pid`) : undefined;
  if (pidFile) writeFileSync(pidFile, `${child.pid}\n`);
  child.once('exit', () => {
    started.delete(child);
    if (pidFile) rmSync(pidFile, { force: true });
  });
  return child;
}

export function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const hard = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(hard);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Stops every process this module started that is still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((c) => stopProcess(c)));
}

// ------------------------------------------------------------------------------------------------
// the lab

/** `router: false` leaves out the router's DHCP server (udhcpd): our server then runs in full DHCP mode. */
export function labUp(opts: { router?: boolean } = {}): void {
  mkdirSync(ARTIFACTS, { recursive: true });
  // a lab left over by a killed run: lab.sh only stops the daemons it recorded itself
  sh(path.join(LAB_DIR, 'lab.sh'), ['down']);
  const r = sh(path.join(LAB_DIR, 'lab.sh'), ['up'], { env: { ...LAB_ENV, ROUTER: opts.router === false ? '0' : '1' } });
  if (r.status !== 0) throw new Error(`lab.sh up failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

export function labDown(): string {
  const r = sh(path.join(LAB_DIR, 'lab.sh'), ['down']);
  return r.stdout + r.stderr;
}

/**
 * The Linux guests (cached in .e2e-cache/, the kernel downloaded once): `initrd` for the known-machine case,
 * `registration` (runs boot-assets/registration/register.sh) for the registration case; same kernel.
 */
export function buildLinuxAssets(): { vmlinuz: string; initrd: string; registration: string } {
  const cache = process.env.E2E_CACHE ?? path.join(REPO, '.e2e-cache');
  mustSh(path.join(LAB_DIR, 'build-assets.sh'), [cache], 300_000);
  const dir = path.join(cache, 'linux');
  return { vmlinuz: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.gz'), registration: path.join(dir, 'registration.img') };
}

// ------------------------------------------------------------------------------------------------
// our server, through the npm start entry point, in the server namespace

export interface Server {
  dataDir: string;
  assets: string;
  child: ChildProcess;
  output(): string;
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

/** `env` overrides the server's environment (e.g. full DHCP mode); NETBOOT_ISCSI=off skips waiting for tgtd. */
export async function startServer(opts: { env?: Record<string, string> } = {}): Promise<Server> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'nbe2e-data-'));
  const assets = path.join(dataDir, 'assets');
  mkdirSync(assets, { recursive: true });
  // nothing is copied: the server finds Debian's iPXE builds in /usr/lib/ipxe itself (lib/boot-programs)
  const child = track(spawn('ip', ['netns', 'exec', NS.srv, process.execPath, path.join(REPO, 'dist', 'scripts', 'start.js')], {
    cwd: REPO,
    env: {
      ...process.env,
      NETBOOT_DATA_DIR: dataDir,
      NETBOOT_SERVER_IP: SERVER_IP,
      NETBOOT_BIND: '0.0.0.0',
      NETBOOT_HTTP_PORT: String(HTTP_PORT),
      NETBOOT_DHCP_MODE: 'proxy',
      NETBOOT_DHCP_PORT: '67',
      NETBOOT_PROXY_PORT: '4011',
      NETBOOT_TFTP_PORT: '69',
      NETBOOT_ADMIN_PASSWORD: ADMIN_PASSWORD,
      NETBOOT_INTERFACE: '',
      // the reference flow's netboot-iscsi node starts tgtd in this namespace, and stops it with the server
      NETBOOT_ISCSI: 'own',
      NETBOOT_TGTD_CONTROL_PORT: String(TGT_CONTROL_PORT),
      NETBOOT_ISCSI_STOP_TGTD: 'true',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  }), 'server');
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  const waitFor = (re: RegExp, ms = 30_000) => new Promise<RegExpMatchArray>((resolve, reject) => {
    const end = Date.now() + ms;
    const tick = () => {
      const m = out.match(re);
      if (m) return resolve(m);
      if (child.exitCode !== null) return reject(new Error(`server exited (${child.exitCode}) before ${re}:\n${out}`));
      if (Date.now() > end) return reject(new Error(`timed out waiting for ${re}:\n${out}`));
      setTimeout(tick, 100);
    };
    tick();
  });
  const server: Server = {
    dataDir, assets, child, output: () => out, waitFor,
    stop: async () => {
      await stopProcess(child);
      writeFileSync(path.join(ARTIFACTS, 'server.log'), out);
      if (process.env.E2E_KEEP !== '1') rmSync(dataDir, { recursive: true, force: true });
    },
  };
  const ready = [/HTTP listening on 0\.0\.0\.0:8080/, /\bDHCP: listening on UDP 0\.0\.0\.0:67\b/, /proxyDHCP: listening on UDP 0\.0\.0\.0:4011/, /TFTP: listening on UDP 0\.0\.0\.0:69\b/];
  if (opts.env?.NETBOOT_ISCSI !== 'off') ready.push(/iSCSI: started tgtd \(pid \d+\) on portal 0\.0\.0\.0:3260/);
  for (const re of ready) {
    await waitFor(re, 60_000);
  }
  return server;
}

// ------------------------------------------------------------------------------------------------
// HTTP into the server namespace (loopback there)

export interface HttpAnswer {
  status: number;
  body: string;
  json<T = unknown>(): T;
}

export function http(method: string, pathAndQuery: string, opts: { token?: string; body?: unknown; form?: Record<string, string> } = {}): HttpAnswer {
  const args = ['netns', 'exec', NS.srv, 'curl', '-sS', '-m', '15', '-X', method, '-o', '-', '-w', '\n%{http_code}'];
  if (opts.token) args.push('-H', `Authorization: Bearer ${opts.token}`);
  if (opts.form) args.push('--data', new URLSearchParams(opts.form).toString());
  else if (opts.body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(opts.body));
  args.push(`http://127.0.0.1:${HTTP_PORT}${pathAndQuery}`);
  const r = sh('ip', args, { timeout: 20_000 });
  if (r.status !== 0) throw new Error(`curl ${method} ${pathAndQuery} failed: ${r.stderr}`);
  const cut = r.stdout.lastIndexOf('\n');
  const body = r.stdout.slice(0, cut);
  return { status: Number(r.stdout.slice(cut + 1)), body, json: <T>() => JSON.parse(body) as T };
}

export function login(): string {
  const r = http('POST', '/auth/token', { form: { client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: 'admin', password: ADMIN_PASSWORD } });
  if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.body}`);
  return r.json<{ access_token: string }>().access_token;
}

// ------------------------------------------------------------------------------------------------
// packet capture on the server's interface

export interface Capture {
  file: string;
  stop(): Promise<void>;
}

/** dumpcap in the server namespace, bounded by `seconds` even if nobody stops it. */
export async function startCapture(name: string, seconds: number): Promise<Capture> {
  const file = path.join(ARTIFACTS, `${name}.pcapng`);
  rmSync(file, { force: true });
  const child = track(spawn('ip', ['netns', 'exec', NS.srv, 'dumpcap', '-i', 'eth0', '-f', 'not (ip6 and multicast)', '-a', `duration:${seconds}`, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] }), `dumpcap-${name}`);
  let err = '';
  child.stderr!.on('data', (b) => (err += b));
  const end = Date.now() + 15_000;
  while (!/Capturing on/.test(err)) {
    if (child.exitCode !== null || Date.now() > end) throw new Error(`dumpcap did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { file, stop: () => settle(file).then(() => stopProcess(child, 5000)) };
}

/**
 * Waits until the capture file has not grown for a second (at most 6 s). dumpcap reads the kernel's
 * ring in blocks it takes every 250 ms or when full, and a SIGTERM drops what it has not taken yet:
 * stopped right after a VM's last packets (the iSCSI cases power off within milliseconds of their
 * reads), the capture could miss the whole exchange on a loaded machine.
 */
async function settle(file: string): Promise<void> {
  const size = () => (existsSync(file) ? statSync(file).size : 0);
  const end = Date.now() + 6000;
  let last = size();
  let quietSince = Date.now();
  while (Date.now() < end && Date.now() - quietSince < 1000) {
    await new Promise((r) => setTimeout(r, 200));
    const now = size();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    }
  }
}

export interface Packet {
  t: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: 'dhcp' | 'tftp' | 'http';
  /** DHCP */
  dhcpType?: number;
  xid?: string;
  chaddr?: string;
  yiaddr?: string;
  siaddr?: string;
  file?: string;
  vendorClass?: string;
  userClass?: string;
  /** TFTP */
  opcode?: number;
  tftpFile?: string;
  block?: number;
  dataLen?: number;
  /** HTTP */
  method?: string;
  uri?: string;
  code?: number;
}

const FIELDS = [
  'frame.time_relative', 'ip.src', 'ip.dst', 'udp.srcport', 'udp.dstport', 'tcp.srcport', 'tcp.dstport',
  'dhcp.option.dhcp', 'dhcp.id', 'dhcp.hw.mac_addr', 'dhcp.ip.your', 'dhcp.ip.server', 'dhcp.file',
  'dhcp.option.vendor_class_id', 'dhcp.option.user_class.text',
  'tftp.opcode', 'tftp.source_file', 'tftp.block', 'udp.length',
  'http.request.method', 'http.request.uri', 'http.response.code',
] as const;

/** The DHCP, TFTP and HTTP packets of a capture, decoded by tshark. */
export function readCapture(file: string): Packet[] {
  // 4011 is BOOTP too (PXE boot-server requests); tshark only knows 67/68 by default
  const r = sh('tshark', ['-r', file, '-d', 'udp.port==4011,dhcp', '-Y', 'dhcp || tftp || http.request || http.response', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=f', ...FIELDS.flatMap((f) => ['-e', f])], { timeout: 60_000 });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  const out: Packet[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const v = Object.fromEntries(line.split('\t').map((x, i) => [FIELDS[i], x])) as Record<(typeof FIELDS)[number], string>;
    const num = (s: string) => (s === '' || s === undefined ? undefined : Number(s));
    const p: Packet = {
      t: Number(v['frame.time_relative']), src: v['ip.src'], dst: v['ip.dst'],
      sport: Number(v['udp.srcport'] || v['tcp.srcport']), dport: Number(v['udp.dstport'] || v['tcp.dstport']),
      proto: v['dhcp.option.dhcp'] ? 'dhcp' : v['tftp.opcode'] ? 'tftp' : 'http',
    };
    if (p.proto === 'dhcp') {
      Object.assign(p, {
        dhcpType: num(v['dhcp.option.dhcp']), xid: v['dhcp.id'], chaddr: v['dhcp.hw.mac_addr'], yiaddr: v['dhcp.ip.your'],
        siaddr: v['dhcp.ip.server'], file: v['dhcp.file'], vendorClass: v['dhcp.option.vendor_class_id'] || undefined,
        userClass: v['dhcp.option.user_class.text'] || undefined,
      });
    } else if (p.proto === 'tftp') {
      Object.assign(p, { opcode: num(v['tftp.opcode']), tftpFile: v['tftp.source_file'] || undefined, block: num(v['tftp.block']), dataLen: Number(v['udp.length']) - 8 - 4 });
    } else {
      Object.assign(p, { method: v['http.request.method'] || undefined, uri: v['http.request.uri'] || undefined, code: num(v['http.response.code']) });
    }
    out.push(p);
  }
  return out;
}

export const DHCP = { DISCOVER: 1, OFFER: 2, REQUEST: 3, ACK: 5 } as const;

/**
 * The read transfers of `file` our TFTP server made towards `client`, one per RRQ (its source port is
 * the transfer's client port): the bytes of the distinct DATA blocks, and whether the transfer ended
 * properly (the highest block is shorter than the others and the client ACKed it). A size probe
 * (EDK2 aborts after the OACK) has no data. Block numbers do not wrap for the files used here.
 */
export function tftpTransfers(packets: Packet[], client: string, file: string): Array<{ clientPort: number; bytes: number; blocks: number; complete: boolean }> {
  const out = [];
  for (const rrq of packets.filter((p) => p.proto === 'tftp' && p.opcode === 1 && p.src === client && p.tftpFile === file)) {
    const data = new Map<number, number>();
    for (const p of packets) {
      if (p.proto === 'tftp' && p.opcode === 3 && p.dst === client && p.dport === rrq.sport && p.block !== undefined) data.set(p.block, p.dataLen ?? 0);
    }
    if (data.size === 0) {
      out.push({ clientPort: rrq.sport, bytes: 0, blocks: 0, complete: false });
      continue;
    }
    const lastBlock = Math.max(...data.keys());
    const shortLast = data.size === 1 || data.get(lastBlock)! < Math.max(...data.values());
    const acked = packets.some((p) => p.proto === 'tftp' && p.opcode === 4 && p.src === client && p.sport === rrq.sport && p.block === lastBlock);
    out.push({ clientPort: rrq.sport, bytes: [...data.values()].reduce((a, b) => a + b, 0), blocks: data.size, complete: shortLast && acked });
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// VMs

export interface VmResult {
  rc: number;
  seconds: number;
  serial: string;
  log: string;
  serialFile: string;
}

export function bootVm(name: string, opts: { fw: 'bios' | 'uefi' | 'uefi-sb' | 'uefi-http' | 'arm64'; mac: string; timeout: number; expect?: string[]; stopOnExpect?: boolean; nic?: string; pcap?: boolean }): Promise<VmResult> {
  const serialFile = path.join(ARTIFACTS, `${name}.serial.log`);
  const args = ['--fw', opts.fw, '--mac', opts.mac, '--serial', serialFile, '--timeout', String(opts.timeout)];
  for (const e of opts.expect ?? []) args.push('--expect', e);
  if (opts.stopOnExpect) args.push('--stop-on-expect');
  if (opts.nic) args.push('--nic', opts.nic);
  if (opts.pcap) args.push('--pcap', path.join(ARTIFACTS, `${name}.vm.pcap`));
  const t0 = Date.now();
  const child = track(spawn(path.join(LAB_DIR, 'qemu-boot.sh'), args, { env: LAB_ENV, stdio: ['ignore', 'ignore', 'pipe'] }));
  let log = '';
  child.stderr!.on('data', (b) => (log += b));
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      const serial = existsSync(serialFile) ? readFileSync(serialFile, 'latin1') : '';
      writeFileSync(path.join(ARTIFACTS, `${name}.qemu.log`), log);
      resolve({ rc: code ?? (signal ? 128 : 1), seconds: (Date.now() - t0) / 1000, serial, log, serialFile });
    });
  });
}

/** Console text without ANSI escapes and carriage returns (iPXE draws its menu with cursor moves). */
export function plain(serial: string): string {
  // eslint-disable-next-line no-control-regex
  return serial.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[c()][0-9A-Za-z]?/g, ' ').replace(/\r/g, '').replace(/[\b]/g, '');
}

/**
 * A line the served iPXE script shows when it runs: its `menu` title or its first `echo` text
 * (up to the first `${`, which iPXE expands). Undefined when the script has neither.
 */
export function scriptMarker(script: string): string | undefined {
  for (const raw of script.split('\n')) {
    const m = raw.trim().match(/^(menu|echo)\s+(.+)$/);
    if (!m) continue;
    const text = m[2].split('${')[0].replace(/\s+(\|\||&&).*$/, '').trim();
    if (text.length >= 6) return text;
  }
  return undefined;
}

export function fileSize(p: string): number {
  return statSync(p).size;
}

// ------------------------------------------------------------------------------------------------
// iSCSI: the boot disk of the sanboot case, and the server's tgtd (started by its netboot-iscsi node)

/**
 * The boot sector (512 bytes) of the iSCSI cases' disk: after ~0.2 s it writes `marker` + CRLF straight to COM1
 * (0x3f8, polling the line status register) and then powers the machine off through the ACPI PM1a
 * control register of QEMU's pc/q35 machines (port 0x604, SLP_EN with SLP_TYP 0 = soft off);
 * if that does not work it halts. Hand-assembled 16-bit real-mode code, loaded at 0000:7c00.
 */
export function markerMbr(marker: string): Buffer {
  const code: number[] = [];
  const at = () => code.length;
  const rel8 = (from: number, to: number) => (to - from) & 0xff; // short jump displacement from the end of the jump
  code.push(0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xc0, 0xfb); //       xor ax,ax; mov ds,ax; mov es,ax; sti
  // wait 4 timer ticks (~0.2 s) with interrupts on: SeaBIOS's serial console sends what it still
  // buffers of the BIOS text (iPXE's last line) from its timer interrupt
  code.push(0xb9, 0x04, 0x00, 0xf4, 0xe2, 0xfd); //              mov cx,4; tick: hlt; loop tick
  code.push(0xbe, 0x00, 0x00); //                                mov si, msg        (patched below)
  const msgImm = at() - 2;
  code.push(0xfc); //                                            cld
  const next = at();
  code.push(0xac, 0x84, 0xc0); //                                next: lodsb; test al,al
  code.push(0x74, 0x00); //                                      jz done           (patched below)
  const jzDone = at();
  code.push(0x88, 0xc3, 0xba, 0xfd, 0x03); //                    mov bl,al; mov dx,0x3fd (LSR)
  const wait = at();
  code.push(0xec, 0xa8, 0x20, 0x74); //                          wait: in al,dx; test al,0x20 (THR empty); jz wait
  code.push(rel8(at() + 1, wait));
  code.push(0x88, 0xd8, 0xba, 0xf8, 0x03, 0xee); //              mov al,bl; mov dx,0x3f8; out dx,al
  code.push(0xeb); //                                            jmp next
  code.push(rel8(at() + 1, next));
  const done = at();
  code[jzDone - 1] = rel8(jzDone, done);
  code.push(0xba, 0x04, 0x06, 0xb8, 0x00, 0x20, 0xef); //        done: mov dx,0x604; mov ax,0x2000; out dx,ax
  const halt = at();
  code.push(0xf4, 0xeb); //                                      halt: hlt; jmp halt
  code.push(rel8(at() + 1, halt));
  const msgAddr = 0x7c00 + code.length;
  code[msgImm] = msgAddr & 0xff;
  code[msgImm + 1] = msgAddr >> 8;
  const text = Buffer.from(`\r\n${marker}\r\n`, 'latin1');
  if (text.includes(0)) throw new Error('markerMbr: the marker must not contain NUL');
  if (code.length + text.length + 1 > 446) throw new Error('markerMbr: marker too long for a boot sector');
  const mbr = Buffer.alloc(512);
  Buffer.from(code).copy(mbr, 0);
  text.copy(mbr, code.length);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  return mbr;
}

/** The control port (`/var/run/tgtd/socket.<n>`) of the tgtd our server's netboot-iscsi node starts; not 0, so a system tgtd is left alone. */
export const TGT_CONTROL_PORT = Number(process.env.E2E_TGT_CONTROL ?? 81);

/** `tgtadm --lld iscsi` against the server's tgtd (a Unix socket: reachable from any namespace). */
export function tgtAdm(args: string[]): { status: number; stdout: string; stderr: string } {
  return sh('tgtadm', ['-C', String(TGT_CONTROL_PORT), '--lld', 'iscsi', ...args], { timeout: 10_000 });
}

/** After the server stopped (its node stops tgtd on close in the e2e settings): a tgtd that a killed run left up goes too. */
export async function stopLeftoverTgt(): Promise<void> {
  await new TgtAdmin(TGT_CONTROL_PORT).shutdown();
}

/**
 * The iSCSI PDUs of a capture (tshark's decoder on TCP 3260): iSCSI opcode, SCSI LUN, the SBC opcode of a
 * SCSI command (0x25 READ CAPACITY(10), 0x28 READ(10)), the sense of a response (`key/asc/ascq` in hex),
 * the login status and the key=value text.
 */
export interface IscsiPdu { src: string; dst: string; opcode: number; lun?: number; cdb?: number; sense?: string; loginStatus?: number; keys: string[] }

export function readIscsi(file: string): IscsiPdu[] {
  const fields = ['ip.src', 'ip.dst', 'iscsi.opcode', 'scsi.lun', 'scsi_sbc.opcode', 'scsi.sns.key', 'scsi.sns.asc', 'scsi.sns.ascq', 'iscsi.login.status', 'iscsi.keyvalue'];
  const r = sh('tshark', ['-r', file, '-Y', 'iscsi', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=|', ...fields.flatMap((f) => ['-e', f])], { timeout: 60_000 });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  const first = (v: string | undefined) => (v ? v.split('|')[0] : undefined);
  const num = (v: string | undefined) => (first(v) === undefined ? undefined : Number(first(v)));
  const out: IscsiPdu[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const [src, dst, op, lun, cdb, key, asc, ascq, status, kv] = line.split('\t');
    // one frame can carry several PDUs: the first of each field; every key=value pair
    out.push({
      src, dst, opcode: num(op)!, lun: num(lun), cdb: num(cdb), sense: key ? `${first(key)}/${first(asc)}/${first(ascq)}` : undefined,
      loginStatus: num(status), keys: kv ? kv.split('|') : [],
    });
  }
  return out;
}
