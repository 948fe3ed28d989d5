#!/usr/bin/env node
// The local development stack: Apache Kafka (KRaft), ClickHouse and an MQTT broker (Mosquitto, or
// the one already answering on the MQTT port) as user processes, no Docker.
// Node builtins only, except the Kafka client that readiness and topic listing load from
// node_modules on first use (kafka-client.mjs), and esbuild, which bundles the project's migration
// runner for the schema (clickhouse.mjs): `jars`, `status`, `down`, `env` work before
// `npm install`.
//
//   node tools/stack/stack.mjs up [--env] [--started-file F [--holder-pid N]] [--only kafka|clickhouse|mqtt|prometheus|alertmanager|exporter] [--no-provision]
//   node tools/stack/stack.mjs provision [--only ...]
//   node tools/stack/stack.mjs down [--purge] [--only-if-started F] [--only ...]
//   node tools/stack/stack.mjs status [--json]
//   node tools/stack/stack.mjs env
//   node tools/stack/stack.mjs jars
//
// Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9095), CLICKHOUSE_HTTP_PORT (8123),
// CLICKHOUSE_TCP_PORT (9000), MQTT_PORT (1883), MOSQUITTO_BIN, STACK_DIR (<repo>/.local), STACK_READY_TIMEOUT_SECS (90),
// RAW_TOPIC / AGG_TOPIC / DLQ_TOPIC, KAFKA_HEAP_OPTS, KAFKA_LIBS_DIR, CLICKHOUSE_SERVER_BIN,
// CLICKHOUSE_INIT_DIR; STACK_SECURED=1 adds a SASL_SSL listener (KAFKA_SASL_SSL_PORT, 9094) with
// ACLs and a ClickHouse https port (CLICKHOUSE_HTTPS_PORT, 8443): security.mjs.
// Monitoring (STACK_MONITORING, on for the repo's own stack dir): Prometheus (PROMETHEUS_PORT,
// 9090), Alertmanager (ALERTMANAGER_PORT, 9093), the stack exporter (STACK_EXPORTER_PORT, 9308)
// and the broker's JMX exporter agent (KAFKA_JMX_EXPORTER_PORT, 9404): prometheus.mjs, exporter.mjs.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { applySchema, clickhouseServer } from './clickhouse.mjs';
import { clientEnv, loadConfig } from './config.mjs';
import { ensureJars, kafkaServer, provisionTopics } from './kafka.mjs';
import { exporterServer } from './exporter.mjs';
import { mosquittoServer } from './mosquitto.mjs';
import { alertmanagerServer, prometheusServer, reloadMonitoring } from './prometheus.mjs';
import { clearHandoff, releaseLease, takeLease } from './leases.mjs';
import { acquireLock } from './lock.mjs';
import { StackError, say, shortPath } from './log.mjs';
import { removeFile, stopProcess } from './process.mjs';
import { describe, ensureRunning, inspect, preflight, stopServer } from './server.mjs';
import { probeOnce } from './readiness.mjs';

const USAGE = `usage: node tools/stack/stack.mjs <command> [options]
  up          start Kafka, ClickHouse and Mosquitto (reusing running ones; any MQTT broker that
              answers on MQTT_PORT is used as it is), and with STACK_MONITORING Prometheus,
              Alertmanager and the stack exporter, and provision them
                --env                 also print export lines for KAFKA_BROKERS / CLICKHOUSE_URL
                --started-file F      write {"kafka":bool,"clickhouse":bool}: what this call started,
                                      and hold a lease on the stack for the calling run
                --holder-pid N        the run holding that lease (default: our parent process)
                --only kafka|clickhouse|mqtt|prometheus|alertmanager|exporter
                                      manage just these servers (comma-separated)
                --no-provision        skip topics and schema
  provision   create the topics and apply the clickhouse/init files not applied yet, with the
              project's migration runner, and reload Prometheus's and Alertmanager's
              configuration and rules (servers must be up)
  down        stop the servers this tool started
                --purge               also delete their data and logs (keeps the Kafka jars)
                --only-if-started F   stop only what the \`up --started-file F\` call started
                                      (handed over instead while other runs hold leases)
  status      show each server's state [--json]
  env         print export lines for KAFKA_BROKERS / CLICKHOUSE_URL / MQTT_URL
              (and PROMETHEUS_URL / ALERTMANAGER_URL with STACK_MONITORING)
  app-ports   print "<app> <metrics port>" per line: where Prometheus expects the apps that
              \`npm start\` runs (PRODUCER_/AGGREGATOR_/INGEST_GATEWAY_METRICS_PORT)
  jars        resolve the Kafka jars with Maven if missing or infra/kafka/pom.xml changed`;

