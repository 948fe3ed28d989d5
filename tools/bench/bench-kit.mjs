// Shared plumbing of the benchmark scripts: endpoints, fresh topics, running
// the built apps as child processes, scraping their /metrics, Kafka's own
// tools as yardsticks. Benchmarks run against whatever stack the environment
// names (defaults: the local stack from `npm run stack up`).
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { buildSync } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientEnv, loadConfig as loadStackConfig } from '../stack/config.mjs';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
export const Kafka = require('@confluentinc/kafka-javascript');

// Endpoints: KAFKA_BROKERS / CLICKHOUSE_URL when set, otherwise the stack that
// tools/stack would start with this environment (KAFKA_PORT,
// CLICKHOUSE_HTTP_PORT, KAFKA_LIBS_DIR), so a private stack on other ports
// needs no second set of variables.
const stack = loadStackConfig();
const stackEndpoints = clientEnv(stack);
export const brokers = process.env.KAFKA_BROKERS || stackEndpoints.KAFKA_BROKERS;
export const clickhouseUrl = process.env.CLICKHOUSE_URL || stackEndpoints.CLICKHOUSE_URL;
export const kafkaLibs = process.env.KAFKA_LIBS || stack.kafka.libsDir;

/**
 * Project libraries for a benchmark, bundled from their TypeScript sources
 * with esbuild (tsconfig paths, npm packages left external) into tmp/bench and
 * loaded: `source` is an ES module of re-exports, e.g.
 * "export { WindowRowWriter } from '@stream-analytics/clickhouse-sink';".
 * No prior build needed, and the sources measured are the checkout's.
 */
export function bundledLibs(name, source) {
  const dir = join(repoRoot, 'tmp/bench');
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, `${name}.cjs`);
  buildSync({
    stdin: { contents: source, resolveDir: repoRoot, loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    packages: 'external',
    tsconfig: join(repoRoot, 'tsconfig.base.json'),
    outfile,
    logLevel: 'warning',
  });
  return require(outfile);
}

let runtimeLib;

/**
 * librdkafka security settings from the same KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_*
 * environment as the apps, through libs/runtime's one mapping, so the benchmarks' own clients reach
 * a secured broker too. Kafka's Java perf tools (the yardsticks) stay plaintext.
 */
export function kafkaSecuritySettings(env = process.env) {
  runtimeLib ??= bundledLibs('bench-runtime', "export { parseConfig, KAFKA_SECURITY_OPTIONS, resolveKafkaSecurity } from '@stream-analytics/runtime';");
  const { config } = runtimeLib.parseConfig({ name: 'bench', summary: '', options: runtimeLib.KAFKA_SECURITY_OPTIONS }, [], env);
  return runtimeLib.resolveKafkaSecurity(config).librdkafkaConfig();
}

/**
 * One query over HTTP as a dashboard sends it, timed: wall time in ms, rows
 * returned, and the server's own rows read and elapsed time.
 */
export async function timedClickhouseQuery(sql, url = clickhouseUrl) {
  const t0 = performance.now();
  const res = await fetch(`${url}/`, { method: 'POST', body: `${sql}\nFORMAT JSONCompact` });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${text.slice(0, 500)}\n${sql}`);
  const json = JSON.parse(text);
  return { ms, rows: json.data.length, rowsRead: Number(json.statistics?.rows_read ?? NaN), serverMs: Number(json.statistics?.elapsed ?? NaN) * 1000 };
}


export function log(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

export function requireBuilt(app) {
  const bundle = join(repoRoot, 'dist/apps', app, 'main.js');
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npx nx run-many -t build first`);
  return bundle;
}

export function requireKafkaLibs() {
  if (!existsSync(kafkaLibs)) throw new Error(`Kafka jars not found in ${kafkaLibs}: run node tools/stack/stack.mjs jars, or set KAFKA_LIBS`);
  return `${kafkaLibs}/*`;
}

export async function createTopic(prefix, partitions) {
  const topic = `${prefix}.${Date.now()}.${randomUUID().slice(0, 4)}`;
  const admin = Kafka.AdminClient.create({ 'bootstrap.servers': brokers, ...kafkaSecuritySettings() });
  await new Promise((resolve, reject) =>
    admin.createTopic({ topic, num_partitions: partitions, replication_factor: 1 }, 30000, (err) => (err ? reject(err) : resolve())),
  );
  admin.disconnect();
  return topic;
}

export async function deleteTopic(topic) {
  const admin = Kafka.AdminClient.create({ 'bootstrap.servers': brokers, ...kafkaSecuritySettings() });
  await new Promise((resolve) => admin.deleteTopic(topic, 30000, () => resolve()));
  admin.disconnect();
}

/**
 * Starts a built app; resolves its metrics port from the first log line that
 * names it. `app` is an app of dist/apps or the path of another build's
 * main.js (a baseline). nodeArgs go to node itself (e.g. --cpu-prof, which NODE_OPTIONS refuses).
 */
