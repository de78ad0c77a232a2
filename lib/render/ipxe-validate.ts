import { NetbootError } from '../core/errors';

/**
 * A static check of an iPXE script, run on every script we render (and on user templates). It
 * follows iPXE's own parsing (`src/image/script.c`, `src/core/exec.c`): the first line is `#!ipxe`,
 * a line starting with `:` is a label, tokens are split on whitespace, a token starting with `#`
 * begins a comment, and standalone `&&`, `||` and `;` separate commands.
 */
export interface IpxeProblem {
  line: number;
  message: string;
}

/** Commands of a stock iPXE build (ipxe.org/cmd plus the `src/hci/commands/` set). */
export const IPXE_COMMANDS: ReadonlySet<string> = new Set([
  'autoboot', 'boot', 'certfree', 'certstat', 'certstore', 'chain', 'choose', 'clear', 'colour', 'console',
  'cpair', 'cpuid', 'dhcp', 'digest', 'echo', 'exit', 'fcels', 'fcstat', 'goto', 'help', 'ibstat', 'ifclose',
  'ifconf', 'ifopen', 'ifstat', 'imgargs', 'imgdecrypt', 'imgexec', 'imgextract', 'imgfetch', 'imgfree',
  'imgload', 'imgmem', 'imgselect', 'imgstat', 'imgtrust', 'imgverify', 'inc', 'initrd', 'ipstat', 'iseq',
  'isset', 'item', 'iwlist', 'iwstat', 'kernel', 'login', 'lotest', 'md5sum', 'menu', 'module', 'neighbour',
  'nslookup', 'nstat', 'ntp', 'param', 'params', 'pciscan', 'ping', 'poweroff', 'profstat', 'prompt',
  'pxebs', 'read', 'reboot', 'route', 'sanboot', 'sanhook', 'sanunhook', 'set', 'sha1sum', 'shell', 'shim',
  'show', 'sleep', 'sync', 'time', 'usbscan', 'vcreate', 'vdestroy',
]);

const LABEL_RE = /^[A-Za-z0-9_.-]+$/;

/** Options of `item`/`choose`/`menu` that take a value (so the next token is not the label). */
const VALUE_OPTIONS: Record<string, ReadonlySet<string>> = {
  item: new Set(['--key', '-k', '--menu', '-m']),
  choose: new Set(['--default', '-d', '--timeout', '-t', '--menu', '-m']),
  menu: new Set(['--name', '-n']),
};

export function validateIpxeScript(text: string): IpxeProblem[] {
  const problems: IpxeProblem[] = [];
  const add = (line: number, message: string) => problems.push({ line, message });
  if (typeof text !== 'string') return [{ line: 0, message: 'script is not a string' }];

  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if ((lines[0] ?? '').replace(/\r$/, '') !== '#!ipxe') add(1, 'first line must be "#!ipxe"');

  const labels = new Set<string>();
  const wanted: Array<{ line: number; label: string; what: string }> = [];

  lines.forEach((raw, i) => {
    const n = i + 1;
    // Character-level checks first: one report per kind per line.
    if (raw.includes('\r')) add(n, 'carriage return (CRLF line ending)');
    for (const ch of raw) {
      const c = ch.codePointAt(0)!;
      if ((c < 0x20 && c !== 0x09) || c === 0x7f) { add(n, `control character 0x${c.toString(16).padStart(2, '0')}`); break; }
      if (c > 0x7e) { add(n, `non-ASCII character U+${c.toString(16).toUpperCase().padStart(4, '0')}`); break; }
    }
    const line = raw.replace(/\r$/, '');
    if (/\\\s*$/.test(line)) add(n, 'line continuation ("\\" at the end of a line) is not allowed');
    const balance = expansionProblem(line);
    if (balance) add(n, balance);

    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (trimmed.startsWith(':')) {
      const label = trimmed.slice(1);
      if (!LABEL_RE.test(label)) add(n, `bad label "${label}"`);
      else if (labels.has(label)) add(n, `label "${label}" defined twice`);
      else labels.add(label);
      return;
    }
    // Split into commands on standalone separators; a token starting with '#' ends the line.
    const tokens = trimmed.split(/[ \t]+/);
    const commands: string[][] = [[]];
    for (const t of tokens) {
      if (t.startsWith('#')) break;
      if (t === '&&' || t === '||' || t === ';') { commands.push([]); continue; }
      commands[commands.length - 1].push(t);
    }
    for (const cmd of commands) {
      if (cmd.length === 0) continue;
      const name = cmd[0];
      if (name.includes('${')) { add(n, `command name "${name}" comes from a setting`); continue; }
      if (!IPXE_COMMANDS.has(name)) { add(n, `unknown command "${name}"`); continue; }
      checkCommand(name, cmd.slice(1), n, wanted, add);
    }
  });

  for (const w of wanted) {
    if (!labels.has(w.label)) add(w.line, `${w.what} "${w.label}" has no ":${w.label}" label`);
  }
  return problems.sort((a, b) => a.line - b.line);
}