const SERVER_NAMES = ['kafka', 'clickhouse', 'mqtt', 'prometheus', 'alertmanager', 'exporter'];
// Run only with STACK_MONITORING on (by default: the repo's own stack; see config.mjs).
const MONITORING_NAMES = ['prometheus', 'alertmanager', 'exporter'];

function parseArgs(argv) {
  const [command, ...rest] = argv;
  // The lease holder defaults to whoever ran us; scripts pass their own pid ($$) explicitly,
  // because from inside $(...) our parent is a short-lived subshell.
  const opts = { command, only: null, holderPid: process.ppid };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    const value = () => {
      const v = rest[++i];
      if (v === undefined || v.startsWith('--')) throw new StackError(`${arg} needs a value.\n${USAGE}`);
      return v;
    };
    if (arg === '--env') opts.env = true;
    else if (arg === '--json') opts.json = true;
    else if (arg === '--purge') opts.purge = true;
    else if (arg === '--no-provision') opts.noProvision = true;
    else if (arg === '--started-file') opts.startedFile = value();
    else if (arg === '--only-if-started') opts.onlyIfStarted = value();
    else if (arg === '--holder-pid') {
      opts.holderPid = Number(value());
      if (!Number.isInteger(opts.holderPid) || opts.holderPid <= 0) throw new StackError('--holder-pid needs a process id.');
    }
    else if (arg === '--only') {
      opts.only = value().split(',');
      const bad = opts.only.filter((n) => !SERVER_NAMES.includes(n));
      if (bad.length) throw new StackError(`--only takes ${SERVER_NAMES.join(' or ')}, got '${bad.join(',')}'.`);
    } else throw new StackError(`Unknown option '${arg}'.\n${USAGE}`);
  }
  return opts;
}

/** --only, else every server this stack runs (the monitoring ones only with STACK_MONITORING). */
function selectServers(cfg, only) {
  if (!only) return SERVER_NAMES.filter((n) => cfg.monitoring || !MONITORING_NAMES.includes(n));
  const off = only.filter((n) => MONITORING_NAMES.includes(n) && !cfg.monitoring);
  if (off.length) throw new StackError(`${off.join(', ')}: the monitoring servers run only with STACK_MONITORING=1 (the default for the repo's own stack dir).`);
  return only;
}

function servers(cfg, only) {
  const all = [kafkaServer(cfg), clickhouseServer(cfg), mosquittoServer(cfg)];
  if (cfg.monitoring) all.push(prometheusServer(cfg), alertmanagerServer(cfg), exporterServer(cfg));
  return all.filter((s) => only.includes(s.name));
}

// Long enough for a first Maven download plus a slow start; the waiter then reuses the servers.
const lockTimeoutMs = (cfg) => 15 * 60_000 + cfg.readyTimeoutMs;

function printEnv(cfg) {
  for (const [key, value] of Object.entries(clientEnv(cfg))) process.stdout.write(`export ${key}=${value}\n`);
}

