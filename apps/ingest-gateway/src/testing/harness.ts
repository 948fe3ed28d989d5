/**
 * Test harness of the gateway: the built app as a child process on free
 * ports, a device fleet that publishes over MQTT (one client per device,
 * QoS 1, in order), and checks of what landed in Kafka.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { createClickHouseClient, readMinuteAgg } from '@stream-analytics/clickhouse-sink';
import { DLQ_HEADERS, type GeneratedRecord } from '@stream-analytics/event-schema';
import { createTestTopic, deleteTopic, freePort, getTestEndpoints, scrapeMetric, startAggregator, startApp, startMosquitto, waitFor, type AppRun, type ConsumedMessage, type PrivateMosquitto } from '@stream-analytics/testing';

export type MinuteAggRow = Awaited<ReturnType<typeof readMinuteAgg>>[number];

export interface GatewayRun {
  app: AppRun;
  httpPort: number;
  metricsPort: number;
  url: string;
  metric(name: string): Promise<number>;
}

export interface GatewayOptions {
  brokers: string;
  rawTopic: string;
  dlqTopic: string;
  mqttUrl?: string;
  mqttTopic?: string;
  clientId?: string;
  tokensFile?: string;
  args?: string[];
  env?: Record<string, string>;
}

export async function startGateway(o: GatewayOptions): Promise<GatewayRun> {
  const httpPort = await freePort();
  const metricsPort = await freePort();
  const app = startApp(
    'ingest-gateway',
    [
      '--brokers', o.brokers,
      '--topic', o.rawTopic,
      '--dlq-topic', o.dlqTopic,
      '--mqtt-url', o.mqttUrl ?? '',
      '--mqtt-topic', o.mqttTopic ?? 'devices/+/telemetry',
      '--mqtt-client-id', o.clientId ?? `gw-${randomUUID().slice(0, 8)}`,
      '--http-port', String(httpPort),
      '--http-host', '127.0.0.1',
      '--metrics-port', String(metricsPort),
      '--status-interval', '1',
      ...(o.tokensFile ? ['--tokens-file', o.tokensFile] : ['--http-auth', 'none']),
      ...(o.args ?? []),
    ],
    o.env ?? {},
  );
  // GATEWAY_TEST_LOG_DIR=<dir> keeps each gateway's output for a post-mortem.
  const logDir = process.env['GATEWAY_TEST_LOG_DIR'];
  if (logDir) void app.exited.then(({ stdout, stderr }) => fs.writeFileSync(path.join(logDir, `gateway-${app.child.pid}.log`), stdout + stderr));
  await app.waitForOutput(/"msg":"started"/, 60000);
  return { app, httpPort, metricsPort, url: `http://127.0.0.1:${httpPort}/v1/events`, metric: (name) => scrapeMetric(metricsPort, name) };
}

/** A unique MQTT topic root for one test, so tests sharing a broker never see each other's messages. */
export function topicRoot(): string {
  return `it-${randomUUID().slice(0, 8)}`;
}

/**
 * Publishes every record over MQTT, one client per device (its device topic
 * `<root>/<device>/telemetry`), QoS 1, in generation order per device; resolves
 * when the broker acknowledged all of them. `maxInFlight` bounds unacknowledged
 * publishes per client; `pace` (events/s overall) spreads them over time.
 */
