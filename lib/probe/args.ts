/**
 * Command-line parsing for `netboot-probe`. Pure: argv in, options or a usage error out (exit 2).
 */
import { parseArgs as nodeParseArgs, type ParseArgsConfig } from 'node:util';
import { isMac } from '../core/mac';
import { isIPv4 } from '../dhcp/packet';
import { PROBE_KINDS, isPiKind, isProbeKind, type ProbeOptions, type ProbePorts } from './types';

export const USAGE = `Usage: netboot-probe --as KIND [options]

Acts like one kind of machine at network boot and checks every answer it gets.

KIND: bios | uefi | uefi-sb | arm64 | http | ipxe | pi3 | pi4 | pi5
      (uefi-sb: UEFI x64 with Secure Boot on: checks the boot program's signature and the
       shim → GRUB chain; an unsigned one is refused and a fresh DISCOVER follows, as the firmware does)

Options:
  --as KIND            the machine to imitate (required)
  --mac MAC            client MAC (default: a stable address in the kind's OUI;
                       b8:27:eb pi3, dc:a6:32 pi4, 2c:cf:67 pi5, 52:54:00 PCs)
  --serial HEX         Raspberry Pi serial, 8 hex digits (default: last 4 MAC bytes)
  --interface NAME     use this interface's IPv4 address: broadcast on its subnet,
                       bind the 4011/TFTP/HTTP sockets to it
  --server IP          the boot server you expect; OFFERs with boot data from any
                       other server are reported as rogue. A loopback address is
                       unicast to (tests); so is any address with --unicast
  --unicast            send the DISCOVER to --server instead of broadcasting
  --dhcp-port N        server DHCP port (default 67)
  --proxy-port N       PXE boot-server port for the UEFI REQUEST (default 4011)
  --tftp-port N        TFTP port (default 69)
  --client-port N      our DHCP client port, where replies arrive (default 68)
  --timeout DUR        how long to collect OFFERs and to wait for each answer
                       (default 3s; "500ms", "2s" or seconds)
  --window DUR         how long to collect OFFERs (default: --timeout)
  --files a,b,c        files to read after the fixed start of a Pi sequence
  --json               print the report as JSON
  --verbose            print each stage as it finishes (stderr)
  -h, --help           this text

Exit codes: 0 the boot would work, 1 it would fail (diagnosis printed),
2 usage error, 3 network error (cannot bind, no such interface).
Binding port 68 (and 4011) needs root or CAP_NET_BIND_SERVICE.`;

export type ParsedArgs =
  | { kind: 'run'; options: ProbeOptions; json: boolean; verbose: boolean }
  | { kind: 'help' }
  | { kind: 'error'; message: string };

/** "500ms", "2s", "2.5" (seconds) → milliseconds; undefined when invalid. */
export function parseDuration(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : n * 1000;
  return ms >= 1 && ms <= 600_000 ? Math.round(ms) : undefined;
}

function parsePort(v: string): number | undefined {
  if (!/^\d{1,5}$/.test(v)) return undefined;
  const n = Number(v);
  return n >= 1 && n <= 65535 ? n : undefined;
}

const VALUE_FLAGS = ['as', 'mac', 'serial', 'interface', 'server', 'dhcp-port', 'proxy-port', 'tftp-port', 'client-port', 'timeout', 'window', 'files'] as const;
const BOOL_FLAGS = ['json', 'verbose', 'unicast', 'help'] as const;
const FILE_NAME = /^[A-Za-z0-9._+-][A-Za-z0-9._+/-]*$/;
const OPTIONS: ParseArgsConfig['options'] = {
  ...Object.fromEntries(VALUE_FLAGS.map((f) => [f, { type: 'string', multiple: true }])),
  ...Object.fromEntries(BOOL_FLAGS.map((f) => [f, { type: 'boolean', multiple: true }])),
  help: { type: 'boolean', short: 'h', multiple: true },
};

