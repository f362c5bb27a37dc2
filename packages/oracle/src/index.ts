export * from './diff/index.ts';
export * from './frame.ts';
export * from './transport.ts';
export * from './vm.ts';
