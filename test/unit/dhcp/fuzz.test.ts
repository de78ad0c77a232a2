import { describe, expect, it } from 'vitest';
import { classify, encodePacket, parsePacket, printPacket } from '../../helpers/dhcp-imports';
import { fixtureBytes } from '../../../support/dhcp-packets';
import { rng } from '../../helpers/rng';

const SEEDS = ['bios-ipxe-discover', 'ovmf-discover', 'dnsmasq-proxy-offer-bios-ipxe', 'httpclient-discover', 'dnsmasq-4011-ack-ovmf'].map(fixtureBytes);

/** Parse, and when it parses, classify/print/re-encode: none of it may throw. */
function exercise(buf: Buffer): void {
  const r = parsePacket(buf);
  if (r.ok) {
    classify(r.packet);
    printPacket(r.packet);
    const again = parsePacket(encodePacket(r.packet));
    expect(again.ok).toBe(true);
  } else {
    expect(r.error.code).toBe('protocol');
  }
}

describe('DHCP codec fuzz', () => {
  it('random, truncated, mutated, PAD runs, overlong lengths, overload loops: no throw, bounded time', () => {
    const rand = rng(0xdecaf);
    const int = (n: number) => Math.floor(rand() * n);
    const started = Date.now();
    let cases = 0;
    for (let i = 0; i < 4000; i++) {
      const seed = SEEDS[int(SEEDS.length)];
      let buf: Buffer;
      switch (i % 6) {
        case 0: {
          buf = Buffer.alloc(int(700));
          for (let k = 0; k < buf.length; k++) buf[k] = int(256);
          if (buf.length >= 240 && rand() < 0.7) buf.writeUInt32BE(0x63825363, 236);
          break;
        }
        case 1:
          buf = Buffer.from(seed.subarray(0, int(seed.length + 1)));
          break;
        case 2: {
          buf = Buffer.from(seed);
          const flips = 1 + int(12);
          for (let k = 0; k < flips; k++) buf[240 + int(buf.length - 240)] = int(256);
          break;
        }
        case 3: {
          const pads = Buffer.alloc(int(2000));
          buf = Buffer.concat([seed.subarray(0, 240), pads, seed.subarray(240)]);
          break;
        }
        case 4: {
          buf = Buffer.from(seed);
          const at = 240 + int(Math.max(1, buf.length - 241));
          buf[at] = 1 + int(254);
          buf[at + 1] = 255;
          break;
        }
        default: {
          buf = Buffer.from(seed);
          // option 52 pointing at fields that themselves hold 52 / garbage
          const ov = Buffer.from([53, 1, 1, 52, 1, 1 + int(3), 255]);
          ov.copy(buf, 240);
          for (let k = 44; k < 236; k++) buf[k] = rand() < 0.3 ? 52 : int(256);
          break;
        }
      }
      exercise(buf);
      cases += 1;
    }
    // a large packet of PADs and tiny options is still linear
    exercise(Buffer.concat([SEEDS[0].subarray(0, 240), Buffer.alloc(60000, 0)]));
    expect(cases).toBe(4000);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
