export * from '../../lib/dhcp/index';
export { normalizeMac, macToBytes } from '../../lib/core/mac';
export { NetbootError } from '../../lib/core/errors';
