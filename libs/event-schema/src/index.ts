export * from './lib/schema';
export * from './lib/reasons';
export * from './lib/validator';
export * from './lib/time';
export * from './lib/random';
export * from './lib/generator';
export * from './lib/docs';
export * from './lib/dead-letter';
