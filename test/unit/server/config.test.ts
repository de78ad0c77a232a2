import { describe, expect, it } from 'vitest';
import { resolveServerConfig, withoutUnresolved } from '../../../lib/server/config';
import { httpBase } from '../../../lib/dhcp/boot-answer';
import { DEFAULT_BOOT_CONFIG } from '../../../lib/dhcp/boot-answer';

/** The properties of the examples' netboot-server node, as Node-RED hands them over when no NETBOOT_* is set. */
const unresolved = {
  serverIp: '${NETBOOT_SERVER_IP}', interface: '${NETBOOT_INTERFACE}', bind: '${NETBOOT_BIND}',
  httpPort: '${NETBOOT_HTTP_PORT}', dhcpMode: '${NETBOOT_DHCP_MODE}', dhcpPort: '${NETBOOT_DHCP_PORT}',
  proxyPort: '${NETBOOT_PROXY_PORT}', tftpPort: '${NETBOOT_TFTP_PORT}', dhcpRange: '${NETBOOT_DHCP_RANGE}',
  allowlist: '${NETBOOT_ALLOWLIST}', httpRate: '${NETBOOT_HTTP_RATE}',
};

describe('netboot-server settings outside npm start', () => {
  it('treats an unset ${NETBOOT_*} reference as "the default", not as a value', () => {
    const c = resolveServerConfig({ ...unresolved, serverIp: '10.1.2.3' }, '/data');
    expect(c.bind).toBe('0.0.0.0');
    expect(c.dhcpMode).toBe('proxy');
    expect(c.ports).toMatchObject({ dhcp: 67, proxy: 4011, tftp: 69 });
    expect(c.httpPort).toBe(1880);
    expect(c.httpBaseUrl).toBe('http://10.1.2.3:1880');
  });

  it('auto-detects the address when serverIp is an unset reference (the palette-install failure)', () => {
    const c = resolveServerConfig(unresolved, '/data');
    expect(c.serverIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });

  it('keeps text that merely contains ${…} so that a real mistake is still reported', () => {
    expect(withoutUnresolved({ serverIp: 'x${NETBOOT_SERVER_IP}' })).toEqual({ serverIp: 'x${NETBOOT_SERVER_IP}' });
    expect(() => resolveServerConfig({ serverIp: 'x${A}' }, '/data')).toThrow(/serverIp: "x\$\{A\}" is not an IPv4 address/);
  });

  it("follows the host Node-RED's uiPort and httpNodeRoot for the base URL", () => {
    const c = resolveServerConfig({ serverIp: '10.1.2.3' }, '/data', { uiPort: 8080, httpNodeRoot: '/red/' });
    expect(c.httpPort).toBe(8080);
    expect(c.httpBaseUrl).toBe('http://10.1.2.3:8080/red');
    expect(c.httpBaseExplicit).toBe(false);
    // the DHCP side builds per-interface URLs from the port and the same path
    expect(httpBase('10.9.9.9', { ...DEFAULT_BOOT_CONFIG, httpPort: c.httpPort!, httpPath: c.httpPath })).toBe('http://10.9.9.9:8080/red');
  });

  it('an explicit httpPort or base URL wins over the host settings', () => {
    expect(resolveServerConfig({ serverIp: '10.1.2.3', httpPort: '1881' }, '/data', { uiPort: 8080 }).httpBaseUrl).toBe('http://10.1.2.3:1881');
    expect(resolveServerConfig({ serverIp: '10.1.2.3', httpBaseUrl: 'http://boot.lan/x/' }, '/data', { uiPort: 8080, httpNodeRoot: '/red' }).httpBaseUrl).toBe('http://boot.lan/x');
    expect(resolveServerConfig({ serverIp: '10.1.2.3' }, '/data', { httpNodeRoot: '/' }).httpBaseUrl).toBe('http://10.1.2.3:1880');
    expect(resolveServerConfig({ serverIp: '10.1.2.3' }, '/data', { httpNodeRoot: false }).httpBaseUrl).toBe('http://10.1.2.3:1880');
  });
});
