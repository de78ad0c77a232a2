/**
 * End-to-end boots: QEMU machines network-boot through our server (`npm start` entry point, proxyDHCP
 * mode, real ports 67/68/69/4011 and HTTP 8080) in a lab of network namespaces, beside a plain
 * address-only DHCP server (busybox udhcpd) that plays the home router. See docs/e2e.md.
 *
 * Evidence per case: the VM's serial console, a packet capture taken in the server namespace
 * (test/.tmp/e2e/<case>.pcapng), and the management API. Cases run one after another (TCG, 2 cores).
 */
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ARTIFACTS, BASE, DHCP, LAB_DIR, NET, NS, REPO, ROUTER_IP, SERVER_IP, bootVm, buildLinuxAssets, fileSize, http, labDown, labUp, login, missingTools, plain,
  markerMbr, readCapture, readIscsi, scriptMarker, sh, startCapture, startServer, stopAll, stopLeftoverTgt, tftpTransfers, tgtAdm, type Packet, type IscsiPdu, type Server, type VmResult,
} from './lab';

const missing = missingTools();
if (missing.length > 0) {
  throw new Error(`e2e: this machine lacks ${missing.join(', ')} (see docs/e2e.md for the packages; run as root)`);
}

const timings: Record<string, number> = {};
const dashed = (mac: string) => mac.replace(/:/g, '-');
const leased = (packets: Packet[], mac: string) =>
  packets.find((p) => p.proto === 'dhcp' && p.dhcpType === DHCP.ACK && p.src === ROUTER_IP && p.chaddr === mac)?.yiaddr;

/** Fails with the console and the tail of our log, so a red CI run explains itself. */
function explain(vm: VmResult, server: Server): string {
  return `\n--- ${vm.serialFile} (rc ${vm.rc}, ${vm.seconds.toFixed(1)} s), last lines:\n${plain(vm.serial).split('\n').filter((l) => l.trim()).slice(-25).join('\n')}`
    + `\n--- qemu-boot:\n${vm.log}\n--- server log tail:\n${server.output().split('\n').slice(-20).join('\n')}`;
}

/** What /boot/menu.ipxe answers for a MAC right now, and a line of it that shows on the console when it runs. */
function menuFor(mac: string, platform: 'pcbios' | 'efi', arch: string): { ok: boolean; status: number; marker?: string; body: string } {
  const r = http('GET', `/boot/menu.ipxe?mac=${dashed(mac)}&arch=${arch}&platform=${platform}`);
  const ok = r.status === 200 && r.body.startsWith('#!ipxe');
  return { ok, status: r.status, body: r.body, marker: ok ? scriptMarker(r.body) : undefined };
}

/** The stages the server's boot timeline recorded for a machine, oldest boot first, flattened. */
function timelineStages(mac: string, token: string): string[] {
  const res = http('GET', `/netboot/api/devices/${mac}/timeline`, { token });
  expect(res.status, res.body).toBe(200);
  return res.json<{ boots: Array<{ stages: Array<{ stage: string }> }> }>().boots.flatMap((b) => b.stages.map((st) => st.stage));
}

/** `want` appears in `got` in this order (other stages may sit between). */
/**
 * A known machine booting the e2e Linux kernel and initramfs (copied to /boot/assets/e2e) through a
 * profile `id` of its own, which also names the machine; returns the admin token used.
 */
function enrolLinux(assets: string, mac: string, id: string): string {
  const linux = buildLinuxAssets();
  mkdirSync(path.join(assets, 'e2e'), { recursive: true });
  copyFileSync(linux.vmlinuz, path.join(assets, 'e2e', 'vmlinuz'));
  copyFileSync(linux.initrd, path.join(assets, 'e2e', 'initrd.gz'));
  const token = login();
  const profile = http('POST', '/netboot/api/profiles', {
    token,
    body: {
      id, name: id.replace(/-/g, ' '), type: 'custom', kernel: 'e2e/vmlinuz', initrd: ['e2e/initrd.gz'],
      cmdline: { console: 'ttyS0', panic: '-1', 'nbe2e.log': `${BASE}/api/v1/boot/log` },
    },
  });
  expect(profile.status, profile.body).toBe(201);
  const device = http('POST', '/netboot/api/devices', { token, body: { mac, hostname: id, profileId: id } });
  expect(device.status, device.body).toBe(201);
  return token;
}

function inOrder(got: string[], want: string[]): boolean {
  let i = 0;
  for (const g of got) if (g === want[i]) i++;
  return i === want.length;
}

/** What the boot disk of the iSCSI cases prints from its MBR (straight to COM1) before it powers off. */
const SAN_MARKER = 'NBE2E: sanboot-mbr-ok';

interface IscsiBoot {
  vm: VmResult;
  con: string;
  /** The VM's address (router lease). */
  ip?: string;
  pdus: IscsiPdu[];
  /** `initiator-name address` pairs tgtd listed as logged in (I_T nexus) while the VM ran or just after. */
  nexus: string[];
  why: string;
}

/**
 * Boots a BIOS VM (iPXE ROM) against the server's tgtd (which its netboot-iscsi node runs in the
 * server namespace); captures the server's eth0 and polls tgtd's nexus list during the boot. The VM
 * runs until it powers off (the disk's MBR does that after its marker).
 */
async function iscsiBoot(name: string, mac: string): Promise<IscsiBoot> {
  const nexus = new Set<string>();
  const cap = await startCapture(name, 150);
  let vm!: VmResult;
  try {
    const boot = bootVm(name, { fw: 'bios', mac, timeout: 120, expect: ['Booting from SAN device 0x80', SAN_MARKER] });
    let running = true;
    void boot.then(() => (running = false));
    const poll = () => {
      const show = tgtAdm(['--op', 'show', '--mode', 'target']).stdout;
      // this machine's sessions only (an earlier case's machine may still be listed)
      for (const m of show.matchAll(/Initiator: (\S+)[\s\S]*?IP Address: (\S+)/g)) if (m[1].endsWith(`:device-${mac.replace(/:/g, '-')}`)) nexus.add(`${m[1]} ${m[2]}`);
    };
    while (running) {
      poll();
      await new Promise((res) => setTimeout(res, 200));
    }
    vm = await boot;
    // a VM that powered off from the SAN disk never logged out: tgtd still lists its session
    poll();
  } finally {
    await cap.stop();
  }
  const ip = leased(readCapture(cap.file), mac);
  const pdus = readIscsi(cap.file);
  return { vm, con: plain(vm.serial), ip, pdus, nexus: [...nexus], why: `\n--- tgtd nexus seen: ${[...nexus].join(', ') || 'none'}` };
}

