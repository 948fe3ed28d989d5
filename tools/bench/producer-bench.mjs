#!/usr/bin/env node
/**
 * Producer benchmark: the producer's unthrottled events/s against Kafka's own
 * ProducerPerformance (the yardstick) on the same broker, in the same run,
 * with the same record size, count, acks, idempotence, compression, linger and
 * batch size; plus a rate-accuracy check at 10000 events/s.
 *
 *   npx nx build producer
 *   KAFKA_LIBS=/path/to/kafka/libs node tools/bench/producer-bench.mjs [options]
 *
 * Options (defaults in brackets):
 *   --brokers host:port     [$KAFKA_BROKERS, or the stack's KAFKA_PORT, default 127.0.0.1:9092]
 *   --count N               records per run [1000000]
 *   --partitions N          partitions of each fresh topic [24]
 *   --compression C         [lz4]   --linger-ms N [10]   --batch-size N [1000000]
 *   --repeat N              alternating producer/yardstick rounds; medians are reported [3]
 *   --rate-check S          seconds of the 10000 events/s accuracy check, 0 to skip [60]
 *   --out FILE              JSON results [tmp/bench/producer-bench.json]
 *
 * KAFKA_LIBS is the folder of Kafka jars (kafka-tools with ProducerPerformance);
 * default <repo>/.local/kafka/libs, as installed by tools/stack/stack.mjs.
 * Each run uses a fresh topic that is deleted afterwards.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { brokers as defaultBrokers, kafkaLibs, kafkaSecuritySettings } from './bench-kit.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, 'package.json'));
const Kafka = require('@confluentinc/kafka-javascript');

const { values: opt } = parseArgs({
  options: {
    brokers: { type: 'string', default: defaultBrokers },
    count: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '24' },
    compression: { type: 'string', default: 'lz4' },
    'linger-ms': { type: 'string', default: '10' },
    'batch-size': { type: 'string', default: '1000000' },
    repeat: { type: 'string', default: '3' },
    'rate-check': { type: 'string', default: '60' },
    out: { type: 'string', default: path.join(root, 'tmp/bench/producer-bench.json') },
    help: { type: 'boolean' },
  },
});
if (opt.help) {
  process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}
const count = Number(opt.count);
const partitions = Number(opt.partitions);
const repeat = Number(opt.repeat);
const rateCheckSec = Number(opt['rate-check']);
const bundle = path.join(root, 'dist/apps/producer/main.js');

const fail = (message) => {
  process.stderr.write(`producer-bench: ${message}\n`);
  process.exit(1);
};
if (!fs.existsSync(bundle)) fail(`${bundle} is missing; run: npx nx build producer`);
if (!fs.existsSync(kafkaLibs) || !fs.readdirSync(kafkaLibs).some((f) => f.startsWith('kafka-tools-'))) {
  fail(`no kafka-tools jar in ${kafkaLibs}; set KAFKA_LIBS to the folder of Kafka's jars (tools/stack/stack.mjs installs them in .local/kafka/libs)`);
}
const log = (line) => process.stderr.write(`${line}\n`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits;

// ---- Kafka helpers (the librdkafka client the apps use) ----
function admin() {
  return Kafka.AdminClient.create({ 'bootstrap.servers': opt.brokers, 'client.id': 'producer-bench', ...kafkaSecuritySettings() });
}
async function createTopic(name) {
  const a = admin();
  try {
    await new Promise((resolve, reject) =>
      a.createTopic({ topic: name, num_partitions: partitions, replication_factor: 1 }, 30000, (err) => (err ? reject(err) : resolve())),
    );
  } finally {
    a.disconnect();
  }
  return name;
}
async function deleteTopic(name) {
  const a = admin();
  await new Promise((resolve) => a.deleteTopic(name, 30000, () => resolve()));
  a.disconnect();
}
async function withConsumer(fn) {
  const c = new Kafka.KafkaConsumer({ 'bootstrap.servers': opt.brokers, ...kafkaSecuritySettings(), 'group.id': `producer-bench-${process.pid}-${Date.now()}`, 'enable.auto.commit': false }, { 'auto.offset.reset': 'earliest' });
  await new Promise((resolve, reject) => c.connect({ timeout: 30000 }, (err) => (err ? reject(err) : resolve())));
  try {
    return await fn(c);
  } finally {
    await new Promise((resolve) => c.disconnect(() => resolve()));
  }
}
async function topicCount(topic) {
  return withConsumer(async (c) => {
    let total = 0;
    for (let p = 0; p < partitions; p++) {
      total += await new Promise((resolve, reject) => c.queryWatermarkOffsets(topic, p, 30000, (err, o) => (err ? reject(err) : resolve(o.highOffset - o.lowOffset))));
    }
    return total;
  });
}
/** Reads every message's timestamp (produce() time) from a topic. */
async function topicTimestamps(topic, expected) {
  return withConsumer(async (c) => {
    c.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 0 })));
    const ts = [];
    const deadline = Date.now() + 300000;
    while (ts.length < expected && Date.now() < deadline) {
      const batch = await new Promise((resolve, reject) => c.consume(10000, (err, msgs) => (err ? reject(err) : resolve(msgs))));
      for (const m of batch) ts.push(m.timestamp);
    }
    return ts.sort((a, b) => a - b);
  });
}

