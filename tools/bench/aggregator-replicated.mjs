#!/usr/bin/env node
// Quorum inserts on replicated ClickHouse against the single server, in the
// same run: flush duration and event-to-visible latency at 10k events/s.
//
//   node tools/bench/aggregator-replicated.mjs [seconds] [rate]     (default 60 s at 10000 events/s)
//
// 1. yardstick: the aggregator on the single server of the local stack
//    (CLICKHOUSE_URL), schema profile `single`;
// 2. the same on a private cluster started here (ZooKeeper + two ClickHouse
//    18.16 replicas on free ports, libs/testing startReplicatedClickHouse):
//    schema profile `replicated`, insert_quorum=2, both replica URLs. Rows
//    count as visible when the *other* replica (not the one written to)
//    shows them.
// Needs `npx nx build aggregator producer testing` and the local stack.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { clickhouseUrl, log, repoRoot, writeResult } from './bench-kit.mjs';
import { measureFreshness } from './freshness-kit.mjs';

const require = createRequire(import.meta.url);
const seconds = Number(process.argv[2] ?? 60);
const rate = Number(process.argv[3] ?? 10000);

let cluster;
try {
  ({ startReplicatedClickHouse: cluster } = require(join(repoRoot, 'dist/libs/testing/src/lib/clickhouse-cluster.js')));
} catch (err) {
  throw new Error(`dist/libs/testing is missing or stale (${err.message}); run: npx nx build testing`);
}

const single = await measureFreshness({ label: 'single server', seconds, rate, pollUrl: clickhouseUrl });
log('starting ZooKeeper + two ClickHouse replicas');
const replicated = await cluster();
let quorum;
try {
  quorum = await measureFreshness({
    label: 'replicated, insert_quorum=2',
    seconds,
    rate,
    env: { CLICKHOUSE_URL: replicated.urls, CLICKHOUSE_SCHEMA_PROFILE: 'replicated', CLICKHOUSE_INSERT_QUORUM: '2' },
    pollUrl: replicated.replicas[1].url,
  });
} finally {
  await replicated.stop();
}

const result = {
  rate,
  seconds,
  single,
  replicated: quorum,
  ratio: {
    flushMean: +(quorum.flush.meanMs / single.flush.meanMs).toFixed(2),
    freshnessP99: +(quorum.latencyMs.p99 / single.latencyMs.p99).toFixed(2),
  },
};
console.log(JSON.stringify(result, null, 2));
for (const r of [single, quorum]) {
  console.log(`${r.label}: flush mean ${r.flush.meanMs} ms (p50 <= ${r.flush.p50Ms} ms, p99 <= ${r.flush.p99Ms} ms, ${r.flush.flushes} flushes); freshness p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms`);
}
writeResult('aggregator-replicated', result);
