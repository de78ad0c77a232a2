/** The one event vocabulary (vocabulary.ts), its bus, the arch names and the translation from each server part. */
export * from './vocabulary';
export * from './arch';
export * from './bus';
export * from './translate';
