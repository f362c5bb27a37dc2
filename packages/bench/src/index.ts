export * from './chart.ts';
export * from './codec.ts';
export * from './esp.ts';
export * from './harness.ts';
export * from './program.ts';
export * from './run.ts';
export * from './sim.ts';
export * from './targets.ts';
