/**
 * Secure Boot end to end: OVMF's Secure Boot build with Microsoft's keys enrolled (Secure Boot on)
 * boots through our server in full DHCP mode (the lab without its router's DHCP): Microsoft-signed
 * shim → Debian-signed GRUB (grub.cfg rendered by the reference flow's netboot-grub) → Debian's
 * signed cloud kernel + the e2e initramfs over TFTP, to the initramfs's marker; the kernel's own
 * "Secure boot enabled" on the serial console proves Secure Boot was on. The same machine without
 * its secureBoot mark gets the unsigned iPXE, the firmware refuses it, and the server records
 * secureboot.suspected. See docs/e2e.md and docs/secure-boot.md.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ARTIFACTS, BASE, DHCP, NET, SERVER_IP, bootVm, buildLinuxAssets, http, labDown, labUp, login, missingTools, plain, readCapture, sh, startCapture, startServer, stopAll,
  type Server, type VmResult,
} from './lab';

const SHIM = '/usr/lib/shim/shimx64.efi.signed';
const GRUB = '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed';
const missing = [...missingTools(), ...[SHIM, GRUB, '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', '/usr/share/OVMF/OVMF_VARS_4M.ms.fd'].filter((f) => !existsSync(f))];
if (sh('sh', ['-c', 'command -v sbattach']).status !== 0) missing.push('sbattach (sbsigntool)');
if (missing.length > 0) throw new Error(`e2e: this machine lacks ${missing.join(', ')} (apt-get install shim-signed grub-efi-amd64-signed ovmf sbsigntool; see docs/e2e.md)`);

const MAC = '52:54:00:81:5b:01';

function explain(vm: VmResult, server: Server): string {
  return `\n--- ${vm.serialFile} (rc ${vm.rc}, ${vm.seconds.toFixed(1)} s), last lines:\n${plain(vm.serial).split('\n').filter((l) => l.trim()).slice(-30).join('\n')}`
    + `\n--- qemu-boot:\n${vm.log}\n--- server log tail:\n${server.output().split('\n').slice(-25).join('\n')}`;
}

describe('Secure Boot through our server (e2e, full DHCP mode)', () => {
  let server: Server;
  let token: string;

  beforeAll(async () => {
    labUp({ router: false });
    server = await startServer({ env: { NETBOOT_DHCP_MODE: 'full', NETBOOT_DHCP_RANGE: `${NET}.100-${NET}.150`, NETBOOT_DHCP_NETMASK: '255.255.255.0', NETBOOT_ISCSI: 'off' } });
    token = login();
    // shim and GRUB are not copied: the server finds them where Debian's shim-signed and
    // grub-efi-amd64-signed put them and serves them as shimx64.efi / grubx64.efi
    expect(existsSync(path.join(server.assets, 'shimx64.efi'))).toBe(false);
    const linux = buildLinuxAssets();
    mkdirSync(path.join(server.assets, 'e2e'), { recursive: true });
    copyFileSync(linux.vmlinuz, path.join(server.assets, 'e2e', 'vmlinuz'));
    copyFileSync(linux.initrd, path.join(server.assets, 'e2e', 'initrd.gz'));
    // the same kernel without its signature (sbattach, independent of our PE reader)
    copyFileSync(linux.vmlinuz, path.join(server.assets, 'e2e', 'vmlinuz-unsigned'));
    const strip = sh('sbattach', ['--remove', path.join(server.assets, 'e2e', 'vmlinuz-unsigned')]);
    expect(strip.status, strip.stderr).toBe(0);
  }, 420_000);

  afterAll(async () => {
    await stopAll();
    await server?.stop();
    labDown();
  }, 60_000);

  it('a marked machine boots shim → signed GRUB → the signed kernel over TFTP with Secure Boot on; an unsigned kernel is refused at save time', async () => {
    const profile = http('POST', '/netboot/api/profiles', {
      token,
      body: { id: 'sb-linux', name: 'Secure Boot linux', type: 'custom', kernel: 'e2e/vmlinuz', initrd: ['e2e/initrd.gz'], cmdline: { console: 'ttyS0', panic: '-1', 'nbe2e.log': `${BASE}/api/v1/boot/log` } },
    });
    expect(profile.status, profile.body).toBe(201);
    const device = http('POST', '/netboot/api/devices', { token, body: { mac: MAC, hostname: 'sb-linux', profileId: 'sb-linux', secureBoot: true } });
    expect(device.status, device.body).toBe(201);
    // shim would refuse the unsigned kernel ("bad shim signature"): the API refuses to save it for this machine
    const bad = http('PATCH', '/netboot/api/profiles/sb-linux', { token, body: { kernel: 'e2e/vmlinuz-unsigned' } });
    expect(bad.status, bad.body).toBe(400);
    expect(bad.body).toMatch(/no Authenticode signature/);

    const cap = await startCapture('sb-1-marked', 200);
    let vm: VmResult;
    try {
      vm = await bootVm('sb-1-marked', { fw: 'uefi-sb', mac: MAC, timeout: 180, expect: ['NBE2E: boot-log-posted', 'NBE2E: poweroff'] });
    } finally {
      await cap.stop();
    }
    const con = plain(vm.serial);
    const why = explain(vm, server);
    expect(vm.rc, why).toBe(0);
    // the kernel's own word that the firmware had Secure Boot on (it checks the EFI variables at start)
    expect(con, why).toMatch(/secureboot: Secure boot enabled/);
    expect(con, why).toMatch(/Kernel is locked down from EFI Secure Boot/);
    // GRUB ran the configuration netboot-grub rendered for this machine (its echo of the profile name)
    expect(con, why).toContain('netboot: Secure Boot linux');
    expect(con, why).toContain(`nbe2e.log=${BASE}/api/v1/boot/log`);
    expect(con, why).toMatch(/NBE2E: boot-log-posted attempt=\d+ answer=\{"ok":true/);

    const packets = readCapture(cap.file);
    // full mode: our OFFER leases an address and names shim in the BOOTP file field (shim looks next to it)
    const offer = packets.find((p) => p.proto === 'dhcp' && p.dhcpType === DHCP.OFFER && p.src === SERVER_IP && p.chaddr === MAC);
    expect(offer, why).toMatchObject({ file: 'shimx64.efi', siaddr: SERVER_IP });
    const rrqs = packets.filter((p) => p.proto === 'tftp' && p.opcode === 1).map((p) => p.tftpFile!.replace(/^\//, ''));
    for (const f of ['shimx64.efi', 'grubx64.efi', 'grub/grub.cfg', `grub/grub.cfg-${MAC}`, 'e2e/vmlinuz', 'e2e/initrd.gz']) expect(rrqs, `TFTP read of ${f}: ${rrqs.join(', ')}`).toContain(f);
    // iPXE never ran: no HTTP boot script was asked for
    expect(packets.some((p) => p.proto === 'http' && p.uri?.startsWith('/boot/menu.ipxe')), why).toBe(false);
  }, 420_000);

  it('the same machine without its mark gets the unsigned iPXE, the firmware refuses it, and the server records secureboot.suspected', async () => {
    const patch = http('PATCH', `/netboot/api/devices/${MAC}`, { token, body: { secureBoot: false } });
    expect(patch.status, patch.body).toBe(200);
    const cap = await startCapture('sb-2-unmarked', 200);
    let vm: VmResult;
    try {
      // OVMF refuses iPXE, tries IPv6 PXE (~64 s without a DHCPv6 server), then UEFI HTTP boot, whose
      // DISCOVER is the fresh start the server notices; after that it would sit in its setup menu
      vm = await bootVm('sb-2-unmarked', { fw: 'uefi-sb', mac: MAC, timeout: 200, expect: ['Access Denied', 'URI: http://'], stopOnExpect: true });
    } finally {
      await cap.stop();
    }
    const why = explain(vm, server);
    expect(vm.rc, why).toBe(0);
    // the firmware's own words: the unsigned iPXE was refused
    expect(plain(vm.serial), why).toMatch(/failed to load Boot\d+ "UEFI PXEv4[^"]*"[^\n]*: Access Denied/);
    const packets = readCapture(cap.file);
    const rrqs = packets.filter((p) => p.proto === 'tftp' && p.opcode === 1).map((p) => p.tftpFile);
    expect(rrqs, why).toContain('ipxe.efi');
    // the server wrote the event when the fresh DISCOVER arrived; give its event log a moment to be read back
    let events = http('GET', `/netboot/api/devices/${MAC}/events?limit=1000`, { token });
    for (let i = 0; i < 20 && !events.body.includes('secureboot.suspected'); i++) {
      await new Promise((r) => setTimeout(r, 250));
      events = http('GET', `/netboot/api/devices/${MAC}/events?limit=1000`, { token });
    }
    expect(events.status, events.body).toBe(200);
    const suspected = events.json<Array<{ type: string; message?: string; data?: { file?: string; afterMs?: number } }>>().filter((e) => e.type === 'secureboot.suspected');
    expect(suspected.length, `${events.body.slice(-2000)}${why}`).toBeGreaterThanOrEqual(1);
    expect(suspected[0].message).toMatch(/mark it secureBoot/);
    expect(suspected[0].data?.file).toBe('ipxe.efi');
    // on the machine's timeline, and counted for Prometheus
    const timeline = http('GET', `/netboot/api/devices/${MAC}/timeline`, { token }).json<{ notices: Array<{ type: string }> }>();
    expect(timeline.notices.map((n) => n.type)).toContain('secureboot.suspected');
    const metrics = http('GET', '/netboot/metrics', { token });
    expect(metrics.body).toMatch(/^netboot_secureboot_suspected_total [1-9]\d*$/m);
    console.log(`secure boot e2e: refusal seen by the server ${suspected[0].data?.afterMs} ms after the iPXE transfer ended; artifacts in ${ARTIFACTS}`);
  }, 300_000);
});
