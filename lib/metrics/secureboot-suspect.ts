import type { NetbootEvent, NetbootEventInput } from '../events/vocabulary';

/**
 * Noticing a Secure Boot refusal from the network side alone. A UEFI x64 firmware with Secure Boot
 * on fetches Debian's unsigned iPXE completely, refuses to start it ("Access Denied" on a console no
 * one is watching) and starts over: a fresh PXE DHCPDISCOVER from the same MAC, and iPXE never shows
 * up (no iPXE DHCP, no HTTP request, no check-in). That pattern, within `windowMs` of the finished
 * transfer, becomes one `secureboot.suspected` event with the fix.
 */
const IPXE_FILE = /(^|\/)(ipxe|snponly)[A-Za-z0-9._-]*\.efi$/;
/** Above this many tracked machines the oldest is forgotten (a boot storm of thousands stays bounded). */
const MAX_TRACKED = 10_000;

export interface SuspectOptions {
  /**
   * How soon after the transfer the fresh DISCOVER must come (default 180 s). Measured with OVMF
   * (Secure Boot on): it refuses iPXE at once, tries IPv6 PXE (64 s until it gives up when nobody
   * answers DHCPv6), then UEFI HTTP boot, whose DISCOVER is the first one the server sees.
   */
  windowMs?: number;
}

interface Track {
  /** The last firmware DISCOVER of this MAC was UEFI x64 PXE (not iPXE): the iPXE it then fetches is an EFI program under the firmware's Secure Boot. */
  uefiX64?: boolean;
  /** The iPXE build it fetched completely, and when. */
  fetched?: { file: string; at: number; ip?: string };
}

export function secureBootFix(mac: string): string {
  return `UEFI x64 machine ${mac} fetched the unsigned iPXE and started over without running it: Secure Boot is probably on and its firmware refused iPXE. `
    + `Fix: mark it secureBoot (PATCH /netboot/api/devices/${mac} {"secureBoot": true}, or its group, or NETBOOT_SECURE_BOOT=true for every UEFI x64 machine) so it boots shim → GRUB, or turn Secure Boot off in its firmware setup`;
}

export class SecureBootSuspect {
  private readonly windowMs: number;
  private readonly machines = new Map<string, Track>();

  constructor(options: SuspectOptions = {}) {
    this.windowMs = options.windowMs ?? 180_000;
  }

  /** Feeds one bus event; returns the `secureboot.suspected` event to publish, if this one completes the pattern. */
  observe(e: NetbootEvent): NetbootEventInput | undefined {
    if (!e.mac || e.type === 'secureboot.suspected') return undefined;
    const mac = e.mac;
    if (e.type.startsWith('dhcp.') && 'isIpxe' in e) {
      if (e.isIpxe) {
        this.machines.delete(mac);
        return undefined;
      }
      // only a UEFI x64 firmware DISCOVER starts a track: without one, a machine reads as not UEFI x64
      // (a BIOS machine in a DHCP storm no longer costs an entry)
      if (!this.machines.has(mac) && (e.type !== 'dhcp.discover' || e.arch !== 'efi-x64')) return undefined;
      const t = this.track(mac);
      const f = t.fetched;
      if (e.type !== 'dhcp.discover') return undefined;
      t.uefiX64 = e.arch === 'efi-x64';
      if (!f) return undefined;
      t.fetched = undefined;
      // the firmware starting over: its next PXE try, or its next boot option (UEFI HTTP boot, arch 16)
      const afterMs = e.ts - f.at;
      if (afterMs < 0 || afterMs > this.windowMs) return undefined;
      return { type: 'secureboot.suspected', ts: e.ts, mac, ...(e.ip ?? f.ip ? { ip: e.ip ?? f.ip } : {}), file: f.file, afterMs, message: secureBootFix(mac) };
    }
    if (e.type === 'tftp.done' && IPXE_FILE.test(e.path) && e.direction !== 'write') {
      const t = this.machines.get(mac);
      if (t?.uefiX64) t.fetched = { file: e.path, at: e.ts, ip: e.ip };
      return undefined;
    }
    // anything iPXE does (its HTTP fetches, a check-in) means it ran
    if (e.type === 'http.start' || e.type === 'checkin') this.machines.delete(mac);
    return undefined;
  }

  private track(mac: string): Track {
    let t = this.machines.get(mac);
    if (t) {
      // most recently seen last, so the first key is the one to forget
      this.machines.delete(mac);
    } else {
      t = {};
      if (this.machines.size >= MAX_TRACKED) this.machines.delete(this.machines.keys().next().value!);
    }
    this.machines.set(mac, t);
    return t;
  }
}
