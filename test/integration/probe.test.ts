/**
 * netboot-probe against our real servers on 127.0.0.1 high ports: DhcpServer (proxy mode, replies
 * redirected to the probe's client port), TftpServer over a temp folder, and a small HTTP server for
 * the iPXE script and the UEFI HTTP boot file. Every kind boots with all files intact (sha256), then
 * each failure cause is created and the probe must name it with exit code 1. One run goes through the
 * compiled CLI.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { existsSync, promises as fsp, statSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DhcpServer, MessageType, build, emptyPacket, encodePacket, parsePacket, getMessageType } from '../../lib/dhcp/index';
import { TftpServer } from '../../lib/tftp/server';
import { createStaticResolver } from '../../lib/tftp/static-resolver';
import { encodeData, parsePacket as parseTftp } from '../../lib/tftp/packet';
import { runProbeWithObservations, type ProbeKind, type ProbeOptions, type ProbeReport } from '../../lib/probe/index';

const run = promisify(execFile);
const S = '127.0.0.1';
const REPO = path.resolve(__dirname, '..', '..');

const SERIAL = { pi3: '1234abcd', pi4: '9ffefdef', pi5: 'abcdef01' } as const;
const MAC = { pi3: 'b8:27:eb:00:00:03', pi4: 'dc:a6:32:00:00:04', pi5: '2c:cf:67:00:00:05' } as const;

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function bindUdp(port = 0, address = S): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, address, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

function close(s: dgram.Socket | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!s) return resolve();
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

async function freeUdpPort(): Promise<number> {
  const s = await bindUdp(0, '0.0.0.0');
  const port = s.address().port;
  await close(s);
  return port;
}

/** The files a Pi and the PCs ask for, with random contents; name → sha256. */
const FILES: Record<string, Buffer> = {};
function addFile(name: string, data: Buffer): void {
  FILES[name] = data;
}

