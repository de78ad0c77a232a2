export * from '../../lib/dhcp/index';
export { normalizeMac, macToBytes } from '../../lib/mac';
export { NetbootError } from '../../lib/errors';
