import type { BootServerConfig } from '../server/types';
import { NetbootError } from '../core/errors';
import { renderNetworkConfig } from '../render/network-config';
import { queryString, type Route } from './route';
import { SECURE_BOOT_FILES } from '../policy/secure-boot';

export interface NetworkConfigContext {
  config: BootServerConfig;
}

/**
 * `GET /netboot/api/network-config?vendor=mikrotik|openwrt|dnsmasq|isc|pfsense[&secureBoot=true]` →
 * `{vendor, menuUrl, text}`. With `secureBoot=true` (or the server's "Secure Boot network" setting)
 * x86-64 UEFI machines get the signed `shimx64.efi` (the signed GRUB needs the router's next-server).
 */
export function networkConfigRoutes(): Array<Route<NetworkConfigContext>> {
  return [{
    method: 'get', path: '/network-config', permission: 'read',
    handler: async (req, ctx) => {
      const vendor = queryString(req.query, 'vendor');
      if (!vendor) throw new NetbootError('validation', 'query parameter "vendor" is required (mikrotik, openwrt, dnsmasq, isc, pfsense)', { field: 'vendor' });
      const sb = queryString(req.query, 'secureBoot');
      if (sb !== undefined && sb !== 'true' && sb !== 'false') throw new NetbootError('validation', 'query parameter "secureBoot" must be true or false', { field: 'secureBoot' });
      const secureBoot = sb === undefined ? ctx.config.secureBoot === true : sb === 'true';
      const out = renderNetworkConfig({ vendor, serverIp: ctx.config.serverIp, httpBaseUrl: ctx.config.httpBaseUrl, uefiFile: secureBoot ? SECURE_BOOT_FILES.shim : undefined });
      return { status: 200, body: out };
    },
  }];
}
