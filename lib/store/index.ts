export * from './schema';
export * from './types';
export { JsonInventoryStore, type JsonStoreOptions, type OpenReport } from './json-store';
export { DurableJsonFile } from './durable-file';
export { listAll } from './list-all';
export { openSharedStore, openStoreAt, type SharedStoreHandle } from './shared';
export { isDatabaseUrl, redactUrl, withPassword } from './url';
