#!/usr/bin/env node
/**
 * Ingest gateway benchmark, in one run on one machine:
 *   1. yardstick: the producer's own unthrottled events/s straight to Kafka
 *      (`--rate 0 --count N`), the same idempotent acks=all settings;
 *   2. MQTT throughput: one event per message, QoS 1, published unthrottled by
 *      --mqtt-clients connections (each with --mqtt-window unacknowledged
 *      publishes) to a private Mosquitto; events/s = messages acknowledged by
 *      the gateway (PUBACK after Kafka acked) / time from first publish;
 *   3. HTTP throughput: --http-clients concurrent clients posting batches of
 *      --batch events; events/s over the responses (200 = Kafka acked all);
 *   4. latency at a fixed rate (--rate, default 10,000 events/s) for --seconds:
 *      MQTT p50/p99 acknowledgement latency from the gateway's histogram
 *      (receipt of the PUBLISH to the PUBACK, interpolated within buckets),
 *      and HTTP p50/p99 response latency measured by the client (batches of
 *      --batch at the same event rate).
 *
 *   npx nx run-many -t build --projects=producer,ingest-gateway
 *   node tools/bench/ingest-gateway-bench.mjs [--count 200000] [--http-count 1000000] [--rate 10000] [--seconds 20]
 *
 * Environment: KAFKA_BROKERS (127.0.0.1:9092), MOSQUITTO_BIN (/usr/sbin/mosquitto).
 * Fresh topics per run, deleted afterwards. Results: tmp/bench/ingest-gateway-*.json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { brokers, createTopic, deleteTopic, log, percentile, repoRoot, rssBytes, scrape, sleep, startApp, writeResult } from './bench-kit.mjs';

const require = createRequire(join(repoRoot, 'package.json'));
const mqtt = require('mqtt');

const { values: opt } = parseArgs({
  options: {
    count: { type: 'string', default: '200000' },
    'http-count': { type: 'string', default: '1000000' },
    'producer-count': { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '500' },
    'mqtt-clients': { type: 'string', default: '4' },
    'mqtt-window': { type: 'string', default: '1000' },
    'http-clients': { type: 'string', default: '4' },
    rate: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '20' },
    help: { type: 'boolean' },
  },
});
if (opt.help) {
  process.stdout.write((await import('node:fs')).readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}
const N = Number(opt.count);
const HTTP_N = Number(opt['http-count']);
const BATCH = Number(opt.batch);
const RATE = Number(opt.rate);
const SECONDS = Number(opt.seconds);
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startMosquitto() {
  const port = await freePort();
  const dir = mkdtempSync(join(os.tmpdir(), 'bench-mosquitto-'));
  writeFileSync(join(dir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n`);
  const child = spawn(process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto', ['-c', join(dir, 'm.conf')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((r) => net.connect(port, '127.0.0.1').once('connect', function () { this.destroy(); r(true); }).once('error', () => r(false)));
    if (ok) break;
    await sleep(50);
  }
  return { url: `mqtt://127.0.0.1:${port}`, pid: child.pid, stop: () => (child.kill('SIGTERM'), rmSync(dir, { recursive: true, force: true })) };
}

/** Events as the producer generates them (its --print mode), so every path carries the same bytes. */
async function events(count, seed) {
  const child = spawn(process.execPath, [join(repoRoot, 'dist/apps/producer/main.js'), '--print', '--count', String(count), '--seed', String(seed), '--devices', '1000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => (text += d));
  await new Promise((r) => child.on('close', r));
  return text.split('\n').filter(Boolean).map((line) => ({ value: Buffer.from(line), device: JSON.parse(line).device_id }));
}

function summaryOf(output) {
  const line = output.split('\n').find((l) => l.includes('"msg":"summary"'));
  return line ? JSON.parse(line) : undefined;
}

/** Histogram buckets of one transport: [[le, cumulative count], ...]. */
async function buckets(port, transport) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^ingest_gateway_ack_latency_seconds_bucket\{le="([^"]+)",transport="(\w+)"\} (\d+)/.exec(line);
    if (m && m[2] === transport) out.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[3])]);
  }
  return out;
}

/** Quantile of the observations between two histogram snapshots, interpolated linearly within a bucket. */
function histogramQuantile(before, after, q) {
  const delta = after.map(([le, c], i) => [le, c - (before[i]?.[1] ?? 0)]);
  const total = delta[delta.length - 1][1];
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of delta) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, c - prevCount);
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

async function mqttPublishers(url, root, list, clients, window, ratePerSec) {
  const conns = await Promise.all(Array.from({ length: clients }, (_, i) => mqtt.connectAsync(url, { clientId: `bench-pub-${process.pid}-${i}-${Date.now()}`, clean: true })));
  const t0 = performance.now();
  await Promise.all(
    conns.map(async (client, c) => {
      let inFlight = 0;
      let wake;
      for (let k = c; k < list.length; k += clients) {
        if (ratePerSec) {
          const due = t0 + (k * 1000) / ratePerSec - performance.now();
          if (due > 1) await sleep(due);
        }
        while (inFlight >= window) await new Promise((r) => (wake = r));
        inFlight++;
        client.publish(`${root}/${list[k].device}/telemetry`, list[k].value, { qos: 1 }, () => {
          inFlight--;
          const w = wake;
          wake = undefined;
          w?.();
        });
      }
      while (inFlight > 0) await new Promise((r) => (wake = r));
    }),
  );
  await Promise.all(conns.map((c) => c.endAsync()));
}

