export * from './lib/panels';
export * from './lib/macros';
export * from './lib/dashboard';
export * from './lib/pipeline-health';
export * from './lib/device-panels';
