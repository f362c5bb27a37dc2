export * from './seed.ts';
export * from './threaded.ts';
export * from './topology.ts';