function writeJson(file, data) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data)}\n`);
}

async function provision(cfg, only) {
  if (only.includes('kafka')) await provisionTopics(cfg);
  if (only.includes('clickhouse')) await applySchema(cfg);
  if (cfg.monitoring) await reloadMonitoring(cfg, only);
}

/** A server of ours is not running but another one answers on its port, and that one may be used. */
async function answeredByAnother(server) {
  return server.useAnswering === true && inspect(server).state !== 'running' && (await probeOnce(() => server.probe(2000)));
}

async function up(cfg, opts) {
  const list = [];
  for (const server of servers(cfg, opts.only)) {
    if (await answeredByAnother(server)) say(`${server.name}: using the broker that answers on ${server.endpoint} (not started by this tool, never stopped by it)`);
    else list.push(server);
  }
  const release = await acquireLock(cfg.lockDir, { command: 'up', timeoutMs: lockTimeoutMs(cfg) });

  if (opts.startedFile) takeLease(cfg, opts.startedFile, opts.holderPid);
  // What this invocation started, recorded as soon as each process exists (not only at the end),
  // so a caller's cleanup trap can stop it even if this process is killed mid-start.
  const started = Object.fromEntries(SERVER_NAMES.map((n) => [n, false]));
  const spawned = new Map(); // name -> {server, pid}
  const record = () => {
    if (opts.startedFile) writeJson(opts.startedFile, started);
    writeJson(cfg.lastUpFile, { ...started, by: process.pid, at: new Date().toISOString() });
  };
  record();

  const stopSpawned = async () => {
    await Promise.all(
      [...spawned.values()].map(async ({ server, pid }) => {
        await stopProcess(pid, cfg.stopTimeoutMs);
        removeFile(server.pidFile);
        say(`stopped ${server.name} (pid ${pid}), which this run had started`);
      }),
    );
  };

  // Ctrl-C while starting: don't leave half-started servers behind (they run in their own session,
  // so the terminal's SIGINT does not reach them).
  let interrupted = false;
  const onSignal = (signal) => {
    if (interrupted) return;
    interrupted = true;
    say(`interrupted (${signal}); stopping what this run started`);
    stopSpawned().finally(() => {
      release();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    for (const server of list) await preflight(server);
    const results = await Promise.allSettled(
      list.map((server) =>
        ensureRunning(server, {
          readyTimeoutMs: cfg.readyTimeoutMs,
          stopTimeoutMs: cfg.stopTimeoutMs,
          onSpawn: (pid) => {
            started[server.name] = true;
            spawned.set(server.name, { server, pid });
            record();
          },
        }),
      ),
    );
    // After a signal, onSignal owns the cleanup and exits; servers it killed show up here as
    // failures, which are no news to anyone.
    if (interrupted) await new Promise(() => {});
    const failures = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
    if (failures.length > 0) {
      // Forget servers that failed (ensureRunning already stopped them), stop the rest we started.
      list.forEach((server, i) => {
        if (results[i].status === 'rejected') {
          spawned.delete(server.name);
          started[server.name] = false;
        }
      });
      for (const err of failures.slice(1)) report(err);
      if (spawned.size > 0) await stopSpawned();
      for (const name of spawned.keys()) started[name] = false;
      record();
      throw failures[0];
    }
    if (!opts.noProvision) await provision(cfg, opts.only);
  } finally {
    release();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (opts.env) printEnv(cfg);
}

async function down(cfg, opts) {
  // Stopping is bounded (SIGKILL after 20 s); a second Ctrl-C must not abandon it halfway.
  const onSignal = () => say('still stopping servers; please wait (at most ~20 s)');
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const release = await acquireLock(cfg.lockDir, { command: 'down', timeoutMs: lockTimeoutMs(cfg) });
  try {
    let names = opts.only;
    if (opts.onlyIfStarted) {
      names = namesToStopAfterRun(cfg, opts);
      if (names.length === 0) return;
    } else {
      clearHandoff(cfg);
    }

    const results = await Promise.all(servers(cfg, names).map((s) => stopServer(s, { stopTimeoutMs: cfg.stopTimeoutMs })));
    if (results.length > 0 && results.every((r) => !r.stopped) && !opts.purge) {
      say(`nothing to stop (${results.map((r) => r.message).join('; ')})`);
    } else {
      for (const r of results) say(r.message);
    }
    if (opts.purge) purge(cfg, opts.only);
  } finally {
    release();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * For `down --only-if-started F`: the servers F's run started, plus any handed over to it, unless
 * other runs still use the stack (see leases.mjs). Consumes F.
 */
function namesToStopAfterRun(cfg, opts) {
  const file = opts.onlyIfStarted;
  let record = {};
  try {
    record = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    /* missing or unreadable: this run started nothing */
  }
  rmSync(file, { force: true });
  const started = opts.only.filter((n) => record[n] === true);
  const { stop, deferred, deferredTo } = releaseLease(cfg, file, started);
  if (deferred.length > 0) {
    say(`leaving ${deferred.join(' and ')} running: still in use by another run (pid ${deferredTo.join(', ')}), which will stop ${deferred.length > 1 ? 'them' : 'it'}`);
  }
  const notOurs = opts.only.filter((n) => !stop.includes(n) && !deferred.includes(n));
  if (notOurs.length > 0 && stop.length + deferred.length > 0) say(`leaving ${notOurs.join(' and ')} running (not started by this run)`);
  if (stop.length + deferred.length === 0) say(`this run started no servers; leaving ${opts.only.join(' and ')} as they are`);
  return opts.only.filter((n) => stop.includes(n));
}

function purge(cfg, only) {
  const dirs = [];
  if (only.includes('kafka')) dirs.push(cfg.kafka.dir);
  if (only.includes('clickhouse')) dirs.push(cfg.clickhouse.dir);
  for (const name of MONITORING_NAMES) if (only.includes(name)) dirs.push(cfg[name].dir);
  // The jars may live inside the kafka dir (the default); they are not data, keep them.
  const keep = new Set([cfg.kafka.libsDir, cfg.kafka.mvnLog]);
  for (const dir of dirs) {
    const entries = existsSync(dir) ? readdirSync(dir).map((e) => join(dir, e)) : [];
    for (const entry of entries) if (!keep.has(entry)) rmSync(entry, { recursive: true, force: true });
    if (entries.every((e) => !keep.has(e))) rmSync(dir, { recursive: true, force: true });
  }
  rmSync(cfg.lastUpFile, { force: true });
  say(`purged ${dirs.map(shortPath).join(', ')} (the Kafka jars are kept)`);
}

async function status(cfg, opts) {
  const states = await Promise.all(servers(cfg, opts.only).map(describe));
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(states, null, 2)}\n`);
    return;
  }
  for (const s of states) {
    if (s.name === 'mqtt' && s.state !== 'running' && s.portsInUseByOthers.length > 0) {
      say(`mqtt: a broker not started by this tool answers on ${s.endpoint} (${s.portsInUseByOthers.join(', ')}); \`up\` uses it as it is`);
    } else if (s.state === 'running') {
      say(`${s.name}: running (pid ${s.pid}) on ${s.endpoint}, ${s.ready ? 'ready' : 'NOT answering'}; log ${shortPath(s.log)}`);
    } else {
      const notes = [];
      if (s.stalePid) notes.push(`stale pid file for pid ${s.stalePid}`);
      if (s.portsInUseByOthers.length) notes.push(`port ${s.portsInUseByOthers.join(', port ')} in use by another process`);
      say(`${s.name}: stopped${notes.length ? ` (${notes.join('; ')})` : ''}; endpoint ${s.endpoint}; log ${shortPath(s.log)}`);
    }
  }
}

