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

export function loadConfig(env = process.env) {
  const stateDir = resolve(env.STACK_DIR || join(REPO_ROOT, '.local'));
  const kafkaDir = join(stateDir, 'kafka');
  const chDir = join(stateDir, 'clickhouse');
  const mqttDir = join(stateDir, 'mosquitto');
  // The jars do not depend on ports or STACK_DIR, so every stack dir shares the repo's copy
  // (resolving them again costs a Maven run); KAFKA_LIBS_DIR overrides.
  const libsDir = resolve(env.KAFKA_LIBS_DIR || join(REPO_ROOT, '.local', 'kafka', 'libs'));

  const ports = {
    kafka: port(env, 'KAFKA_PORT', 9092),
    kafkaController: port(env, 'KAFKA_CONTROLLER_PORT', 9093),
    clickhouseHttp: port(env, 'CLICKHOUSE_HTTP_PORT', 8123),
    clickhouseTcp: port(env, 'CLICKHOUSE_TCP_PORT', 9000),
    mqtt: port(env, 'MQTT_PORT', 1883),
  };
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

  return {
    repoRoot: REPO_ROOT,
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

/** The environment the apps and tests read (docs/architecture.md: KAFKA_BROKERS, CLICKHOUSE_URL, MQTT_URL). */
export function clientEnv(cfg) {
  return {
    KAFKA_BROKERS: `${cfg.host}:${cfg.ports.kafka}`,
    CLICKHOUSE_URL: `http://${cfg.host}:${cfg.ports.clickhouseHttp}`,
    MQTT_URL: `mqtt://${cfg.host}:${cfg.ports.mqtt}`,
    ...(cfg.secured ? securedClientEnv(cfg) : {}),
  };
}
