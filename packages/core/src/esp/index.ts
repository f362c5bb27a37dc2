export * from './batch.ts';
export * from './errors.ts';
export * from './sa.ts';
export * from './vectors.ts';
