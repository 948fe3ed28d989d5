/**
 * The one source of the pipeline-health dashboard (Prometheus data source):
 * throughput per stage, lag, latency, flushes, dead letters, commits, quorum,
 * readiness, the gateway, and broker and ClickHouse saturation.
 * grafana/dashboards/pipeline-health.json is generated from this file
 * (`npx nx run dashboard:generate`); a test fails when they drift, and an
 * integration test runs every query against the real Prometheus scraping the
 * real apps (tools/monitoring).
 *
 * Metric names: the apps' own (prom-client, see each app's metrics.ts), the
 * broker's through the JMX exporter agent (infra/kafka/jmx-exporter.yml),
 * consumer-group lag and topic offsets as the broker sees them
 * (kafka_consumergroup_*, kafka_topic_partition_*: the stack exporter locally,
 * the Kafka exporter in compose and Kubernetes), ClickHouse's
 * (ClickHouseMetrics_*, ClickHouseProfileEvents_*, ClickHouseAsyncMetrics_*:
 * its own /metrics endpoint, or the stack exporter on 18.16), and the
 * recording rules of infra/prometheus/rules.
 */

import { DASHBOARD_UID, dashboardFrame, panelFrame } from './dashboard';

export const PROMETHEUS_DATASOURCE = { type: 'prometheus', uid: 'stream-analytics-prometheus', name: 'Prometheus (stream analytics)' } as const;
export const PIPELINE_HEALTH_UID = 'pipeline-health';
export const PIPELINE_HEALTH_FILE = 'grafana/dashboards/pipeline-health.json';

/** Grafana's rate window macro; tests expand it to a fixed window. */
export const RATE = '$__rate_interval';
/** The raw topic, a dashboard variable (deployments may rename it with RAW_TOPIC). */
export const RAW_TOPIC_VARIABLE = { name: 'raw_topic', default: 'iot.telemetry.raw.v1' } as const;
const RAW = `topic="$${RAW_TOPIC_VARIABLE.name}"`;

export interface PromTarget {
  expr: string;
  legend: string;
}

export interface PromPanelDef {
  key: string;
  title: string;
  description: string;
  type: 'timeseries' | 'stat';
  targets: PromTarget[];
  gridPos: { x: number; y: number; w: number; h: number };
  unit?: string;
}

const quantiles = (metric: string, by: string[] = []) =>
  ['0.5', '0.99'].map((q) => ({
    expr: `histogram_quantile(${q}, sum by (${['le', ...by].join(', ')}) (rate(${metric}_bucket[${RATE}])))`,
    legend: `${by.map((b) => `{{${b}}} `).join('')}p${Number(q) * 100}`,
  }));

