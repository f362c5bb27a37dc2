export * from './gcm.ts';
export * from './native-gcm.ts';
export * from './node-gcm.ts';
export * from './select.ts';