/** Node's own parser (strict: unknown flags, missing values and stray words are errors), in our words. */
function tokenize(argv: string[]): { values: Map<string, string>; flags: Set<string> } | { error: string } {
  let parsed: ReturnType<typeof nodeParseArgs>;
  try {
    parsed = nodeParseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const flag = /'(-[^' ]+)/.exec(e.message)?.[1] ?? /"([^"]+)"/.exec(e.message)?.[1] ?? '';
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const name = flag.split(/[ ,=]/)[0];
      return { error: BOOL_FLAGS.some((b) => name === `--${b}`) ? `${name} takes no value` : `${name || 'an option'} needs a value` };
    }
    const arg = e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' ? (/'([^']*)'/.exec(e.message)?.[1] ?? '') : flag;
    return { error: `unknown argument "${arg.slice(0, 60)}"` };
  }
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (const [name, raw] of Object.entries(parsed.values)) {
    const given = raw as Array<string | boolean>;
    if (given.length > 1) return { error: `--${name} given twice` };
    if (typeof given[0] === 'boolean') flags.add(`--${name}`);
    else if (given[0] === '') return { error: `--${name} needs a value` };
    else values.set(`--${name}`, given[0]);
  }
  return { values, flags };
}

export function parseArgs(argv: string[]): ParsedArgs {
  const t = tokenize(argv);
  if ('error' in t) return { kind: 'error', message: t.error };
  const { values, flags } = t;
  if (flags.has('--help')) return { kind: 'help' };

  const as = values.get('--as');
  if (as === undefined) return { kind: 'error', message: '--as KIND is required' };
  if (!isProbeKind(as)) return { kind: 'error', message: `--as "${as.slice(0, 20)}" is not one of ${PROBE_KINDS.join(', ')}` };
  const options: ProbeOptions = { kind: as };

  const mac = values.get('--mac');
  if (mac !== undefined) {
    if (!isMac(mac)) return { kind: 'error', message: `--mac "${mac.slice(0, 40)}" is not a MAC address (use aa:bb:cc:dd:ee:ff)` };
    options.mac = mac;
  }
  const serial = values.get('--serial');
  if (serial !== undefined) {
    if (!isPiKind(as)) return { kind: 'error', message: '--serial only applies to --as pi3, pi4 or pi5' };
    if (!/^(0x)?[0-9a-fA-F]{1,8}$/.test(serial)) return { kind: 'error', message: `--serial "${serial.slice(0, 20)}" is not up to 8 hex digits` };
    options.serial = serial;
  }
  const iface = values.get('--interface');
  if (iface !== undefined) {
    if (!/^[A-Za-z0-9_.:@-]{1,32}$/.test(iface)) return { kind: 'error', message: `--interface "${iface.slice(0, 40)}" is not an interface name` };
    options.interface = iface;
  }
  const server = values.get('--server');
  if (server !== undefined) {
    if (!isIPv4(server)) return { kind: 'error', message: `--server "${server.slice(0, 40)}" is not an IPv4 address` };
    options.server = server;
  }
  if (flags.has('--unicast')) {
    if (server === undefined) return { kind: 'error', message: '--unicast needs --server IP' };
    options.unicast = true;
  }
  const ports: Partial<ProbePorts> = {};
  for (const [flag, key] of [['--dhcp-port', 'dhcp'], ['--proxy-port', 'proxy'], ['--tftp-port', 'tftp'], ['--client-port', 'client']] as const) {
    const v = values.get(flag);
    if (v === undefined) continue;
    const n = parsePort(v);
    if (n === undefined) return { kind: 'error', message: `${flag} "${v.slice(0, 20)}" is not a port number (1-65535)` };
    ports[key] = n;
  }
  if (Object.keys(ports).length) options.ports = ports;
  const timeout = values.get('--timeout');
  if (timeout !== undefined) {
    const ms = parseDuration(timeout);
    if (ms === undefined) return { kind: 'error', message: `--timeout "${timeout.slice(0, 20)}" is not a duration (e.g. 3s, 500ms, 2.5)` };
    options.timeoutMs = ms;
    options.offerWindowMs = ms;
  }
  const window = values.get('--window');
  if (window !== undefined) {
    const ms = parseDuration(window);
    if (ms === undefined) return { kind: 'error', message: `--window "${window.slice(0, 20)}" is not a duration (e.g. 3s, 500ms, 2.5)` };
    options.offerWindowMs = ms;
  }
  const files = values.get('--files');
  if (files !== undefined) {
    if (!isPiKind(as)) return { kind: 'error', message: '--files only applies to --as pi3, pi4 or pi5 (the other kinds read the file the server names)' };
    const list = files.split(',').map((f) => f.trim()).filter((f) => f !== '');
    const bad = list.find((f) => !FILE_NAME.test(f) || f.split('/').includes('..') || f.length > 200);
    if (list.length === 0 || bad !== undefined) return { kind: 'error', message: `--files: "${(bad ?? files).slice(0, 60)}" is not a relative file name` };
    options.files = list;
  }
  return { kind: 'run', options, json: flags.has('--json'), verbose: flags.has('--verbose') };
}
