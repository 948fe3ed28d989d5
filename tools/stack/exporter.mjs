#!/usr/bin/env node
// The stack exporter: what the local broker and ClickHouse know but do not publish in Prometheus
// format themselves, computed at each scrape.
//   - Consumer-group lag as the broker sees it, per group, topic and partition (committed offset
//     against the partition's end), and every topic's partition offsets; names as the common
//     Kafka exporter (danielqsj/kafka_exporter) publishes them, which compose and Kubernetes run:
//     kafka_consumergroup_lag, kafka_consumergroup_current_offset,
//     kafka_topic_partition_current_offset, kafka_topic_partition_oldest_offset.
//   - ClickHouse 18.16 has no /metrics endpoint (it arrived in 20.1); its system.metrics,
//     system.events and system.asynchronous_metrics are published under the names the built-in
//     endpoint of newer releases uses (ClickHouseMetrics_*, ClickHouseProfileEvents_*,
//     ClickHouseAsyncMetrics_*), so one dashboard fits both.
// Plus stack_exporter_source_up{source="kafka"|"clickhouse"}: whether the last scrape reached it.
//
//   node tools/stack/exporter.mjs <config.json>     (the stack writes the config and starts it)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { StackError } from './log.mjs';
import { httpRequest } from './readiness.mjs';

const require = createRequire(import.meta.url);
const SCRAPE_TIMEOUT_MS = 4000;

// ---------------------------------------------------------------------------------------------
// The server, as tools/stack/server.mjs manages it

