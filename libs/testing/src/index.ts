export * from './lib/endpoints';
export * from './lib/kafka';
export * from './lib/apps';
export * from './lib/oracle';
export * from './lib/wait';
export * from './lib/clickhouse-cluster';
export * from './lib/mosquitto';
export * from './lib/aggregator';
