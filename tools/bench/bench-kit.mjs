// Shared plumbing of the benchmark scripts: endpoints, fresh topics, running
// the built apps as child processes, scraping their /metrics, Kafka's own
// tools as yardsticks. Benchmarks run against whatever stack the environment
// names (defaults: the local stack from `npm run stack up`).
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
export const Kafka = require('@confluentinc/kafka-javascript');

export const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const clickhouseUrl = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
export const kafkaLibs = process.env.KAFKA_LIBS ?? join(repoRoot, '.local/kafka/libs');

/**
 * librdkafka security settings from the same KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_*
 * environment as the apps, through libs/runtime's one mapping (built by `npx nx run-many -t build`),
 * so the benchmarks' own clients reach a secured broker too. Kafka's Java perf tools (the
 * yardsticks) stay plaintext.
 */
export function kafkaSecuritySettings(env = process.env) {
  const file = join(repoRoot, 'dist/libs/runtime/src/index.js');
  if (!existsSync(file)) throw new Error(`${file} is missing: run npx nx run-many -t build first`);
  const runtime = require(file);
  const { config } = runtime.parseConfig({ name: 'bench', summary: '', options: runtime.KAFKA_SECURITY_OPTIONS }, [], env);
  return runtime.resolveKafkaSecurity(config).librdkafkaConfig();
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

/** Starts a built app; resolves its metrics port from the first log line that names it. */
export function startApp(app, args, env = {}) {
  const child = spawn(process.execPath, [requireBuilt(app), ...args], {
    env: { ...process.env, KAFKA_BROKERS: brokers, CLICKHOUSE_URL: clickhouseUrl, METRICS_PORT: '0', ...env },
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
