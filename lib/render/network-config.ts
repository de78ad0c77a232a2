import { DEFAULT_BOOT_CONFIG } from '../dhcp/boot-answer';
import { NetbootError } from '../core/errors';
import { safeHostOrIp, safeToken, safeUrl } from './ipxe-safe';

/**
 * Snippets that point an existing DHCP server at this boot server: next-server / option 66 to our
 * TFTP, the boot file by architecture (option 67: the same files our own DHCP answers name,
 * `undionly.kpxe` for BIOS and `ipxe.efi` for x86-64 UEFI), and the iPXE user-class split (option 77 = "iPXE", or option 175 present) that
 * hands iPXE's second DHCP request the HTTP menu URL instead of the iPXE binary again
 * (protocols.md 2.5), which would loop forever.
 */
export const NETWORK_VENDORS = ['mikrotik', 'openwrt', 'dnsmasq', 'isc', 'pfsense'] as const;
export type NetworkVendor = (typeof NETWORK_VENDORS)[number];

export interface NetworkConfigInput {
  vendor: string;
  serverIp: string;
  httpBaseUrl: string;
  /** Path of the iPXE entry script; default `/boot/menu.ipxe`. */
  menuPath?: string;
  biosFile?: string;
  uefiFile?: string;
}

export interface NetworkConfig {
  vendor: NetworkVendor;
  menuUrl: string;
  text: string;
}

export function renderNetworkConfig(input: NetworkConfigInput): NetworkConfig {
  const vendor = input.vendor as NetworkVendor;
  if (!NETWORK_VENDORS.includes(vendor)) {
    throw new NetbootError('validation', `field "vendor": "${String(input.vendor)}" is not one of ${NETWORK_VENDORS.join(', ')}`, { field: 'vendor' });
  }
  const ip = safeHostOrIp(input.serverIp, 'serverIp');
  const path = input.menuPath ?? '/boot/menu.ipxe';
  if (!/^\/[A-Za-z0-9._/-]*$/.test(path)) throw new NetbootError('validation', 'field "menuPath": must be a path of letters, digits and "._/-"', { field: 'menuPath' });
  const menuUrl = safeUrl(`${input.httpBaseUrl.replace(/\/+$/, '')}${path}`, 'httpBaseUrl');
  const bios = safeToken(input.biosFile ?? DEFAULT_BOOT_CONFIG.files.bios, 'biosFile');
  const uefi = safeToken(input.uefiFile ?? DEFAULT_BOOT_CONFIG.files.efiX64, 'uefiFile');
  const lines = RENDER[vendor]({ ip, menuUrl, bios, uefi });
  return { vendor, menuUrl, text: `${lines.join('\n')}\n` };
}

interface Vals { ip: string; menuUrl: string; bios: string; uefi: string }

const RENDER: Record<NetworkVendor, (v: Vals) => string[]> = {
  mikrotik: ({ ip, menuUrl, bios, uefi }) => [
    '# netboot: MikroTik RouterOS 7 (matchers need 7.4 or later).',
    '# Replace <dhcp1> with your DHCP server name and <pool1> with its address pool.',
    '/ip dhcp-server option',
    `add name=netboot-tftp code=66 value="'${ip}'"`,
    `add name=netboot-bios code=67 value="'${bios}'"`,
    `add name=netboot-uefi code=67 value="'${uefi}'"`,
    `add name=netboot-ipxe code=67 value="'${menuUrl}'"`,
    '/ip dhcp-server option sets',
    'add name=netboot-bios options=netboot-tftp,netboot-bios',
    'add name=netboot-uefi options=netboot-tftp,netboot-uefi',
    'add name=netboot-ipxe options=netboot-ipxe',
    '/ip dhcp-server network',
    `set [find] next-server=${ip} boot-file-name=${bios}`,
    '/ip dhcp-server matcher',
    '# iPXE announces itself with user class (option 77) "iPXE": give it the HTTP menu',
    'add name=netboot-ipxe server=<dhcp1> address-pool=<pool1> code=77 value="iPXE" option-set=netboot-ipxe',
    '# x86-64 UEFI PXE (option 93 = 7): the UEFI iPXE build',
    'add name=netboot-uefi server=<dhcp1> address-pool=<pool1> code=93 value=0x0007 option-set=netboot-uefi',
  ],
  openwrt: ({ ip, menuUrl, bios, uefi }) => [
    '# netboot: OpenWrt (dnsmasq) via uci; run on the router, then: service dnsmasq restart',
    "uci add dhcp match",
    "uci set dhcp.@match[-1].networkid='ipxe'",
    "uci set dhcp.@match[-1].match='175'",
    "uci add dhcp match",
    "uci set dhcp.@match[-1].networkid='efi64'",
    "uci set dhcp.@match[-1].match='option:client-arch,7'",
    "uci add dhcp boot",
    "uci set dhcp.@boot[-1].networkid='ipxe'",
    `uci set dhcp.@boot[-1].filename='tag:ipxe,${menuUrl}'`,
    "uci add dhcp boot",
    `uci set dhcp.@boot[-1].filename='tag:!ipxe,tag:efi64,${uefi}'`,
    `uci set dhcp.@boot[-1].serveraddress='${ip}'`,
    "uci set dhcp.@boot[-1].servername='netboot'",
    "uci add dhcp boot",
    `uci set dhcp.@boot[-1].filename='tag:!ipxe,tag:!efi64,${bios}'`,
    `uci set dhcp.@boot[-1].serveraddress='${ip}'`,
    "uci set dhcp.@boot[-1].servername='netboot'",
    'uci commit dhcp',
  ],
  dnsmasq: ({ ip, menuUrl, bios, uefi }) => [
    '# netboot: dnsmasq as the DHCP server, TFTP from netboot',
    'dhcp-match=set:ipxe,175',
    'dhcp-match=set:efi64,option:client-arch,7',
    'dhcp-match=set:efi64,option:client-arch,9',
    `dhcp-boot=tag:ipxe,${menuUrl}`,
    `dhcp-boot=tag:!ipxe,tag:efi64,${uefi},netboot,${ip}`,
    `dhcp-boot=tag:!ipxe,tag:!efi64,${bios},netboot,${ip}`,
  ],
  isc: ({ ip, menuUrl, bios, uefi }) => [
    '# netboot: ISC dhcpd (dhcpd.conf), inside the subnet declaration',
    'option arch code 93 = unsigned integer 16;',
    `next-server ${ip};`,
    'if exists user-class and option user-class = "iPXE" {',
    `  filename "${menuUrl}";`,
    '} elsif option arch = 00:07 or option arch = 00:09 {',
    `  filename "${uefi}";`,
    '} else {',
    `  filename "${bios}";`,
    '}',
  ],
  pfsense: ({ ip, menuUrl, bios, uefi }) => [
    '# netboot: pfSense, Services > DHCP Server > <interface> > Network Booting',
    '#   Enable network booting: checked',
    `#   Next Server:            ${ip}`,
    `#   Default BIOS file name: ${bios}`,
    `#   UEFI 64 bit file name:  ${uefi}`,
    '# pfSense has no field for the iPXE user-class split: keep netboot in proxy mode (it answers',
    "# iPXE's second request itself), or, with the ISC backend, add this to the custom dhcpd config:",
    'if exists user-class and option user-class = "iPXE" {',
    `  filename "${menuUrl}";`,
    '}',
  ],
};
