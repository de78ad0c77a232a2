/**
 * The diagnosis rules: observations → likely causes, each a stable code and one sentence. Pure, so
 * the rules are tested as a table over synthetic replies (test/unit/probe).
 *
 * Severity: `error` means the machine would not boot (the CLI exits 1); `warning` is worth fixing
 * but the boot works; `info` is context. Codes are part of the CLI's JSON contract: do not rename.
 */
import { isPiKind, type Diagnosis, type Observations, type ProbeKind, type Severity, type TftpObservation } from './types';
import { describeOffer, hasPi3Menu, planBoot, proxyServers, type OfferInfo } from './offers';

export const DIAGNOSIS_CODES = {
  'no-dhcp-answer': 'error',
  'two-proxies': 'error',
  'rogue-server': 'error',
  'expected-server-silent': 'error',
  'no-address-offer': 'warning',
  'no-boot-info': 'error',
  'no-tftp-server': 'error',
  'pi-no-option43': 'error',
  'pi3-menu-no-spaces': 'error',
  'pi-no-serial-folder': 'info',
  'ipxe-no-url': 'error',
  'ipxe-proxy-no-siaddr': 'error',
  'ipxe-script-invalid': 'error',
  'http-no-httpclient': 'error',
  'http-no-url': 'error',
  'http-fetch-failed': 'error',
  'http-size-mismatch': 'error',
  'http-head-failed': 'warning',
  'uefi-no-4011-ack': 'error',
  'boot-server-no-file': 'error',
  'tftp-timeout': 'error',
  'tftp-file-not-found': 'error',
  'tftp-optional-missing': 'warning',
  'tftp-error': 'error',
  'tftp-no-oack-blksize': 'error',
  'tftp-size-mismatch': 'error',
  'tftp-no-oack': 'info',
  'secureboot-unsigned-nbp': 'error',
  'secureboot-unsigned-grub': 'error',
  'secureboot-proxy-only': 'error',
  'secureboot-no-grub-config': 'error',
  'secureboot-no-machine-config': 'warning',
} as const satisfies Record<string, Severity>;

export type DiagnosisCode = keyof typeof DIAGNOSIS_CODES;

function diag(code: DiagnosisCode, message: string, details?: Record<string, unknown>): Diagnosis {
  return { code, severity: DIAGNOSIS_CODES[code], message, details };
}

const KIND_NAME: Record<ProbeKind, string> = {
  bios: 'BIOS PXE',
  uefi: 'UEFI x64 PXE',
  'uefi-sb': 'UEFI x64 PXE with Secure Boot',
  arm64: 'ARM64 UEFI PXE',
  http: 'UEFI HTTP boot',
  ipxe: 'iPXE',
  pi3: 'Raspberry Pi 3',
  pi4: 'Raspberry Pi 4',
  pi5: 'Raspberry Pi 5',
};

function offerRules(obs: Observations, infos: OfferInfo[], windowMs: number | undefined, out: Diagnosis[]): void {
  if (infos.length === 0) {
    out.push(diag('no-dhcp-answer', `No DHCP answer at all${windowMs ? ` within ${windowMs} ms` : ''}: no DHCP or proxyDHCP server answered the ${KIND_NAME[obs.kind]} DISCOVER; check that netboot runs on this network (proxy or full mode) and that nothing blocks UDP 67/68.`, { windowMs }));
    return;
  }
  const proxies = proxyServers(infos);
  if (proxies.length >= 2) {
    out.push(diag('two-proxies', `Two proxyDHCP servers answered (${proxies.join(', ')}): the machine takes whichever is faster, so it boots differently from run to run; stop all but one (another netboot, dnsmasq with "dhcp-range=…,proxy", pixiecore).`, { servers: proxies }));
  }
  if (obs.expectedServer) {
    const exp = obs.expectedServer;
    const isOurs = (o: OfferInfo) => o.serverId === exp; // option 54, else the source address
    for (const id of new Set(infos.filter((o) => !isOurs(o) && (o.isProxy || o.hasBootInfo)).map((o) => o.serverId))) {
      const o = infos.find((i) => i.serverId === id)!;
      const what = o.isProxy ? 'a proxyDHCP answer' : `boot information${o.bootfile ? ` (file "${o.bootfile}")` : ''}`;
      out.push(diag('rogue-server', `Rogue: an OFFER from ${id} (not the expected server ${exp}) carries ${what}; the machine may boot from it, so stop it or remove its next-server/filename/PXE options.`, { server: id, source: o.source, expected: exp, isProxy: o.isProxy, bootfile: o.bootfile }));
    }
    if (!infos.some(isOurs)) {
      out.push(diag('expected-server-silent', `The expected server ${exp} did not answer (answers came from ${[...new Set(infos.map((o) => o.serverId))].join(', ')}); is netboot running and listening on this network?`, { expected: exp }));
    }
  }
  if (!infos.some((o) => o.givesAddress)) {
    out.push(diag('no-address-offer', 'Only proxyDHCP answers arrived: nothing offered an address, so a real machine also needs your DHCP server (router) to answer; fine when testing the boot server alone.', {}));
  }
}