/** tgtd listed the VM as logged in, and the wire shows a successful login to `iqn` from the VM's address as `initiator`. */
function expectIscsiLogin(r: IscsiBoot, iqn: string, initiator: string, why: string): void {
  expect(r.ip, `the router leased an address${why}`).toBeDefined();
  // the wire: Login Request (0x03) naming the target, Login Response (0x23) with status 0 (success)
  const login = r.pdus.find((p) => p.opcode === 0x03 && p.src === r.ip && p.keys.includes(`TargetName=${iqn}`));
  expect(login, `an iSCSI login to ${iqn} from ${r.ip}: ${JSON.stringify(r.pdus.slice(0, 4))}${why}`).toBeDefined();
  expect(login!.keys, 'iPXE logs in with the initiator name our script set (the one the ACL allows)').toContain(`InitiatorName=${initiator}`);
  expect(r.pdus.some((p) => p.opcode === 0x23 && p.src === SERVER_IP && p.dst === r.ip && p.loginStatus === 0), `a successful Login Response${why}`).toBe(true);
  // tgtd's own account: the session reached the full-feature phase (an I_T nexus) from the VM's address
  for (const n of r.nexus) expect(n, 'tgtd lists the initiator on the wire, from the VM\'s address').toBe(`${initiator} ${r.ip}`);
}

/** iPXE attached the target as BIOS drive 0x80 and booted it; the disk's MBR ran, printed its marker and powered off. */
function expectSanBoot(r: IscsiBoot, why: string): void {
  // the machine went down holding its session: tgtd still listed it
  expect(r.nexus.length, `tgtd's nexus list named the VM${why}`).toBe(1);
  expect(r.con, why).toContain('Registered SAN device 0x80');
  expect(r.con, why).toContain('Booting from SAN device 0x80');
  expect(r.con, why).toContain(SAN_MARKER);
  expect(r.vm.rc, why).toBe(0);
  // READ(10) of the boot sector (LBA 0), answered with data (SCSI Data-In) by the target
  expect(r.pdus.some((p) => p.opcode === 0x01 && p.src === r.ip && p.cdb === 0x28), `READ(10) from the VM${why}`).toBe(true);
  expect(r.pdus.some((p) => p.opcode === 0x25 && p.src === SERVER_IP && p.dst === r.ip), `SCSI Data-In from the target${why}`).toBe(true);
}

