export * from './allowed.ts';
export * from './esp.ts';
export * from './esp-requests.ts';
export * from './netdevsim.ts';
export * from './probes.ts';
export * from './runner.ts';
export * from './suite.ts';
