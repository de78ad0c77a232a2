/** The metrics layer: boot events, attribution, timelines, per-device figures, Prometheus and SSE. */
export * from '../events/vocabulary';
export * from '../events/bus';
export * from './attribution';
export * from './stages';
export * from './transfers';
export * from './window';
export * from './timeline';
export * from './device-metrics';
export * from './prometheus';
export * from './sse';
export * from '../events/translate';
export * from './hub';
export * from './fleet-feed';
