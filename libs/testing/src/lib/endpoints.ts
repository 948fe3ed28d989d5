/**
 * One place where integration tests get their real Kafka broker and real
 * ClickHouse server, in this order:
 *   1. the environment: KAFKA_BROKERS and CLICKHOUSE_URL both set (npm test
 *      sets them after bringing the local stack up; CI with service
 *      containers sets them too);
 *   2. a Docker engine that answers: testcontainers starts Redpanda and
 *      ClickHouse (kept for the life of the test process);
 *   3. otherwise the repo's local stack (tools/stack/stack.mjs up), which runs
 *      Apache Kafka from its jars and Debian's clickhouse-server.
 * The same tests run unchanged on all three paths.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface TestEndpoints {
  kafkaBrokers: string;
  clickhouseUrl: string;
  source: 'environment' | 'testcontainers' | 'local-stack';
}

let cached: Promise<TestEndpoints> | undefined;

export function getTestEndpoints(): Promise<TestEndpoints> {
  cached ??= resolveEndpoints();
  return cached;
}

export function workspaceRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'nx.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the workspace root (nx.json) above ' + __dirname);
    dir = parent;
  }
  return dir;
}

async function resolveEndpoints(): Promise<TestEndpoints> {
  const { KAFKA_BROKERS, CLICKHOUSE_URL } = process.env;
  if (KAFKA_BROKERS && CLICKHOUSE_URL) return { kafkaBrokers: KAFKA_BROKERS, clickhouseUrl: CLICKHOUSE_URL, source: 'environment' };
  if (await dockerAnswers()) return startContainers();
  return startLocalStack();
}

async function dockerAnswers(): Promise<boolean> {
  const socket = process.env['DOCKER_HOST']?.startsWith('unix://') ? process.env['DOCKER_HOST'].slice(7) : '/var/run/docker.sock';
  if (!process.env['DOCKER_HOST'] && !fs.existsSync(socket)) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/** A TCP port free on the loopback interface right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function startContainers(): Promise<TestEndpoints> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const { ClickHouseContainer } = await import('@testcontainers/clickhouse');
  // Redpanda advertises the host port it is reached on, so the port is chosen
  // before the container starts and bound 1:1.
  const kafkaPort = await freePort();
  const redpanda = await new GenericContainer('redpandadata/redpanda:v24.2.18')
    .withExposedPorts({ container: kafkaPort, host: kafkaPort })
    .withCommand([
      'redpanda', 'start', '--mode', 'dev-container', '--smp', '1',
      '--kafka-addr', `PLAINTEXT://0.0.0.0:${kafkaPort}`,
      '--advertise-kafka-addr', `PLAINTEXT://127.0.0.1:${kafkaPort}`,
    ])
    .withWaitStrategy(Wait.forLogMessage(/Successfully started Redpanda/))
    .start();
  const clickhouse = await new ClickHouseContainer('clickhouse/clickhouse-server:24.8').start();
  process.once('exit', () => {
    void redpanda.stop();
    void clickhouse.stop();
  });
  const url = new URL(clickhouse.getHttpUrl());
  url.username = clickhouse.getUsername();
  url.password = clickhouse.getPassword();
  return { kafkaBrokers: `127.0.0.1:${kafkaPort}`, clickhouseUrl: url.toString().replace(/\/$/, ''), source: 'testcontainers' };
}

function startLocalStack(): TestEndpoints {
  const root = workspaceRoot();
  const stack = path.join(root, 'tools/stack/stack.mjs');
  // `up` is idempotent and locked, so parallel test processes share one stack.
  // The MQTT broker is not needed: tests that use one start a private Mosquitto (mosquitto.ts).
  execFileSync(process.execPath, [stack, 'up', '--only', 'kafka,clickhouse'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const env = execFileSync(process.execPath, [stack, 'env'], { encoding: 'utf8' });
  const value = (name: string) => new RegExp(`${name}=(\\S+)`).exec(env)?.[1];
  const kafkaBrokers = value('KAFKA_BROKERS');
  const clickhouseUrl = value('CLICKHOUSE_URL');
  if (!kafkaBrokers || !clickhouseUrl) throw new Error(`tools/stack/stack.mjs env printed no endpoints:\n${env}`);
  process.stderr.write('[testing] using the local stack; it keeps running after the tests (stop it with: npm run stack down)\n');
  return { kafkaBrokers, clickhouseUrl, source: 'local-stack' };
}
