export * from './costs.ts';
export * from './esp-engine.ts';
export * from './frames.ts';
export * from './model.ts';
export * from './packet.ts';
export * from './pipeline.ts';
export * from './rss.ts';
