#!/usr/bin/env node
// One compact line about the whole pipeline every few seconds, for the `npm start` terminal:
// events/s arriving on the raw topic, events/s the aggregator folds, the current minute's events
// and users as a reader sees them, freshness (event-to-visible p50), lag, dead letters/s, and
// alerts firing. Figures come from Prometheus (which scrapes the apps, the broker and the stack
// exporter) and the current minute from ClickHouse; a source that does not answer shows "-".
//
//   node tools/run/pipeline-status.mjs --prometheus URL --clickhouse URL [--interval-secs 5] [--raw-topic T]
import { parseArgs } from 'node:util';

const USAGE = 'usage: node tools/run/pipeline-status.mjs --prometheus URL --clickhouse URL [--interval-secs 5] [--raw-topic iot.telemetry.raw.v1]';

function options(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        prometheus: { type: 'string' },
        clickhouse: { type: 'string' },
        'interval-secs': { type: 'string', default: '5' },
        'raw-topic': { type: 'string', default: process.env.RAW_TOPIC || 'iot.telemetry.raw.v1' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}\n`);
    process.exit(2);
  }
  const intervalSecs = Number(values['interval-secs']);
  if (!values.prometheus || !values.clickhouse || !(intervalSecs > 0)) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  return { prometheus: values.prometheus, clickhouse: values.clickhouse, intervalMs: intervalSecs * 1000, rawTopic: values['raw-topic'] };
}

/** The PromQL behind each figure (rates over 30 s: six scrapes, steady yet current). */
export function statusQueries(rawTopic) {
  return {
    inPerSec: `sum(rate(kafka_topic_partition_current_offset{topic="${rawTopic}"}[30s]))`,
    foldedPerSec: 'sum(rate(aggregator_events_folded_total[30s]))',
    freshnessP50: 'histogram_quantile(0.5, sum by (le) (rate(aggregator_event_to_visible_seconds_bucket[1m])))',
    lag: `sum(kafka_consumergroup_lag{topic="${rawTopic}", consumergroup=~".*aggregator.*"}) or sum(aggregator_consumer_lag)`,
    // A reason's counter exists only once it happened: absent terms count as zero, but with no
    // aggregator scraped at all the figure stays unknown.
    deadLettersPerSec: [
      '(sum(rate(aggregator_events_invalid_total[30s])) or vector(0))',
      '(sum(rate(aggregator_events_late_total[30s])) or vector(0))',
      '(sum(rate(aggregator_events_future_total[30s])) or vector(0))',
    ].join(' + ') + ' and on () count(up{job="aggregator"} == 1) > 0',
  };
}

async function promValue(base, query) {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(3000) });
  const body = await res.json();
  const v = body?.data?.result?.[0]?.value?.[1];
  return v === undefined ? null : Number(v);
}

async function firingAlerts(base) {
  const res = await fetch(`${base}/api/v1/alerts`, { signal: AbortSignal.timeout(3000) });
  const alerts = (await res.json())?.data?.alerts ?? [];
  return alerts.filter((a) => a.state === 'firing').map((a) => a.labels.alertname);
}

async function currentMinute(base) {
  const sql =
    'SELECT formatDateTime(window_start, \'%H:%M\'), total_events, unique_users FROM stream_analytics.iot_minute_agg WHERE window_start = toStartOfMinute(now()) FORMAT TabSeparated';
  const res = await fetch(`${base}/?query=${encodeURIComponent(sql)}`, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) return null;
  const [minute, events, users] = (await res.text()).trim().split('\t');
  return minute ? { minute, events: Number(events), users: Number(users) } : null;
}

const settle = (p) => p.then((v) => v, () => null);
const count = (n) => (n === null || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US'));
const perSec = (n) => (n === null || !Number.isFinite(n) ? '-' : `${n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US')}/s`);
const secs = (n) => (n === null || !Number.isFinite(n) ? '-' : `${n.toFixed(1)} s`);

/** The line itself, from the figures (null: unknown). */
export function statusLine(f) {
  const minute = f.minute ? `minute ${f.minute.minute}: ${count(f.minute.events)} events, ${count(f.minute.users)} users` : 'minute: -';
  const alerts = f.alerts === null ? '-' : f.alerts.length === 0 ? 'none firing' : `${f.alerts.length} firing (${[...new Set(f.alerts)].join(', ')})`;
  return `in ${perSec(f.inPerSec)} | aggregated ${perSec(f.foldedPerSec)} | ${minute} | freshness p50 ${secs(f.freshnessP50)} | lag ${count(f.lag)} | dead letters ${perSec(f.deadLettersPerSec)} | alerts ${alerts}`;
}

async function tick(opts) {
  const queries = statusQueries(opts.rawTopic);
  const names = Object.keys(queries);
  const [values, alerts, minute] = await Promise.all([
    Promise.all(names.map((n) => settle(promValue(opts.prometheus, queries[n])))),
    settle(firingAlerts(opts.prometheus)),
    settle(currentMinute(opts.clickhouse)),
  ]);
  const figures = { ...Object.fromEntries(names.map((n, i) => [n, values[i]])), alerts, minute };
  process.stdout.write(`${statusLine(figures)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const opts = options(process.argv.slice(2));
  const loop = async () => {
    await tick(opts);
    setTimeout(loop, opts.intervalMs);
  };
  setTimeout(loop, opts.intervalMs);
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
