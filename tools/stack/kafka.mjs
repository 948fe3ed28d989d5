// Apache Kafka (KRaft, one combined broker+controller node) run from the jars that Maven
// resolves from infra/kafka/pom.xml. Also: the dev topic provisioning.
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { metadata } from './kafka-client.mjs';
import { StackError, say, seconds, shortPath } from './log.mjs';
import { findOnPath, isOurProcess, readPidFile, run, tailLines } from './process.mjs';
import { kafkaReady } from './readiness.mjs';
import { ensureCertificates, ensureSecrets, kafkaSecuredProperties, scramFormatArgs, securedAdminSettings } from './security.mjs';

const DAY_MS = 24 * 60 * 60 * 1000;

// ---------------------------------------------------------------------------------------------
// Tools on the machine

let javaChecked = null;

/** Kafka 4 needs Java 17+; an older JVM would fail later with an obscure class-version error. */
export async function requireJava() {
  if (javaChecked) return javaChecked;
  const java = findOnPath('java');
  const hint = 'install it (Debian: apt-get install -y openjdk-17-jdk-headless) and run again.';
  if (!java) throw new StackError(`Java (JDK 17+) was not found on PATH; ${hint}`);
  const { stderr, stdout } = await run(java, ['-version']);
  const m = /version "(\d+)(?:\.(\d+))?/.exec(stderr + stdout);
  const major = m ? (m[1] === '1' ? Number(m[2]) : Number(m[1])) : NaN;
  if (!(major >= 17)) throw new StackError(`Java on PATH (${java}) is version ${m ? m[1] : 'unknown'}, but Kafka 4 needs JDK 17+; ${hint}`);
  javaChecked = java;
  return java;
}

function requireMaven() {
  const mvn = findOnPath('mvn');
  if (!mvn) throw new StackError('Maven (mvn) was not found on PATH; install it (Debian: apt-get install -y maven) and run again.');
  return mvn;
}

// ---------------------------------------------------------------------------------------------
// Jars

function jarCount(dir) {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.jar')).length;
  } catch {
    return 0;
  }
}

function hasKafkaServerJar(dir) {
  try {
    return readdirSync(dir).some((f) => /^kafka_2\.\d+-.*\.jar$/.test(f));
  } catch {
    return false;
  }
}

/**
 * Copies the Kafka jars into libsDir with Maven, but only when they are missing or the pom
 * changed since (a hash of the pom is kept next to the jars). Maven writes into a temporary
 * directory that replaces libsDir only on success, so an interrupted download is never mistaken
 * for a complete one.
 */
export async function ensureJars(cfg) {
  const { libsDir, pom, mvnLog } = cfg.kafka;
  const stampFile = join(libsDir, '.pom.sha256');
  const hash = createHash('sha256').update(readFileSync(pom)).digest('hex');
  const stamp = existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : '';
  if (stamp === hash && hasKafkaServerJar(libsDir)) {
    return { changed: false, message: `kafka jars: up to date (${jarCount(libsDir)} jars in ${shortPath(libsDir)})` };
  }
  if (stamp && hasKafkaServerJar(libsDir) && isOurProcess(readPidFile(cfg.kafka.pidFile)?.pid ?? -1, cfg.kafka.serverProperties)) {
    // Swapping jars under a running JVM breaks it; the next `up` after a `down` picks them up.
    return { changed: false, message: `kafka jars: ${shortPath(pom)} changed, but Kafka is running from the old jars; run \`down\` then \`up\` to refresh them` };
  }

  const mvn = requireMaven();
  await requireJava();
  const t0 = Date.now();
  const tmpDir = `${libsDir}.tmp-${process.pid}`;
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(dirname(mvnLog), { recursive: true });
  const fd = openSync(mvnLog, 'w');
  const args = ['-q', '-B', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${tmpDir}`, '-DincludeScope=runtime'];
  const code = await new Promise((resolvePromise) => {
    const child = spawn(mvn, args, { stdio: ['ignore', fd, fd] });
    child.on('error', () => resolvePromise(127));
    child.on('exit', (c) => resolvePromise(c ?? 128));
  });
  closeSync(fd);
  if (code !== 0 || !hasKafkaServerJar(tmpDir)) {
    rmSync(tmpDir, { recursive: true, force: true });
    throw new StackError(`Maven could not resolve the Kafka jars (exit code ${code}); see ${shortPath(mvnLog)}`, { details: tailLines(mvnLog, 8) });
  }
  writeFileSync(join(tmpDir, '.pom.sha256'), `${hash}\n`);
  rmSync(libsDir, { recursive: true, force: true });
  renameSync(tmpDir, libsDir);
  return { changed: true, message: `kafka jars: resolved ${jarCount(libsDir)} jars with Maven in ${seconds(Date.now() - t0)} into ${shortPath(libsDir)}` };
}

/** The Prometheus JMX exporter agent, resolved with the Kafka jars (infra/kafka/pom.xml). */
function jmxExporterJar(cfg) {
  const jar = readdirSync(cfg.kafka.libsDir).find((f) => /^jmx_prometheus_javaagent-.*\.jar$/.test(f));
  if (!jar) throw new StackError(`The JMX exporter agent is missing from ${shortPath(cfg.kafka.libsDir)}; run \`node tools/stack/stack.mjs jars\` (Kafka must be stopped for the jars to be refreshed).`);
  return join(cfg.kafka.libsDir, jar);
}

