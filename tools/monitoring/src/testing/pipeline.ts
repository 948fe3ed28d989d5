/**
 * The pipeline as the monitoring tests need it: its own topics and consumer
 * group on the shared broker and ClickHouse, the built producer, aggregator
 * and ingest gateway on free metrics ports, the stack exporter, and a private
 * Prometheus scraping all of them and the broker's JMX exporter agent, with
 * the repo's rules (their raw-topic name replaced by this pipeline's).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestTopic, deleteTopic, freePort, getTestEndpoints, startApp, waitFor, workspaceRoot, type AppRun } from '@stream-analytics/testing';
import { startPrometheus, type RuleTiming, type TestPrometheus } from './prometheus';

export interface MonitoredPipeline {
  rawTopic: string;
  group: string;
  prometheus: TestPrometheus;
  aggregator: AppRun;
  /** Starts the aggregator again (after the test stopped it), on the same metrics port. */
  startAggregator(): AppRun;
  stop(): Promise<void>;
}

/** The broker's JMX exporter, from the stack's environment; a clear error when it is not there. */
export async function brokerJmxUrl(): Promise<URL> {
  const jmxUrl = process.env['KAFKA_JMX_METRICS_URL'];
  if (!jmxUrl) throw new Error('KAFKA_JMX_METRICS_URL is not set: run with the local stack\u2019s environment (eval "$(node tools/stack/stack.mjs env)"), whose broker runs the JMX exporter agent.');
  if ((await fetch(jmxUrl).catch(() => null))?.status !== 200) {
    throw new Error(`The broker's JMX exporter does not answer at ${jmxUrl}; a broker started before monitoring was added needs \`node tools/stack/stack.mjs down --only kafka && node tools/stack/stack.mjs up\`.`);
  }
  return new URL(jmxUrl);
}

export async function startMonitoredPipeline(opts: { alertmanager?: string; producerRate?: number; ruleTiming?: RuleTiming } = {}): Promise<MonitoredPipeline> {
  const jmx = await brokerJmxUrl();
  const endpoints = await getTestEndpoints();
  const brokers = endpoints.kafkaBrokers;
  // "iot." names, like the pipeline's topics, so the dashboard's per-topic broker panels match them.
  const rawTopic = await createTestTopic(brokers, { prefix: 'iot.monitoring-raw', partitions: 3 });
  const aggTopic = await createTestTopic(brokers, { prefix: 'iot.monitoring-agg' });
  const dlqTopic = await createTestTopic(brokers, { prefix: 'iot.monitoring-dlq' });
  const group = `monitoring-aggregator-${rawTopic.slice(-8)}`;
  const ports = { producer: await freePort(), aggregator: await freePort(), gateway: await freePort(), http: await freePort(), exporter: await freePort() };
  const common = { KAFKA_BROKERS: brokers, RAW_TOPIC: rawTopic, AGG_TOPIC: aggTopic, DLQ_TOPIC: dlqTopic, CLICKHOUSE_URL: endpoints.clickhouseUrl };

  const startAggregator = () => startApp('aggregator', [], { ...common, METRICS_PORT: String(ports.aggregator), CONSUMER_GROUP: group });
  const pipeline = { aggregator: startAggregator() };
  const gateway = startApp('ingest-gateway', ['--mqtt-url', '', '--http-auth', 'none', '--http-host', '127.0.0.1', '--http-port', String(ports.http)], {
    ...common,
    METRICS_PORT: String(ports.gateway),
  });
  const producer = startApp('producer', ['--rate', String(opts.producerRate ?? 200), '--devices', '20'], { ...common, METRICS_PORT: String(ports.producer) });

  // The stack exporter, on its own port, for this broker and ClickHouse.
  const dir = mkdtempSync(path.join(tmpdir(), 'monitored-pipeline-'));
  const exporterConfig = path.join(dir, 'exporter.json');
  writeFileSync(exporterConfig, JSON.stringify({ host: '127.0.0.1', port: ports.exporter, brokers, clickhouseUrl: endpoints.clickhouseUrl }));
  const exporter = spawn(process.execPath, [path.join(workspaceRoot(), 'tools/stack/exporter.mjs'), exporterConfig], { stdio: 'ignore' });

  const at = (port: number) => `127.0.0.1:${port}`;
  const prometheus = await startPrometheus({
    targets: [
      { job: 'producer', target: at(ports.producer) },
      { job: 'aggregator', target: at(ports.aggregator) },
      { job: 'ingest-gateway', target: at(ports.gateway) },
      { job: 'stack-exporter', target: at(ports.exporter) },
      { job: 'kafka', target: jmx.host, metricsPath: jmx.pathname },
    ],
    rawTopic,
    alertmanager: opts.alertmanager,
    ruleTiming: opts.ruleTiming,
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

  return {
    rawTopic,
    group,
    prometheus,
    get aggregator() {
      return pipeline.aggregator;
    },
    startAggregator() {
      pipeline.aggregator = startAggregator();
      return pipeline.aggregator;
    },
    async stop() {
      const apps = [pipeline.aggregator, gateway, producer];
      for (const app of apps) app.child.kill('SIGTERM');
      await Promise.all(apps.map((a) => a.exited));
      exporter.kill('SIGTERM');
      await prometheus.stop();
      for (const t of [rawTopic, aggTopic, dlqTopic]) await deleteTopic(brokers, t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
