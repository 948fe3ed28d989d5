// Everything configurable about the local stack, resolved once from the environment.
// Defaults match the contracts in docs/architecture.md (broker 127.0.0.1:9092, ClickHouse HTTP 8123).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StackError } from './log.mjs';
import { securedClientEnv, tlsPaths } from './security.mjs';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

// The dev topic profile of the topic contract (libs/runtime/src/lib/topics.json, shared with the
// apps and tools/topics); RF is always 1 on a single broker.
const DAY_MS = 24 * 60 * 60 * 1000;
const TOPIC_CONTRACT = JSON.parse(readFileSync(join(REPO_ROOT, 'libs/runtime/src/lib/topics.json'), 'utf8'));
const TOPIC_DEFAULTS = Object.entries(TOPIC_CONTRACT.topics).map(([role, t]) => ({
  env: t.env,
  name: t.name,
  partitions: TOPIC_CONTRACT.profiles.dev.partitions[role],
  retentionMs: t.retentionDays * DAY_MS,
}));

/** The long-running apps and their metrics ports (METRICS_PORT of each, set by tools/run/start.sh). */
const APP_METRICS = [
  { name: 'producer', env: 'PRODUCER_METRICS_PORT', port: 9464 },
  { name: 'aggregator', env: 'AGGREGATOR_METRICS_PORT', port: 9465 },
  { name: 'ingest-gateway', env: 'INGEST_GATEWAY_METRICS_PORT', port: 9467 },
];


function port(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new StackError(`${name} must be a TCP port number between 1 and 65535, got '${raw}'.`);
  }
  return n;
}

function positiveNumber(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new StackError(`${name} must be a positive number, got '${raw}'.`);
  return n;
}

function flag(env, name, fallback) {
  const raw = String(env[name] ?? '').toLowerCase();
  if (raw === '') return fallback;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new StackError(`${name} must be 1 or 0, got '${env[name]}'.`);
}