// ---- runners ----
function run(cmd, args, { captureStdout = true } = {}) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += captureStdout ? d : ''));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err, wallSec: Number(process.hrtime.bigint() - started) / 1e9 }));
  });
}
const producerArgs = (topic, extra) => [
  bundle,
  '--brokers', opt.brokers, '--topic', topic, '--metrics-port', '0', '--seed', '1',
  '--compression', opt.compression, '--linger-ms', opt['linger-ms'], '--batch-size', opt['batch-size'],
  ...extra,
];
const summaryOf = (stdout) => stdout.split('\n').filter((l) => l.includes('"msg":"summary"')).map((l) => JSON.parse(l))[0];

async function producerRun(index) {
  const topic = await createTopic(`bench.producer.${process.pid}.${index}`);
  try {
    const r = await run(process.execPath, producerArgs(topic, ['--rate', '0', '--count', String(count), '--status-interval', '3600']));
    const s = summaryOf(r.out);
    if (r.code !== 0 || !s) fail(`producer run failed (exit ${r.code}):\n${r.out}\n${r.err}`);
    const inTopic = await topicCount(topic);
    if (inTopic !== count) fail(`producer left ${inTopic} messages in ${topic}, expected ${count}`);
    return { eventsPerSec: s.rate, elapsedSec: s.elapsedSec, wallSec: round(r.wallSec, 3), avgMessageBytes: s.avgMessageBytes, acked: s.acked, inTopic };
  } finally {
    await deleteTopic(topic);
  }
}

async function yardstickRun(index, recordSize, payloadFile) {
  const topic = await createTopic(`bench.yardstick.${process.pid}.${index}${payloadFile ? '.payload' : ''}`);
  try {
    const args = [
      '-Xmx1g', '-cp', `${kafkaLibs}/*`, 'org.apache.kafka.tools.ProducerPerformance',
      '--topic', topic, '--num-records', String(count), '--throughput', '-1',
      ...(payloadFile ? ['--payload-file', payloadFile] : ['--record-size', String(recordSize)]),
      '--producer-props', `bootstrap.servers=${opt.brokers}`, 'acks=all', 'enable.idempotence=true', 'max.in.flight.requests.per.connection=5',
      `compression.type=${opt.compression}`, `linger.ms=${opt['linger-ms']}`, `batch.size=${opt['batch-size']}`,
    ];
    const r = await run('java', args);
    const m = /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency/.exec(r.out.trim().split('\n').pop() ?? '');
    if (r.code !== 0 || !m) fail(`ProducerPerformance failed (exit ${r.code}):\n${r.out}\n${r.err}`);
    return { eventsPerSec: Math.round(Number(m[2])), mbPerSec: Number(m[3]), avgLatencyMs: Number(m[4]), wallSec: round(r.wallSec, 3) };
  } finally {
    await deleteTopic(topic);
  }
}

async function rateCheck(seconds) {
  const rate = 10000;
  const topic = await createTopic(`bench.rate.${process.pid}`);
  try {
    const r = await run(process.execPath, producerArgs(topic, ['--rate', String(rate), '--duration', String(seconds), '--status-interval', '3600']));
    const s = summaryOf(r.out);
    if (r.code !== 0 || !s) fail(`rate-check run failed (exit ${r.code}):\n${r.out}\n${r.err}`);
    const ts = await topicTimestamps(topic, s.acked);
    const spanSec = (ts[ts.length - 1] - ts[0]) / 1000;
    const perSecond = new Map();
    for (const t of ts) perSecond.set(Math.floor((t - ts[0]) / 1000), (perSecond.get(Math.floor((t - ts[0]) / 1000)) ?? 0) + 1);
    const full = [...perSecond.entries()].filter(([sec]) => sec < Math.floor(spanSec)).map(([, n]) => n);
    const per100ms = new Map();
    for (const t of ts) per100ms.set(Math.floor((t - ts[0]) / 100), (per100ms.get(Math.floor((t - ts[0]) / 100)) ?? 0) + 1);
    const full100 = [...per100ms.entries()].filter(([b]) => b < Math.floor(spanSec * 10)).map(([, n]) => n);
    const achieved = (ts.length - 1) / spanSec;
    return {
      targetPerSec: rate,
      seconds,
      messages: ts.length,
      spanSec: round(spanSec, 3),
      achievedPerSec: round(achieved, 1),
      errorPct: round(((achieved - rate) / rate) * 100, 3),
      perSecondMin: Math.min(...full),
      perSecondMax: Math.max(...full),
      per100msMin: Math.min(...full100),
      per100msMax: Math.max(...full100),
    };
  } finally {
    await deleteTopic(topic);
  }
}

