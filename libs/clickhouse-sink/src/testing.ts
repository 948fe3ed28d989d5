/**
 * Test kits of the sink, apart from the production entry point: brute-force
 * oracles of the reader contracts, generated write histories and the
 * scenarios the 18.16 and the embedded-engine suites share, and retention
 * fixtures. Import as `@stream-analytics/clickhouse-sink/testing`, from tests only.
 */
export * from './testing/oracle';
export * from './testing/history';
export * from './testing/retention';
export * from './testing/device';
