#!/usr/bin/env node
// Cost of security: producer and aggregator throughput over SASL_SSL (SCRAM-SHA-512, TLS) with
// ClickHouse over https, against plaintext on the same broker, in the same run, as ratios.
//
//   npx nx run-many -t build --projects=producer,aggregator
//   node tools/bench/security-bench.mjs [events]        (default 500,000; BENCH_ROUNDS=3)
//
// Starts its own secured stack (tools/stack with STACK_SECURED=1, a temporary STACK_DIR and free
// ports; the broker has a plaintext and a SASL_SSL listener) and purges it at the end. Rounds
// alternate plaintext and secured so drift on a noisy machine hits both; medians are reported.
//   producer:   the producer app, unthrottled, --count events into a fresh 24-partition topic
//   aggregator: the aggregator app folds that backlog in a fresh group and writes ClickHouse
// The secured runs authenticate as the stack's admin user (fresh topics carry no ACLs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshSecuredStackEnv } from '../stack/security.mjs';
import { Kafka, log, repoRoot, scrape, sleep, startApp, writeResult } from './bench-kit.mjs';

const events = Number(process.argv[2] ?? process.env.BENCH_EVENTS ?? 500_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const partitions = 24;

const stackDir = mkdtempSync(join(tmpdir(), 'security-bench-'));
const stackEnv = { ...process.env, ...(await freshSecuredStackEnv(stackDir)) };
const stack = (...args) => execFileSync(process.execPath, [join(repoRoot, 'tools/stack/stack.mjs'), ...args], { env: stackEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

log(`starting a secured stack in ${stackDir}`);
stack('up');
const printed = stack('env');
const value = (name) => new RegExp(`${name}=(\\S+)`).exec(printed)[1];
const secrets = value('STACK_SECRETS_DIR');
const plain = { KAFKA_BROKERS: value('KAFKA_BROKERS'), KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT', CLICKHOUSE_URL: value('CLICKHOUSE_URL') };
const secured = {
  KAFKA_BROKERS: value('KAFKA_SASL_SSL_BROKERS'),
  KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
  KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
  KAFKA_SASL_USERNAME: 'admin',
  KAFKA_SASL_PASSWORD_FILE: join(secrets, 'kafka-admin.password'),
  KAFKA_SSL_CA_LOCATION: value('KAFKA_SSL_CA_LOCATION'),
  CLICKHOUSE_URL: value('CLICKHOUSE_HTTPS_URL'),
  CLICKHOUSE_CA_CERT: value('CLICKHOUSE_CA_CERT'),
  CLICKHOUSE_USER: 'aggregator',
  CLICKHOUSE_PASSWORD_FILE: join(secrets, 'clickhouse-aggregator.password'),
};

async function createTopic() {
  const topic = `bench.security.${Date.now()}`;
  const admin = Kafka.AdminClient.create({ 'bootstrap.servers': plain.KAFKA_BROKERS });
  await new Promise((resolve, reject) => admin.createTopic({ topic, num_partitions: partitions, replication_factor: 1 }, 30000, (err) => (err ? reject(err) : resolve())));
  admin.disconnect();
  return topic;
}

/** The producer app's own summary rate (events/s from first send to last ack). */
async function produce(env, topic) {
  const p = startApp('producer', ['--topic', topic, '--count', String(events), '--rate', '0', '--seed', '7', '--start-time', '2001-01-01T00:00:00.000Z'], env);
  const code = await p.exited;
  if (code !== 0) throw new Error(`producer failed (${code}):\n${p.output().slice(-3000)}`);
  const summary = p
    .output()
    .split('\n')
    .filter((l) => l.includes('"msg":"summary"'))
    .map((l) => JSON.parse(l))
    .pop();
  return Math.round(summary.acked / summary.elapsedSec);
}

/** The aggregator over the whole backlog in a fresh group, from its first consumed event to the last. */
async function aggregate(env, topic) {
  const a = startApp('aggregator', [], { ...env, RAW_TOPIC: topic, CONSUMER_GROUP: `bench-security-${Date.now()}`, FLUSH_INTERVAL_SECS: '5' });
  const port = await a.metricsPort;
  let first;
  let consumed = 0;
  const deadline = Date.now() + 10 * 60_000;
  while (consumed < events && Date.now() < deadline) {
    // Absent (NaN) until the pipeline has joined its group.
    consumed = (await scrape(port, 'aggregator_events_consumed_total')) || 0;
    if (first === undefined && consumed > 0) first = { at: Date.now(), consumed };
    await sleep(200);
  }
  const done = Date.now();
  a.child.kill('SIGTERM');
  const code = await a.exited;
  if (consumed < events || code !== 0) throw new Error(`aggregator consumed ${consumed} of ${events}, exit ${code}:\n${a.output().slice(-3000)}`);
  return Math.round((events - first.consumed) / ((done - first.at) / 1000));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : Math.round((s[s.length / 2 - 1] + s[s.length / 2]) / 2);
};
const results = { producer: { plaintext: [], saslSsl: [] }, aggregator: { plaintext: [], saslSsl: [] } };
try {
  for (let round = 1; round <= rounds; round++) {
    for (const [name, env] of round % 2 ? [['plaintext', plain], ['saslSsl', secured]] : [['saslSsl', secured], ['plaintext', plain]]) {
      const topic = await createTopic();
      const produced = await produce(env, topic);
      const aggregated = await aggregate(env, topic);
      results.producer[name].push(produced);
      results.aggregator[name].push(aggregated);
      log(`round ${round} ${name}: producer ${produced} events/s, aggregator ${aggregated} events/s`);
    }
  }
} finally {
  stack('down', '--purge');
  rmSync(stackDir, { recursive: true, force: true });
}

const summarise = (r) => ({
  plaintextEventsPerSec: median(r.plaintext),
  saslSslEventsPerSec: median(r.saslSsl),
  ratio: Number((median(r.saslSsl) / median(r.plaintext)).toFixed(3)),
  // Each round ran both back to back: its own ratio shows how much the machine's noise moves it.
  ratioPerRound: r.plaintext.map((p, i) => Number((r.saslSsl[i] / p).toFixed(3))),
  runs: r,
});
const result = {
  events,
  rounds,
  partitions,
  secured: 'SASL_SSL, SCRAM-SHA-512, TLS with the stack test CA; aggregator writes ClickHouse over https as the aggregator user',
  machine: { cpus: availableParallelism(), loadAverage: Number(loadavg()[0].toFixed(2)) },
  producer: summarise(results.producer),
  aggregator: summarise(results.aggregator),
};
console.log(JSON.stringify(result, null, 2));
for (const app of ['producer', 'aggregator']) {
  console.log(`${app}: SASL_SSL ${result[app].saslSslEventsPerSec} events/s vs plaintext ${result[app].plaintextEventsPerSec} events/s: ratio ${result[app].ratio}`);
}
writeResult('security-bench', result);