describe('network boot through our server (e2e)', () => {
  let server: Server;

  beforeAll(async () => {
    labUp();
    server = await startServer();
  }, 120_000);

  afterAll(async () => {
    await stopAll();
    await server?.stop();
    await stopLeftoverTgt();
    labDown();
    writeFileSync(path.join(ARTIFACTS, 'timings.json'), JSON.stringify(timings, null, 2) + '\n');
    console.log(`e2e timings (s): ${JSON.stringify(timings)}`);
  }, 60_000);

  it('1. BIOS PC, iPXE option ROM: router DHCP + our proxy OFFER → HTTP menu.ipxe → the script runs', async () => {
    const mac = '52:54:00:81:00:01';
    const menu = menuFor(mac, 'pcbios', 'i386');
    const url = `${BASE}/boot/menu.ipxe`;
    const cap = await startCapture('1-bios-ipxe-rom', 150);
    const vm = await bootVm('1-bios-ipxe-rom', {
      fw: 'bios', mac, timeout: 120, stopOnExpect: true,
      expect: [`Filename: ${url}?mac=${dashed(mac)}`, `${url}...`, ...(menu.marker ? [`${url}... ok`, menu.marker] : [])],
    });
    await cap.stop();
    timings['1-bios-ipxe-rom'] = vm.seconds;
    const con = plain(vm.serial);
    const why = explain(vm, server);

    // the console: iPXE took next-server and the URL from our proxy OFFER and fetched it
    expect(vm.rc, why).toBe(0);
    expect(con, why).toContain(`Next server: ${SERVER_IP}`);
    expect(con, why).toContain(`Filename: ${url}?mac=${dashed(mac)}`);
    if (menu.ok) {
      expect(con, why).toContain(`${url}... ok`);
      expect(con.replace(/\n/g, ''), `menu.ipxe ran: its line "${menu.marker}" is on the console${why}`).toContain(menu.marker!);
    } else {
      console.warn(`case 1: /boot/menu.ipxe answers ${menu.status}; only the chain up to the HTTP request is checked`);
    }

    // the wire, seen from the server
    const pk = readCapture(cap.file);
    const discover = pk.find((p) => p.proto === 'dhcp' && p.dhcpType === DHCP.DISCOVER && p.chaddr === mac);
    expect(discover?.vendorClass, 'the ROM announces BIOS PXE').toMatch(/^PXEClient:Arch:00000:/);
    expect(discover?.userClass, 'QEMU\'s BIOS ROM is iPXE: user class iPXE').toBe('iPXE');
    const ip = leased(pk, mac);
    expect(ip?.startsWith(`${NET}.1`) && /\.1\d\d$/.test(ip), `the router (udhcpd) leased an address from its pool: ${ip}`).toBe(true);
    const ours = pk.filter((p) => p.proto === 'dhcp' && p.dhcpType === DHCP.OFFER && p.src === SERVER_IP && p.chaddr === mac);
    expect(ours.length, 'our proxy OFFER').toBeGreaterThan(0);
    expect(ours[0]).toMatchObject({ sport: 67, dport: 68, yiaddr: '0.0.0.0', siaddr: SERVER_IP });
    expect(ours[0].file).toBe(`${url}?mac=\${netX/mac:hexhyp}&uuid=\${uuid}&arch=\${buildarch}&platform=\${platform}`);
    // an iPXE client never gets undionly.kpxe (that would chainload iPXE forever)
    expect(pk.filter((p) => p.proto === 'tftp' && p.opcode === 1 && p.src === ip), 'no TFTP for an iPXE ROM').toEqual([]);
    const get = pk.find((p) => p.proto === 'http' && p.method === 'GET' && p.src === ip && p.uri?.startsWith(`/boot/menu.ipxe?mac=${dashed(mac)}&`));
    expect(get, `HTTP GET /boot/menu.ipxe from ${ip}`).toBeDefined();
    if (menu.ok) expect(pk.some((p) => p.proto === 'http' && p.code === 200 && p.src === SERVER_IP && p.dst === ip)).toBe(true);
  }, 200_000);

  // QEMU's BIOS ROMs are all iPXE (user class iPXE), so the vendor-PXE-ROM → undionly.kpxe step of a
  // real PC cannot happen in a VM (case 1 rightly gets the URL at once). This covers that step on the
  // wire: a non-iPXE BIOS PXE client look-alike in the client namespace, our OFFER, our TFTP.
  it('1b. BIOS PXE ROM look-alike (not iPXE): our proxy OFFER names undionly.kpxe, TFTP delivers it byte for byte', () => {
    const t0 = Date.now();
    const r = sh('ip', ['netns', 'exec', NS.cli, process.execPath, path.join(LAB_DIR, 'pxe-probe.cjs'), '--server', SERVER_IP, '--broadcast', `${NET}.255`, '--mac', '52:54:00:81:00:0b', '--timeout', '20'], { timeout: 30_000 });
    timings['1b-bios-pxe-lookalike'] = (Date.now() - t0) / 1000;
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout.trim()) as { offer: Record<string, string>; tftp: { bytes: number; sha256: string; blksize: number; tsize?: number } };
    expect(got.offer).toMatchObject({ yiaddr: '0.0.0.0', siaddr: SERVER_IP, file: 'undionly.kpxe', vendorClass: 'PXEClient' });
    // option 43, PXE discovery control (sub-option 6) = 8: boot the file named here, no discovery
    expect(got.offer.option43).toMatch(/^(..)*060108/);
    const undionly = readFileSync('/usr/lib/ipxe/undionly.kpxe');
    expect(got.tftp).toEqual({ bytes: undionly.length, sha256: createHash('sha256').update(undionly).digest('hex'), blksize: 1432, tsize: undionly.length });
  }, 60_000);

  it('2. UEFI x86-64 PC, EDK2 PXE: proxy OFFER → 4011 REQUEST/ACK → TFTP ipxe.efi → iPXE → HTTP menu.ipxe', async () => {
    const mac = '52:54:00:81:00:02';
    const menu = menuFor(mac, 'efi', 'x86_64');
    const url = `${BASE}/boot/menu.ipxe`;
    const cap = await startCapture('2-uefi-pxe', 200);
    const vm = await bootVm('2-uefi-pxe', {
      fw: 'uefi', mac, timeout: 170, stopOnExpect: true,
      expect: ['NBP file downloaded successfully', `Filename: ${url}?mac=${dashed(mac)}`, `${url}...`, ...(menu.marker ? [`${url}... ok`, menu.marker] : [])],
    });
    await cap.stop();
    timings['2-uefi-pxe'] = vm.seconds;
    const con = plain(vm.serial);
    const why = explain(vm, server);

    expect(vm.rc, why).toBe(0);
    expect(con, why).toContain('NBP filename is ipxe.efi');
    expect(con, why).toContain('NBP file downloaded successfully');
    expect(con, why).toMatch(/iPXE initialising devices/);
    expect(con, why).toContain(`Filename: ${url}?mac=${dashed(mac)}`);
    if (menu.ok) {
      expect(con, why).toContain(`${url}... ok`);
      expect(con.replace(/\n/g, ''), `menu.ipxe ran: "${menu.marker}"${why}`).toContain(menu.marker!);
    } else {
      console.warn(`case 2: /boot/menu.ipxe answers ${menu.status}; only the chain up to the HTTP request is checked`);
    }

    const pk = readCapture(cap.file);
    const dhcp = pk.filter((p) => p.proto === 'dhcp' && p.chaddr === mac);
    const firstDiscover = dhcp.find((p) => p.dhcpType === DHCP.DISCOVER);
    expect(firstDiscover?.vendorClass, 'EDK2 PXE, arch 7').toMatch(/^PXEClient:Arch:00007:UNDI:003000/);
    expect(firstDiscover?.userClass).toBeUndefined();
    const ip = leased(pk, mac);
    expect(ip, 'the router leased an address').toBeDefined();
    // proxy OFFER on 67: no address, our siaddr, the UEFI NBP
    const offer = dhcp.find((p) => p.dhcpType === DHCP.OFFER && p.src === SERVER_IP && p.xid === firstDiscover?.xid);
    expect(offer, 'our proxy OFFER to the firmware').toMatchObject({ sport: 67, yiaddr: '0.0.0.0', siaddr: SERVER_IP, file: 'ipxe.efi', vendorClass: 'PXEClient' });
    // boot-server discovery: unicast REQUEST to our 4011, ACK from 4011
    const req4011 = dhcp.find((p) => p.dhcpType === DHCP.REQUEST && p.dst === SERVER_IP && p.dport === 4011);
    expect(req4011, 'REQUEST to our port 4011').toMatchObject({ src: ip });
    const ack4011 = dhcp.find((p) => p.dhcpType === DHCP.ACK && p.src === SERVER_IP && p.sport === 4011 && p.xid === req4011?.xid);
    expect(ack4011, 'our ACK from 4011').toMatchObject({ dst: ip, file: 'ipxe.efi', siaddr: SERVER_IP });
    // TFTP: the firmware's size probe, then one complete transfer of exactly the file
    const transfers = tftpTransfers(pk, ip!, 'ipxe.efi');
    const done = transfers.filter((t) => t.complete);
    expect(done.length, `a complete TFTP transfer of ipxe.efi: ${JSON.stringify(transfers)}`).toBeGreaterThanOrEqual(1);
    expect(done[0].bytes).toBe(fileSize('/usr/lib/ipxe/ipxe.efi'));
    // chain-loaded iPXE asks again, as iPXE, and gets the HTTP URL; no second TFTP
    const ipxeDiscover = dhcp.find((p) => p.dhcpType === DHCP.DISCOVER && p.userClass === 'iPXE');
    expect(ipxeDiscover?.vendorClass).toMatch(/^PXEClient:Arch:00007:/);
    const ipxeOffer = dhcp.find((p) => p.dhcpType === DHCP.OFFER && p.src === SERVER_IP && p.xid === ipxeDiscover?.xid);
    expect(ipxeOffer?.file).toMatch(new RegExp(`^${url.replace(/[.?]/g, '\\$&')}\\?mac=`));
    expect(pk.some((p) => p.proto === 'http' && p.method === 'GET' && p.src === ip && p.uri?.startsWith(`/boot/menu.ipxe?mac=${dashed(mac)}&`))).toBe(true);

    // the server's timeline saw the same boot, stage by stage
    const stages = timelineStages(mac, login());
    expect(inOrder(stages, ['dhcp', 'firmware-tftp', 'ipxe', 'script']), stages.join(' → ')).toBe(true);
  }, 260_000);

  it('3. known BIOS PC with a profile: menu.ipxe boots its kernel + initrd from /boot/assets, Linux POSTs /api/v1/boot/log', async () => {
    const mac = '52:54:00:81:00:03';
    const token = enrolLinux(server.assets, mac, 'e2e-linux');

    // what the machine will get: a kernel script naming our assets (pending until that exists)
    const script = http('GET', `/boot/menu.ipxe?mac=${dashed(mac)}&arch=x86_64&platform=pcbios`);
    expect(script.status, `PENDING: /boot/menu.ipxe does not answer a known machine: ${script.body}`).toBe(200);
    expect(script.body, 'PENDING: no kernel script for a machine with a profile').toContain(`kernel ${BASE}/boot/assets/e2e/vmlinuz`);
    expect(http('GET', '/boot/assets/e2e/initrd.gz').status, 'PENDING: /boot/assets does not serve files').toBe(200);

    // the cloud kernel has no e1000 driver: virtio-net (its QEMU ROM is iPXE as well)
    const vm = await bootVm('3-bios-known-linux', { fw: 'bios', nic: 'virtio-net-pci', mac, timeout: 150, expect: ['NBE2E: boot-log-posted', 'NBE2E: poweroff'] });
    timings['3-bios-known-linux'] = vm.seconds;
    const con = plain(vm.serial);
    const why = explain(vm, server);
    expect(vm.rc, why).toBe(0);
    // iPXE may print its progress (`... 89%     ok`) when the download takes a moment
    expect(con, why).toMatch(new RegExp(`${BASE}/boot/assets/e2e/vmlinuz\\.\\.\\.[ \\d%]*ok`));
    expect(con, why).toMatch(new RegExp(`${BASE}/boot/assets/e2e/initrd\\.gz\\.\\.\\.[ \\d%]*ok`));
    expect(con, why).toContain(`nbe2e.log=${BASE}/api/v1/boot/log`);
    const up = con.match(/NBE2E: network-up mac=(\S+) ip=([\d.]+)/);
    expect(up?.[1], why).toBe(mac);
    const ip = up![2];
    expect(con, why).toMatch(/NBE2E: boot-log-posted attempt=\d+ answer=\{"ok":true,"seq":\d+\}/);

    // the POST is stored as the device's boot event
    const events = http('GET', `/netboot/api/devices/${mac}/events`, { token });
    expect(events.status, events.body).toBe(200);
    const logged = events.json<Array<{ type: string; mac: string; ip?: string; message?: string; data?: { stage?: string } }>>()
      .filter((e) => e.type === 'boot.log' && e.data?.stage === 'e2e-linux');
    expect(logged, events.body).toHaveLength(1);
    expect(logged[0]).toMatchObject({ mac, ip, message: `linux initramfs up ip=${ip}` });

    // and the timeline went from iPXE through the script and the kernel to the OS
    const stages = timelineStages(mac, token);
    expect(inOrder(stages, ['script', 'kernel', 'os']), stages.join(' → ')).toBe(true);
    // and the menu request was a check-in of the known device
    // (an HTTP check-in is anonymous: its firmware is a reported fact, docs/security.md)
    const dev = http('GET', `/netboot/api/devices/${mac}`, { token }).json<{ lastIp?: string; reported?: { firmware?: string }; lastSeen?: string }>();
    expect(dev).toMatchObject({ lastIp: ip, reported: { firmware: 'pcbios' } });
  }, 420_000);
  it('3c. known UEFI PC with a profile: OVMF PXE → ipxe.efi → kernel script names its initrd (initrd=), Linux runs its initramfs', async () => {
    const mac = '52:54:00:81:00:1c';
    const token = enrolLinux(server.assets, mac, 'e2e-linux-efi');

    // Debian's iPXE (2019) gives a UEFI kernel its initrd only as a file named on its command line:
    // without initrd= the kernel starts with no initramfs and panics (no root file system)
    const vm = await bootVm('3c-uefi-known-linux', { fw: 'uefi', mac, timeout: 200, expect: ['NBE2E: boot-log-posted', 'NBE2E: poweroff'] });
    timings['3c-uefi-known-linux'] = vm.seconds;
    const con = plain(vm.serial);
    const why = explain(vm, server);
    expect(vm.rc, why).toBe(0);
    expect(con, why).toContain('NBP file downloaded successfully');
    expect(con, why).toMatch(new RegExp(`${BASE}/boot/assets/e2e/initrd\\.gz\\.\\.\\.[ \\d%]*ok`));
    expect(con, why).toContain('initrd=initrd.gz');
    expect(con, why).not.toContain('Unable to mount root fs');
    expect(con, why).toMatch(/NBE2E: linux-up/);
    expect(con, why).toMatch(/NBE2E: boot-log-posted attempt=\d+ answer=\{"ok":true,"seq":\d+\}/);
    const dev = http('GET', `/netboot/api/devices/${mac}`, { token }).json<{ reported?: { firmware?: string } }>();
    expect(dev).toMatchObject({ reported: { firmware: 'efi' } });
  }, 300_000);
  it('3b. installer config: a machine fetches its own document with the token in its script, another machine is refused, completion → local disk', async () => {
    const a = '52:54:00:81:00:18';
    const b = '52:54:00:81:00:19';
    const token = login();
    const made = http('POST', '/netboot/api/configs', { token, body: { id: 'e2e-talos', name: 'e2e talos', format: 'talos', template: 'version: v1alpha1\nmachine:\n  type: worker\n  marker: {{labels.marker}}\n' } });
    expect(made.status, made.body).toBe(201);
    const profile = http('POST', '/netboot/api/profiles', {
      token, body: { id: 'e2e-install', name: 'e2e install', type: 'talos', kernel: 'e2e/vmlinuz', initrd: ['e2e/initrd.gz'], cmdline: { console: 'ttyS0', panic: '-1', 'nbe2e.done': '1' }, configs: ['e2e-talos'] },
    });
    expect(profile.status, profile.body).toBe(201);
    expect(http('POST', '/netboot/api/devices', { token, body: { mac: a, hostname: 'e2e-install', profileId: 'e2e-install', labels: { marker: 'only-a-7f3a' } } }).status).toBe(201);

    const va = await bootVm('3b-install-config', { fw: 'bios', nic: 'virtio-net-pci', mac: a, timeout: 150, expect: ['NBE2E: install-done', 'NBE2E: poweroff'] });
    timings['3b-install-config'] = va.seconds;
    const ca = plain(va.serial);
    const why = explain(va, server);
    expect(va.rc, why).toBe(0);
    const cfgUrl = /talos\.config=(\S+\/talos\.yaml)/.exec(ca)?.[1];
    expect(cfgUrl, `the kernel command line names the machine's config folder${why}`).toMatch(new RegExp(`^${BASE}/boot/configs/52-54-00-81-00-18/v1\\.[0-9a-z]+\\.a\\.[A-Za-z0-9_-]{32}/talos\\.yaml$`));
    expect(ca, why).toContain('NBE2E: config-fetched   marker: "only-a-7f3a"');
    expect(ca, why).toContain('NBE2E: install-done ok');

    // a second machine holding the first one's URL (token and all) is refused
    expect(http('POST', '/netboot/api/profiles', { token, body: { id: 'e2e-steal', name: 'e2e steal', type: 'custom', kernel: 'e2e/vmlinuz', initrd: ['e2e/initrd.gz'], cmdline: { console: 'ttyS0', panic: '-1', 'nbe2e.steal': cfgUrl! } } }).status).toBe(201);
    expect(http('POST', '/netboot/api/devices', { token, body: { mac: b, hostname: 'e2e-steal', profileId: 'e2e-steal' } }).status).toBe(201);
    const vb = await bootVm('3b-steal-config', { fw: 'bios', nic: 'virtio-net-pci', mac: b, timeout: 150, expect: ['NBE2E: steal-', 'NBE2E: poweroff'] });
    const cb = plain(vb.serial);
    expect(cb, explain(vb, server)).toMatch(/NBE2E: steal-refused .*403/);
    expect(cb).not.toContain('only-a-7f3a');

    // the completion report: ready, the next script boots the local disk; the timeline shows config → installed
    const dev = http('GET', `/netboot/api/devices/${a}`, { token }).json<{ status: string; labels: Record<string, string> }>();
    expect(dev).toMatchObject({ status: 'ready', labels: { 'netboot.installed': 'e2e-install' } });
    expect(http('GET', `/boot/menu.ipxe?mac=${dashed(a)}&arch=x86_64&platform=pcbios`).body).toMatch(/# netboot: local script/);
    const stages = timelineStages(a, token);
    expect(inOrder(stages, ['kernel', 'os', 'config', 'installed']), stages.join(' → ')).toBe(true);
  }, 400_000);

  it('4. UEFI HTTP boot (OVMF HTTPClient, arch 16): our OFFER names /boot/assets/ipxe.efi → HEAD+GET → iPXE → HTTP menu.ipxe', async () => {
    const mac = '52:54:00:81:00:04';
    const menu = menuFor(mac, 'efi', 'x86_64');
    const url = `${BASE}/boot/menu.ipxe`;
    const nbp = `${BASE}/boot/assets/ipxe.efi`;
    const cap = await startCapture('4-uefi-httpboot', 150);
    const vm = await bootVm('4-uefi-httpboot', {
      fw: 'uefi-http', mac, timeout: 120, stopOnExpect: true,
      expect: [`URI: ${nbp}`, `Filename: ${url}?mac=${dashed(mac)}`, `${url}...`, ...(menu.marker ? [`${url}... ok`, menu.marker] : [])],
    });
    await cap.stop();
    timings['4-uefi-httpboot'] = vm.seconds;
    const con = plain(vm.serial);
    const why = explain(vm, server);
    expect(vm.rc, why).toBe(0);
    expect(con, why).toContain('Start HTTP Boot over IPv4');
    expect(con, why).toContain(`URI: ${nbp}`);
    expect(con, why).toContain(`File Size: ${fileSize('/usr/lib/ipxe/ipxe.efi')} Bytes`);
    expect(con, why).toMatch(/iPXE initialising devices/);
    if (menu.ok) expect(con.replace(/\n/g, ''), `menu.ipxe ran: "${menu.marker}"${why}`).toContain(menu.marker!);

    const pk = readCapture(cap.file);
    const dhcp = pk.filter((p) => p.proto === 'dhcp' && p.chaddr === mac);
    const discover = dhcp.find((p) => p.dhcpType === DHCP.DISCOVER);
    expect(discover?.vendorClass).toMatch(/^HTTPClient:Arch:00016:/);
    const offer = dhcp.find((p) => p.dhcpType === DHCP.OFFER && p.src === SERVER_IP && p.xid === discover?.xid);
    // UEFI HTTP boot wants option 60 "HTTPClient" echoed and a URL as the boot file
    expect(offer, 'our OFFER to the HTTP boot client').toMatchObject({ yiaddr: '0.0.0.0', vendorClass: 'HTTPClient', file: nbp });
    const ip = leased(pk, mac);
    const reqs = pk.filter((p) => p.proto === 'http' && p.src === ip && p.uri === '/boot/assets/ipxe.efi').map((p) => p.method);
    expect(reqs, 'the firmware asks HEAD, then GET').toEqual(['HEAD', 'GET']);
    expect(pk.filter((p) => p.proto === 'http' && p.src === SERVER_IP && p.dst === ip && p.code === 200).length).toBeGreaterThanOrEqual(2);
    expect(pk.some((p) => p.proto === 'http' && p.method === 'GET' && p.src === ip && p.uri?.startsWith(`/boot/menu.ipxe?mac=${dashed(mac)}&`))).toBe(true);
  }, 200_000);

  // Debian 12 ships no arm64 iPXE: without E2E_ARM64_IPXE (a path to one) the case proves the
  // exchange up to the TFTP request for our arm64 file name, which our server answers "file not found".
  it('5. arm64 UEFI (AAVMF, arch 11): proxy OFFER → 4011 → TFTP ipxe-arm64.efi', async () => {
    const mac = '52:54:00:81:00:05';
    const arm64Ipxe = process.env.E2E_ARM64_IPXE;
    if (arm64Ipxe) copyFileSync(arm64Ipxe, path.join(server.assets, 'ipxe-arm64.efi'));
    const url = `${BASE}/boot/menu.ipxe`;
    const cap = await startCapture('5-arm64-pxe', 150);
    const vm = await bootVm('5-arm64-pxe', {
      fw: 'arm64', mac, timeout: 120, stopOnExpect: true,
      expect: arm64Ipxe ? ['NBP file downloaded successfully', `${url}...`] : ['NBP filename is ipxe-arm64.efi', 'PXE-E23'],
    });
    await cap.stop();
    timings['5-arm64-pxe'] = vm.seconds;
    const why = explain(vm, server);
    expect(vm.rc, why).toBe(0);

    const pk = readCapture(cap.file);
    const dhcp = pk.filter((p) => p.proto === 'dhcp' && p.chaddr === mac);
    const discover = dhcp.find((p) => p.dhcpType === DHCP.DISCOVER);
    expect(discover?.vendorClass).toMatch(/^PXEClient:Arch:00011:/);
    const offer = dhcp.find((p) => p.dhcpType === DHCP.OFFER && p.src === SERVER_IP && p.xid === discover?.xid);
    expect(offer).toMatchObject({ yiaddr: '0.0.0.0', siaddr: SERVER_IP, file: 'ipxe-arm64.efi' });
    const ip = leased(pk, mac);
    const req = dhcp.find((p) => p.dhcpType === DHCP.REQUEST && p.dst === SERVER_IP && p.dport === 4011);
    expect(req).toMatchObject({ src: ip });
    expect(dhcp.find((p) => p.dhcpType === DHCP.ACK && p.sport === 4011 && p.xid === req?.xid)).toMatchObject({ file: 'ipxe-arm64.efi' });
    const rrq = pk.filter((p) => p.proto === 'tftp' && p.opcode === 1 && p.src === ip && p.tftpFile === 'ipxe-arm64.efi');
    expect(rrq.length, 'TFTP read of ipxe-arm64.efi').toBeGreaterThan(0);
    if (arm64Ipxe) {
      expect(tftpTransfers(pk, ip!, 'ipxe-arm64.efi').some((t) => t.complete && t.bytes === fileSize(arm64Ipxe))).toBe(true);
    } else {
      // TFTP ERROR (opcode 5) code 1 back to the client's port
      expect(pk.some((p) => p.proto === 'tftp' && p.opcode === 5 && p.src === SERVER_IP && p.dst === ip && p.dport === rrq[0].sport)).toBe(true);
    }
  }, 200_000);
  it('6. unknown BIOS PC: iPXE ROM → proxy OFFER → HTTP menu, default "register" → registration image → register.sh enrols it', async () => {
    const mac = '52:54:00:81:00:06';
    const token = login();
    const linux = buildLinuxAssets();
    // where /boot/register.ipxe looks without a `register` profile: registration/vmlinuz + registration/initrd.img
    mkdirSync(path.join(server.assets, 'registration'), { recursive: true });
    copyFileSync(linux.vmlinuz, path.join(server.assets, 'registration', 'vmlinuz'));
    copyFileSync(linux.registration, path.join(server.assets, 'registration', 'initrd.img'));
    expect(http('GET', `/netboot/api/devices/${mac}`, { token }).status, 'the machine is unknown before it boots').toBe(404);

    // the menu picks "register" by itself after 1 s; the other cases keep the settings they had
    const before = http('GET', '/netboot/api/settings', { token });
    expect(before.status, before.body).toBe(200);
    const previous = before.json<{ menuDefault: string; menuTimeoutMs: number }>();
    const put = http('PUT', '/netboot/api/settings', { token, body: { menuDefault: 'register', menuTimeoutMs: 1000 } });
    expect(put.status, put.body).toBe(200);
    let vm!: VmResult;
    let cap!: Awaited<ReturnType<typeof startCapture>>;
    let menu!: ReturnType<typeof menuFor>;
    try {
      menu = menuFor(mac, 'pcbios', 'x86_64');
      expect(menu.ok, `the menu for an unknown machine: ${menu.status} ${menu.body}`).toBe(true);
      expect(menu.body).toContain('choose --default nb_register --timeout 1000 ');
      const register = http('GET', `/boot/register.ipxe?mac=${dashed(mac)}&arch=x86_64&platform=pcbios`);
      expect(register.status, register.body).toBe(200);
      expect(register.body).toContain(`kernel ${BASE}/boot/assets/registration/vmlinuz initrd=initrd.img netboot_server=${BASE} netboot_mac=\${netX/mac:hexhyp}`);
      expect(register.body).toContain(`initrd --name initrd.img ${BASE}/boot/assets/registration/initrd.img`);

      cap = await startCapture('6-bios-unknown-register', 170);
      // virtio-net: the cloud kernel has no e1000 driver (QEMU's virtio ROM is iPXE too); the image powers off itself
      vm = await bootVm('6-bios-unknown-register', { fw: 'bios', nic: 'virtio-net-pci', mac, timeout: 150, expect: ['NBE2E: register-done', 'NBE2E: poweroff'] });
      await cap.stop();
    } finally {
      const restored = http('PUT', '/netboot/api/settings', { token, body: { menuDefault: previous.menuDefault, menuTimeoutMs: previous.menuTimeoutMs } });
      expect(restored.status, restored.body).toBe(200);
    }
    timings['6-bios-unknown-register'] = vm.seconds;
    const con = plain(vm.serial);
    const flat = con.replace(/\n/g, '');
    const why = explain(vm, server);
    expect(vm.rc, why).toBe(0);

    // the console: the menu, its default after the timeout, the registration script, kernel and initrd
    expect(flat, `the menu ran: "${menu.marker}"${why}`).toContain(menu.marker!);
    expect(con, why).toContain('netboot: Registering this device');
    expect(con, why).toContain('netboot: Starting hardware registration');
    // iPXE prints percentages while a download takes a while (a loaded machine): "vmlinuz... 32%  82%  ok"
    const fetched = (file: string) => new RegExp(`${BASE.replace(/\./g, '\\.')}/boot/assets/registration/${file.replace(/\./g, '\\.')}\\.\\.\\.(\\s+\\d{1,3}%)*\\s*ok`);
    expect(flat, why).toMatch(fetched('vmlinuz'));
    expect(flat, why).toMatch(fetched('initrd.img'));
    // Linux: the command line our server wrote, the network, the real register.sh, its answer
    expect(con, why).toMatch(new RegExp(`NBE2E: cmdline .*netboot_server=${BASE.replace(/\./g, '\\.')} netboot_mac=${dashed(mac)}`));
    const up = con.match(/NBE2E: network-up mac=(\S+) ip=([\d.]+)/);
    expect(up?.[1], why).toBe(mac);
    const ip = up![2];
    const sha = createHash('sha256').update(readFileSync(path.join(REPO, 'boot-assets', 'registration', 'register.sh'))).digest('hex');
    expect(con, `the image ran this repository's register.sh${why}`).toContain(`NBE2E: register.sh sha256=${sha}`);
    expect(con, why).toContain(`NBE2E: register.sh: netboot-register: registered ${mac}`);
    expect(con, why).toContain('NBE2E: register-done rc=0');
    // the server's answer to the POST, as register.sh printed it
    expect(con, why).toContain(`NBE2E: register.sh-answer {"status":"enrolled","mac":"${mac}","created":true}`);
    const dry = con.match(/NBE2E: register-dry-run (\{.*\})\s*$/m);
    expect(dry, `register.sh's own JSON on the console${why}`).not.toBeNull();
    const collected = JSON.parse(dry![1]) as { mac_address: string; hardware: Record<string, unknown> & { memory: { total_kb: number } } };
    expect(collected.mac_address).toBe(mac);

    // the inventory: the device exists now, enrolled, with the facts of this VM as register.sh collected them
    const res = http('GET', `/netboot/api/devices/${mac}`, { token });
    expect(res.status, res.body).toBe(200);
    const dev = res.json<{ mac: string; status: string; hardware?: Record<string, unknown> & { manufacturer?: string; memory?: { total_kb?: number } } }>();
    expect(dev).toMatchObject({ mac, status: 'enrolled' });
    expect(dev.hardware, 'stored hardware = what register.sh collected').toEqual(collected.hardware);
    expect(dev.hardware?.manufacturer).toBe('QEMU');
    // -m 512: MemTotal is a little under 512 MiB
    expect(dev.hardware?.memory?.total_kb).toBeGreaterThan(400 * 1024);
    expect(dev.hardware?.memory?.total_kb).toBeLessThanOrEqual(512 * 1024);

    // its history: the enrolment, once, from the VM's address
    const events = http('GET', `/netboot/api/devices/${mac}/events`, { token });
    expect(events.status, events.body).toBe(200);
    const enrolls = events.json<Array<{ type: string; mac: string; ip?: string; message?: string }>>().filter((e) => e.type === 'enroll');
    expect(enrolls, events.body).toHaveLength(1);
    expect(enrolls[0], events.body).toMatchObject({ mac, ip, message: 'enrolled' });

    // the wire: the menu, the registration script and image over HTTP, then the POST from Linux
    const pk = readCapture(cap.file);
    const http_ = pk.filter((p) => p.proto === 'http' && p.src === ip);
    const uris = http_.map((p) => `${p.method} ${p.uri?.split('?')[0]}`);
    expect(inOrder(uris, ['GET /boot/menu.ipxe', 'GET /boot/register.ipxe', 'GET /boot/assets/registration/vmlinuz', 'GET /boot/assets/registration/initrd.img', 'POST /api/v1/enroll']), uris.join(', ')).toBe(true);

    // and the timeline: the script, the kernel, then the OS (the enrolment)
    const stages = timelineStages(mac, token);
    expect(inOrder(stages, ['script', 'kernel', 'os']), stages.join(' → ')).toBe(true);
  }, 420_000);
  // The disk is made and served by the reference flow's netboot-iscsi node (tgtd in the server
  // namespace); the test only writes a boot sector onto it, as an installer would.
  it('6b. enrolled → building → ready → boot: the reference flow\'s build node makes the machine of case 6 its own initramfs, and it boots it', async () => {
    const mac = '52:54:00:81:00:06';
    const token = login();
    expect(http('GET', `/netboot/api/devices/${mac}`, { token }).json<{ status: string }>().status, 'case 6 enrolled it').toBe('enrolled');
    const linux = buildLinuxAssets();
    const asked = http('POST', `/netboot/api/devices/${mac}/build`, {
      token, body: { recipe: 'initramfs', params: { kernel: linux.vmlinuz, moddir: path.join(path.dirname(linux.vmlinuz), 'modules'), marker: 'own-image-6b', poweroff: '1' } },
    });
    expect(asked.status, asked.body).toBe(202);
    const id = asked.json<{ id: string }>().id;
    let build = { status: 'pending', error: '' };
    for (let i = 0; i < 240 && (build.status === 'pending' || build.status === 'building'); i++) {
      await new Promise((r) => setTimeout(r, 500));
      build = http('GET', `/netboot/api/builds/${id}`, { token }).json<typeof build>();
    }
    expect(build, http('GET', `/netboot/api/builds/${id}/log`, { token }).body).toMatchObject({ status: 'success' });
    expect(http('GET', `/netboot/api/devices/${mac}`, { token }).json<{ status: string; profileId: string }>()).toMatchObject({ status: 'ready', profileId: 'machine-525400810006' });

    const vm = await bootVm('6b-own-image', { fw: 'bios', nic: 'virtio-net-pci', mac, timeout: 150, expect: ['netboot-build: marker own-image-6b', 'netboot-build: powering off'] });
    timings['6b-own-image'] = vm.seconds;
    const con = plain(vm.serial);
    const why = explain(vm, server);
    expect(con, why).toContain(`${BASE}/boot/assets/machines/52-54-00-81-00-06/${id}/`); // iPXE cuts the line at 80 columns
    expect(con, why).toContain(`runs build ${id}`);
    expect(con, why).toContain('netboot-build: marker own-image-6b');
    // the machine's record: enrolment, the build, then the boot of its own image
    const types = http('GET', `/netboot/api/devices/${mac}/events`, { token }).json<Array<{ type: string }>>().map((e) => e.type);
    expect(inOrder(types, ['enroll', 'build.start', 'build.success']) || inOrder([...types].reverse(), ['enroll', 'build.start', 'build.success']), types.join(' ')).toBe(true);
    const stages = timelineStages(mac, token);
    expect(stages, stages.join(' → ')).toContain('kernel');
  }, 400_000);

  it('7. iSCSI: the iSCSI node makes a disk for a BIOS PC → menu.ipxe sanboots it from tgtd → the disk boots', async () => {
    const mac = '52:54:00:81:00:07';
    const iqn = 'iqn.2024-01.local.netboot:e2e-iscsi';
    const initiator = 'iqn.2024-01.local.netboot:device-52-54-00-81-00-07';
    const token = login();
    // a sparse 16 MiB disk: iPXE gives a SAN disk a 255-head, 63-sector geometry, and a disk under one
    // such cylinder (7.8 MiB) has 0 cylinders, so its INT 13 CHS read of the MBR fails
    const made = http('POST', '/netboot/api/iscsi/actions', { token, body: { action: 'create', id: 'e2e-iscsi', name: 'e2e iscsi disk', sizeBytes: 16 * 1024 * 1024, mac } });
    expect(made.status, made.body).toBe(201);
    expect(made.json()).toMatchObject({ iqn, lun: 1, state: 'ready', linked: [mac], acl: [initiator], uri: `iscsi:${SERVER_IP}:::1:${iqn}` });
    const disk = path.join(server.dataDir, 'disks', 'e2e-iscsi.img');
    const fd = openSync(disk, 'r+');
    writeSync(fd, markerMbr(SAN_MARKER), 0, 512, 0);
    closeSync(fd);
    // tgtd has the target, its disk as LUN 1 (LUN 0 is tgtd's controller) and only this machine in its ACL
    const show = tgtAdm(['--op', 'show', '--mode', 'target']).stdout;
    expect(show, show).toContain(`Target 1: ${iqn}`);
    expect(show, show).toMatch(new RegExp(`LUN: 1[\\s\\S]*Backing store path: ${disk.replace(/[.]/g, '\\.')}`));
    expect(show.split('ACL information:')[1]?.trim(), show).toBe(initiator);

    // what the machine will get: its initiator name, then sanboot with iscsi:<server>:<proto>:<port>:<LUN hex>:<target>
    const script = http('GET', `/boot/menu.ipxe?mac=${dashed(mac)}&arch=x86_64&platform=pcbios`);
    expect(script.status, script.body).toBe(200);
    expect(script.body).toContain(`set initiator-iqn ${initiator}`);
    const san = script.body.match(/^sanboot (?:--\S+ )*(iscsi:\S+)/m);
    expect(san, `a sanboot line in:\n${script.body}`).not.toBeNull();
    const uri = san![1];
    const [, host, proto, port, lunHex, target] = uri.match(/^iscsi:([^:]*):([^:]*):([^:]*):([^:]*):(.+)$/) ?? [];
    expect({ host, proto, port, lunHex, target }, uri).toEqual({ host: SERVER_IP, proto: '', port: '', lunHex: '1', target: iqn });

    const r = await iscsiBoot('7-bios-iscsi-sanboot', mac);
    timings['7-bios-iscsi-sanboot'] = r.vm.seconds;
    const why = explain(r.vm, server) + r.why + `\n--- script:\n${script.body}`;
    expect(r.con, why).toContain(`${BASE}/boot/menu.ipxe... ok`);
    expect(r.con, why).toContain('netboot: Booting e2e iscsi disk');
    expectIscsiLogin(r, iqn, initiator, why);
    expect(r.pdus.some((p) => p.opcode === 0x01 && p.src === r.ip && p.lun === 1), `SCSI commands to LUN 1, the one in our URI${why}`).toBe(true);
    expectSanBoot(r, why);
    // the timeline: the script, then the iSCSI login the node saw (it looks every 2 s)
    let stages = timelineStages(mac, token);
    for (let i = 0; i < 50 && !stages.includes('iscsi'); i++) {
      await new Promise((res) => setTimeout(res, 200));
      stages = timelineStages(mac, token);
    }
    expect(inOrder(stages, ['script', 'iscsi']), stages.join(' → ')).toBe(true);
    // the node's view: the machine is logged in (it powered off holding its session)
    const listed = http('GET', '/netboot/api/iscsi', { token });
    expect(listed.status, listed.body).toBe(200);
    const t = listed.json<{ targets: Array<{ image: string; sessions: Array<{ initiator: string; addresses: string[] }> }> }>().targets.find((x) => x.image === 'e2e-iscsi');
    expect(t?.sessions, listed.body).toEqual([{ initiator, addresses: [r.ip] }]);
  }, 300_000);

  it('7c. clean diskless session: the session API copies case 7\'s disk for a second PC, which sanboots the copy', async () => {
    const mac = '52:54:00:81:00:17';
    const initiator = 'iqn.2024-01.local.netboot:device-52-54-00-81-00-17';
    const token = login();
    const device = http('POST', '/netboot/api/devices', { token, body: { mac, hostname: 'e2e-clean' } });
    expect(device.status, device.body).toBe(201);
    const started = http('POST', '/netboot/api/sessions', { token, body: { mac, image: 'e2e-iscsi', mode: 'clean' } });
    expect(started.status, started.body).toBe(201);
    const s = started.json<{ id: string; state: string; detail: { served: string; copy: string }; target: { iqn: string; acl: string[] } }>();
    expect(s).toMatchObject({ state: 'active', detail: { served: `session-${s.id}`, copy: `sessions/${s.id}.img` }, target: { acl: [initiator] } });
    expect(existsSync(path.join(server.dataDir, 'disks', 'sessions', `${s.id}.img`))).toBe(true);
    // a second start for the same machine is refused while this one runs
    expect(http('POST', '/netboot/api/sessions', { token, body: { mac, image: 'e2e-iscsi', mode: 'clean' } }).status).toBe(409);

    const r = await iscsiBoot('7c-bios-clean-session', mac);
    timings['7c-bios-clean-session'] = r.vm.seconds;
    const why = explain(r.vm, server) + r.why;
    expectIscsiLogin(r, s.target.iqn, initiator, why);
    expectSanBoot(r, why);
    expect(r.con, why).toContain(`netboot: Booting e2e iscsi disk (session ${s.id})`);
    const active = http('GET', `/netboot/api/devices/${mac}/session`, { token });
    expect(active.status, active.body).toBe(200);
    // it powered off holding its session: the stop waits for the logout instead of pulling the disk
    const refused = http('POST', `/netboot/api/sessions/${s.id}/stop`, { token, body: {} });
    expect(refused.status, refused.body).toBe(409);
    const stopping = http('POST', `/netboot/api/sessions/${s.id}/stop`, { token, body: { afterLogout: true } });
    expect(stopping.status, stopping.body).toBe(200);
    expect(stopping.json<{ state: string }>().state).toBe('stopping');
    const events = http('GET', `/netboot/api/devices/${mac}/events`, { token });
    expect(events.body).toContain('session.start');
  }, 300_000);

  it('with no default route, the proxy OFFER still reaches the client (directed broadcast)', async () => {
    const before = server.output().length;
    sh('ip', ['-n', NS.srv, 'route', 'del', 'default']);
    try {
      const r = sh('ip', ['netns', 'exec', NS.cli, process.execPath, path.join(LAB_DIR, 'pxe-probe.cjs'), '--server', SERVER_IP, '--broadcast', `${NET}.255`, '--mac', '52:54:00:81:00:0c', '--timeout', '8'], { timeout: 20_000 });
      await new Promise((r) => setTimeout(r, 500)); // let the server's log lines arrive (sh() blocks)
      const log = server.output().slice(before);
      expect(r.status, `no OFFER reached the client; server log: ${log.split('\n').filter((l) => /ENETUNREACH/.test(l)).slice(0, 2).join(' | ')}`).toBe(0);
    } finally {
      sh('ip', ['-n', NS.srv, 'route', 'add', 'default', 'via', ROUTER_IP, 'dev', 'eth0']);
    }
  }, 60_000);
});
