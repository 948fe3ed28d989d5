/**
 * A throwaway three-node Apache Kafka cluster for tests: every node is a
 * combined KRaft controller + broker with a static three-voter quorum, on
 * loopback ports picked at random, with its data in a temporary folder.
 * `secured`: each node also gets a SASL_SSL client listener (PLAIN and SCRAM,
 * users created at format time, certificates from tools/stack/security.mjs)
 * and the StandardAuthorizer; `brokers` then lists the SASL_SSL listeners and
 * `plaintextBrokers` the unrestricted inter-broker ones. Runs
 * from the Kafka jars (env KAFKA_LIBS or KAFKA_LIBS_DIR, default
 * <repo>/.local/kafka/libs, which `node tools/stack/stack.mjs jars` fills).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TopicAdmin } from '../lib/cluster';

export interface KraftSecurity {
  /** PEM CA that signed the brokers' certificates, and one that did not. */
  ca: string;
  otherCa: string;
  clientCert: string;
  clientKey: string;
  /** SCRAM (and PLAIN) password per user; `admin` is a super user. */
  passwords: Record<string, string>;
}

export const KRAFT_USERS = ['admin', 'producer', 'aggregator', 'replayer', 'gateway'];

export interface KraftCluster {
  brokers: string;
  plaintextBrokers: string;
  security?: KraftSecurity;
  nodes: Array<{ id: number; port: number; controllerPort: number; process: ChildProcess }>;
  dir: string;
  stop(): Promise<void>;
}

function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'nx.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no nx.json above ${__dirname}`);
    dir = up;
  }
  return dir;
}

