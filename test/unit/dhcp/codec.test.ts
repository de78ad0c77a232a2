import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DhcpParseError,
  Opt,
  PI_MENU_TEXT,
  build,
  decodePxeOptions,
  emptyPacket,
  encodePacket,
  getOption,
  getUserClass,
  parsePacket,
  piOption43,
  printPacket,
} from '../../helpers/dhcp-imports';
import { FIXTURES, clientPacket, fixtureBytes } from '../../../support/dhcp-packets';

const UPDATE = process.env.UPDATE_GOLDEN === '1';

function golden(name: string, text: string): void {
  const file = path.join(FIXTURES, `${name}.golden.txt`);
  if (UPDATE || !existsSync(file)) {
    if (!UPDATE && process.env.CI === 'true') throw new Error(`golden file ${file} missing`);
    writeFileSync(file, text);
  }
  expect(text).toBe(readFileSync(file, 'utf8'));
}

// Packets extracted with tshark from /work/shared/harness/golden/*.pcapng (see fixtures/dhcp/README.md).
const CAPTURED = [
  'bios-ipxe-discover',
  'dnsmasq-proxy-offer-bios-ipxe',
  'ovmf-discover',
  'dnsmasq-proxy-offer-ovmf',
  'ovmf-4011-request',
  'dnsmasq-4011-ack-ovmf',
  'ipxe-efi-discover',
  'httpclient-discover',
  'dnsmasq-httpclient-offer',
  'aavmf-discover',
  'udhcpd-offer',
];

describe('DHCP codec: captured packets', () => {
  for (const name of CAPTURED) {
    it(`${name}: golden dump and round trip`, () => {
      const bytes = fixtureBytes(name);
      const r = parsePacket(bytes);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      golden(name, printPacket(r.packet));
      const again = encodePacket(r.packet);
      const r2 = parsePacket(again);
      expect(r2.ok && r2.packet).toEqual(r.packet);
      // Our encoder writes no PAD and zero-fills after END, like these clients and servers.
      if (bytes.length >= 300) expect(again.subarray(0, 240).equals(bytes.subarray(0, 240))).toBe(true);
    });
  }

  it('BIOS iPXE DISCOVER carries the documented options in order', () => {
    const r = parsePacket(fixtureBytes('bios-ipxe-discover'));
    if (!r.ok) throw r.error;
    expect(r.packet.options.map((o) => o.code)).toEqual([53, 57, 93, 94, 60, 77, 55, 175, 61, 97]);
    expect(getUserClass(r.packet)).toEqual(['iPXE']);
  });

  it('dnsmasq proxy OFFER for OVMF: no file, siaddr set, no option 43', () => {
    const r = parsePacket(fixtureBytes('dnsmasq-proxy-offer-ovmf'));
    if (!r.ok) throw r.error;
    expect(r.packet.siaddr).toBe('10.78.0.1');
    expect(r.packet.file).toBe('');
    expect(getOption(r.packet, 43)).toBeUndefined();
  });
});

describe('Raspberry Pi option 43', () => {
  it('piOption43("Raspberry Pi Boot") is byte-exact to dnsmasq pxe-service=0 (protocols.md 1.2)', () => {
    const want = Buffer.concat([
      Buffer.from([0x06, 0x01, 0x03]),
      Buffer.from([0x0a, 0x04, 0x00]),
      Buffer.from('PXE'),
      Buffer.from([0x09, 0x14, 0x00, 0x00, 0x11]),
      Buffer.from('Raspberry Pi Boot'),
      Buffer.from([0xff]),
    ]);
    expect(piOption43('Raspberry Pi Boot').equals(want)).toBe(true);
  });

  it('default text has the 3 trailing spaces for the Pi 3 ROM', () => {
    const b = piOption43();
    expect(PI_MENU_TEXT).toBe('Raspberry Pi Boot   ');
    const d = decodePxeOptions(b);
    expect(d?.bootMenu).toEqual([{ type: 0, text: 'Raspberry Pi Boot   ' }]);
    expect(b.subarray(b.indexOf(0x09), b.indexOf(0x09) + 5).toString('hex')).toBe('0917000014');
  });

  it('decodes the option 43 dnsmasq sent to the Pi look-alike (stand-in, with pxe-prompt)', () => {
    const d = decodePxeOptions(fixtureBytes('dnsmasq-pi-option43'));
    expect(d?.discoveryControl).toBe(3);
    expect(d?.bootMenu).toEqual([{ type: 0, text: 'Raspberry Pi Boot' }]);
    expect(d?.menuPrompt).toEqual({ timeout: 0, text: 'stand-in proxyDHCP' });
  });

  it('Pi look-alike DISCOVER (hand-built from scapy-probe-rpi-proxy.json) dump', () => {
    const p = clientPacket({
      mac: 'dc:a6:32:ad:31:43',
      xid: 3068210175,
      vendorClass: 'PXEClient:Arch:00000:UNDI:002001',
      arch: 0,
      uuid: Buffer.from('eaff11b57ca847af7bc28ddd2da2a41b', 'hex'),
      broadcast: true,
    });
    golden('pi-lookalike-discover', printPacket(p));
  });
});

