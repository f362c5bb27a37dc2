export * from './address.ts';
export * from './devlink.ts';
export * from './objects.ts';
export * from './xfrm.ts';
