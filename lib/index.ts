export * from './errors';
export * from './mac';
export * from './boot-server';
export * from './config';
export * as store from './store';