async function httpPosts(url, bodies, clients, ratePerSec, eventsPerBody) {
  const latencies = [];
  let next = 0;
  let non200 = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (;;) {
        const i = next++;
        if (i >= bodies.length) return;
        if (ratePerSec) {
          const due = t0 + (i * eventsPerBody * 1000) / ratePerSec - performance.now();
          if (due > 1) await sleep(due);
        }
        const s = performance.now();
        const res = await fetch(url, { method: 'POST', body: bodies[i], headers: { 'content-type': 'application/json' } });
        await res.arrayBuffer();
        latencies.push(performance.now() - s);
        if (res.status !== 200) non200++;
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, latencies: latencies.sort((a, b) => a - b), non200 };
}

const result = { at: new Date().toISOString(), brokers, cpus: os.cpus().length, node: process.version, options: opt };
const topics = [];
const mosq = await startMosquitto();
let gw;
try {
  // 1. Yardstick.
  const yTopic = await createTopic(`bench.gw.producer.${process.pid}`, 24);
  topics.push(yTopic);
  log(`yardstick: producer --rate 0 --count ${opt['producer-count']}`);
  const y = startApp('producer', ['--topic', yTopic, '--rate', '0', '--count', opt['producer-count'], '--seed', '1', '--status-interval', '3600']);
  await y.exited;
  const ys = summaryOf(y.output());
  if (!ys) throw new Error(`producer yardstick failed:\n${y.output().slice(-2000)}`);
  result.producerEventsPerSec = ys.rate;

  const raw = await createTopic(`bench.gw.raw.${process.pid}`, 24);
  const dlq = await createTopic(`bench.gw.dlq.${process.pid}`, 2);
  topics.push(raw, dlq);
  const root = `bench-${process.pid}`;
  const httpPort = await freePort();
  gw = startApp('ingest-gateway', ['--topic', raw, '--dlq-topic', dlq, '--mqtt-url', mosq.url, '--mqtt-topic', `${root}/+/telemetry`, '--mqtt-client-id', `bench-gw-${process.pid}`, '--http-auth', 'none', '--http-port', String(httpPort), '--http-host', '127.0.0.1', '--status-interval', '3600']);
  const metricsPort = await gw.metricsPort;
  const url = `http://127.0.0.1:${httpPort}/v1/events`;
  const acked = () => scrape(metricsPort, 'ingest_gateway_acknowledged_total');
  log('generating events');
  const list = await events(Math.max(N, RATE * SECONDS), 2);
  const httpList = await events(Math.min(HTTP_N, 200_000), 3);
  const bodiesFor = (count) => {
    const bodies = [];
    for (let i = 0; bodies.length * BATCH < count; i += BATCH) {
      const slice = [];
      for (let k = 0; k < BATCH; k++) slice.push(httpList[(i + k) % httpList.length].value);
      bodies.push(Buffer.from(`[${slice.join(',')}]`));
    }
    return bodies;
  };

  // 2. MQTT throughput.
  log(`MQTT: ${N} events, one per QoS 1 message, ${opt['mqtt-clients']} publishers`);
  const a0 = await acked();
  const t0 = performance.now();
  await mqttPublishers(mosq.url, root, list.slice(0, N), Number(opt['mqtt-clients']), Number(opt['mqtt-window']));
  while ((await acked()) - a0 < N) await sleep(20);
  const mqttSec = (performance.now() - t0) / 1000;
  result.mqtt = { events: N, seconds: round(mqttSec, 2), eventsPerSec: Math.round(N / mqttSec), gatewayRssMiB: round(rssBytes(gw.child.pid) / 2 ** 20) };

  // 3. HTTP throughput.
  log(`HTTP: ${HTTP_N} events in batches of ${BATCH}, ${opt['http-clients']} clients`);
  const h = await httpPosts(url, bodiesFor(HTTP_N), Number(opt['http-clients']), 0, BATCH);
  result.http = { events: HTTP_N, seconds: round(h.seconds, 2), eventsPerSec: Math.round(HTTP_N / h.seconds), non200: h.non200, p99RequestMs: round(percentile(h.latencies, 99)) };

  // 4. Latency at a fixed rate.
  log(`latency at ${RATE} events/s for ${SECONDS} s: MQTT, then HTTP`);
  const before = await buckets(metricsPort, 'mqtt');
  const paced = list.slice(0, RATE * SECONDS);
  const b0 = await acked();
  await mqttPublishers(mosq.url, `${root}`, paced, Number(opt['mqtt-clients']), Number(opt['mqtt-window']), RATE);
  while ((await acked()) - b0 < paced.length) await sleep(20);
  const after = await buckets(metricsPort, 'mqtt');
  const hp = await httpPosts(url, bodiesFor(RATE * SECONDS), Number(opt['http-clients']), RATE, BATCH);
  result.latencyAtRate = {
    eventsPerSec: RATE,
    seconds: SECONDS,
    mqttAckMs: { p50: round(histogramQuantile(before, after, 0.5) * 1000, 2), p99: round(histogramQuantile(before, after, 0.99) * 1000, 2) },
    httpResponseMs: { p50: round(percentile(hp.latencies, 50), 2), p99: round(percentile(hp.latencies, 99), 2), non200: hp.non200 },
  };
  result.ratios = {
    mqttVsProducer: round(result.mqtt.eventsPerSec / result.producerEventsPerSec, 3),
    httpVsProducer: round(result.http.eventsPerSec / result.producerEventsPerSec, 3),
  };
  result.gatewayRssMiB = round(rssBytes(gw.child.pid) / 2 ** 20);
} finally {
  gw?.child.kill('SIGTERM');
  if (gw) await gw.exited;
  mosq.stop();
  for (const t of topics) await deleteTopic(t).catch(() => undefined);
}
writeResult('ingest-gateway', result);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