describe('DHCP codec: overload and RFC 3396', () => {
  it('pulls options from file (1), sname (2) and both (3): options, then file, then sname', () => {
    const base = encodePacket({ ...emptyPacket(), options: [build.messageType(1), build.u8(52, 3), build.str(12, 'head-')] });
    // file at 108, sname at 44
    Buffer.from([12, 3, 0x61, 0x62, 0x63, 60, 4, 0x50, 0x58, 0x45, 0x43, 255]).copy(base, 108);
    Buffer.from([0, 0, 12, 2, 0x78, 0x79, 67, 3, 0x61, 0x2e, 0x62, 255]).copy(base, 44);
    const r = parsePacket(base);
    if (!r.ok) throw r.error;
    expect(r.packet.file).toBe('');
    expect(r.packet.sname).toBe('');
    expect(getOption(r.packet, 12)?.toString()).toBe('head-abcxy');
    expect(getOption(r.packet, 60)?.toString()).toBe('PXEC');
    expect(getOption(r.packet, 67)?.toString()).toBe('a.b');
    expect(r.packet.options.map((o) => o.code)).toEqual([53, 52, 12, 60, 67]);
  });

  it('overload 1 leaves sname as text', () => {
    const b = encodePacket({ ...emptyPacket(), sname: 'srv', options: [build.u8(52, 1)] });
    Buffer.from([66, 3, 0x31, 0x2e, 0x32, 255]).copy(b, 108);
    const r = parsePacket(b);
    if (!r.ok) throw r.error;
    expect(r.packet.sname).toBe('srv');
    expect(getOption(r.packet, 66)?.toString()).toBe('1.2');
  });

  it('option 52 inside an overloaded field is an overload loop error', () => {
    const b = encodePacket({ ...emptyPacket(), options: [build.u8(52, 1)] });
    Buffer.from([52, 1, 2, 255]).copy(b, 108);
    const r = parsePacket(b);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toBeInstanceOf(DhcpParseError);
      expect(r.error.reason).toBe('overload_loop');
      expect(r.error.code).toBe('protocol');
    }
  });

  it('splits options longer than 255 bytes and concatenates them back', () => {
    const long = Buffer.alloc(600, 0x41);
    long.write('start', 0);
    long.write('end', 597);
    const p = { ...emptyPacket(), options: [build.messageType(1), build.raw(43, long), build.str(60, 'x')] };
    const bytes = encodePacket(p);
    // 53, then 43 x3 (255+255+90), then 60, END
    expect(bytes[243]).toBe(43);
    expect(bytes[244]).toBe(255);
    expect(bytes[243 + 257]).toBe(43);
    expect(bytes[243 + 514]).toBe(43);
    expect(bytes[243 + 515]).toBe(90);
    const r = parsePacket(bytes);
    if (!r.ok) throw r.error;
    expect(getOption(r.packet, 43)?.equals(long)).toBe(true);
    expect(r.packet.options.map((o) => o.code)).toEqual([53, 43, 60]);
  });

  it('concatenates split instances that are not adjacent, keeping first position', () => {
    const b = encodePacket({ ...emptyPacket(), options: [] });
    Buffer.from([77, 2, 0x61, 0x62, 60, 1, 0x7a, 77, 1, 0x63, 250, 2, 9, 9, 255]).copy(b, 240);
    const r = parsePacket(b);
    if (!r.ok) throw r.error;
    expect(r.packet.options.map((o) => o.code)).toEqual([77, 60, 250]);
    expect(getOption(r.packet, 77)?.toString()).toBe('abc');
    expect(getOption(r.packet, 250)?.toString('hex')).toBe('0909'); // unknown option kept raw
  });

  it('pads output to 300 bytes and ends with END', () => {
    const b = encodePacket({ ...emptyPacket(), options: [build.messageType(1)] });
    expect(b.length).toBe(300);
    expect(b[243]).toBe(255);
  });

  it('typed errors: truncated, bad cookie, overlong length', () => {
    const t = parsePacket(Buffer.alloc(100));
    expect(!t.ok && t.error.reason).toBe('truncated');
    const c = parsePacket(Buffer.alloc(300));
    expect(!c.ok && c.error.reason).toBe('bad_cookie');
    const o = encodePacket({ ...emptyPacket(), options: [] });
    const cut = Buffer.concat([o.subarray(0, 240), Buffer.from([60, 200, 1, 2, 3])]);
    const r = parsePacket(cut);
    expect(!r.ok && r.error.reason).toBe('overlong_option');
  });

  it('PAD bytes between options and a missing END are fine', () => {
    const o = encodePacket({ ...emptyPacket(), options: [] });
    const b = Buffer.concat([o.subarray(0, 240), Buffer.from([0, 0, 0, 53, 1, 1, 0, 0, 60, 1, 0x78])]);
    const r = parsePacket(b);
    if (!r.ok) throw r.error;
    expect(r.packet.options.map((x) => x.code)).toEqual([53, 60]);
  });

  it('user class: RFC 3004 list vs iPXE plain string', () => {
    const a = clientPacket({ mac: '52:54:00:00:00:01', userClass: 'iPXE' });
    expect(getUserClass(a)).toEqual(['iPXE']);
    const b = { ...emptyPacket(), options: [build.userClassRfc3004(['iPXE', 'foo'])] };
    expect(getUserClass(b)).toEqual(['iPXE', 'foo']);
    expect(Opt.UserClass).toBe(77);
  });
});
