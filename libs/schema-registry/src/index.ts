export * from './lib/options';
export * from './lib/client';
export * from './lib/registry-decoder';
export * from './lib/registration';
