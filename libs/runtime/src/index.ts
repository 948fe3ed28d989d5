export * from './lib/config';
export * from './lib/logger';
export * from './lib/http-server';
export * from './lib/kafka-config';
export * from './lib/kafka-security';
export * from './lib/shutdown';
export * from './lib/topics';
export * from './lib/kafka-clients';
