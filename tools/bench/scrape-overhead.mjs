#!/usr/bin/env node
// Does Prometheus scraping the aggregator every 5 s cost it anything? Catch-up throughput over
// the same backlog with and without a real Prometheus (Debian's binary, the stack's 5 s scrape
// interval) scraping the aggregator's /metrics, in the same run, alternating A B A B... so drift
// in the machine's load hits both alike.
//
//   node tools/bench/scrape-overhead.mjs [events] [rounds]      (default 1,000,000 events, 2 rounds)
//
// 1. fills a fresh 24-partition topic with the producer app (unthrottled);
// 2. per round: the aggregator (--workers 1, a fresh group each time) folds the whole backlog
//    and writes it to ClickHouse, once without Prometheus and once with it; the rate is measured
//    from its first consumed message to the last. The benchmark polls progress once a second in
//    both variants (the same cost on both sides), so the difference is Prometheus's scrapes.
// Result: events/s of each run, the mean per variant, and the ratio with/without, next to the
// spread of the runs without (the noise floor of this machine); and, measured by Prometheus
// itself, how long one scrape takes over the 5 s between scrapes (an upper bound of its cost).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTopic, deleteTopic, log, scrape, sleep, startApp, writeResult } from './bench-kit.mjs';

const events = Number(process.argv[2] ?? process.env.BENCH_EVENTS ?? 1_000_000);
const rounds = Number(process.argv[3] ?? process.env.BENCH_ROUNDS ?? 2);
const partitions = 24;
const SCRAPE_INTERVAL = '5s';

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A Prometheus scraping one target every 5 s; resolves once it answers, with the scrapes it made. */
async function startPrometheus(target) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-prometheus-'));
  const port = await freePort();
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify({ global: { scrape_interval: SCRAPE_INTERVAL }, scrape_configs: [{ job_name: 'aggregator', static_configs: [{ targets: [target] }] }] }));
  const child = spawn(process.env.PROMETHEUS_BIN ?? 'prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--enable-feature=extra-scrape-metrics'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && (await fetch(`${url}/-/ready`).catch(() => null))?.status !== 200; i++) await sleep(100);
  const value = async (expr) => {
    const body = await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)).json();
    return Number(body.data.result[0]?.value[1] ?? 0);
  };
  return {
    /** How many scrapes it made, and how long one took (the aggregator rendering /metrics, plus the network). */
    async scrapes() {
      return {
        count: await value('count_over_time(up{job="aggregator"}[1h])'),
        meanSeconds: await value('avg_over_time(scrape_duration_seconds{job="aggregator"}[1h])'),
        bytes: await value('max_over_time(scrape_body_size_bytes{job="aggregator"}[1h])'),
      };
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('close', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function catchUp(topic, withPrometheus) {
  const port = await freePort();
  const prometheus = withPrometheus ? await startPrometheus(`127.0.0.1:${port}`) : null;
  const aggregator = startApp('aggregator', ['--workers', '1'], { RAW_TOPIC: topic, CONSUMER_GROUP: `bench-scrape-${Date.now()}`, FLUSH_INTERVAL_SECS: '5', METRICS_PORT: String(port) });
  await aggregator.metricsPort;
  let first;
  let consumed = 0;
  const deadline = Date.now() + 15 * 60_000;
  while (Date.now() < deadline) {
    consumed = await scrape(port, 'aggregator_events_consumed_total');
    if (first === undefined && consumed > 0) first = { at: Date.now(), consumed };
    if (consumed >= events) break;
    await sleep(1000);
  }
  const done = Date.now();
  const scrapes = prometheus ? await prometheus.scrapes() : { count: 0, meanSeconds: 0, bytes: 0 };
  aggregator.child.kill('SIGTERM');
  const code = await aggregator.exited;
  await prometheus?.stop();
  if (consumed < events) throw new Error(`aggregator consumed only ${consumed} of ${events} events in 15 minutes`);
  if (code !== 0) throw new Error(`aggregator exited with ${code}:\n${aggregator.output().slice(-3000)}`);
  const seconds = (done - first.at) / 1000;
  return {
    withPrometheus,
    eventsPerSec: Math.round((events - first.consumed) / seconds),
    seconds: Number(seconds.toFixed(1)),
    prometheusScrapes: scrapes.count,
    scrapeMs: Number((scrapes.meanSeconds * 1000).toFixed(2)),
    scrapeBytes: scrapes.bytes,
    load: Number(loadavg()[0].toFixed(2)),
  };
}

const topic = await createTopic('bench.scrape', partitions);
try {
  log(`topic ${topic}: producing ${events} events`);
  // Event times in 2001: the benchmark's windows stay out of the dashboard's range.
  const producer = startApp('producer', ['--topic', topic, '--count', String(events), '--rate', '0', '--seed', '1', '--start-time', '2001-01-01T00:00:00.000Z']);
  const producerCode = await producer.exited;
  if (producerCode !== 0) throw new Error(`producer failed (${producerCode}):\n${producer.output().slice(-3000)}`);

  const runs = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate which variant goes first, so a trend in the machine's load favours neither.
    const order = round % 2 === 0 ? [false, true] : [true, false];
    for (const withPrometheus of order) {
      const run = await catchUp(topic, withPrometheus);
      const scrapes = withPrometheus ? `, ${run.prometheusScrapes} scrapes of ${run.scrapeBytes} bytes, ${run.scrapeMs} ms each` : '';
      log(`round ${round + 1}, ${withPrometheus ? 'with' : 'without'} Prometheus: ${run.eventsPerSec} events/s in ${run.seconds} s (load ${run.load}${scrapes})`);
      runs.push({ round: round + 1, ...run });
    }
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const without = runs.filter((r) => !r.withPrometheus).map((r) => r.eventsPerSec);
  const withP = runs.filter((r) => r.withPrometheus).map((r) => r.eventsPerSec);
  const summary = {
    events,
    rounds,
    scrapeInterval: SCRAPE_INTERVAL,
    meanWithoutEventsPerSec: Math.round(mean(without)),
    meanWithEventsPerSec: Math.round(mean(withP)),
    ratioWithOverWithout: Number((mean(withP) / mean(without)).toFixed(3)),
    // The noise floor: how far apart the runs without Prometheus are, relative to their mean.
    spreadWithout: Number(((Math.max(...without) - Math.min(...without)) / mean(without)).toFixed(3)),
    // An upper bound of the share of the aggregator's time the scrapes take: the time one scrape
    // takes end to end (wall clock, not only the aggregator's CPU) over the interval between them.
    scrapeShareOfTime: Number((mean(runs.filter((r) => r.withPrometheus).map((r) => r.scrapeMs)) / 5000).toFixed(5)),
    runs,
  };
  log(
    `with/without Prometheus: ${summary.ratioWithOverWithout} (spread of the runs without: ${summary.spreadWithout}); a scrape takes at most ${(summary.scrapeShareOfTime * 100).toFixed(2)} % of the time between scrapes`,
  );
  writeResult('scrape-overhead', summary);
} finally {
  await deleteTopic(topic);
}
