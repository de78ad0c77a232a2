/**
 * The probe's diagnosis rules as a table over synthetic replies: each row is what came back on the
 * wire (offers, the 4011 ACK, TFTP/HTTP outcomes, scripts) and the codes the probe must name.
 */
import { describe, expect, it } from 'vitest';
import { DhcpOption, DhcpPacket, MessageType, build, emptyPacket, piOption43, pxe, PXE_BIOS_DISCOVERY } from '../../../lib/dhcp/index';
import { diagnose, exitCodeFor, DIAGNOSIS_CODES } from '../../../lib/probe/diagnose';
import type { HttpObservation, Observations, ProbeKind, SeenReply, TftpObservation, TftpOutcome } from '../../../lib/probe/types';

const OURS = '10.0.0.5';
const ROUTER = '10.0.0.1';

interface OfferSpec {
  server?: string;
  yiaddr?: string;
  siaddr?: string;
  file?: string;
  vc?: string;
  opts?: DhcpOption[];
  noServerId?: boolean;
}

function offer(s: OfferSpec = {}): SeenReply {
  const p: DhcpPacket = emptyPacket(2);
  p.xid = 1;
  p.yiaddr = s.yiaddr ?? '0.0.0.0';
  p.siaddr = s.siaddr ?? '0.0.0.0';
  p.file = s.file ?? '';
  p.options = [build.messageType(MessageType.OFFER)];
  if (!s.noServerId) p.options.push(build.serverId(s.server ?? OURS));
  if (s.vc) p.options.push(build.vendorClass(s.vc));
  p.options.push(...(s.opts ?? []));
  return { packet: p, from: { address: s.server ?? OURS, port: 67 }, atMs: 5 };
}

const proxyBios = (server = OURS) => offer({ server, siaddr: server, file: 'undionly.kpxe', vc: 'PXEClient', opts: [build.raw(43, PXE_BIOS_DISCOVERY)] });
const proxyEfi = (server = OURS) => offer({ server, siaddr: server, file: 'ipxe.efi', vc: 'PXEClient' });
const routerOffer = (extra: OfferSpec = {}) => offer({ server: ROUTER, yiaddr: '10.0.0.50', ...extra });
const piProxy = (text = 'Raspberry Pi Boot   ', extra: DhcpOption[] = [build.tftpServer(OURS)]) => offer({ siaddr: OURS, vc: 'PXEClient', opts: [build.raw(43, piOption43(text)), ...extra] });

function ok(extra: Partial<TftpOutcome> = {}): TftpOutcome {
  return { ok: true, probed: false, bytes: 100, blksize: 512, windowsize: 1, durationMs: 3, sha256: 'ab', ...extra };
}
function failed(kind: 'timeout' | 'remote', code?: number, message = 'x'): TftpOutcome {
  return { ok: false, probed: false, bytes: 0, blksize: 512, windowsize: 1, durationMs: 3, error: { kind, code, message } };
}
function tftp(file: string, outcome: TftpOutcome, extra: Partial<TftpObservation> = {}): TftpObservation {
  return { file, server: OURS, port: 69, role: 'read', requested: [], needsBlksizeOack: false, outcome, ...extra };
}
function get(url: string, extra: Partial<HttpObservation> = {}): HttpObservation {
  return { url, method: 'GET', role: 'boot', status: 200, bytes: 10, contentLength: 10, durationMs: 1, ...extra };
}

function obs(kind: ProbeKind, o: Partial<Observations>): Observations {
  return { kind, mac: 'dc:a6:32:00:00:01', xid: 1, offers: [], tftp: [], http: [], scripts: [], ...o };
}

interface Row {
  name: string;
  o: Observations;
  /** Error codes, in order. */
  errors: string[];
  /** Other codes that must be present. */
  also?: string[];
  /** Codes that must be absent. */
  not?: string[];
  text?: RegExp;
}

const PI4_OPTS: [string, string][] = [['tsize', '0'], ['blksize', '1024']];

