/**
 * Every query of the pipeline-health dashboard, run against a real Prometheus
 * scraping the real apps (producer, aggregator and ingest gateway, built),
 * the stack exporter (broker-side lag, ClickHouse) and the broker's JMX
 * exporter agent, returns series. The apps use their own topics and consumer
 * group on the shared broker and ClickHouse.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PIPELINE_HEALTH_PANELS, expandPromQL } from '@stream-analytics/dashboard';
import { createTestTopic, deleteTopic, freePort, getTestEndpoints, startApp, waitFor, workspaceRoot, type AppRun } from '@stream-analytics/testing';
import { startPrometheus, type TestPrometheus } from './testing/prometheus';

jest.setTimeout(300_000);

const jmxUrl = process.env['KAFKA_JMX_METRICS_URL'];

describe('pipeline-health dashboard against the real Prometheus', () => {
  let prometheus: TestPrometheus;
  const apps: AppRun[] = [];
  const topics: string[] = [];
  let brokers: string;
  let stopExporter: () => void = () => undefined;
  let dir: string;
  let rawTopic: string;

  beforeAll(async () => {
    if (!jmxUrl) throw new Error('KAFKA_JMX_METRICS_URL is not set: run with the local stack\u2019s environment (eval "$(node tools/stack/stack.mjs env)"), whose broker runs the JMX exporter agent.');
    const jmx = new URL(jmxUrl);
    if ((await fetch(jmx).catch(() => null))?.status !== 200) {
      throw new Error(`The broker's JMX exporter does not answer at ${jmxUrl}; a broker started before monitoring was added needs \`node tools/stack/stack.mjs down --only kafka && node tools/stack/stack.mjs up\`.`);
    }
    const endpoints = await getTestEndpoints();
    brokers = endpoints.kafkaBrokers;
    // "iot." names, like the pipeline's topics, so the dashboard's per-topic broker panels match them.
    rawTopic = await createTestTopic(brokers, { prefix: 'iot.monitoring-raw', partitions: 3 });
    const aggTopic = await createTestTopic(brokers, { prefix: 'iot.monitoring-agg' });
    const dlqTopic = await createTestTopic(brokers, { prefix: 'iot.monitoring-dlq' });
    topics.push(rawTopic, aggTopic, dlqTopic);
    const ports = { producer: await freePort(), aggregator: await freePort(), gateway: await freePort(), http: await freePort(), exporter: await freePort() };
    const common = { KAFKA_BROKERS: brokers, RAW_TOPIC: rawTopic, AGG_TOPIC: aggTopic, DLQ_TOPIC: dlqTopic, CLICKHOUSE_URL: endpoints.clickhouseUrl };

    apps.push(startApp('aggregator', [], { ...common, METRICS_PORT: String(ports.aggregator), CONSUMER_GROUP: `monitoring-aggregator-${rawTopic.slice(-8)}` }));
    apps.push(
      startApp('ingest-gateway', ['--mqtt-url', '', '--http-auth', 'none', '--http-host', '127.0.0.1', '--http-port', String(ports.http)], {
        ...common,
        METRICS_PORT: String(ports.gateway),
      }),
    );
    apps.push(startApp('producer', ['--rate', '200', '--devices', '20'], { ...common, METRICS_PORT: String(ports.producer) }));

    // The stack exporter, on its own port, for this broker and ClickHouse.
    dir = mkdtempSync(path.join(tmpdir(), 'monitoring-it-'));
    const exporterConfig = path.join(dir, 'exporter.json');
    writeFileSync(exporterConfig, JSON.stringify({ host: '127.0.0.1', port: ports.exporter, brokers, clickhouseUrl: endpoints.clickhouseUrl }));
    const exporter = spawn(process.execPath, [path.join(workspaceRoot(), 'tools/stack/exporter.mjs'), exporterConfig], { stdio: 'ignore' });
    stopExporter = () => exporter.kill('SIGTERM');

    const at = (port: number) => `127.0.0.1:${port}`;
    prometheus = await startPrometheus({
      targets: [
        { job: 'producer', target: at(ports.producer) },
        { job: 'aggregator', target: at(ports.aggregator) },
        { job: 'ingest-gateway', target: at(ports.gateway) },
        { job: 'stack-exporter', target: at(ports.exporter) },
        { job: 'kafka', target: jmx.host, metricsPath: jmx.pathname },
      ],
    });
    // One event the gateway acknowledges and one it refuses, so its latency and per-reason series exist.
    const event = {
      event_id: randomUUID(),
      event_time: new Date(Date.now()).toISOString(),
      device_id: 'monitoring-device',
      user_id: 'monitoring-user',
      temperature: 21.5,
      metric_value: 1,
      status: 'ok',
      anomaly_score: 0.1,
    };
    const post = (body: string) => fetch(`http://127.0.0.1:${ports.http}/v1/events`, { method: 'POST', body }).catch(() => null);
    await waitFor('gateway acknowledging', async () => (await post(`${JSON.stringify(event)}\n`))?.status === 200, 60_000);
    await post('{"not":"an event"}\n');
  });

  afterAll(async () => {
    for (const app of apps) app.child.kill('SIGTERM');
    await Promise.all(apps.map((a) => a.exited));
    stopExporter();
    await prometheus?.stop();
    for (const t of topics) await deleteTopic(brokers, t);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const targets = PIPELINE_HEALTH_PANELS.flatMap((p) => p.targets.map((t) => [`${p.key}: ${t.legend}`, t.expr] as const));

  it.each(targets)('%s returns series', async (_name, expr) => {
    const query = expandPromQL(expr, { rateInterval: '20s', rawTopic });
    let last = 0;
    await waitFor(
      `series for ${query}`,
      async () => {
        last = (await prometheus.query(query)).length;
        return last > 0;
      },
      150_000,
      1000,
    );
    expect(last).toBeGreaterThan(0);
  });
});
