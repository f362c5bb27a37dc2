export * from './harness.ts';
export * from './run.ts';
export * from './codec.ts';
export * from './esp.ts';
