export * from './constants.ts';
export * from './domain.ts';
export * from './dynamic.ts';
export * from './requests.ts';
export * from './tables.ts';