function planRules(obs: Observations, infos: OfferInfo[], out: Diagnosis[]): void {
  if (infos.length === 0) return;
  const plan = planBoot(obs.kind, infos);
  if (plan.kind === 'none') {
    const o = plan.offer;
    switch (plan.reason) {
      case 'no-offers':
        break;
      case 'no-boot-info':
        out.push(diag('no-boot-info', 'Your DHCP server answers but nothing tells the machine what to boot: run netboot in proxy mode or set next-server/filename.', { servers: [...new Set(infos.map((i) => i.serverId))] }));
        break;
      case 'no-tftp-server':
        out.push(diag('no-tftp-server', `The boot answer from ${o?.serverId} names no TFTP server (siaddr, option 66 and option 54 are all empty or invalid).`, { server: o?.serverId }));
        break;
      case 'pi-no-option43':
        out.push(diag('pi-no-option43', 'No option 43 for a Pi: it will retry DHCP forever. The reply must carry the PXE menu "Raspberry Pi Boot" in option 43 (netboot sends it for Raspberry Pi MACs; dnsmasq: pxe-service=0,"Raspberry Pi Boot").', { servers: [...new Set(infos.map((i) => i.serverId))] }));
        break;
      case 'ipxe-no-url':
        out.push(diag('ipxe-no-url', `iPXE was given the TFTP file "${o?.bootfile ?? ''}" instead of an HTTP script URL: if that file is iPXE itself the machine chainloads forever; answer iPXE (option 77 "iPXE" or option 175) with http://…/menu.ipxe.`, { server: o?.serverId, bootfile: o?.bootfile }));
        break;
      case 'ipxe-proxy-no-siaddr':
        out.push(diag('ipxe-proxy-no-siaddr', `The proxy OFFER from ${o?.serverId} gives iPXE the URL ${o?.bootfile} but no next-server (siaddr 0.0.0.0) and no PXE menu: iPXE ignores such proxy data ("Nothing to boot"); set siaddr in the proxy answer.`, { server: o?.serverId, url: o?.bootfile }));
        break;
      case 'http-no-httpclient':
        out.push(diag('http-no-httpclient', `HTTP boot reply without option 60 HTTPClient from ${o?.serverId} (option 60 is ${o?.vendorClass === undefined ? 'missing' : `"${o.vendorClass}"`}): UEFI HTTP boot ignores it; send option 60 = "HTTPClient" with the URL.`, { server: o?.serverId, vendorClass: o?.vendorClass, url: o?.bootfile }));
        break;
      case 'http-no-url':
        out.push(diag('http-no-url', `The answer to the HTTP boot client from ${o?.serverId} has no http:// or https:// URL in the file field or option 67 (got "${o?.bootfile ?? ''}").`, { server: o?.serverId, bootfile: o?.bootfile }));
        break;
    }
    return;
  }
  if (plan.kind === 'pi' && obs.kind === 'pi3' && !hasPi3Menu(plan.offer)) {
    out.push(diag('pi3-menu-no-spaces', `Option 43 from ${plan.offer.serverId} has the menu text ${plan.offer.menuTexts.map((t) => JSON.stringify(t)).join(', ') || '(not as sub-option 9)'} but the Pi 3B boot ROM wants exactly "Raspberry Pi Boot   " (3 trailing spaces) and ignores this answer.`, { server: plan.offer.serverId, menu: plan.offer.menuTexts }));
  }
  if (plan.kind === 'boot-server') {
    const bs = obs.bootServer;
    if (bs && !bs.ack) {
      out.push(diag('uefi-no-4011-ack', `UEFI ACK on 4011 missing: the proxy answer from ${plan.offer.serverId} sends the firmware to the boot-server port ${bs.target.address}:${bs.target.port} and ${bs.tries} REQUEST(s) got no ACK${bs.sendError ? ` (send error ${bs.sendError})` : ''}; netboot must listen on UDP 4011 there (check the firewall and NETBOOT_PROXY_PORT).`, { target: bs.target, tries: bs.tries, sourcePort: bs.sourcePort }));
    } else if (bs?.ack) {
      const a = describeOffer(bs.ack);
      if (!a.bootfile) out.push(diag('boot-server-no-file', `The boot-server ACK from ${bs.ack.from.address}:${bs.ack.from.port} carries no boot file (file field and option 67 are empty).`, { from: bs.ack.from }));
    }
  }
}

