#!/usr/bin/env node
// Wire formats: producer and aggregator events/s and bytes per event for Avro and Protobuf
// (Confluent wire format, schemas from a real registry) against JSON, in the same run on the
// same machine: JSON is the yardstick.
//
//   node tools/bench/formats-bench.mjs [events]      (default 500,000 per format and round)
//
// A private Apicurio registry (tools/stack/registry.mjs, in-memory, on a free port) serves the
// schemas. Per round and format (BENCH_FORMATS=json,avro,protobuf, in a rotated order each round
// so no format always runs first), on a fresh 12-partition topic:
// 1. the producer app, unthrottled (--rate 0), --count events: its own acked events/s and
//    average message bytes (the bytes on the wire per event, Confluent header included);
// 2. the aggregator (--workers 1) in a fresh group folds the whole backlog into ClickHouse: events/s
//    from its first consumed message to the last.
// BENCH_ROUNDS (default 2) rounds; the report keeps each round and the median per format, and the
// ratios against JSON.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { randomUUID } from 'node:crypto';
import { brokers, Kafka, log, repoRoot, scrape, sleep, startApp, writeResult } from './bench-kit.mjs';

const events = Number(process.argv[2] ?? process.env.BENCH_EVENTS ?? 500_000);
const formats = (process.env.BENCH_FORMATS ?? 'json,avro,protobuf').split(',');
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const partitions = 12;

// Topics through a plaintext admin client (the apps get the security settings from the environment).
async function createTopic(prefix, count) {
  const topic = `${prefix}.${Date.now()}.${randomUUID().slice(0, 4)}`;
  const admin = Kafka.AdminClient.create({ 'bootstrap.servers': brokers });
  await new Promise((resolve, reject) => admin.createTopic({ topic, num_partitions: count, replication_factor: 1 }, 30000, (err) => (err ? reject(err) : resolve())));
  admin.disconnect();
  return topic;
}

async function deleteTopic(topic) {
  const admin = Kafka.AdminClient.create({ 'bootstrap.servers': brokers });
  await new Promise((resolve) => admin.deleteTopic(topic, 30000, () => resolve()));
  admin.disconnect();
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });

// The registry: built if needed, run on a free port for this benchmark only.
const port = await freePort();
const [java, ...javaArgs] = JSON.parse(execFileSync(process.execPath, [join(repoRoot, 'tools/stack/registry.mjs'), 'command', '--port', String(port)], { encoding: 'utf8' }));
const registry = spawn(java, javaArgs, { stdio: 'ignore' });
const registryUrl = `http://127.0.0.1:${port}/apis/ccompat/v7`;
process.on('exit', () => registry.kill('SIGKILL'));
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${registryUrl}/subjects`)).ok) break;
  } catch {
    // starting
  }
  if (i > 600) throw new Error('the schema registry did not start within 60 s');
  await sleep(100);
}
log(`schema registry at ${registryUrl}`);
const env = { SCHEMA_REGISTRY_URL: registryUrl };

async function produce(topic, format) {
  const producer = startApp('producer', ['--topic', topic, '--format', format, '--count', String(events), '--rate', '0', '--seed', '1', '--start-time', '2001-01-01T00:00:00.000Z'], env);
  const code = await producer.exited;
  if (code !== 0) throw new Error(`producer --format ${format} failed (${code}):\n${producer.output().slice(-3000)}`);
  const summary = producer
    .output()
    .split('\n')
    .filter((l) => l.includes('"avgMessageBytes"'))
    .pop();
  const rate = Number(/"rate":(\d+)/.exec(summary)?.[1]);
  const bytes = Number(/"avgMessageBytes":([\d.]+)/.exec(summary)?.[1]);
  return { eventsPerSec: rate, bytesPerEvent: bytes };
}

async function catchUp(topic, format) {
  const aggregator = startApp('aggregator', ['--workers', '1'], { ...env, RAW_TOPIC: topic, CONSUMER_GROUP: `bench-formats-${format}-${Date.now()}`, FLUSH_INTERVAL_SECS: '5' });
  const metricsPort = await aggregator.metricsPort;
  let first;
  let consumed = 0;
  const deadline = Date.now() + 15 * 60_000;
  while (Date.now() < deadline) {
    consumed = await scrape(metricsPort, 'aggregator_events_consumed_total');
    if (first === undefined && consumed > 0) first = { at: Date.now(), consumed };
    if (consumed >= events) break;
    await sleep(100);
  }
  const done = Date.now();
  const invalid = await scrape(metricsPort, 'aggregator_events_invalid_total');
  aggregator.child.kill('SIGTERM');
  const code = await aggregator.exited;
  if (consumed < events) throw new Error(`aggregator consumed only ${consumed} of ${events} ${format} events in 15 minutes`);
  if (code !== 0) throw new Error(`aggregator exited with ${code}:\n${aggregator.output().slice(-3000)}`);
  return { eventsPerSec: Math.round((events - first.consumed) / ((done - first.at) / 1000)), invalid };
}

const results = [];
for (let round = 0; round < rounds; round++) {
  const order = formats.map((_, i) => formats[(i + round) % formats.length]);
  for (const format of order) {
    const topic = await createTopic(`bench.formats.${format}`, partitions);
    const load = Number(loadavg()[0].toFixed(2));
    const p = await produce(topic, format);
    log(`round ${round + 1} ${format}: producer ${p.eventsPerSec} events/s, ${p.bytesPerEvent} bytes/event (load ${load})`);
    const a = await catchUp(topic, format);
    log(`round ${round + 1} ${format}: aggregator ${a.eventsPerSec} events/s${a.invalid ? ` (${a.invalid} invalid!)` : ''}`);
    results.push({ round: round + 1, format, load, producer: p, aggregator: a });
    await deleteTopic(topic);
  }
}
registry.kill('SIGTERM');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const summary = {};
for (const format of formats) {
  const rs = results.filter((r) => r.format === format);
  summary[format] = {
    producerEventsPerSec: median(rs.map((r) => r.producer.eventsPerSec)),
    bytesPerEvent: median(rs.map((r) => r.producer.bytesPerEvent)),
    aggregatorEventsPerSec: median(rs.map((r) => r.aggregator.eventsPerSec)),
  };
}
const json = summary.json;
log('format     producer ev/s  (vs json)  bytes/event  (vs json)  aggregator ev/s  (vs json)');
for (const format of formats) {
  const s = summary[format];
  const ratio = (a, b) => (json ? (a / b).toFixed(2) : '-');
  s.vsJson = json ? { producer: Number(ratio(s.producerEventsPerSec, json.producerEventsPerSec)), bytes: Number(ratio(s.bytesPerEvent, json.bytesPerEvent)), aggregator: Number(ratio(s.aggregatorEventsPerSec, json.aggregatorEventsPerSec)) } : undefined;
  log(
    `${format.padEnd(10)} ${String(s.producerEventsPerSec).padStart(13)}  ${ratio(s.producerEventsPerSec, json?.producerEventsPerSec).padStart(9)}  ${String(s.bytesPerEvent).padStart(11)}  ${ratio(s.bytesPerEvent, json?.bytesPerEvent).padStart(9)}  ${String(s.aggregatorEventsPerSec).padStart(15)}  ${ratio(s.aggregatorEventsPerSec, json?.aggregatorEventsPerSec).padStart(9)}`,
  );
}
writeResult('formats-bench', { events, partitions, rounds, results, summary });
process.exit(0);
