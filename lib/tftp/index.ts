/** TFTP layer (pure: no Node-RED): the server (see server.ts for the event list) and the read client. */
export * from './packet';
export * from './options';
export * from './path';
export * from './source';
export * from './blocks';
export * from './types';
export { ReadTransfer, RtoEstimator } from './transfer';
export type { ReadTransferOptions, TransferHooks } from './transfer';
export { WriteTransfer } from './write-transfer';
export type { WriteTransferOptions } from './write-transfer';
export * from './server';
export * from './static-resolver';
export * from './client';
