import type { BootServerConfig } from '../server/types';
import { NetbootError } from '../core/errors';
import { renderNetworkConfig } from '../render/network-config';
import { queryString, type Route } from './route';

export interface NetworkConfigContext {
  config: BootServerConfig;
}

/** `GET /netboot/api/network-config?vendor=mikrotik|openwrt|dnsmasq|isc|pfsense` → `{vendor, menuUrl, text}`. */
export function networkConfigRoutes(): Array<Route<NetworkConfigContext>> {
  return [{
    method: 'get', path: '/network-config', permission: 'read',
    handler: async (req, ctx) => {
      const vendor = queryString(req.query, 'vendor');
      if (!vendor) throw new NetbootError('validation', 'query parameter "vendor" is required (mikrotik, openwrt, dnsmasq, isc, pfsense)', { field: 'vendor' });
      const out = renderNetworkConfig({ vendor, serverIp: ctx.config.serverIp, httpBaseUrl: ctx.config.httpBaseUrl });
      return { status: 200, body: out };
    },
  }];
}