function report(err) {
  if (err instanceof StackError) {
    say(err.message);
    for (const line of err.details ?? []) process.stderr.write(`        ${line}\n`);
  } else {
    say(`unexpected error: ${err?.stack ?? err}`);
  }
}

async function main(argv) {
  const opts = parseArgs(argv);
  const cfg = loadConfig();
  opts.only = selectServers(cfg, opts.only);
  switch (opts.command) {
    case 'up':
      return up(cfg, opts);
    case 'provision': {
      const release = await acquireLock(cfg.lockDir, { command: 'provision', timeoutMs: lockTimeoutMs(cfg) });
      try {
        return await provision(cfg, opts.only);
      } finally {
        release();
      }
    }
    case 'down':
      return down(cfg, opts);
    case 'status':
      return status(cfg, opts);
    case 'env':
      return printEnv(cfg);
    case 'app-ports':
      for (const app of cfg.apps) process.stdout.write(`${app.name} ${app.metricsPort}\n`);
      return;
    case 'jars': {
      const release = await acquireLock(cfg.lockDir, { command: 'jars', timeoutMs: lockTimeoutMs(cfg) });
      try {
        return say((await ensureJars(cfg)).message);
      } finally {
        release();
      }
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      throw new StackError(`Unknown command '${opts.command}'.\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  () => {
    process.exitCode = 0;
  },
  (err) => {
    report(err);
    process.exitCode = 1;
  },
);