export function startApp(app, args, env = {}, nodeArgs = []) {
  const bundle = app.endsWith('.js') ? app : requireBuilt(app); // a built app's name, or another build's main.js
  const child = spawn(process.execPath, [...nodeArgs, bundle, ...args], {
    // No retention job: benchmark windows lie years in the past and would be dropped mid-run. For the
    // same reason a century of aggregate retention: with the default 30 days the aggregator would
    // dead-letter events of 2001 sent today as beyond_retention instead of folding them.
    env: { ...process.env, KAFKA_BROKERS: brokers, CLICKHOUSE_URL: clickhouseUrl, METRICS_PORT: '0', RETENTION_INTERVAL_SECS: '0', AGGREGATE_RETENTION_DAYS: '36500', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const onData = (d) => (output += d.toString());
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  const metricsPort = new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /"metricsPort":(\d+)/.exec(output);
      if (m) {
        clearInterval(timer);
        resolve(Number(m[1]));
      }
    }, 50);
    exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`${app} exited (${code}) before reporting its metrics port:\n${output.slice(-3000)}`));
    });
  });
  metricsPort.catch(() => {});
  return { child, exited, metricsPort, output: () => output };
}

/** Sums the samples of one metric on an app's /metrics page. */
export async function scrape(port, name) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const metric = line.split(/[{ ]/)[0];
    if (metric === name) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      seen = true;
    }
  }
  return seen ? sum : NaN;
}

/** Resident set size of a process in bytes (Linux). */
export function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** A process and all its descendants (Linux). */
export function processTree(pid) {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    try {
      for (const task of readdirSync(`/proc/${tree[i]}/task`)) {
        const children = readFileSync(`/proc/${tree[i]}/task/${task}/children`, 'utf8').trim();
        if (children) tree.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return tree;
}

/**
 * Memory of a process with its children: the sum of their RSS (pages shared
 * between them, such as the node binary, counted once per process) and of
 * their PSS (shared pages split between the processes sharing them).
 */
export function treeMemoryBytes(pid) {
  let rss = 0;
  let pss = 0;
  for (const p of processTree(pid)) {
    rss += rssBytes(p) || 0;
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      if (m) pss += Number(m[1]) * 1024;
    } catch {
      // Gone, or smaps_rollup unavailable (kernels before 4.14): PSS stays partial.
    }
  }
  return { rss, pss };
}

/** Runs one of Kafka's own tools (a main class from the kafka-tools jar). */
export function runKafkaTool(mainClass, args) {
  const res = spawnSync('java', ['-Xmx1g', '-cp', requireKafkaLibs(), '-Dlog4j2.level=warn', mainClass, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.status !== 0) throw new Error(`${mainClass} failed (${res.status}):\n${res.stderr}\n${res.stdout}`);
  return res.stdout;
}

export async function clickhouseQuery(sql, url = clickhouseUrl) {
  const res = await fetch(`${url}/`, { method: 'POST', body: sql });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${text}`);
  return text;
}

export function writeResult(name, result) {
  const dir = join(repoRoot, 'tmp/bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  log(`results written to ${file}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Reads every record of a topic, from the start of each partition to its end
 * offset as of the call, and hands each to onRecord (partition order kept).
 */
export async function readTopic(topic, partitions, onRecord) {
  const consumer = new Kafka.KafkaConsumer({ 'bootstrap.servers': brokers, ...kafkaSecuritySettings(), 'group.id': `bench-read-${Date.now()}`, 'enable.auto.commit': false }, { 'auto.offset.reset': 'earliest' });
  await new Promise((resolve, reject) => consumer.connect({}, (err) => (err ? reject(err) : resolve())));
  const ends = [];
  for (let p = 0; p < partitions; p++) ends.push(await new Promise((resolve, reject) => consumer.queryWatermarkOffsets(topic, p, 10000, (err, o) => (err ? reject(err) : resolve(o.highOffset)))));
  consumer.assign(ends.map((_, partition) => ({ topic, partition, offset: 0 })));
  const seen = ends.map(() => 0);
  while (seen.some((n, p) => n < ends[p])) {
    const batch = await new Promise((resolve, reject) => consumer.consume(10000, (err, m) => (err ? reject(err) : resolve(m))));
    for (const m of batch) {
      if (m.offset >= ends[m.partition]) continue;
      onRecord(m);
      seen[m.partition] = m.offset + 1;
    }
  }
  consumer.disconnect();
  return ends;
}

/** Per source partition, the highest offset folded into a stored window row of `topic` (the fleet rows' last_offset in iot_window_agg_state). */
export async function visibleOffsets(topic, url = clickhouseUrl) {
  const text = await clickhouseQuery(
    `SELECT source_partition, max(last_offset) AS v FROM stream_analytics.iot_window_agg_state WHERE device_id = '' AND source_topic = '${topic}' GROUP BY source_partition FORMAT TabSeparated`,
    url,
  );
  return new Map(text.trim().split('\n').filter(Boolean).map((l) => l.split('\t').map(Number)));
}