export const PIPELINE_HEALTH_PANELS: PromPanelDef[] = [
  {
    key: 'readiness',
    title: 'Readiness of each app',
    description: '1 while the app answers /readyz with 200 (app_ready); no value while Prometheus cannot scrape it (see the Targets page).',
    type: 'stat',
    targets: [{ expr: 'min by (job) (app_ready)', legend: '{{job}}' }],
    gridPos: { x: 0, y: 0, w: 8, h: 5 },
  },
  {
    key: 'clickhouse_state',
    title: 'ClickHouse writes and insert quorum',
    description: 'writes ok: 1 when the last ClickHouse write of every aggregator pipeline succeeded. quorum degraded: 1 while replicated ClickHouse acknowledges inserts without the insert quorum (a replica is down).',
    type: 'stat',
    targets: [
      { expr: 'min(aggregator_clickhouse_up)', legend: 'writes ok' },
      { expr: 'max(aggregator_clickhouse_quorum_degraded)', legend: 'quorum degraded' },
    ],
    gridPos: { x: 8, y: 0, w: 8, h: 5 },
  },
  {
    key: 'alerts_firing',
    title: 'Alerts firing',
    description: 'Alerts of infra/prometheus/rules firing now, by name; each has a runbook annotation (Prometheus /alerts, Alertmanager).',
    type: 'stat',
    targets: [{ expr: 'count(ALERTS{alertstate="firing"}) or vector(0)', legend: 'firing' }],
    gridPos: { x: 16, y: 0, w: 8, h: 5 },
  },
  {
    key: 'throughput',
    title: 'Throughput per stage (events/s)',
    description:
      'Each stage in turn: events the producer got acknowledged and the gateway accepted, events appended to the raw topic (broker offsets), events the aggregator consumed and folded, and window rows it wrote to ClickHouse. Consumed below appended means lag is building.',
    type: 'timeseries',
    targets: [
      { expr: `sum(rate(producer_events_acked_total[${RATE}]))`, legend: 'producer acked' },
      { expr: `sum(rate(ingest_gateway_accepted_events_total[${RATE}]))`, legend: 'gateway accepted' },
      { expr: `sum(rate(kafka_topic_partition_current_offset{${RAW}}[${RATE}]))`, legend: 'raw topic appended' },
      { expr: `sum(rate(aggregator_events_consumed_total[${RATE}]))`, legend: 'aggregator consumed' },
      { expr: `sum(rate(aggregator_events_folded_total[${RATE}]))`, legend: 'aggregator folded' },
      { expr: `sum(rate(aggregator_rows_written_total[${RATE}]))`, legend: 'ClickHouse rows written' },
    ],
    gridPos: { x: 0, y: 5, w: 12, h: 8 },
    unit: 'ops',
  },
  {
    key: 'consumer_lag',
    title: 'Consumer lag per partition (broker)',
    description:
      'Messages between each group\u2019s committed offset and the end of each raw-topic partition, as the broker sees it (so it keeps growing while the aggregator is down). The aggregator commits at each flush, so a healthy lag is about one flush interval of events.',
    type: 'timeseries',
    targets: [{ expr: `sum by (consumergroup, partition) (kafka_consumergroup_lag{${RAW}})`, legend: '{{consumergroup}} p{{partition}}' }],
    gridPos: { x: 12, y: 5, w: 12, h: 8 },
    unit: 'short',
  },
  {
    key: 'event_to_visible',
    title: 'Event-to-visible latency',
    description: 'Age of the oldest event of a flush (from its Kafka record timestamp) when the flush became visible in ClickHouse; objective p99 under 30 s (alert EventToVisibleLatencyHigh).',
    type: 'timeseries',
    targets: quantiles('aggregator_event_to_visible_seconds'),
    gridPos: { x: 0, y: 13, w: 12, h: 8 },
    unit: 's',
  },
  {
    key: 'flushes',
    title: 'Flush duration and outcome',
    description: 'Time to write a flush to ClickHouse, publish results and commit offsets (p50, p99), and flushes per second by outcome.',
    type: 'timeseries',
    targets: [...quantiles('aggregator_flush_duration_seconds'), { expr: `sum by (outcome) (rate(aggregator_flushes_total[${RATE}]))`, legend: 'flushes/s {{outcome}}' }],
    gridPos: { x: 12, y: 13, w: 12, h: 8 },
    unit: 's',
  },
  {
    key: 'dead_letters',
    title: 'Dead letters per second by reason',
    description: 'Events the aggregator sent to iot.telemetry.dlq.v1, by reason code (recording rule pipeline:dead_letters:rate5m), and events the gateway rejected, by transport and reason.',
    type: 'timeseries',
    targets: [
      { expr: 'pipeline:dead_letters:rate5m', legend: 'aggregator {{reason}}' },
      { expr: `sum by (transport, reason) (rate(ingest_gateway_rejected_events_total[${RATE}])) or sum(rate(ingest_gateway_received_events_total[${RATE}])) * 0`, legend: 'gateway {{transport}} {{reason}}' },
    ],
    gridPos: { x: 0, y: 21, w: 12, h: 8 },
    unit: 'ops',
  },
  {
    key: 'failures',
    title: 'Commit and delivery failures',
    description: 'Offset commits the broker refused (three in a row make the aggregator unready), and records the producer and the gateway could not deliver after the client\u2019s retries.',
    type: 'timeseries',
    targets: [
      { expr: `sum(increase(aggregator_commit_failures_total[${RATE}]))`, legend: 'commit failures' },
      { expr: `sum(increase(producer_events_failed_total[${RATE}]))`, legend: 'producer delivery failures' },
      { expr: `sum(increase(ingest_gateway_delivery_failures_total[${RATE}]))`, legend: 'gateway delivery failures' },
    ],
    gridPos: { x: 12, y: 21, w: 12, h: 8 },
    unit: 'short',
  },
  {
    key: 'gateway_acks',
    title: 'Gateway acknowledgement latency',
    description: 'Receipt of an MQTT message or HTTP request to its acknowledgement (after Kafka acknowledged every event in it), p50 and p99 per transport.',
    type: 'timeseries',
    targets: quantiles('ingest_gateway_ack_latency_seconds', ['transport']),
    gridPos: { x: 0, y: 29, w: 12, h: 8 },
    unit: 's',
  },
  {
    key: 'gateway_503',
    title: 'Gateway 503s and Kafka availability',
    description: 'HTTP 503 answers per second (Kafka unreachable or not keeping up; devices retry), and whether the gateway considers Kafka available (1) or not (0).',
    type: 'timeseries',
    targets: [
      { expr: `sum(rate(ingest_gateway_http_responses_total{code="503"}[${RATE}])) or sum(ingest_gateway_kafka_available) * 0`, legend: '503/s' },
      { expr: 'min(ingest_gateway_kafka_available)', legend: 'Kafka available' },
    ],
    gridPos: { x: 12, y: 29, w: 12, h: 8 },
    unit: 'short',
  },
  {
    key: 'broker',
    title: 'Broker: bytes in and out, request latency',
    description: 'Bytes per second into and out of each pipeline topic, and the broker\u2019s own p99 of produce and consumer-fetch request time (JMX).',
    type: 'timeseries',
    targets: [
      { expr: `sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesinpersec_total{topic=~"iot\\\\..*"}[${RATE}]))`, legend: 'in {{topic}}' },
      { expr: `sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesoutpersec_total{topic=~"iot\\\\..*"}[${RATE}]))`, legend: 'out {{topic}}' },
      { expr: 'max by (request) (kafka_network_requestmetrics_totaltimems{quantile="0.99", request=~"Produce|FetchConsumer"}) / 1000', legend: '{{request}} p99 (s)' },
    ],
    gridPos: { x: 0, y: 37, w: 12, h: 8 },
    unit: 'Bps',
  },
  {
    key: 'broker_saturation',
    title: 'Broker: disk per topic, replication, idle threads',
    description: 'Log size per topic (broker disk), under-replicated partitions (must be 0), and the share of time request handler threads are idle (saturated near 0).',
    type: 'timeseries',
    targets: [
      { expr: 'sum by (topic) (kafka_log_log_size{topic=~"iot\\\\..*"})', legend: 'log size {{topic}}' },
      { expr: 'sum(kafka_server_replicamanager_underreplicatedpartitions)', legend: 'under-replicated partitions' },
      { expr: 'avg(kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent)', legend: 'request handlers idle (ratio)' },
    ],
    gridPos: { x: 12, y: 37, w: 12, h: 8 },
    unit: 'bytes',
  },
  {
    key: 'clickhouse_saturation',
    title: 'ClickHouse: queries, merges, parts, inserts',
    description:
      'Queries and merges running now, the largest number of parts in one partition (merge backlog: inserts slow down and then fail as it nears parts_to_throw_insert), and rows inserted per second.',
    type: 'timeseries',
    targets: [
      { expr: 'sum(ClickHouseMetrics_Query)', legend: 'queries running' },
      { expr: 'sum(ClickHouseMetrics_Merge)', legend: 'merges running' },
      { expr: 'max(ClickHouseAsyncMetrics_MaxPartCountForPartition)', legend: 'max parts in a partition' },
      { expr: `sum(rate(ClickHouseProfileEvents_InsertedRows[${RATE}]))`, legend: 'rows inserted/s' },
    ],
    gridPos: { x: 0, y: 45, w: 24, h: 8 },
    unit: 'short',
  },
];

