/**
 * Types shared by the probe: what to pretend to be, what was seen on the wire (observations), and
 * what the probe reports (stages with timings, diagnoses, exit code).
 *
 * The runner (`run.ts`) only collects observations; every verdict comes from the pure `diagnose()`
 * over them, so the rules can be tested as a table of synthetic replies.
 */
import type { DhcpPacket } from '../dhcp/packet';
import type { TftpOptionList } from '../tftp/packet';
import type { IpxeProblem } from '../render/ipxe-validate';

export const PROBE_KINDS = ['bios', 'uefi', 'uefi-sb', 'arm64', 'http', 'ipxe', 'pi3', 'pi4', 'pi5'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

export function isProbeKind(v: unknown): v is ProbeKind {
  return typeof v === 'string' && (PROBE_KINDS as readonly string[]).includes(v);
}

export function isPiKind(kind: ProbeKind): kind is 'pi3' | 'pi4' | 'pi5' {
  return kind === 'pi3' || kind === 'pi4' || kind === 'pi5';
}

export interface ProbePorts {
  /** Where DISCOVERs go (default 67). */
  dhcp: number;
  /** The PXE boot-server port for the UEFI REQUEST (default 4011); also the preferred source port. */
  proxy: number;
  /** TFTP server port (default 69). */
  tftp: number;
  /** Our DHCP client port, where replies arrive (default 68). */
  client: number;
}

export const DEFAULT_PORTS: ProbePorts = { dhcp: 67, proxy: 4011, tftp: 69, client: 68 };

export interface ProbeOptions {
  kind: ProbeKind;
  /** Any accepted MAC form; default: a stable address in the kind's OUI (Raspberry Pi OUIs for pi*). */
  mac?: string;
  /** Raspberry Pi serial, 8 hex digits (default: the last 4 MAC bytes). */
  serial?: string;
  /** Interface name: bind unicast sockets to its IPv4 address and broadcast on its subnet. */
  interface?: string;
  /** The boot server we expect (option 54 / source); other servers offering boot data are rogue. */
  server?: string;
  /** Send the DISCOVER to `server` instead of broadcasting (automatic when `server` is a loopback address). */
  unicast?: boolean;
  ports?: Partial<ProbePorts>;
  /** How long to collect OFFERs (default 3000 ms). */
  offerWindowMs?: number;
  /** How long to wait for any other answer: the 4011 ACK, TFTP silence, HTTP (default 3000 ms). */
  timeoutMs?: number;
  /** Files to read after the fixed part of the sequence (Pi kinds), replacing the defaults. */
  files?: string[];
  /** Progress lines while running (the CLI prints them with --verbose). */
  onStage?: (stage: StageResult) => void;
}

/** One received DHCP reply. */
export interface SeenReply {
  packet: DhcpPacket;
  from: { address: string; port: number };
  /** Milliseconds after the request was sent. */
  atMs: number;
}

export interface TftpFailure {
  kind: 'timeout' | 'remote' | 'protocol' | 'socket';
  /** TFTP error code for `remote`. */
  code?: number;
  message: string;
}

/** The outcome of one TFTP read (or size probe) as the probe's client saw it. */
export interface TftpOutcome {
  ok: boolean;
  /** Options of the OACK, or undefined when the server answered without one. */
  oack?: Record<string, string>;
  /** We aborted after the first answer (size probe). */
  probed: boolean;
  bytes: number;
  sha256?: string;
  blksize: number;
  windowsize: number;
  durationMs: number;
  error?: TftpFailure;
  /** The file's bytes when kept (small text files such as config.txt). */
  data?: Buffer;
}

/**
 * Why a file was asked for:
 * - read: a file the machine needs; missing → boot fails;
 * - probe: a size/existence probe aborted with an ERROR (EDK2, Pi 4); missing → boot fails;
 * - prefix-probe: the Pi's serial-directory test; missing is normal (the prefix is dropped);
 * - expect-missing: asked for and normally absent (Pi 3 `bootsig.bin`);
 * - optional: nice to have (files named in config.txt that the firmware can do without).
 */
export type TftpRole = 'read' | 'probe' | 'prefix-probe' | 'expect-missing' | 'optional';

export interface TftpObservation {
  file: string;
  server: string;
  port: number;
  role: TftpRole;
  /** Options sent in the RRQ, in wire order. */
  requested: TftpOptionList;
  /** The machine needs an OACK that acknowledges blksize (Pi 4/5: otherwise config.txt is ignored). */
  needsBlksizeOack: boolean;
  outcome: TftpOutcome;
}

export interface HttpObservation {
  url: string;
  method: 'HEAD' | 'GET';
  /** 'boot' = the boot file / script itself, 'chain' = a URL named by the script. */
  role: 'boot' | 'script' | 'chain';
  status?: number;
  contentLength?: number;
  contentType?: string;
  bytes: number;
  sha256?: string;
  durationMs: number;
  error?: string;
  /** The body when it is small (scripts), latin1. */
  text?: string;
}

export interface ScriptObservation {
  url: string;
  role: 'script' | 'chain';
  firstLine: string;
  problems: IpxeProblem[];
}

export interface BootServerObservation {
  target: { address: string; port: number };
  sourcePort: number;
  xid: number;
  tries: number;
  /** The last send error (e.g. EHOSTUNREACH), if any. */
  sendError?: string;
  ack?: SeenReply;
  /** A NAK or an unexpected message type. */
  other?: SeenReply;
}

/**
 * `--as uefi-sb`: what a UEFI x64 firmware with Secure Boot on would make of the boot program (its
 * Authenticode signature, read from the file), and of the signed chain when it is one.
 */
export interface SecureBootObservation {
  /** The boot program the DHCP answer named, and the BOOTP `file` header field (shim looks next to it). */
  nbp: string;
  fileField: string;
  signature: 'signed' | 'unsigned' | 'not-pe' | 'not-read';
  signers?: string[];
  reason?: string;
  /** The probe imitated the firmware's refusal: a fresh DISCOVER after the unsigned program. */
  rediscovered?: boolean;
  /** The signed chain: GRUB's file and signature, and whether its config files were there. */
  grub?: { file: string; signature: 'signed' | 'unsigned' | 'not-pe' | 'not-read'; rootConfig?: boolean; machineConfig?: boolean };
}

export interface Observations {
  kind: ProbeKind;
  mac: string;
  xid: number;
  expectedServer?: string;
  /** Every OFFER that matched our xid and MAC. */
  offers: SeenReply[];
  bootServer?: BootServerObservation;
  tftp: TftpObservation[];
  http: HttpObservation[];
  scripts: ScriptObservation[];
  secureBoot?: SecureBootObservation;
}

export type StageStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface StageResult {
  name: string;
  status: StageStatus;
  ms: number;
  summary: string;
  details?: Record<string, unknown>;
}

export type Severity = 'error' | 'warning' | 'info';

export interface Diagnosis {
  /** Stable machine-readable code, e.g. `two-proxies`. */
  code: string;
  severity: Severity;
  /** One sentence: the likely cause and what to do. */
  message: string;
  /** Facts behind it (servers, file, url...). */
  details?: Record<string, unknown>;
}

export interface FileResult {
  name: string;
  via: 'tftp' | 'http';
  source: string;
  bytes: number;
  sha256?: string;
  /** tsize from the OACK, or Content-Length. */
  announced?: number;
}

export interface ProbeReport {
  kind: ProbeKind;
  mac: string;
  xid: number;
  serial?: string;
  server?: string;
  durationMs: number;
  stages: StageResult[];
  diagnoses: Diagnosis[];
  files: FileResult[];
  /** 0 = the boot would work, 1 = it would fail (an error diagnosis). */
  exitCode: 0 | 1;
}

/** Exit codes of the CLI. */
export const EXIT = { OK: 0, BOOT_FAILS: 1, USAGE: 2, NETWORK: 3 } as const;