// ---- main ----
const results = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavgAtStart: os.loadavg().map((x) => round(x, 2)), node: process.version },
  settings: { brokers: opt.brokers, count, partitions, compression: opt.compression, lingerMs: Number(opt['linger-ms']), batchSize: Number(opt['batch-size']), acks: 'all', idempotence: true, repeat },
  rounds: [],
};
log(`producer-bench: ${count} records x ${repeat} rounds on ${opt.brokers}, ${partitions} partitions, ${opt.compression}, linger.ms=${opt['linger-ms']}, batch.size=${opt['batch-size']}`);

// Real payloads for the second yardstick variant (same bytes, so the same compression ratio).
const payloadFile = path.join(os.tmpdir(), `producer-bench-payloads-${process.pid}.txt`);
fs.writeFileSync(payloadFile, execFileSync(process.execPath, [bundle, '--print', '--count', '100000', '--seed', '1'], { maxBuffer: 1 << 28 }));

for (let i = 0; i < repeat; i++) {
  const producer = await producerRun(i);
  log(`  round ${i + 1}: producer ${producer.eventsPerSec} events/s (avg ${producer.avgMessageBytes} B)`);
  const yardstick = await yardstickRun(i, Math.round(producer.avgMessageBytes));
  log(`  round ${i + 1}: ProducerPerformance --record-size ${Math.round(producer.avgMessageBytes)}: ${yardstick.eventsPerSec} records/s`);
  const yardstickPayload = await yardstickRun(i, 0, payloadFile);
  log(`  round ${i + 1}: ProducerPerformance --payload-file (producer's events): ${yardstickPayload.eventsPerSec} records/s`);
  results.rounds.push({ producer, yardstick, yardstickPayload, ratio: round(producer.eventsPerSec / yardstick.eventsPerSec, 3) });
}
fs.rmSync(payloadFile, { force: true });

const producerRate = median(results.rounds.map((r) => r.producer.eventsPerSec));
const yardstickRate = median(results.rounds.map((r) => r.yardstick.eventsPerSec));
const payloadRate = median(results.rounds.map((r) => r.yardstickPayload.eventsPerSec));
results.median = {
  producerEventsPerSec: producerRate,
  yardstickRecordsPerSec: yardstickRate,
  yardstickPayloadRecordsPerSec: payloadRate,
  ratio: round(producerRate / yardstickRate, 3),
  ratioVsPayloadYardstick: round(producerRate / payloadRate, 3),
  // Each round's producer and yardstick run back to back, so per-round ratios cancel slow load drifts.
  ratioPerRoundMedian: median(results.rounds.map((r) => r.ratio)),
  ratioPerRound: results.rounds.map((r) => r.ratio),
  recordSize: Math.round(results.rounds[0].producer.avgMessageBytes),
};
if (rateCheckSec > 0) {
  log(`  rate check: --rate 10000 --duration ${rateCheckSec} ...`);
  results.rateCheck = await rateCheck(rateCheckSec);
}
results.machine.loadavgAtEnd = os.loadavg().map((x) => round(x, 2));
fs.mkdirSync(path.dirname(opt.out), { recursive: true });
fs.writeFileSync(opt.out, `${JSON.stringify(results, null, 2)}\n`);

const m = results.median;
const lines = [
  '',
  `| measurement (median of ${repeat}, ${count} records of ${m.recordSize} B, acks=all, idempotent, ${opt.compression}) | records/s |`,
  '| --- | ---: |',
  `| producer (\`--rate 0 --count ${count}\`) | ${m.producerEventsPerSec} |`,
  `| Kafka ProducerPerformance \`--record-size ${m.recordSize}\` (yardstick) | ${m.yardstickRecordsPerSec} |`,
  `| Kafka ProducerPerformance \`--payload-file\` with the producer's events | ${m.yardstickPayloadRecordsPerSec} |`,
  `| **ratio producer / yardstick** (of the medians) | **${m.ratio}** (vs payload-file: ${m.ratioVsPayloadYardstick}) |`,
  `| ratio per round (producer and yardstick back to back) | ${m.ratioPerRound.join(', ')} (median ${m.ratioPerRoundMedian}) |`,
];
if (results.rateCheck) {
  const r = results.rateCheck;
  lines.push(
    '',
    `rate check: target ${r.targetPerSec}/s for ${r.seconds} s -> ${r.messages} messages over ${r.spanSec} s = ${r.achievedPerSec}/s (${r.errorPct}% off);` +
      ` per second ${r.perSecondMin}-${r.perSecondMax}, per 100 ms ${r.per100msMin}-${r.per100msMax}`,
  );
}
lines.push('', `load average ${results.machine.loadavgAtStart.join(' ')} -> ${results.machine.loadavgAtEnd.join(' ')}; JSON: ${path.relative(root, opt.out)}`);
process.stdout.write(`${lines.join('\n')}\n`);