function tftpRule(t: TftpObservation, kind: ProbeKind, out: Diagnosis[]): void {
  const where = `${t.server}:${t.port}`;
  const o = t.outcome;
  const base = { file: t.file, server: t.server, port: t.port };
  if (!o.ok) {
    const e = o.error;
    if (e?.kind === 'remote' && e.code === 1) {
      if (t.role === 'read' || t.role === 'probe') out.push(diag('tftp-file-not-found', `TFTP file not found: "${t.file}" on ${where}; put it in the TFTP root${isPiKind(kind) ? ' (or the Pi\'s serial folder)' : ''} or fix the boot file name.`, base));
      else if (t.role === 'optional') out.push(diag('tftp-optional-missing', `"${t.file}" (named in config.txt) is not on ${where}.`, base));
      return;
    }
    if (t.role === 'expect-missing' && e?.kind === 'remote') return;
    if (e?.kind === 'timeout') {
      out.push(diag('tftp-timeout', `TFTP timeout reading "${t.file}" from ${where}: ${e.message}; is a TFTP server running there, and are UDP ${t.port} and the transfer ports open?`, { ...base, detail: e.message }));
      return;
    }
    out.push(diag('tftp-error', `TFTP error reading "${t.file}" from ${where}: ${e?.kind === 'remote' ? `ERROR ${e.code} "${e.message}"` : (e?.message ?? 'unknown failure')}.`, { ...base, error: e }));
    return;
  }
  const askedBlksize = t.requested.some(([n]) => n.toLowerCase() === 'blksize');
  if (askedBlksize && t.needsBlksizeOack && o.oack?.blksize === undefined) {
    out.push(diag('tftp-no-oack-blksize', `TFTP did not OACK blksize: a Pi 4 ignores config.txt. The server at ${where} answered "${t.file}" ${o.oack ? 'with an OACK that leaves out blksize' : 'with plain DATA and no OACK'}; use a TFTP server that acknowledges options (netboot, dnsmasq).`, base));
  } else if (t.requested.length > 0 && o.oack === undefined && !t.needsBlksizeOack) {
    out.push(diag('tftp-no-oack', `The TFTP server ignored the options for "${t.file}" (no OACK): transfers fall back to 512-byte blocks, slow for big files and limited to 32 MiB.`, base));
  }
  if (!o.probed && o.oack?.tsize !== undefined && /^\d+$/.test(o.oack.tsize) && Number(o.oack.tsize) !== o.bytes) {
    out.push(diag('tftp-size-mismatch', `"${t.file}" arrived with ${o.bytes} bytes but the server announced tsize ${o.oack.tsize}.`, { ...base, bytes: o.bytes, tsize: Number(o.oack.tsize) }));
  }
}

function httpRules(obs: Observations, out: Diagnosis[]): void {
  for (const h of obs.http) {
    const failed = h.error !== undefined || h.status === undefined || h.status < 200 || h.status > 299;
    if (failed) {
      const why = h.error ?? `status ${h.status}`;
      const getOk = h.method === 'HEAD' && obs.http.some((g) => g.method === 'GET' && g.url === h.url && !g.error && g.status !== undefined && g.status >= 200 && g.status < 300);
      if (getOk) out.push(diag('http-head-failed', `HEAD ${h.url} failed (${why}) although GET works: UEFI HTTP boot asks with HEAD first to learn the size.`, { url: h.url, status: h.status }));
      else out.push(diag('http-fetch-failed', `HTTP ${h.method} ${h.url} failed: ${why}${h.role === 'chain' ? ' (a chain target of the boot script)' : ''}.`, { url: h.url, method: h.method, status: h.status, error: h.error, role: h.role }));
      continue;
    }
    if (h.method === 'GET' && h.contentLength !== undefined && h.contentLength !== h.bytes) {
      out.push(diag('http-size-mismatch', `GET ${h.url}: Content-Length ${h.contentLength} but ${h.bytes} bytes arrived.`, { url: h.url, contentLength: h.contentLength, bytes: h.bytes }));
    }
  }
}

function scriptRules(obs: Observations, out: Diagnosis[]): void {
  for (const s of obs.scripts) {
    const problems = [...s.problems];
    if (s.firstLine !== '#!ipxe' && !problems.some((p) => p.line === 1 && p.message.includes('#!ipxe'))) problems.unshift({ line: 1, message: 'first line must be "#!ipxe"' });
    if (problems.length === 0) continue;
    const list = problems.slice(0, 3).map((p) => `line ${p.line}: ${p.message}`).join('; ');
    out.push(diag('ipxe-script-invalid', `iPXE script invalid at ${s.url}: ${list}${problems.length > 3 ? ` (+${problems.length - 3} more)` : ''}.`, { url: s.url, role: s.role, problems }));
  }
}