export function kafkaLibsDir(): string {
  const dir = process.env['KAFKA_LIBS'] || process.env['KAFKA_LIBS_DIR'] || path.join(repoRoot(), '.local/kafka/libs');
  const ok = fs.existsSync(dir) && fs.readdirSync(dir).some((f) => /^kafka_2\.\d+-.*\.jar$/.test(f));
  if (!ok) {
    throw new Error(
      `The Kafka jars are missing: no kafka_2.13-*.jar in ${dir}. ` +
        'Resolve them with `node tools/stack/stack.mjs jars` (Maven, from infra/kafka/pom.xml) or point KAFKA_LIBS at a folder holding them.',
    );
  }
  return dir;
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

const LOG4J = (file: string) => `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <File name="f" fileName="${file}"><PatternLayout pattern="[%d] %p %m (%c)%n"/></File>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="f"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
  </Loggers>
</Configuration>
`;

const JVM_OPTS = ['-Xms128m', '-Xmx384m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true'];

export async function startKraftCluster(opts: { size?: number; readyTimeoutMs?: number; secured?: boolean } = {}): Promise<KraftCluster> {
  const size = opts.size ?? 3;
  const libs = kafkaLibsDir();
  const java = process.env['JAVA_HOME'] ? path.join(process.env['JAVA_HOME'], 'bin/java') : 'java';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kraft-test-'));
  const ports = await freePorts(size * 3);
  const saslPort = (i: number) => ports[2 * size + i];
  let security: KraftSecurity | undefined;
  let serverPem = '';
  if (opts.secured) {
    const tls = JSON.parse(execFileSync(process.execPath, [path.join(repoRoot(), 'tools/stack/security.mjs'), 'certs', path.join(dir, 'tls')], { encoding: 'utf8' })) as Record<string, string>;
    const passwords = Object.fromEntries(KRAFT_USERS.map((u) => [u, randomBytes(12).toString('base64url')]));
    security = { ca: tls['ca'], otherCa: tls['otherCa'], clientCert: tls['clientCert'], clientKey: tls['clientKey'], passwords };
    serverPem = tls['serverPem'];
  }
  const scramArgs = security ? KRAFT_USERS.flatMap((u) => ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${u},password=${security!.passwords[u]}]`])) : [];
  const securedLines = () =>
    security
      ? [
          'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
          `listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${KRAFT_USERS.map((u) => `user_${u}="${security!.passwords[u]}"`).join(' ')};`,
          'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
          'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
          'listener.name.sasl_ssl.ssl.keystore.type=PEM',
          `listener.name.sasl_ssl.ssl.keystore.location=${serverPem}`,
          'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
          'super.users=User:ANONYMOUS;User:admin',
          'allow.everyone.if.no.acl.found=false',
        ]
      : [];
  const ids = Array.from({ length: size }, (_, i) => i + 1);
  const voters = ids.map((id, i) => `${id}@127.0.0.1:${ports[size + i]}`).join(',');
  const clusterId = randomBytes(16).toString('base64url');

  const nodeFiles = ids.map((id, i) => {
    const nodeDir = path.join(dir, `node-${id}`);
    fs.mkdirSync(nodeDir, { recursive: true });
    const props = path.join(nodeDir, 'server.properties');
    fs.writeFileSync(
      props,
      [
        'process.roles=broker,controller',
        `node.id=${id}`,
        `controller.quorum.voters=${voters}`,
        `listeners=PLAINTEXT://127.0.0.1:${ports[i]},CONTROLLER://127.0.0.1:${ports[size + i]}${security ? `,SASL_SSL://127.0.0.1:${saslPort(i)}` : ''}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${ports[i]}${security ? `,SASL_SSL://127.0.0.1:${saslPort(i)}` : ''}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        `listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${security ? ',SASL_SSL:SASL_SSL' : ''}`,
        ...securedLines(),
        `log.dirs=${path.join(nodeDir, 'data')}`,
        `offsets.topic.replication.factor=${Math.min(3, size)}`,
        `transaction.state.log.replication.factor=${Math.min(3, size)}`,
        'transaction.state.log.min.isr=1',
        'group.initial.rebalance.delay.ms=0',
        'num.network.threads=2',
        'num.io.threads=2',
        'background.threads=2',
        'auto.create.topics.enable=false',
        '',
      ].join('\n'),
    );
    const log4j = path.join(nodeDir, 'log4j2.xml');
    fs.writeFileSync(log4j, LOG4J(path.join(nodeDir, 'server.log')));
    return { id, nodeDir, props, log4j, port: ports[i], controllerPort: ports[size + i] };
  });

  // Format every node's storage with the same cluster id (in parallel: a JVM each).
  await Promise.all(
    nodeFiles.map(
      (n) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(java, [...JVM_OPTS, `-Dlog4j2.configurationFile=${n.log4j}`, '-cp', `${libs}/*`, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', n.props, ...scramArgs], {
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.stderr.on('data', (d) => (out += d));
          child.on('error', (err) => reject(new Error(`cannot run ${java}: ${err.message} (Kafka needs a JDK 17+ on PATH)`)));
          child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`StorageTool format failed for node ${n.id} (exit ${code}):\n${out}`))));
        }),
    ),
  );

  const nodes = nodeFiles.map((n) => {
    const out = fs.openSync(path.join(n.nodeDir, 'kafka.out'), 'w');
    const child = spawn(java, [...JVM_OPTS, `-Dlog4j2.configurationFile=${n.log4j}`, '-cp', `${libs}/*`, 'kafka.Kafka', n.props], {
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    return { id: n.id, port: n.port, controllerPort: n.controllerPort, process: child };
  });
  const plaintextBrokers = nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  const brokers = security ? nodes.map((_, i) => `127.0.0.1:${saslPort(i)}`).join(',') : plaintextBrokers;

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(
      nodes.map(
        (n) =>
          new Promise<void>((resolve) => {
            if (n.process.exitCode !== null || n.process.signalCode !== null) return resolve();
            const timer = setTimeout(() => n.process.kill('SIGKILL'), 15000);
            n.process.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            n.process.kill('SIGTERM');
          }),
      ),
    );
    if (!process.env['KEEP_KRAFT_DIR']) fs.rmSync(dir, { recursive: true, force: true });
  };
  const killOnExit = () => nodes.forEach((n) => n.process.kill('SIGKILL'));
  process.once('exit', killOnExit);

  // Ready when every broker reports all brokers registered.
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120000);
  let last = '';
  for (;;) {
    const dead = nodes.find((n) => n.process.exitCode !== null);
    if (dead) {
      await stop();
      throw new Error(`Kafka node ${dead.id} exited with ${dead.process.exitCode} during start-up`);
    }
    try {
      const counts = await Promise.all(
        nodes.map(async (n) => {
          const admin = new TopicAdmin(`127.0.0.1:${n.port}`, 2000);
          try {
            return (await admin.brokerIds()).length;
          } finally {
            await admin.close();
          }
        }),
      );
      if (counts.every((c) => c === size)) break;
      last = `brokers seen: ${counts.join(', ')}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      const logs = nodeFiles.map((n) => tail(path.join(n.nodeDir, 'server.log'), 10)).join('\n---\n');
      await stop();
      throw new Error(`the ${size}-node Kafka cluster was not ready in time (${last})\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return { brokers, plaintextBrokers, security, nodes, dir, stop };
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

/** True when `java -version` works (used for a clear failure message). */
export function javaAvailable(): boolean {
  return spawnSync('java', ['-version']).status === 0;
}