describe('netboot-probe against our servers on loopback', () => {
  let dir: string;
  let s67: dgram.Socket;
  let s4011: dgram.Socket;
  let tftpSock: dgram.Socket;
  let tftp: TftpServer;
  let dhcp: DhcpServer;
  let httpServer: http.Server;
  let httpPort: number;
  let clientPort: number;
  const extraServers: DhcpServer[] = [];
  const httpRequests: string[] = [];
  const ipxeScript = (port: number) => `#!ipxe\necho netboot-probe test\nchain http://127.0.0.1:${port}/boot/next.ipxe?mac=\${netX/mac:hexhyp}\n`;
  const nextScript = '#!ipxe\nkernel http://127.0.0.1/vmlinuz console=ttyS0\ninitrd http://127.0.0.1/initrd.img\nboot\n';
  const badScript = '#!ipxe\nkernal http://127.0.0.1/vmlinuz\ngoto nowhere\n';
  let menuBody: (port: number) => string = ipxeScript;

  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'netboot-probe-'));
    addFile('undionly.kpxe', randomBytes(70_001));
    addFile('ipxe.efi', randomBytes(300_000));
    addFile('ipxe-arm64.efi', randomBytes(150_123));
    addFile('bootcode.bin', randomBytes(52_456));
    addFile(`${SERIAL.pi3}/start.elf`, randomBytes(40_000));
    addFile(`${SERIAL.pi3}/fixup.dat`, randomBytes(7_000));
    addFile(`${SERIAL.pi3}/config.txt`, Buffer.from('arm_64bit=1\n'));
    addFile(`${SERIAL.pi3}/cmdline.txt`, Buffer.from('console=serial0 root=/dev/nfs\n'));
    addFile(`${SERIAL.pi4}/start4.elf`, randomBytes(60_000));
    addFile(`${SERIAL.pi4}/fixup4.dat`, randomBytes(5_400));
    addFile(`${SERIAL.pi4}/config.txt`, Buffer.from('arm_64bit=1\nkernel=kernel8.img\ninitramfs initrd.img followkernel\n'));
    addFile(`${SERIAL.pi4}/cmdline.txt`, Buffer.from('console=serial0 ip=dhcp\n'));
    addFile(`${SERIAL.pi4}/kernel8.img`, randomBytes(90_000));
    addFile(`${SERIAL.pi4}/initrd.img`, randomBytes(33_000));
    addFile(`${SERIAL.pi5}/config.txt`, Buffer.from('kernel=kernel_2712.img\n'));
    addFile(`${SERIAL.pi5}/cmdline.txt`, Buffer.from('console=serial0\n'));
    addFile(`${SERIAL.pi5}/kernel_2712.img`, randomBytes(120_000));
    for (const [name, data] of Object.entries(FILES)) {
      await fsp.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await fsp.writeFile(path.join(dir, name), data);
    }

    httpServer = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      httpRequests.push(`${req.method} ${req.url}`);
      const send = (body: Buffer | string, type: string) => {
        const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
        res.writeHead(200, { 'content-type': type, 'content-length': b.length });
        res.end(req.method === 'HEAD' ? undefined : b);
      };
      if (url.pathname === '/boot/assets/ipxe.efi') return send(FILES['ipxe.efi'], 'application/efi');
      if (url.pathname === '/boot/menu.ipxe') return send(menuBody(httpPort), 'text/plain');
      if (url.pathname === '/boot/next.ipxe') return send(nextScript, 'text/plain');
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => httpServer.listen(0, S, resolve));
    httpPort = (httpServer.address() as AddressInfo).port;

    tftpSock = await bindUdp();
    tftp = new TftpServer({ address: S, resolver: createStaticResolver(dir) });
    tftp.attach(tftpSock);

    [s67, s4011] = await Promise.all([bindUdp(), bindUdp()]);
    clientPort = await freeUdpPort();
    dhcp = proxyServer(S);
    dhcp.attach(s67, s4011);
  });

  afterAll(async () => {
    dhcp?.close();
    for (const s of extraServers) s.close();
    await tftp?.close();
    await Promise.all([close(s67), close(s4011), close(tftpSock)]);
    await new Promise<void>((resolve) => (httpServer ? httpServer.close(() => resolve()) : resolve()));
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  function proxyServer(address: string, boot: ConstructorParameters<typeof DhcpServer>[0]['boot'] = {}): DhcpServer {
    return new DhcpServer({
      mode: 'proxy',
      interfaces: [{ address, netmask: '255.0.0.0' }],
      boot: { httpPort, ...boot },
      rateLimit: { perMac: false, perSource: false },
      // replies that would be broadcast to :68 go to the probe's client port on loopback instead
      destination: (_reply, info) => (info.via === 'boot' ? { address: info.rinfo.address, port: info.rinfo.port } : { address: S, port: clientPort }),
    });
  }

  function opts(kind: ProbeKind, extra: Partial<ProbeOptions> = {}): ProbeOptions {
    const pi = kind === 'pi3' || kind === 'pi4' || kind === 'pi5';
    return {
      kind,
      server: S,
      mac: pi ? MAC[kind] : undefined,
      serial: pi ? SERIAL[kind] : undefined,
      ports: { dhcp: s67.address().port, proxy: s4011.address().port, tftp: tftpSock.address().port, client: clientPort },
      offerWindowMs: 300,
      timeoutMs: 1500,
      ...extra,
    };
  }

  function codes(r: ProbeReport): string[] {
    return r.diagnoses.filter((d) => d.severity === 'error').map((d) => d.code);
  }

  function expectFiles(r: ProbeReport, names: string[]): void {
    for (const n of names) {
      const f = r.files.find((x) => x.name === n);
      expect(f, `file ${n} in ${JSON.stringify(r.files.map((x) => x.name))}`).toBeDefined();
      expect(f!.sha256).toBe(sha(FILES[n.replace(/^http:\/\/[^/]+\/boot\/assets\//, '')]));
      expect(f!.bytes).toBe(FILES[n.replace(/^http:\/\/[^/]+\/boot\/assets\//, '')].length);
    }
  }

  describe('boots that work', () => {
    it('bios: proxy OFFER with 43 {6:8}, TFTP blksize 1432 tsize 0', async () => {
      const { report, observations } = await runProbeWithObservations(opts('bios'));
      expect(codes(report)).toEqual([]);
      expect(report.exitCode).toBe(0);
      expect(observations.tftp[0]).toMatchObject({ file: 'undionly.kpxe', requested: [['blksize', '1432'], ['tsize', '0']] });
      expect(observations.tftp[0].outcome.oack).toMatchObject({ blksize: '1432', tsize: String(FILES['undionly.kpxe'].length) });
      expectFiles(report, ['undionly.kpxe']);
      expect(report.diagnoses.map((d) => d.code)).toContain('no-address-offer');
      expect(report.stages.every((s) => Number.isInteger(s.ms))).toBe(true);
    });

    it('uefi: 4011 REQUEST with a new xid, EDK2 size probe then windowed read', async () => {
      const { report, observations } = await runProbeWithObservations(opts('uefi'));
      expect(codes(report)).toEqual([]);
      const bs = observations.bootServer!;
      expect(bs.ack).toBeDefined();
      expect(bs.xid).not.toBe(observations.xid);
      expect(bs.sourcePort).not.toBe(0);
      expect(observations.tftp.map((t) => [t.role, t.requested])).toEqual([
        ['probe', [['tsize', '0'], ['blksize', '1468'], ['windowsize', '4']]],
        ['read', [['blksize', '1468'], ['windowsize', '4']]],
      ]);
      expect(observations.tftp[0].outcome.probed).toBe(true);
      expect(observations.tftp[1].outcome.windowsize).toBe(4);
      expectFiles(report, ['ipxe.efi']);
    });

    it('arm64: arch 11 gets ipxe-arm64.efi through 4011', async () => {
      const report = (await runProbeWithObservations(opts('arm64'))).report;
      expect(codes(report)).toEqual([]);
      expectFiles(report, ['ipxe-arm64.efi']);
    });

    it('http: option 60 HTTPClient and a URL; HEAD then GET', async () => {
      httpRequests.length = 0;
      const report = (await runProbeWithObservations(opts('http'))).report;
      expect(codes(report)).toEqual([]);
      expect(httpRequests).toEqual(['HEAD /boot/assets/ipxe.efi', 'GET /boot/assets/ipxe.efi']);
      expectFiles(report, [`http://${S}:${httpPort}/boot/assets/ipxe.efi`]);
    });

    it('ipxe: the script URL is expanded like iPXE, validated, and its chain followed', async () => {
      httpRequests.length = 0;
      const { report, observations } = await runProbeWithObservations(opts('ipxe'));
      expect(codes(report)).toEqual([]);
      const mac = report.mac.replace(/:/g, '-');
      expect(httpRequests[0]).toMatch(new RegExp(`^GET /boot/menu\\.ipxe\\?mac=${mac}&uuid=[0-9a-f-]{36}&arch=i386&platform=pcbios$`));
      expect(httpRequests[1]).toBe(`GET /boot/next.ipxe?mac=${mac}`);
      expect(observations.scripts.map((s) => [s.role, s.problems.length])).toEqual([
        ['script', 0],
        ['chain', 0],
      ]);
    });

    it('pi3: bootcode.bin, bootsig.bin missing, serial folder, plain 512-byte reads', async () => {
      const { report, observations } = await runProbeWithObservations(opts('pi3'));
      expect(codes(report)).toEqual([]);
      expect(observations.tftp.map((t) => `${t.role}:${t.file}:${t.outcome.ok}`)).toEqual([
        'read:bootcode.bin:true',
        'expect-missing:bootsig.bin:false',
        `prefix-probe:${SERIAL.pi3}/start.elf:true`,
        `read:${SERIAL.pi3}/config.txt:true`,
        `read:${SERIAL.pi3}/fixup.dat:true`,
        `read:${SERIAL.pi3}/cmdline.txt:true`,
      ]);
      expect(observations.tftp.every((t) => t.requested.length === 0 && t.outcome.blksize === 512)).toBe(true);
      expectFiles(report, ['bootcode.bin', `${SERIAL.pi3}/start.elf`, `${SERIAL.pi3}/fixup.dat`, `${SERIAL.pi3}/config.txt`]);
    });

    it('pi4: start4.elf probe (tsize 0 blksize 1024, Early terminate), then blksize 1024 reads incl. files from config.txt', async () => {
      const { report, observations } = await runProbeWithObservations(opts('pi4'));
      expect(codes(report)).toEqual([]);
      expect(observations.tftp[0]).toMatchObject({ role: 'prefix-probe', file: `${SERIAL.pi4}/start4.elf`, requested: [['tsize', '0'], ['blksize', '1024']] });
      expect(observations.tftp[0].outcome).toMatchObject({ ok: true, probed: true, oack: { blksize: '1024' } });
      expect(observations.tftp.slice(1).map((t) => t.file)).toEqual(['config.txt', 'start4.elf', 'fixup4.dat', 'cmdline.txt', 'kernel8.img', 'initrd.img'].map((f) => `${SERIAL.pi4}/${f}`));
      expectFiles(report, ['config.txt', 'start4.elf', 'fixup4.dat', 'cmdline.txt', 'kernel8.img', 'initrd.img'].map((f) => `${SERIAL.pi4}/${f}`));
    });

    it('pi5: <serial>/config.txt with blksize 1468, then cmdline.txt and the kernel', async () => {
      const { report, observations } = await runProbeWithObservations(opts('pi5'));
      expect(codes(report)).toEqual([]);
      expect(observations.tftp[0].requested).toEqual([['tsize', '0'], ['blksize', '1468']]);
      expectFiles(report, ['config.txt', 'cmdline.txt', 'kernel_2712.img'].map((f) => `${SERIAL.pi5}/${f}`));
    });

    it('the compiled CLI (pi4, --json) exits 0 with the same facts', async () => {
      const cli = await compiledCli();
      const p = opts('pi4').ports!;
      const { stdout } = await run(process.execPath, [cli, '--as', 'pi4', '--mac', MAC.pi4, '--serial', SERIAL.pi4, '--server', S, '--dhcp-port', String(p.dhcp), '--proxy-port', String(p.proxy), '--tftp-port', String(p.tftp), '--client-port', String(p.client), '--timeout', '1500ms', '--window', '300ms', '--json'], { timeout: 20_000 });
      const report = JSON.parse(stdout) as ProbeReport & { ok: boolean };
      expect(report.ok).toBe(true);
      expect(report.exitCode).toBe(0);
      expectFiles(report, [`${SERIAL.pi4}/config.txt`, `${SERIAL.pi4}/kernel8.img`]);
    });

    it('the compiled CLI: usage error → 2, port taken → 3, human output names the diagnosis with exit 1', async () => {
      const cli = await compiledCli();
      const usage = await run(process.execPath, [cli, '--as', 'toaster']).catch((e: { code: number; stderr: string }) => e);
      expect(usage).toMatchObject({ code: 2 });
      expect((usage as { stderr: string }).stderr).toContain('is not one of');

      const taken = await bindUdp(0, '0.0.0.0');
      const netErr = await run(process.execPath, [cli, '--as', 'bios', '--server', S, '--client-port', String(taken.address().port), '--dhcp-port', String(s67.address().port)]).catch((e: { code: number; stderr: string }) => e);
      await close(taken);
      expect(netErr).toMatchObject({ code: 3 });
      expect((netErr as { stderr: string }).stderr).toMatch(/EADDRINUSE/);

      const silent = await bindUdp();
      const p = opts('bios').ports!;
      const fail = await run(process.execPath, [cli, '--as', 'bios', '--server', S, '--dhcp-port', String(silent.address().port), '--client-port', String(p.client), '--timeout', '300ms']).catch((e: { code: number; stdout: string }) => e);
      await close(silent);
      expect(fail).toMatchObject({ code: 1 });
      expect((fail as { stdout: string }).stdout).toContain('no-dhcp-answer: No DHCP answer at all');
    });
  });

  describe('failures are named', () => {
    it('a second proxyDHCP → two-proxies (and rogue, since it is not --server)', async () => {
      const second = proxyServer('127.0.0.2');
      extraServers.push(second);
      second.attach(s67);
      try {
        const report = (await runProbeWithObservations(opts('bios'))).report;
        expect(report.exitCode).toBe(1);
        expect(codes(report)).toEqual(expect.arrayContaining(['two-proxies', 'rogue-server']));
        expect(report.diagnoses.find((d) => d.code === 'two-proxies')!.details).toMatchObject({ servers: expect.arrayContaining([S, '127.0.0.2']) });
      } finally {
        second.close();
      }
    });

    it('a Pi answer without option 43 → pi-no-option43', async () => {
      const fake = await fakeDhcp((req) => {
        const offer = emptyPacket(2);
        offer.xid = req.xid;
        offer.flags = 0x8000;
        offer.chaddr = Buffer.from(req.chaddr);
        offer.siaddr = S;
        offer.options = [build.messageType(MessageType.OFFER), build.serverId(S), build.vendorClass('PXEClient'), build.tftpServer(S)];
        return offer;
      });
      try {
        const report = (await runProbeWithObservations(opts('pi4', { ports: { ...opts('pi4').ports, dhcp: fake.port } }))).report;
        expect(report.exitCode).toBe(1);
        expect(codes(report)).toEqual(['pi-no-option43']);
        expect(report.diagnoses[0].message).toContain('it will retry DHCP forever');
      } finally {
        await fake.close();
      }
    });

    it('a Pi 3 menu without the 3 trailing spaces → pi3-menu-no-spaces', async () => {
      const other = await bindUdp();
      const srv = proxyServer(S, { piMenuText: 'Raspberry Pi Boot' });
      srv.attach(other);
      try {
        const report = (await runProbeWithObservations(opts('pi3', { ports: { ...opts('pi3').ports, dhcp: other.address().port } }))).report;
        expect(report.exitCode).toBe(1);
        expect(codes(report)).toContain('pi3-menu-no-spaces');
      } finally {
        srv.close();
        await close(other);
      }
    });

    it('a TFTP server that does not OACK blksize → tftp-no-oack-blksize for a Pi 4', async () => {
      const fake = await fakeTftpPlainData();
      try {
        const report = (await runProbeWithObservations(opts('pi4', { ports: { ...opts('pi4').ports, tftp: fake.port } }))).report;
        expect(report.exitCode).toBe(1);
        expect(codes(report)).toContain('tftp-no-oack-blksize');
        expect(report.diagnoses.find((d) => d.code === 'tftp-no-oack-blksize')!.message).toContain('a Pi 4 ignores config.txt');
      } finally {
        await fake.close();
      }
    });

    it('a missing boot file → tftp-file-not-found naming it', async () => {
      const other = await bindUdp();
      const srv = proxyServer(S, { files: { bios: 'missing.kpxe' } });
      srv.attach(other);
      try {
        const report = (await runProbeWithObservations(opts('bios', { ports: { ...opts('bios').ports, dhcp: other.address().port } }))).report;
        expect(report.exitCode).toBe(1);
        expect(codes(report)).toEqual(['tftp-file-not-found']);
        expect(report.diagnoses[0].message).toContain('"missing.kpxe"');
      } finally {
        srv.close();
        await close(other);
      }
    });

    it('4011 silent → uefi-no-4011-ack', async () => {
      const silent = await bindUdp();
      try {
        const report = (await runProbeWithObservations(opts('uefi', { timeoutMs: 900, ports: { ...opts('uefi').ports, proxy: silent.address().port } }))).report;
        expect(report.exitCode).toBe(1);
        expect(codes(report)).toEqual(['uefi-no-4011-ack']);
      } finally {
        await close(silent);
      }
    });

    it('TFTP silent → tftp-timeout', async () => {
      const silent = await bindUdp();
      try {
        const report = (await runProbeWithObservations(opts('bios', { timeoutMs: 700, ports: { ...opts('bios').ports, tftp: silent.address().port } }))).report;
        expect(report.exitCode).toBe(1);
        expect(codes(report)).toEqual(['tftp-timeout']);
      } finally {
        await close(silent);
      }
    });

    it('an invalid iPXE script → ipxe-script-invalid', async () => {
      menuBody = () => badScript;
      try {
        const report = (await runProbeWithObservations(opts('ipxe'))).report;
        expect(report.exitCode).toBe(1);
        expect(codes(report)).toEqual(['ipxe-script-invalid']);
        expect(report.diagnoses[0].message).toContain('unknown command "kernal"');
      } finally {
        menuBody = ipxeScript;
      }
    });

    it('an HTTP boot answer without option 60 HTTPClient → http-no-httpclient', async () => {
      const fake = await fakeDhcp((req) => {
        const offer = emptyPacket(2);
        offer.xid = req.xid;
        offer.chaddr = Buffer.from(req.chaddr);
        offer.file = `http://${S}:${httpPort}/boot/assets/ipxe.efi`;
        offer.options = [build.messageType(MessageType.OFFER), build.serverId(S), build.vendorClass('PXEClient')];
        return offer;
      });
      try {
        const report = (await runProbeWithObservations(opts('http', { ports: { ...opts('http').ports, dhcp: fake.port } }))).report;
        expect(report.exitCode).toBe(1);
        expect(codes(report)).toEqual(['http-no-httpclient']);
      } finally {
        await fake.close();
      }
    });

    it('an address-only DHCP server → no-boot-info; a foreign boot server → rogue-server', async () => {
      const plain = await fakeDhcp((req) => {
        const offer = emptyPacket(2);
        offer.xid = req.xid;
        offer.chaddr = Buffer.from(req.chaddr);
        offer.yiaddr = '127.0.0.50';
        offer.options = [build.messageType(MessageType.OFFER), build.serverId('127.0.0.9'), build.ip(1, '255.0.0.0')];
        return offer;
      });
      try {
        const report = (await runProbeWithObservations(opts('bios', { ports: { ...opts('bios').ports, dhcp: plain.port } }))).report;
        expect(codes(report)).toEqual(['expected-server-silent', 'no-boot-info']);
        expect(report.diagnoses.find((d) => d.code === 'no-boot-info')!.message).toBe('Your DHCP server answers but nothing tells the machine what to boot: run netboot in proxy mode or set next-server/filename.');
      } finally {
        await plain.close();
      }
      const rogue = await fakeDhcp((req) => {
        const offer = emptyPacket(2);
        offer.xid = req.xid;
        offer.chaddr = Buffer.from(req.chaddr);
        offer.yiaddr = '127.0.0.51';
        offer.siaddr = S;
        offer.file = 'undionly.kpxe';
        offer.options = [build.messageType(MessageType.OFFER), build.serverId('127.0.0.9')];
        return offer;
      });
      try {
        const report = (await runProbeWithObservations(opts('bios', { ports: { ...opts('bios').ports, dhcp: rogue.port } }))).report;
        expect(report.exitCode).toBe(1);
        expect(codes(report)).toContain('rogue-server');
        expectFiles(report, ['undionly.kpxe']);
      } finally {
        await rogue.close();
      }
    });
  });
});

/** A DHCP "server" that answers each DISCOVER with `reply(req)` to 127.0.0.1:<source port>. */
async function fakeDhcp(reply: (req: ReturnType<typeof emptyPacket>) => ReturnType<typeof emptyPacket>): Promise<{ port: number; close(): Promise<void> }> {
  const s = await bindUdp();
  s.on('message', (msg, rinfo) => {
    const r = parsePacket(msg);
    if (!r.ok || getMessageType(r.packet) !== MessageType.DISCOVER) return;
    s.send(encodePacket(reply(r.packet)), rinfo.port, rinfo.address);
  });
  return { port: s.address().port, close: () => close(s) };
}

/** A TFTP responder that ignores every option and sends the file as plain 512-byte DATA from its own port. */
async function fakeTftpPlainData(): Promise<{ port: number; close(): Promise<void> }> {
  const s = await bindUdp();
  const body = Buffer.from('arm_64bit=1\n');
  s.on('message', (msg, rinfo) => {
    const p = parseTftp(msg);
    if (p.ok && p.packet.op === 'RRQ') s.send(encodeData(1, body), rinfo.port, rinfo.address);
  });
  return { port: s.address().port, close: () => close(s) };
}

/**
 * The compiled CLI: dist/scripts/netboot-probe.js when it is newer than its sources (after
 * `npx tsc -p tsconfig.build.json`), else the probe's own import closure compiled into test/.tmp.
 */
async function compiledCli(): Promise<string> {
  const dist = path.join(REPO, 'dist', 'scripts', 'netboot-probe.js');
  const sources = [path.join(REPO, 'scripts', 'netboot-probe.ts'), ...(await fsp.readdir(path.join(REPO, 'lib', 'probe'))).map((f) => path.join(REPO, 'lib', 'probe', f))];
  const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
  if (existsSync(dist) && statSync(dist).mtimeMs >= newest) return dist;
  const out = path.join(REPO, 'test', '.tmp', 'probe-cli');
  const built = path.join(out, 'scripts', 'netboot-probe.js');
  if (existsSync(built) && statSync(built).mtimeMs >= newest) return built;
  await run(process.execPath, [
    path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'),
    '--outDir', out, '--rootDir', REPO, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'ES2022',
    '--strict', '--esModuleInterop', '--skipLibCheck', '--types', 'node', '--sourceMap', 'false',
    path.join(REPO, 'scripts', 'netboot-probe.ts'),
  ], { cwd: REPO, timeout: 60_000 });
  return built;
}
