/** netboot-probe: a diagnostic client that boots like a given kind of machine and names what would fail. */
export * from './types';
export * from './identity';
export * from './offers';
export * from './diagnose';
export * from './ipxe-settings';
export * from './tftp-client';
export * from './http-client';
export * from './dhcp-client';
export * from './network-error';
export * from './run';
export * from './format';
export * from './args';