const datasourceRef = { type: PROMETHEUS_DATASOURCE.type, uid: PROMETHEUS_DATASOURCE.uid };

function buildPromPanel(p: PromPanelDef, id: number): Record<string, unknown> {
  return {
    ...panelFrame(p, id, datasourceRef),
    targets: p.targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), datasource: datasourceRef, expr: t.expr, legendFormat: t.legend, range: true })),
    fieldConfig: {
      defaults: {
        ...(p.unit ? { unit: p.unit } : {}),
        color: { mode: p.type === 'stat' ? 'thresholds' : 'palette-classic' },
        thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }] },
        ...(p.type === 'timeseries' ? { custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: false } } : {}),
      },
      overrides: [],
    },
    options:
      p.type === 'stat'
        ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, orientation: 'auto', textMode: 'value_and_name', colorMode: 'value', graphMode: 'none', justifyMode: 'auto' }
        : { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'none' } },
  };
}

export function buildPipelineHealthDashboard(panels: readonly PromPanelDef[] = PIPELINE_HEALTH_PANELS): Record<string, unknown> {
  const topic = RAW_TOPIC_VARIABLE;
  return {
    ...dashboardFrame(
      {
        uid: PIPELINE_HEALTH_UID,
        title: 'Pipeline health',
        description: 'Operating the pipeline: throughput per stage, lag, latency, failures, readiness, broker and ClickHouse saturation (Prometheus). Generated from tools/dashboard/src/lib/pipeline-health.ts.',
        tags: ['stream-analytics', 'operations'],
      },
      [{ type: 'textbox', name: topic.name, label: 'raw topic', query: topic.default, current: { text: topic.default, value: topic.default }, hide: 0 }],
    ),
    annotations: { list: [] },
    links: [{ title: 'IoT streaming overview', type: 'link', url: `/d/${DASHBOARD_UID}` }],
    panels: panels.map((p, i) => buildPromPanel(p, i + 1)),
  };
}

export function renderPipelineHealthDashboard(): string {
  return `${JSON.stringify(buildPipelineHealthDashboard(), null, 2)}\n`;
}

/** A panel query as Prometheus receives it from Grafana, with the rate window and raw topic given. */
export function expandPromQL(expr: string, values: { rateInterval: string; rawTopic: string }): string {
  return expr.split(RATE).join(values.rateInterval).split(`$${RAW_TOPIC_VARIABLE.name}`).join(values.rawTopic);
}