const rows: Row[] = [
  { name: 'nothing answered', o: obs('bios', {}), errors: ['no-dhcp-answer'], text: /No DHCP answer at all/ },
  { name: 'router + our proxy, file arrives', o: obs('bios', { offers: [routerOffer(), proxyBios()], tftp: [tftp('undionly.kpxe', ok({ oack: { tsize: '100', blksize: '1432' } }), { requested: [['blksize', '1432'], ['tsize', '0']] })] }), errors: [], not: ['no-address-offer'] },
  { name: 'proxy only: warning, still exit 0', o: obs('bios', { offers: [proxyBios()] }), errors: [], also: ['no-address-offer'] },
  { name: 'two proxies from different servers', o: obs('bios', { offers: [routerOffer(), proxyBios(), proxyBios('10.0.0.6')] }), errors: ['two-proxies'], text: /Two proxyDHCP servers answered \(10\.0\.0\.5, 10\.0\.0\.6\)/ },
  { name: 'the same proxy twice is not two proxies', o: obs('bios', { offers: [proxyBios(), proxyBios()] }), errors: [] },
  { name: 'rogue proxy besides --server', o: obs('bios', { expectedServer: OURS, offers: [routerOffer(), proxyBios(), proxyBios('10.0.0.6')] }), errors: ['two-proxies', 'rogue-server'] },
  { name: 'router without boot data is not rogue', o: obs('bios', { expectedServer: OURS, offers: [routerOffer(), proxyBios()] }), errors: [] },
  { name: 'router with next-server/filename is rogue', o: obs('bios', { expectedServer: OURS, offers: [routerOffer({ siaddr: ROUTER, file: 'pxelinux.0' }), proxyBios()] }), errors: ['rogue-server'], text: /file "pxelinux\.0"/ },
  { name: 'expected server silent', o: obs('bios', { expectedServer: OURS, offers: [routerOffer()] }), errors: ['expected-server-silent', 'no-boot-info'] },
  {
    name: 'address but no boot info',
    o: obs('uefi', { offers: [routerOffer()] }),
    errors: ['no-boot-info'],
    text: /^Your DHCP server answers but nothing tells the machine what to boot: run netboot in proxy mode or set next-server\/filename\.$/,
  },
  { name: 'BIOS: a menu without a file leads to the boot server; no ACK', o: obs('bios', { offers: [offer({ vc: 'PXEClient', opts: [build.pxe([pxe.bootMenu([{ type: 0x8000, text: 'x' }])])] })], bootServer: { target: { address: OURS, port: 4011 }, sourcePort: 4011, xid: 2, tries: 3 } }), errors: ['uefi-no-4011-ack'] },
  { name: 'UEFI: 4011 silent', o: obs('uefi', { offers: [routerOffer(), proxyEfi()], bootServer: { target: { address: OURS, port: 4011 }, sourcePort: 4011, xid: 2, tries: 3 } }), errors: ['uefi-no-4011-ack'], text: /UEFI ACK on 4011 missing/ },
  { name: 'UEFI: ACK without a file', o: obs('uefi', { offers: [proxyEfi()], bootServer: { target: { address: OURS, port: 4011 }, sourcePort: 4011, xid: 2, tries: 1, ack: offer({ vc: 'PXEClient' }) } }), errors: ['boot-server-no-file'] },
  { name: 'UEFI: full DHCP with a file needs no 4011', o: obs('uefi', { offers: [routerOffer({ siaddr: ROUTER, file: 'ipxe.efi' })] }), errors: [] },
  // --as uefi-sb: what Secure Boot makes of the boot program and the signed chain
  {
    name: 'Secure Boot: unsigned iPXE handed out',
    o: obs('uefi-sb', { offers: [routerOffer(), proxyEfi()], secureBoot: { nbp: 'ipxe.efi', fileField: 'ipxe.efi', signature: 'unsigned', reason: 'no certificate table', rediscovered: true } }),
    errors: ['secureboot-unsigned-nbp'],
    text: /no Authenticode signature: with Secure Boot on, the firmware refuses it \("Access Denied"\).*Mark the machine secureBoot/,
  },
  {
    name: 'Secure Boot: signed shim by proxy only (GRUB would stop at grub>)',
    o: obs('uefi-sb', { offers: [routerOffer(), offer({ siaddr: OURS, file: 'shimx64.efi', vc: 'PXEClient' })], secureBoot: { nbp: 'shimx64.efi', fileField: 'shimx64.efi', signature: 'signed', signers: ['Microsoft Windows UEFI Driver Publisher'], grub: { file: 'grubx64.efi', signature: 'signed', rootConfig: true, machineConfig: true } } }),
    errors: ['secureboot-proxy-only'],
    text: /signed GRUB ignores proxyDHCP/,
  },
  {
    name: 'Secure Boot: full DHCP, signed shim and GRUB, configs there',
    o: obs('uefi-sb', { offers: [routerOffer({ siaddr: ROUTER, file: 'shimx64.efi' })], secureBoot: { nbp: 'shimx64.efi', fileField: 'shimx64.efi', signature: 'signed', signers: ['x'], grub: { file: 'grubx64.efi', signature: 'signed', rootConfig: true, machineConfig: true } } }),
    errors: [],
  },
  {
    name: 'Secure Boot: unsigned GRUB next to shim, no grub.cfg',
    o: obs('uefi-sb', { offers: [routerOffer({ siaddr: ROUTER, file: 'shimx64.efi' })], secureBoot: { nbp: 'shimx64.efi', fileField: 'shimx64.efi', signature: 'signed', signers: ['x'], grub: { file: 'grubx64.efi', signature: 'unsigned' } } }),
    errors: ['secureboot-unsigned-grub'],
  },
  {
    name: 'Secure Boot: GRUB signed but no grub/grub.cfg',
    o: obs('uefi-sb', { offers: [routerOffer({ siaddr: ROUTER, file: 'shimx64.efi' })], secureBoot: { nbp: 'shimx64.efi', fileField: 'shimx64.efi', signature: 'signed', signers: ['x'], grub: { file: 'grubx64.efi', signature: 'signed', rootConfig: false } } }),
    errors: ['secureboot-no-grub-config'],
  },
  { name: 'Pi: proxy without option 43', o: obs('pi4', { offers: [routerOffer(), offer({ siaddr: OURS, vc: 'PXEClient', opts: [build.tftpServer(OURS)] })] }), errors: ['pi-no-option43'], text: /No option 43 for a Pi: it will retry DHCP forever/ },
  { name: 'Pi 3: menu without trailing spaces', o: obs('pi3', { offers: [piProxy('Raspberry Pi Boot')] }), errors: ['pi3-menu-no-spaces'] },
  { name: 'Pi 4: the same menu is fine (substring match)', o: obs('pi4', { offers: [piProxy('Raspberry Pi Boot')] }), errors: [] },
  { name: 'Pi: 43 but no 66 and no 54', o: obs('pi5', { offers: [{ ...offer({ noServerId: true, vc: 'PXEClient', opts: [build.raw(43, piOption43())] }) }] }), errors: ['no-tftp-server'] },
  {
    name: 'Pi 4: plain DATA, no OACK for blksize',
    o: obs('pi4', { offers: [piProxy()], tftp: [tftp('9ffefdef/start4.elf', ok({ probed: true, bytes: 0 }), { role: 'prefix-probe', requested: PI4_OPTS, needsBlksizeOack: true })] }),
    errors: ['tftp-no-oack-blksize'],
    text: /TFTP did not OACK blksize: a Pi 4 ignores config\.txt/,
  },
  { name: 'Pi 4: OACK without blksize', o: obs('pi4', { offers: [piProxy()], tftp: [tftp('config.txt', ok({ oack: { tsize: '100' } }), { requested: PI4_OPTS, needsBlksizeOack: true })] }), errors: ['tftp-no-oack-blksize'] },
  { name: 'BIOS: no OACK is only info', o: obs('bios', { offers: [proxyBios()], tftp: [tftp('undionly.kpxe', ok(), { requested: [['blksize', '1432'], ['tsize', '0']] })] }), errors: [], also: ['tftp-no-oack'] },
  { name: 'file not found names the file', o: obs('bios', { offers: [proxyBios()], tftp: [tftp('undionly.kpxe', failed('remote', 1, 'file not found'))] }), errors: ['tftp-file-not-found'], text: /"undionly\.kpxe"/ },
  {
    name: 'Pi: missing serial folder and bootsig.bin are normal',
    o: obs('pi3', {
      offers: [piProxy()],
      tftp: [tftp('bootcode.bin', ok()), tftp('bootsig.bin', failed('remote', 1), { role: 'expect-missing' }), tftp('1234abcd/start.elf', failed('remote', 1), { role: 'prefix-probe' }), tftp('start.elf', ok())],
    }),
    errors: [],
    also: ['pi-no-serial-folder'],
  },
  { name: 'a file named in config.txt is missing: warning', o: obs('pi5', { offers: [piProxy()], tftp: [tftp('kernel_2712.img', failed('remote', 1), { role: 'optional' })] }), errors: [], also: ['tftp-optional-missing'] },
  { name: 'TFTP timeout', o: obs('bios', { offers: [proxyBios()], tftp: [tftp('undionly.kpxe', failed('timeout', undefined, 'no answer'))] }), errors: ['tftp-timeout'] },
  { name: 'TFTP other error', o: obs('bios', { offers: [proxyBios()], tftp: [tftp('undionly.kpxe', failed('remote', 2, 'access violation'))] }), errors: ['tftp-error'], text: /ERROR 2 "access violation"/ },
  { name: 'size differs from tsize', o: obs('bios', { offers: [proxyBios()], tftp: [tftp('undionly.kpxe', ok({ bytes: 90, oack: { tsize: '100', blksize: '1432' } }), { requested: [['blksize', '1432'], ['tsize', '0']] })] }), errors: ['tftp-size-mismatch'] },
  { name: 'HTTP boot: no option 60 HTTPClient', o: obs('http', { offers: [offer({ siaddr: OURS, file: 'http://10.0.0.5/ipxe.efi', vc: 'PXEClient' })] }), errors: ['http-no-httpclient'], text: /HTTP boot reply without option 60 HTTPClient/ },
  { name: 'HTTP boot: HTTPClient but a TFTP name', o: obs('http', { offers: [offer({ file: 'ipxe.efi', vc: 'HTTPClient' })] }), errors: ['http-no-url'] },
  { name: 'HTTP boot: 404', o: obs('http', { offers: [offer({ file: 'http://10.0.0.5/ipxe.efi', vc: 'HTTPClient' })], http: [get('http://10.0.0.5/ipxe.efi', { method: 'HEAD', status: 404 }), get('http://10.0.0.5/ipxe.efi', { status: 404 })] }), errors: ['http-fetch-failed'] },
  { name: 'HTTP boot: HEAD refused but GET works', o: obs('http', { offers: [offer({ file: 'http://10.0.0.5/ipxe.efi', vc: 'HTTPClient' })], http: [get('http://10.0.0.5/ipxe.efi', { method: 'HEAD', status: 405 }), get('http://10.0.0.5/ipxe.efi')] }), errors: [], also: ['http-head-failed'] },
  { name: 'HTTP: truncated body', o: obs('http', { offers: [offer({ file: 'http://10.0.0.5/ipxe.efi', vc: 'HTTPClient' })], http: [get('http://10.0.0.5/ipxe.efi', { bytes: 5 })] }), errors: ['http-size-mismatch'] },
  { name: 'iPXE: TFTP file instead of a script URL', o: obs('ipxe', { offers: [proxyBios()] }), errors: ['ipxe-no-url'], text: /chainloads forever/ },
  { name: 'iPXE: proxy URL without siaddr', o: obs('ipxe', { offers: [offer({ file: 'http://10.0.0.5/menu.ipxe', vc: 'PXEClient' })] }), errors: ['ipxe-proxy-no-siaddr'] },
  { name: 'iPXE: proxy URL with siaddr is fine', o: obs('ipxe', { offers: [offer({ siaddr: OURS, file: 'http://10.0.0.5/menu.ipxe', vc: 'PXEClient' })] }), errors: [] },
  {
    name: 'iPXE: invalid script',
    o: obs('ipxe', { offers: [offer({ siaddr: OURS, file: 'http://10.0.0.5/menu.ipxe', vc: 'PXEClient' })], scripts: [{ url: 'http://10.0.0.5/menu.ipxe', role: 'script', firstLine: '#!ipxe', problems: [{ line: 2, message: 'unknown command "kernal"' }] }] }),
    errors: ['ipxe-script-invalid'],
    text: /line 2: unknown command "kernal"/,
  },
  { name: 'iPXE: not a script at all', o: obs('ipxe', { offers: [offer({ siaddr: OURS, file: 'http://10.0.0.5/menu.ipxe', vc: 'PXEClient' })], scripts: [{ url: 'http://10.0.0.5/menu.ipxe', role: 'script', firstLine: '<html>', problems: [] }] }), errors: ['ipxe-script-invalid'], text: /#!ipxe/ },
];

describe('diagnose', () => {
  it.each(rows)('$name', (row) => {
    const ds = diagnose(row.o, { windowMs: 3000 });
    const errors = ds.filter((d) => d.severity === 'error').map((d) => d.code);
    expect(errors).toEqual(row.errors);
    const all = ds.map((d) => d.code);
    for (const c of row.also ?? []) expect(all).toContain(c);
    for (const c of row.not ?? []) expect(all).not.toContain(c);
    if (row.text) expect(ds.map((d) => d.message).join('\n')).toMatch(row.text);
    expect(exitCodeFor(ds)).toBe(row.errors.length ? 1 : 0);
    for (const d of ds) {
      expect(DIAGNOSIS_CODES[d.code as keyof typeof DIAGNOSIS_CODES]).toBe(d.severity);
      expect(d.message).toMatch(/[.!?)]$/);
    }
  });

  it('errors come before warnings and infos', () => {
    const ds = diagnose(obs('bios', { offers: [proxyBios()], tftp: [tftp('a', ok(), { requested: [['blksize', '1432']] }), tftp('b', failed('remote', 1))] }));
    expect(ds.map((d) => d.severity)).toEqual(['error', 'warning', 'info']);
  });
});
