import { NetbootError } from './errors';

/** A MAC address in the one form used inside the program: lowercase, colon-separated. */
export type Mac = string & { readonly __mac: unique symbol };

const HEX12 = /^[0-9a-f]{12}$/;
/** Already in the program's form: most calls (every event, every check-in) get one. */
const NORMAL = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/**
 * Accepts `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff` (Cisco), `aabbccddeeff`
 * and the PXELINUX form `01-aa-bb-cc-dd-ee-ff` (hardware type 1 = Ethernet). Anything else is
 * an `invalid_mac` error that quotes the input.
 */
export function normalizeMac(input: unknown): Mac {
  if (typeof input === 'string' && input.length === 17 && NORMAL.test(input)) return input as Mac;
  if (typeof input !== 'string') {
    throw new NetbootError('invalid_mac', `invalid MAC address: expected a string, got ${input === null ? 'null' : typeof input}`, { value: input });
  }
  const raw = input.trim().toLowerCase();
  let hex: string | undefined;
  if (/^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/.test(raw) && (raw[2] === raw[5])) {
    // one separator style throughout
    const sep = raw[2];
    if (raw.split(sep).length === 6) hex = raw.split(sep).join('');
  } else if (/^01-([0-9a-f]{2}-){5}[0-9a-f]{2}$/.test(raw)) {
    hex = raw.slice(3).split('-').join('');
  } else if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/.test(raw)) {
    hex = raw.split('.').join('');
  } else if (HEX12.test(raw)) {
    hex = raw;
  }
  if (hex === undefined || !HEX12.test(hex)) {
    const shown = input.length > 40 ? `${input.slice(0, 40)}…` : input;
    throw new NetbootError('invalid_mac', `invalid MAC address "${shown}": use aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff, aabbccddeeff or 01-aa-bb-cc-dd-ee-ff`, { value: input });
  }
  return hex.match(/../g)!.join(':') as Mac;
}

/** True when `input` is any accepted MAC form. */
export function isMac(input: unknown): boolean {
  try {
    normalizeMac(input);
    return true;
  } catch {
    return false;
  }
}

/** `aa:bb:..` → `aa-bb-..` (Raspberry Pi TFTP prefix, iPXE `:hexhyp`). */
export function macToHyphens(mac: Mac): string {
  return mac.replace(/:/g, '-');
}

/** Six raw bytes → normalised MAC. */
export function macFromBytes(bytes: Uint8Array): Mac {
  if (bytes.length < 6) throw new NetbootError('invalid_mac', `MAC needs 6 bytes, got ${bytes.length}`);
  return Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':') as Mac;
}

export function macToBytes(mac: Mac): Buffer {
  return Buffer.from(mac.replace(/:/g, ''), 'hex');
}

/**
 * Why `mac` cannot name one machine, or undefined when it can: the broadcast address, any group
 * (multicast) address (low bit of the first octet set) and the all-zero address are not devices.
 */
export function notADevice(mac: Mac): string | undefined {
  if (mac === 'ff:ff:ff:ff:ff:ff') return 'is the broadcast address, not a machine';
  if (parseInt(mac.slice(0, 2), 16) & 1) return 'is a multicast (group) address, not a machine';
  if (mac === '00:00:00:00:00:00') return 'is all zeros, not a machine';
  return undefined;
}

/** `normalizeMac`, then refuses what cannot be a device (see `notADevice`). */
export function deviceMac(input: unknown): Mac {
  const mac = normalizeMac(input);
  const why = notADevice(mac);
  if (why) throw new NetbootError('invalid_mac', `MAC address ${mac} ${why}`, { value: input });
  return mac;
}

/**
 * The machine a path segment names, if any: a separated MAC (`dc-a6-32-01-02-03`, the Raspberry Pi
 * per-MAC folder; `aa:bb:…`) or a PXELINUX config name (`01-52-54-00-12-34-56`, hardware type 1).
 * Only separated forms count, so a 12-digit serial folder is never taken for a MAC.
 */
export function macOfPathSegment(segment: string): Mac | undefined {
  const m = /^(?:01-)?([0-9a-fA-F]{2}([-:])(?:[0-9a-fA-F]{2}\2){4}[0-9a-fA-F]{2})$/.exec(segment);
  return m ? normalizeMac(m[1]) : undefined;
}