function expansionProblem(line: string): string | undefined {
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '$' && line[i + 1] === '{') { depth++; i++; continue; }
    if (line[i] === '}' && depth > 0) depth--;
  }
  return depth > 0 ? 'unbalanced "${" (no closing "}")' : undefined;
}

function checkCommand(
  name: string,
  args: string[],
  n: number,
  wanted: Array<{ line: number; label: string; what: string }>,
  add: (line: number, message: string) => void,
): void {
  const positional: string[] = [];
  const options = new Map<string, string>();
  const valueOpts = VALUE_OPTIONS[name];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (positional.length === 0 && a.startsWith('-') && valueOpts) {
      if (valueOpts.has(a)) { options.set(a, args[i + 1] ?? ''); i++; } else options.set(a, '');
      continue;
    }
    positional.push(a);
  }
  const staticLabel = (label: string | undefined) => label !== undefined && label !== '' && !label.includes('${');
  switch (name) {
    case 'goto':
      if (args.length !== 1) add(n, `goto needs exactly one label, got ${args.length}`);
      else if (staticLabel(args[0])) wanted.push({ line: n, label: args[0], what: 'goto target' });
      break;
    case 'item':
      if (options.has('--gap') || options.has('-g')) break;
      if (positional.length === 0) add(n, 'item without a label');
      else if (staticLabel(positional[0])) wanted.push({ line: n, label: positional[0], what: 'menu item' });
      break;
    case 'choose': {
      const def = options.get('--default') ?? options.get('-d');
      if (staticLabel(def)) wanted.push({ line: n, label: def!, what: 'choose default' });
      const timeout = options.get('--timeout') ?? options.get('-t');
      if (timeout !== undefined && !/^\d+$/.test(timeout)) add(n, `choose --timeout "${timeout}" is not a number of milliseconds`);
      if (positional.length !== 1) add(n, 'choose needs exactly one setting name');
      break;
    }
    default:
      break;
  }
}

/**
 * Scripts found valid lately: the same text always gets the same verdict, and a machine fetches the
 * same menu again and again (a boot, a retry, a fleet on one profile), so it is checked once.
 * Bounded: emptied when full.
 */
const validTexts = new Set<string>();
const VALID_MAX = 1024;

/** Throws `NetbootError('template', ...)` listing the problems, if there are any. */
export function assertValidIpxeScript(text: string, what = 'script'): void {
  if (validTexts.has(text)) return;
  const problems = validateIpxeScript(text);
  if (problems.length === 0) {
    if (validTexts.size >= VALID_MAX) validTexts.clear();
    validTexts.add(text);
    return;
  }
  const list = problems.slice(0, 5).map((p) => `line ${p.line}: ${p.message}`).join('; ');
  throw new NetbootError('template', `${what} is not a valid iPXE script: ${list}${problems.length > 5 ? ` (+${problems.length - 5} more)` : ''}`, { problems });
}