export interface DiagnoseContext {
  /** The offer window, for the "no answer" sentence. */
  windowMs?: number;
}

/** All diagnoses for a run, errors first, each code+subject once. */
/** `--as uefi-sb`: what Secure Boot and the signed chain (shim → GRUB) make of the answers. */
function secureBootRules(obs: Observations, infos: OfferInfo[], out: Diagnosis[]): void {
  const sb = obs.secureBoot;
  if (!sb) return;
  if (sb.signature === 'unsigned' || sb.signature === 'not-pe') {
    out.push(diag('secureboot-unsigned-nbp', `The server handed "${sb.nbp}" to a UEFI x64 machine, and it has no Authenticode signature: with Secure Boot on, the firmware refuses it ("Access Denied") and starts over with a fresh DISCOVER. Mark the machine secureBoot (PATCH /netboot/api/devices/${obs.mac} {"secureBoot": true}, its group, or NETBOOT_SECURE_BOOT=true) so it gets the signed shimx64.efi, or turn Secure Boot off in its firmware.`, { file: sb.nbp, reason: sb.reason }));
    return;
  }
  if (sb.signature !== 'signed') return;
  // Debian's signed GRUB 2.06 ignores proxyDHCP answers: an address-giving answer must name the TFTP server
  if (!infos.some((o) => o.givesAddress && !o.isProxy && o.siaddr !== '0.0.0.0')) {
    const proxy = infos.find((o) => o.isProxy);
    out.push(diag('secureboot-proxy-only', `Only a proxyDHCP answer named the boot server${proxy ? ` (${proxy.serverId})` : ''}: shim starts, but the signed GRUB ignores proxyDHCP and stops at "grub>". Make the router's DHCP set next-server to the boot server (and the boot file shimx64.efi) for this machine, or run netboot in full DHCP mode.`, { server: proxy?.serverId }));
  }
  const g = sb.grub;
  if (g && (g.signature === 'unsigned' || g.signature === 'not-pe')) {
    out.push(diag('secureboot-unsigned-grub', `"${g.file}" (next to the boot file, where shim looks for it) has no Authenticode signature: shim refuses it ("Security Violation"). Serve Debian's signed GRUB (grub-efi-amd64-signed: grubnetx64.efi.signed) as grubx64.efi.`, { file: g.file }));
  }
  if (g?.rootConfig === false) out.push(diag('secureboot-no-grub-config', 'The TFTP server has no grub/grub.cfg, the only file the signed GRUB reads: it stops at "grub>". Put the netboot-grub node in the flow (the reference flow has it).', { file: 'grub/grub.cfg' }));
  if (g?.machineConfig === false) out.push(diag('secureboot-no-machine-config', `No grub/grub.cfg-${obs.mac} for this machine: GRUB falls back to what grub/grub.cfg says after its "source" line.`, { file: `grub/grub.cfg-${obs.mac}` }));
}

export function diagnose(obs: Observations, ctx: DiagnoseContext = {}): Diagnosis[] {
  const out: Diagnosis[] = [];
  const infos = obs.offers.map(describeOffer);
  offerRules(obs, infos, ctx.windowMs, out);
  planRules(obs, infos, out);
  for (const t of obs.tftp) tftpRule(t, obs.kind, out);
  const prefixProbes = obs.tftp.filter((t) => t.role === 'prefix-probe');
  if (prefixProbes.length > 0 && prefixProbes.every((t) => t.outcome.error?.kind === 'remote' && t.outcome.error.code === 1)) {
    const folder = prefixProbes[0].file.split('/')[0];
    out.push(diag('pi-no-serial-folder', `The Pi does not use the "${folder}/" folder (${prefixProbes.map((t) => `"${t.file}"`).join(' and ')} not found on ${prefixProbes[0].server}:${prefixProbes[0].port}): it asks for every file at the TFTP root instead.`, { folder, server: prefixProbes[0].server }));
  }
  httpRules(obs, out);
  scriptRules(obs, out);
  secureBootRules(obs, infos, out);
  const seen = new Set<string>();
  const unique = out.filter((d) => {
    const key = `${d.code}|${JSON.stringify(d.details?.file ?? d.details?.url ?? d.details?.server ?? '')}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const rank: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
  return unique.map((d, i) => ({ d, i })).sort((a, b) => rank[a.d.severity] - rank[b.d.severity] || a.i - b.i).map(({ d }) => d);
}

export function exitCodeFor(diagnoses: Diagnosis[]): 0 | 1 {
  return diagnoses.some((d) => d.severity === 'error') ? 1 : 0;
}
