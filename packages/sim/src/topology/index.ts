export * from './seed.ts';
export * from './topology.ts';