export function loadConfig(env = process.env) {
  const stateDir = resolve(env.STACK_DIR || join(REPO_ROOT, '.local'));
  // Prometheus, Alertmanager, the stack exporter and the broker's JMX exporter agent listen on
  // fixed ports, so by default only the repo's own stack runs them; the private stacks of tests
  // and benchmarks (their own STACK_DIR and ports) do not, unless STACK_MONITORING=1.
  const monitoring = flag(env, 'STACK_MONITORING', !env.STACK_DIR || stateDir === resolve(REPO_ROOT, '.local'));
  const kafkaDir = join(stateDir, 'kafka');
  const chDir = join(stateDir, 'clickhouse');
  const mqttDir = join(stateDir, 'mosquitto');
  // The jars do not depend on ports or STACK_DIR, so every stack dir shares the repo's copy
  // (resolving them again costs a Maven run); KAFKA_LIBS_DIR overrides.
  const libsDir = resolve(env.KAFKA_LIBS_DIR || join(REPO_ROOT, '.local', 'kafka', 'libs'));

  const ports = {
    kafka: port(env, 'KAFKA_PORT', 9092),
    // Not 9093: that is Alertmanager's (and 9094 the secured stack's SASL_SSL listener).
    kafkaController: port(env, 'KAFKA_CONTROLLER_PORT', 9095),

    clickhouseHttp: port(env, 'CLICKHOUSE_HTTP_PORT', 8123),
    clickhouseTcp: port(env, 'CLICKHOUSE_TCP_PORT', 9000),
    mqtt: port(env, 'MQTT_PORT', 1883),
  };
  if (monitoring) {
    ports.prometheus = port(env, 'PROMETHEUS_PORT', 9090);
    ports.alertmanager = port(env, 'ALERTMANAGER_PORT', 9093);
    // Broker-side consumer-group lag and ClickHouse's system tables as Prometheus metrics.
    ports.exporter = port(env, 'STACK_EXPORTER_PORT', 9308);
    // The Prometheus JMX exporter agent inside the broker's JVM.
    ports.kafkaJmxExporter = port(env, 'KAFKA_JMX_EXPORTER_PORT', 9404);
  }
  // STACK_SECURED=1: also a SASL_SSL listener and an https port (tools/stack/security.mjs).
  const securedOn = ['1', 'true', 'yes'].includes(String(env.STACK_SECURED ?? '').toLowerCase());
  if (securedOn) {
    ports.kafkaSaslSsl = port(env, 'KAFKA_SASL_SSL_PORT', 9094);
    ports.clickhouseHttps = port(env, 'CLICKHOUSE_HTTPS_PORT', 8443);
  }
  const byPort = new Map();
  for (const [key, value] of Object.entries(ports)) {
    if (byPort.has(value)) {
      throw new StackError(`Ports ${byPort.get(value)} and ${key} are both set to ${value}; give each server port its own number.`);
    }
    byPort.set(value, key);
  }

  // The apps `npm start` runs, on the metrics ports Prometheus scrapes. The stack does not bind
  // them (the apps do), so they are not checked against the server ports above.
  const apps = APP_METRICS.map((a) => ({ ...a, metricsPort: port(env, a.env, a.port) }));

  const promDir = join(stateDir, 'prometheus');
  const amDir = join(stateDir, 'alertmanager');
  const exporterDir = join(stateDir, 'exporter');

  return {
    repoRoot: REPO_ROOT,
    monitoring,
    apps,
    stateDir,
    host: '127.0.0.1',
    ports,
    readyTimeoutMs: positiveNumber(env, 'STACK_READY_TIMEOUT_SECS', 90) * 1000,
    // SIGTERM grace before SIGKILL when stopping a server.
    stopTimeoutMs: 20_000,
    secured: securedOn
      ? {
          kafkaPort: ports.kafkaSaslSsl,
          clickhouseHttpsPort: ports.clickhouseHttps,
          secretsDir: join(stateDir, 'secrets'),
          tls: tlsPaths(join(stateDir, 'tls')),
        }
      : null,
    lockDir: join(stateDir, 'stack.lock'),
    lastUpFile: join(stateDir, 'last-up.json'),
    kafka: {
      dir: kafkaDir,
      libsDir,
      pom: join(REPO_ROOT, 'infra', 'kafka', 'pom.xml'),
      mvnLog: join(dirname(libsDir), 'mvn.log'),
      dataDir: join(kafkaDir, 'data'),
      logDir: join(kafkaDir, 'logs'),
      serverLog: join(kafkaDir, 'logs', 'server.log'),
      stdoutLog: join(kafkaDir, 'logs', 'kafka.out'),
      serverProperties: join(kafkaDir, 'server.properties'),
      log4jServer: join(kafkaDir, 'log4j2-server.xml'),
      log4jTools: join(kafkaDir, 'log4j2-tools.xml'),
      pidFile: join(kafkaDir, 'kafka.pid'),
      heapOpts: (env.KAFKA_HEAP_OPTS || '-Xms256m -Xmx1g').split(/\s+/).filter(Boolean),
      topics: TOPIC_DEFAULTS.map((t) => ({ ...t, name: env[t.env] || t.name })),
      jmxExporterConfig: join(REPO_ROOT, 'infra', 'kafka', 'jmx-exporter.yml'),
    },
    prometheus: {
      dir: promDir,
      bin: env.PROMETHEUS_BIN || '',
      config: join(promDir, 'prometheus.yml'),
      rulesDir: join(REPO_ROOT, 'infra', 'prometheus', 'rules'),
      dataDir: join(promDir, 'data'),
      logFile: join(promDir, 'prometheus.log'),
      pidFile: join(promDir, 'prometheus.pid'),
      // How often the apps, the broker and ClickHouse are scraped (the dashboard refreshes every 5 s).
      scrapeInterval: env.PROMETHEUS_SCRAPE_INTERVAL || '5s',
    },
    alertmanager: {
      dir: amDir,
      bin: env.ALERTMANAGER_BIN || '',
      template: join(REPO_ROOT, 'infra', 'prometheus', 'alertmanager.yml'),
      config: join(amDir, 'alertmanager.yml'),
      dataDir: join(amDir, 'data'),
      logFile: join(amDir, 'alertmanager.log'),
      pidFile: join(amDir, 'alertmanager.pid'),
      webhookUrl: env.ALERTMANAGER_WEBHOOK_URL || '',
    },
    exporter: {
      dir: exporterDir,
      config: join(exporterDir, 'exporter.json'),
      logFile: join(exporterDir, 'exporter.log'),
      pidFile: join(exporterDir, 'exporter.pid'),
    },
    clickhouse: {
      dir: chDir,
      serverBin: env.CLICKHOUSE_SERVER_BIN || '',
      templateDir: join(REPO_ROOT, 'clickhouse', 'server'),
      initDir: resolve(env.CLICKHOUSE_INIT_DIR || join(REPO_ROOT, 'clickhouse', 'init')),
      config: join(chDir, 'config.xml'),
      users: join(chDir, 'users.xml'),
      dataDir: join(chDir, 'data'),
      tmpDir: join(chDir, 'tmp'),
      userFilesDir: join(chDir, 'user_files'),
      formatSchemaDir: join(chDir, 'format_schemas'),
      logDir: join(chDir, 'log'),
      serverLog: join(chDir, 'log', 'clickhouse-server.log'),
      errorLog: join(chDir, 'log', 'clickhouse-server.err.log'),
      stdoutLog: join(chDir, 'log', 'stdout.log'),
      pidFile: join(chDir, 'clickhouse.pid'),
    },
    mqtt: {
      dir: mqttDir,
      bin: env.MOSQUITTO_BIN || '',
      config: join(mqttDir, 'mosquitto.conf'),
      dataDir: join(mqttDir, 'data'),
      logFile: join(mqttDir, 'mosquitto.log'),
      stdoutLog: join(mqttDir, 'mosquitto.log'),
      pidFile: join(mqttDir, 'mosquitto.pid'),
    },
  };
}

/**
 * The environment the apps and tests read (docs/architecture.md: KAFKA_BROKERS, CLICKHOUSE_URL, MQTT_URL), and where
 * Prometheus and Alertmanager answer.
 */
export function clientEnv(cfg) {
  return {
    KAFKA_BROKERS: `${cfg.host}:${cfg.ports.kafka}`,
    CLICKHOUSE_URL: `http://${cfg.host}:${cfg.ports.clickhouseHttp}`,
    MQTT_URL: `mqtt://${cfg.host}:${cfg.ports.mqtt}`,
    ...(cfg.monitoring
      ? {
          PROMETHEUS_URL: `http://${cfg.host}:${cfg.ports.prometheus}`,
          ALERTMANAGER_URL: `http://${cfg.host}:${cfg.ports.alertmanager}`,
          // The broker's own metrics (JMX exporter agent), for tests that scrape it.
          KAFKA_JMX_METRICS_URL: `http://${cfg.host}:${cfg.ports.kafkaJmxExporter}/metrics`,
        }
      : {}),
    ...(cfg.secured ? securedClientEnv(cfg) : {}),
  };
}