export function exporterServer(cfg) {
  const e = cfg.exporter;
  return {
    name: 'exporter',
    title: 'Stack exporter',
    pidFile: e.pidFile,
    logFile: e.logFile,
    marker: e.config,
    endpoint: `http://${cfg.host}:${cfg.ports.exporter}/metrics`,
    ports: [{ port: cfg.ports.exporter, envName: 'STACK_EXPORTER_PORT' }],
    async prepare() {
      mkdirSync(e.dir, { recursive: true });
      const settings = {
        host: cfg.host,
        port: cfg.ports.exporter,
        brokers: `${cfg.host}:${cfg.ports.kafka}`,
        clickhouseUrl: `http://${cfg.host}:${cfg.ports.clickhouseHttp}`,
      };
      writeFileSync(e.config, `${JSON.stringify(settings, null, 2)}\n`);
    },
    command() {
      return { cmd: process.execPath, args: [fileURLToPath(import.meta.url), e.config], cwd: e.dir, stdoutLog: e.logFile };
    },
    probe: async (timeoutMs) => {
      const res = await httpRequest(`http://${cfg.host}:${cfg.ports.exporter}/healthz`, { timeoutMs });
      if (res.status !== 200) throw new Error(`/healthz answered ${res.status}`);
      return true;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The process

/** Prometheus metric names allow [a-zA-Z0-9_:]; ClickHouse's own endpoint replaces the rest with _. */
const metricName = (prefix, name) => `${prefix}${name.replace(/[^a-zA-Z0-9_]/g, '_')}`;

function kafkaCollector(promClient, registry, brokers) {
  const { KafkaJS } = require('@confluentinc/kafka-javascript');
  const admin = new KafkaJS.Kafka({ kafkaJS: { brokers: [brokers], logLevel: KafkaJS.logLevel.NOTHING } }).admin();
  let connected = null;
  const gauge = (name, help, labelNames) => new promClient.Gauge({ name, help, labelNames, registers: [registry] });
  const lag = gauge('kafka_consumergroup_lag', 'Messages between the group\u2019s committed offset and the end of the partition, as the broker sees it.', ['consumergroup', 'topic', 'partition']);
  const committed = gauge('kafka_consumergroup_current_offset', 'The group\u2019s committed offset.', ['consumergroup', 'topic', 'partition']);
  const end = gauge('kafka_topic_partition_current_offset', 'The end offset (next offset to be written) of each partition.', ['topic', 'partition']);
  const oldest = gauge('kafka_topic_partition_oldest_offset', 'The oldest offset still in each partition.', ['topic', 'partition']);

  return async function collect() {
    connected ??= admin.connect().catch((err) => {
      connected = null;
      throw err;
    });
    await connected;
    const topics = (await admin.listTopics({ timeout: SCRAPE_TIMEOUT_MS })).filter((t) => !t.startsWith('__'));
    const ends = new Map();
    for (const g of [end, oldest, lag, committed]) g.reset();
    await Promise.all(
      topics.map(async (topic) => {
        const offsets = await admin.fetchTopicOffsets(topic, { timeout: SCRAPE_TIMEOUT_MS });
        for (const p of offsets) {
          end.set({ topic, partition: String(p.partition) }, Number(p.high));
          oldest.set({ topic, partition: String(p.partition) }, Number(p.low));
          ends.set(`${topic}/${p.partition}`, Number(p.high));
        }
      }),
    );
    const { groups } = await admin.listGroups({ timeout: SCRAPE_TIMEOUT_MS });
    await Promise.all(
      groups
        .filter((g) => g.protocolType === 'consumer' || g.protocolType === '')
        .map(async ({ groupId }) => {
          const byTopic = await admin.fetchOffsets({ groupId, timeout: SCRAPE_TIMEOUT_MS });
          for (const { topic, partitions } of byTopic) {
            for (const p of partitions) {
              const offset = Number(p.offset);
              const high = ends.get(`${topic}/${p.partition}`);
              // -1: nothing committed for that partition yet; no lag to speak of.
              if (offset < 0 || high === undefined) continue;
              const labels = { consumergroup: groupId, topic, partition: String(p.partition) };
              committed.set(labels, offset);
              lag.set(labels, Math.max(0, high - offset));
            }
          }
        }),
    );
  };
}

function clickhouseCollector(promClient, registry, url) {
  const metrics = new Map();
  const metric = (Kind, name, help) => {
    let m = metrics.get(name);
    if (!m) {
      m = new Kind({ name, help, registers: [registry] });
      metrics.set(name, m);
    }
    return m;
  };
  const query = async (sql) => {
    const res = await httpRequest(`${url}/?query=${encodeURIComponent(`${sql} FORMAT TabSeparated`)}`, { timeoutMs: SCRAPE_TIMEOUT_MS });
    if (res.status !== 200) throw new Error(`ClickHouse answered ${res.status}: ${res.body.slice(0, 200)}`);
    return res.body
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('\t'));
  };
  const tables = [
    { sql: 'SELECT metric, value FROM system.metrics', prefix: 'ClickHouseMetrics_', Kind: promClient.Gauge, what: 'system.metrics' },
    { sql: 'SELECT event, value FROM system.events', prefix: 'ClickHouseProfileEvents_', Kind: promClient.Counter, what: 'system.events' },
    { sql: 'SELECT metric, value FROM system.asynchronous_metrics', prefix: 'ClickHouseAsyncMetrics_', Kind: promClient.Gauge, what: 'system.asynchronous_metrics' },
  ];
  return async function collect() {
    const results = await Promise.all(tables.map((t) => query(t.sql)));
    results.forEach((rows, i) => {
      const t = tables[i];
      for (const [name, raw] of rows) {
        const value = Number(raw);
        if (!Number.isFinite(value)) continue;
        const m = metric(t.Kind, metricName(t.prefix, name), `${name} from ClickHouse\u2019s ${t.what}.`);
        // Counters only go up; ClickHouse's own counts restart with the server.
        if (t.Kind === promClient.Counter) {
          m.reset();
          m.inc(value);
        } else m.set(value);
      }
    });
  };
}

async function main(configFile) {
  if (!configFile || !existsSync(configFile)) throw new StackError(`usage: node tools/stack/exporter.mjs <config.json> (got '${configFile ?? ''}')`);
  const settings = JSON.parse(readFileSync(configFile, 'utf8'));
  const promClient = require('prom-client');
  const registry = new promClient.Registry();
  const sourceUp = new promClient.Gauge({ name: 'stack_exporter_source_up', help: '1 when the last scrape reached the source.', labelNames: ['source'], registers: [registry] });
  const sources = [
    { name: 'kafka', collect: kafkaCollector(promClient, registry, settings.brokers) },
    { name: 'clickhouse', collect: clickhouseCollector(promClient, registry, settings.clickhouseUrl) },
  ];
  const lastError = new Map();
  const scrape = async () => {
    await Promise.all(
      sources.map(async (s) => {
        try {
          await s.collect();
          sourceUp.set({ source: s.name }, 1);
          if (lastError.has(s.name)) process.stdout.write(`${new Date().toISOString()} ${s.name}: reachable again\n`);
          lastError.delete(s.name);
        } catch (err) {
          sourceUp.set({ source: s.name }, 0);
          const message = String(err?.message ?? err).split('\n')[0];
          // One line per change of error, not one per scrape.
          if (lastError.get(s.name) !== message) process.stdout.write(`${new Date().toISOString()} ${s.name}: ${message}\n`);
          lastError.set(s.name, message);
        }
      }),
    );
    return registry.metrics();
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    else if (path === '/metrics') {
      scrape().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err) => res.writeHead(500).end(String(err?.message ?? err)),
      );
    } else res.writeHead(404).end('not found\n');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, resolve);
  });
  process.stdout.write(`${new Date().toISOString()} serving http://${settings.host}:${settings.port}/metrics (Kafka ${settings.brokers}, ClickHouse ${settings.clickhouseUrl})\n`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv[2]).catch((err) => {
    process.stderr.write(`${err?.message ?? err}\n`);
    process.exit(1);
  });
}