function classpath(cfg) {
  // A quoted wildcard: the JVM expands it itself (no shell involved).
  return `${cfg.kafka.libsDir}/*`;
}

/** Runs a Kafka command-line class (StorageTool, TopicCommand) and returns its output. */
async function kafkaTool(cfg, mainClass, args) {
  const java = await requireJava();
  return run(java, ['-Xmx256m', `-Dlog4j2.configurationFile=${cfg.kafka.log4jTools}`, '-cp', classpath(cfg), mainClass, ...args], {
    cwd: cfg.kafka.dir,
    timeoutMs: 120_000,
  });
}

// ---------------------------------------------------------------------------------------------
// Config files

function serverProperties(cfg, secrets) {
  const { host, ports } = cfg;
  const secured = cfg.secured ? kafkaSecuredProperties(cfg, secrets) : null;
  return [
    '# Generated by tools/stack/kafka.mjs on every start; edit that file, not this one.',
    '# One node that is both KRaft controller and broker, reachable on loopback only.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${host}:${ports.kafkaController}`,
    `listeners=${secured?.listeners ?? `PLAINTEXT://${host}:${ports.kafka},CONTROLLER://${host}:${ports.kafkaController}`}`,
    `advertised.listeners=${secured?.advertised ?? `PLAINTEXT://${host}:${ports.kafka}`}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `listener.security.protocol.map=${secured?.protocolMap ?? 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT'}`,
    ...(secured?.extra ?? []),
    `log.dirs=${cfg.kafka.dataDir}`,
    // A single broker cannot host the default RF 3 internal topics.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // Tests join consumer groups constantly; don't make each one wait 3 s for more members.
    'group.initial.rebalance.delay.ms=0',
    // Ad-hoc topics (auto-created or created by tests) get one partition unless they ask for more.
    'num.partitions=1',
    '',
  ].join('\n');
}

