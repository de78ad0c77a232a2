/**
 * The bits of iPXE the probe imitates after it has fetched a script: `${...}` expansion in URLs
 * (protocols.md 2.2: unknown names expand to nothing; `:hexhyp`, `:hexraw`, `:uristring` types) and
 * the `chain` targets of a script (tokenised as in 2.4; relative URIs resolve against the script URL).
 */

export interface IpxeSettings {
  mac: string;
  uuid: string;
  buildarch: string;
  platform: string;
  ip?: string;
  hostname?: string;
  [name: string]: string | undefined;
}

function formatMac(mac: string, type: string | undefined): string {
  switch (type) {
    case 'hexhyp':
      return mac.replace(/:/g, '-');
    case 'hexraw':
      return mac.replace(/:/g, '');
    default:
      return mac;
  }
}

/** Expands `${name}` / `${scope/name:type}` the way iPXE would for this machine. No rescanning of results. */
export function expandSettings(text: string, s: IpxeSettings): string {
  return text.replace(/\$\{([^}]*)\}/g, (_m, body: string) => {
    const [fullName, type] = body.split(':', 2);
    const name = fullName.includes('/') ? fullName.slice(fullName.lastIndexOf('/') + 1) : fullName;
    let value: string;
    if (name === 'mac') value = formatMac(s.mac, type);
    else value = s[name] ?? '';
    if (type === 'uristring') value = encodeURIComponent(value);
    return value;
  });
}

/** `chain` options that take a value (ipxe.org/cmd/chain). */
const CHAIN_VALUE_OPTIONS: ReadonlySet<string> = new Set(['--name', '-n', '--timeout', '-t']);

/** The URI argument of every `chain` command (and its `&&`/`||`-joined neighbours), in order. */
export function chainTargets(script: string): string[] {
  const out: string[] = [];
  for (const raw of script.split('\n')) {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#') || line.startsWith(':')) continue;
    const commands: string[][] = [[]];
    for (const t of line.split(/[ \t]+/)) {
      if (t.startsWith('#')) break;
      if (t === '&&' || t === '||' || t === ';') {
        commands.push([]);
        continue;
      }
      commands[commands.length - 1].push(t);
    }
    for (const cmd of commands) {
      if (cmd[0] !== 'chain') continue;
      for (let i = 1; i < cmd.length; i++) {
        if (CHAIN_VALUE_OPTIONS.has(cmd[i])) {
          i++;
          continue;
        }
        if (cmd[i].startsWith('-')) continue;
        out.push(cmd[i]);
        break;
      }
    }
  }
  return out;
}

/** Resolves a (possibly relative) URI against the script's URL; undefined when it cannot. */
export function resolveUri(uri: string, base: string): string | undefined {
  try {
    return new URL(uri, base).toString();
  } catch {
    return undefined;
  }
}