export async function publishFleet(url: string, root: string, records: readonly GeneratedRecord[], opts: { maxInFlight?: number; ratePerSec?: number } = {}): Promise<void> {
  const byDevice = new Map<string, GeneratedRecord[]>();
  for (const r of records) {
    const list = byDevice.get(r.key) ?? [];
    list.push(r);
    byDevice.set(r.key, list);
  }
  const clients: MqttClient[] = [];
  try {
    for (const device of byDevice.keys()) {
      clients.push(await mqtt.connectAsync(url, { clientId: `dev-${root}-${device}`, clean: true, reconnectPeriod: 500 }));
    }
    const maxInFlight = opts.maxInFlight ?? 50;
    const t0 = Date.now();
    const perDeviceDelayMs = opts.ratePerSec ? (1000 * byDevice.size) / opts.ratePerSec : 0;
    await Promise.all(
      [...byDevice.entries()].map(async ([device, list], i) => {
        const client = clients[i];
        const topic = `${root}/${device}/telemetry`;
        let inFlight = 0;
        let wake: (() => void) | undefined;
        let failure: Error | undefined;
        for (let k = 0; k < list.length; k++) {
          if (perDeviceDelayMs > 0) {
            const due = t0 + k * perDeviceDelayMs - Date.now();
            if (due > 0) await new Promise((r) => setTimeout(r, due));
          }
          while (inFlight >= maxInFlight) await new Promise<void>((r) => (wake = r));
          if (failure) throw failure;
          inFlight++;
          client.publish(topic, list[k].value, { qos: 1 }, (err) => {
            if (err) failure ??= err;
            inFlight--;
            wake?.();
            wake = undefined;
          });
        }
        while (inFlight > 0) await new Promise<void>((r) => (wake = r));
        if (failure) throw failure;
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.endAsync()));
  }
}

export function writeTokensFile(lines: string[]): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gw-tokens-')), 'tokens');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

export const header = (m: ConsumedMessage, name: string): string | undefined => m.headers[name]?.toString('utf8');

/** Asserts the raw topic holds each valid record exactly once, bytes intact, keyed by device, in per-device order. */
export function expectRawExactlyOnce(messages: ConsumedMessage[], valid: readonly GeneratedRecord[]): void {
  expect(messages.length).toBe(valid.length);
  const byDevice = new Map<string, ConsumedMessage[]>();
  const partitionOf = new Map<string, number>();
  for (const m of [...messages].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
    const key = String(m.key);
    if (partitionOf.has(key)) expect(partitionOf.get(key)).toBe(m.partition);
    partitionOf.set(key, m.partition);
    const list = byDevice.get(key) ?? [];
    list.push(m);
    byDevice.set(key, list);
  }
  const expectedByDevice = new Map<string, GeneratedRecord[]>();
  for (const r of valid) {
    const list = expectedByDevice.get(r.key) ?? [];
    list.push(r);
    expectedByDevice.set(r.key, list);
  }
  expect([...byDevice.keys()].sort()).toEqual([...expectedByDevice.keys()].sort());
  let mismatches = 0;
  for (const [device, expected] of expectedByDevice) {
    const got = byDevice.get(device) ?? [];
    expect(got.length).toBe(expected.length);
    for (let i = 0; i < expected.length; i++) if (!got[i]?.value?.equals(expected[i].value)) mismatches++;
  }
  expect(mismatches).toBe(0);
}

/** Asserts the DLQ holds each invalid record once with its reason code and MQTT origin. */
export function expectDeadLetters(messages: ConsumedMessage[], invalid: readonly GeneratedRecord[], root: string): void {
  expect(messages.length).toBe(invalid.length);
  const want = new Map<string, number>();
  for (const r of invalid) want.set(`${r.reason}|${r.value.toString('base64')}`, (want.get(`${r.reason}|${r.value.toString('base64')}`) ?? 0) + 1);
  const got = new Map<string, number>();
  for (const m of messages) {
    const k = `${header(m, DLQ_HEADERS.reason)}|${(m.value ?? Buffer.alloc(0)).toString('base64')}`;
    got.set(k, (got.get(k) ?? 0) + 1);
    expect(header(m, 'ingest.transport')).toBe('mqtt');
    expect(header(m, 'ingest.mqtt.topic')).toMatch(new RegExp(`^${root}/[^/]+/telemetry$`));
    expect(header(m, DLQ_HEADERS.sourceTopic)).toBe(`mqtt:${header(m, 'ingest.mqtt.topic')}`);
  }
  expect(got).toEqual(want);
}

export async function waitForMetric(run: GatewayRun, name: string, atLeast: number, timeoutMs = 120000): Promise<void> {
  await waitFor(`${name} >= ${atLeast}`, async () => (await run.metric(name)) >= atLeast, timeoutMs, 200);
}

export interface TestBed {
  brokers: string;
  mosquitto: PrivateMosquitto;
  /** A unique raw topic and DLQ, deleted after the file's tests. */
  topicPair(name: string, rawPartitions: number, dlqPartitions?: number): Promise<{ raw: string; dlq: string }>;
}

/** Registers beforeAll/afterAll: the test endpoints, a private Mosquitto (with TLS and a password when `secure`), and topic cleanup. */
export function useTestBed(opts: { secure?: boolean } = {}): TestBed {
  const topics: string[] = [];
  const bed = {
    topicPair: async (name: string, rawPartitions: number, dlqPartitions = 2) => {
      const raw = await createTestTopic(bed.brokers, { prefix: `gw.${name}.raw`, partitions: rawPartitions });
      const dlq = await createTestTopic(bed.brokers, { prefix: `gw.${name}.dlq`, partitions: dlqPartitions });
      topics.push(raw, dlq);
      return { raw, dlq };
    },
  } as TestBed;
  beforeAll(async () => {
    bed.brokers = (await getTestEndpoints()).kafkaBrokers;
    bed.mosquitto = await startMosquitto(opts);
  });
  afterAll(async () => {
    await bed.mosquitto?.stop();
    for (const t of topics) await deleteTopic(bed.brokers, t).catch(() => undefined);
  });
  return bed;
}

/**
 * Runs the built aggregator over a raw topic the gateway filled until
 * ClickHouse shows `expectedEvents` events in [fromMs, toMs), stops it, and
 * returns the rows of the reader contract there.
 */
export async function aggregate(bed: TestBed, rawTopic: string, range: { fromMs: number; toMs: number }, expectedEvents: number): Promise<MinuteAggRow[]> {
  const { clickhouseUrl } = await getTestEndpoints();
  const { raw: aggTopic, dlq } = await bed.topicPair('agg', 1, 1);
  const clickhouse = createClickHouseClient({ url: clickhouseUrl });
  const { run } = await startAggregator({ brokers: bed.brokers, clickhouseUrl, rawTopic, dlqTopic: dlq, aggTopic, group: `gw-agg-${randomUUID().slice(0, 8)}` });
  try {
    const total = async () => (await readMinuteAgg(clickhouse, range.fromMs, range.toMs)).reduce((n, r) => n + r.totalEvents, 0);
    await waitFor(`${expectedEvents} events in iot_minute_agg`, async () => (await total()) === expectedEvents, 120000, 500);
    const rows = await readMinuteAgg(clickhouse, range.fromMs, range.toMs);
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
    return rows;
  } finally {
    run.child.kill('SIGKILL');
    await clickhouse.close();
  }
}