function log4jServer(cfg) {
  const dir = cfg.kafka.logDir;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by tools/stack/kafka.mjs: the broker logs to files, not to the terminal. -->
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="server" fileName="${dir}/server.log" filePattern="${dir}/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="100MB"/>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="server"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
  </Loggers>
</Configuration>
`;
}

// Command-line tools: warnings and errors only, on stderr (captured by kafkaTool).
const LOG4J_TOOLS = `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders><Console name="stderr" target="SYSTEM_ERR"><PatternLayout pattern="%p %m (%c)%n"/></Console></Appenders>
  <Loggers><Root level="WARN"><AppenderRef ref="stderr"/></Root></Loggers>
</Configuration>
`;

function writeConfigs(cfg, secrets) {
  const k = cfg.kafka;
  for (const dir of [k.dir, k.dataDir, k.logDir]) mkdirSync(dir, { recursive: true });
  writeFileSync(k.serverProperties, serverProperties(cfg, secrets), { mode: 0o600 });
  writeFileSync(k.log4jServer, log4jServer(cfg));
  writeFileSync(k.log4jTools, LOG4J_TOOLS);
}

/**
 * A Kafka cluster id is 16 random bytes in URL-safe base64 without padding (what
 * `StorageTool random-uuid` prints); generating it here saves a JVM start.
 * Kafka rejects ids starting with '-' (they look like CLI flags), so avoid those.
 */
function randomClusterId() {
  for (;;) {
    const id = Buffer.from(randomUUID().replaceAll('-', ''), 'hex').toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** KRaft storage must be formatted once; meta.properties marks a formatted log dir. */
async function formatIfNeeded(cfg, secrets) {
  const k = cfg.kafka;
  if (existsSync(join(k.dataDir, 'meta.properties'))) return;
  const clusterId = randomClusterId();
  // The secured stack's SCRAM users exist from the first start (KIP-900: created at format time).
  const scram = cfg.secured ? scramFormatArgs(secrets) : [];
  const res = await kafkaTool(cfg, 'kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', k.serverProperties, ...scram]);
  if (res.code !== 0) {
    throw new StackError(`Formatting the Kafka storage in ${shortPath(k.dataDir)} failed (exit code ${res.code}).`, {
      details: (res.stderr + res.stdout).trim().split('\n').slice(-8),
    });
  }
  say(`kafka: formatted new KRaft storage (cluster id ${clusterId}) in ${shortPath(k.dataDir)}`);
}

// ---------------------------------------------------------------------------------------------
// The server

export function kafkaServer(cfg) {
  const k = cfg.kafka;
  return {
    name: 'kafka',
    title: 'Kafka',
    pidFile: k.pidFile,
    logFile: k.serverLog,
    marker: k.serverProperties,
    endpoint: `${cfg.host}:${cfg.ports.kafka}`,
    ports: [
      { port: cfg.ports.kafka, envName: 'KAFKA_PORT' },
      { port: cfg.ports.kafkaController, envName: 'KAFKA_CONTROLLER_PORT' },
      ...(cfg.monitoring ? [{ port: cfg.ports.kafkaJmxExporter, envName: 'KAFKA_JMX_EXPORTER_PORT' }] : []),
      ...(cfg.secured ? [{ port: cfg.secured.kafkaPort, envName: 'KAFKA_SASL_SSL_PORT' }] : []),
    ],
    async prepare() {
      await requireJava();
      const jars = await ensureJars(cfg);
      if (jars.changed) say(jars.message);
      let secrets = null;
      if (cfg.secured) {
        await ensureCertificates(cfg);
        secrets = ensureSecrets(cfg);
      }
      writeConfigs(cfg, secrets);
      await formatIfNeeded(cfg, secrets);
    },
    command() {
      return {
        cmd: javaChecked,
        args: [
          ...k.heapOpts,
          ...(cfg.monitoring ? [`-javaagent:${jmxExporterJar(cfg)}=${cfg.host}:${cfg.ports.kafkaJmxExporter}:${k.jmxExporterConfig}`] : []),
          '-XX:+ExitOnOutOfMemoryError',
          '-Djava.awt.headless=true',
          `-Dlog4j2.configurationFile=${k.log4jServer}`,
          '-cp',
          classpath(cfg),
          'kafka.Kafka',
          k.serverProperties,
        ],
        cwd: k.dir,
        stdoutLog: k.stdoutLog,
      };
    },
    probe: async (timeoutMs) => {
      await kafkaReady(cfg.host, cfg.ports.kafka, timeoutMs);
      // The secured stack is ready once its SASL_SSL listener authenticates the admin too.
      if (cfg.secured) await kafkaReady(cfg.host, cfg.secured.kafkaPort, timeoutMs, securedAdminSettings(cfg));
      return true;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Topics

function days(ms) {
  return ms % DAY_MS === 0 ? `${ms / DAY_MS} d` : `${ms} ms`;
}

/**
 * Creates the topics that are missing. Existing ones are listed through the Kafka client first
 * (no JVM), so on an already provisioned broker this costs milliseconds; only missing topics
 * pay for a TopicCommand JVM each (run in parallel).
 */
export async function provisionTopics(cfg) {
  const t0 = Date.now();
  const { host } = cfg;
  const port = cfg.ports.kafka;
  let meta;
  try {
    meta = await metadata(`${host}:${port}`, 5000);
  } catch (err) {
    throw new StackError(`Kafka is not answering on ${host}:${port} (${err.message}); run \`node tools/stack/stack.mjs up\` first.`);
  }
  const existing = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
  const missing = cfg.kafka.topics.filter((t) => !existing.has(t.name));
  const present = cfg.kafka.topics.filter((t) => existing.has(t.name));

  for (const t of present) {
    if (existing.get(t.name) < t.partitions) {
      say(`warning: topic ${t.name} has ${existing.get(t.name)} partitions, the dev profile wants ${t.partitions} (left unchanged)`);
    }
  }

  if (missing.length > 0) {
    const jars = await ensureJars(cfg);
    if (jars.changed) say(jars.message);
    const results = await Promise.all(
      missing.map((t) =>
        kafkaTool(cfg, 'org.apache.kafka.tools.TopicCommand', [
          '--bootstrap-server',
          `${host}:${port}`,
          '--create',
          '--if-not-exists',
          '--topic',
          t.name,
          '--partitions',
          String(t.partitions),
          '--replication-factor',
          '1',
          '--config',
          `retention.ms=${t.retentionMs}`,
        ]).then((res) => ({ t, res })),
      ),
    );
    const failed = results.filter((r) => r.res.code !== 0);
    if (failed.length > 0) {
      const { t, res } = failed[0];
      throw new StackError(`Creating topic ${t.name} failed (TopicCommand exit code ${res.code}).`, {
        details: (res.stderr + res.stdout).trim().split('\n').slice(-8),
      });
    }
  }

  const parts = [];
  if (missing.length) parts.push(`created ${missing.map((t) => `${t.name} (${t.partitions} partitions, retention ${days(t.retentionMs)})`).join(', ')}`);
  if (present.length) parts.push(`already present: ${present.map((t) => t.name).join(', ')}`);
  say(`topics: ${parts.join('; ')} [${seconds(Date.now() - t0)}]`);
}

export { kafkaReady };
