/**
 * The boot policy's one seam: every protocol asks it what a machine gets, the way pixiecore's Booter
 * answers DHCP, TFTP and HTTP from one place.
 *
 * - DHCP asks `dhcp(facts, signal)` before each boot answer (the DHCP server keeps the one deadline
 *   and aborts `signal` when it passes);
 * - TFTP asks `file(request)` for a path that is not on disk;
 * - HTTP (the netboot-checkin node) asks `checkIn(input, options)`: the inventory's decision.
 *
 * The flow has its say through two request channels (netboot-listen's output 2): DHCP overrides and
 * virtual files. With nothing listening, DHCP gets the default and TFTP "file not found".
 */
import { NetbootError } from '../core/errors';
import type { ClientFacts, BootOverride } from '../dhcp';
import type { NetbootEventInput } from '../events/vocabulary';
import type { InventoryStore } from '../store';
import { resolveUnderRoot, type TftpRequest, type TftpSource } from '../tftp';
import { checkIn, type CheckInResult } from './checkin';
import { SECURE_BOOT_FILES, secureBootOverride } from './secure-boot';
import { FlowRequests } from './flow-requests';

/** What the flow may answer for a file the TFTP server does not have statically. */
export type VirtualFileAnswer =
  | { kind: 'data'; data: Buffer }
  | { kind: 'file'; path: string }
  | { kind: 'none' };

/** An HTTP check-in as the node hands it over: the request's parts, or facts from a flow. */
export interface CheckInRequest {
  /** `msg.req.params` + `msg.req.query` of an `http in` node, or facts (a DHCP event, `{mac, ...}`) from a flow. */
  input: unknown;
  /** Set when the facts came over HTTP (anonymous: reported, never trusted). */
  http?: { ip?: string; path?: string };
  /** A Raspberry Pi's TFTP path (`<serial>/config.txt`), which names the machine. */
  filename?: string;
  /** The node's "register unknown machines"; the inventory setting turns it on for every node. */
  registerUnknown?: boolean;
  useBootOnce?: boolean;
}

export interface Booter {
  dhcp(facts: ClientFacts, signal: AbortSignal): Promise<BootOverride | undefined>;
  file(request: TftpRequest): Promise<TftpSource | null>;
  checkIn(request: CheckInRequest): Promise<CheckInResult>;
}

/** Who asked over HTTP: iPXE fetching its script (a `.ipxe` path or under `/ipxe/`), or the booted OS calling home. */
export function checkInOrigin(path: string | undefined): 'ipxe' | 'os' {
  return /\.ipxe$|\/ipxe\//.test(path ?? '') ? 'ipxe' : 'os';
}

/** The facts of an `http in` request: route parameters, then the query (the query wins). */
export function httpCheckInInput(req: { params?: Record<string, unknown>; query?: Record<string, unknown> }): Record<string, unknown> {
  return { ...(req.params ?? {}), ...(req.query ?? {}) };
}

export interface FlowBooterOptions {
  store: () => InventoryStore | undefined;
  /** Files the flow names must stay inside this folder. */
  assetsRoot: string;
  /** How long the flow has to answer a file request (default 2000 ms). */
  fileDeadlineMs?: number;
  /** Where the decision's `checkin` event goes (the server's event bus). */
  publish: (event: NetbootEventInput) => void;
  /** The Secure Boot chain (lib/policy/secure-boot.ts): the server-wide setting; in proxy mode, the warning once per machine. */
  secureBoot?: { network: boolean; proxyWarning?: (mac: string) => void };
  /** This server's site name: machines pinned to another site are left to its servers. */
  site?: string;
}

/** The boot policy of one boot server: the inventory decides, the flow may override (netboot-listen). */
export class FlowBooter implements Booter {
  /** DHCP boot answers the flow may override within the deadline (netboot-listen, output 2). */
  readonly dhcpDecisions = new FlowRequests<ClientFacts, BootOverride>('dhcp:');
  /** Files the TFTP server does not have are asked of the flow (netboot-listen) through this. */
  readonly virtualFiles = new FlowRequests<TftpRequest, VirtualFileAnswer>('tftp:');

  constructor(private readonly o: FlowBooterOptions) {}

  private readonly proxyWarned = new Set<string>();

  /** The flow's override, then the Secure Boot chain (shimx64.efi) for a marked UEFI x64 machine. */
  async dhcp(facts: ClientFacts, signal: AbortSignal): Promise<BootOverride | undefined> {
    const flow = this.dhcpDecisions.hasSender ? await this.dhcpDecisions.ask(facts, signal) : undefined;
    const sb = this.o.secureBoot;
    const out = await secureBootOverride(facts, flow, this.o.store(), sb?.network === true);
    if (out?.filename === SECURE_BOOT_FILES.shim && sb?.proxyWarning && !this.proxyWarned.has(facts.mac)) {
      this.proxyWarned.add(facts.mac);
      sb.proxyWarning(facts.mac);
    }
    return out;
  }

  async file(request: TftpRequest): Promise<TftpSource | null> {
    const answer = await this.virtualFiles.ask(request, this.o.fileDeadlineMs ?? 2000);
    if (!answer || answer.kind === 'none') return null;
    if (answer.kind === 'data') return { kind: 'buffer', data: answer.data };
    // a file the flow names must also stay inside the root
    const found = await resolveUnderRoot(this.o.assetsRoot, answer.path);
    if (found.kind === 'unsafe') throw found.error;
    return found.kind === 'missing' ? null : { kind: 'file', path: found.realPath, size: found.stat.size };
  }

  async checkIn(request: CheckInRequest): Promise<CheckInResult> {
    const store = this.o.store();
    if (!store) throw new NetbootError('store_io', 'the netboot-server\'s inventory is not open (yet)');
    const settings = await store.getSettings();
    const result = await checkIn(store, request.input, {
      registerUnknown: request.registerUnknown === true || settings.registerUnknown,
      useBootOnce: request.useBootOnce !== false,
      source: request.http ? 'http' : 'trusted',
      ...(this.o.site ? { site: this.o.site } : {}),
    }, { ip: request.http?.ip, filename: request.filename });
    // an HTTP check-in moves the machine's boot timeline: iPXE fetching its script, or the OS calling home
    if (request.http && result.facts.mac) {
      this.o.publish({ type: 'checkin', mac: result.facts.mac, ip: request.http.ip, action: result.decision.action, origin: checkInOrigin(request.http.path) });
    }
    return result;
  }

  /** No more questions into the flow; open ones get the default. */
  close(): void {
    for (const r of [this.dhcpDecisions, this.virtualFiles] as const) {
      r.setSender(undefined);
      r.cancelAll();
    }
  }
}
