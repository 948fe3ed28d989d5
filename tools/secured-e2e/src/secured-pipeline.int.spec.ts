/**
 * The whole pipeline against a secured broker (SASL_SSL, SCRAM and PLAIN
 * users, the StandardAuthorizer with the ACLs the topics tool applies) and
 * ClickHouse over https with the platform's writer user, the apps run as
 * built bundles exactly as an operator runs them. One secured stack serves
 * every test here.
 */
import Kafka from '@confluentinc/kafka-javascript';
import { readMinuteAgg, createClickHouseClient } from '@stream-analytics/clickhouse-sink';
import { describeKafkaSecurityError, resolveKafkaSecurity, baseKafkaConfig, connectClient, disconnectClient, consumeBatch } from '@stream-analytics/runtime';
import { computeOracle, endOffsets, readTopic, runApp, startApp, waitFor, type AppRun, type OracleResult } from '@stream-analytics/testing';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, Kafka as KafkaJs, logLevel, ResourcePatternTypes } from 'kafkajs';
import fs from 'node:fs';
import { clickhouseClientEnv, kafkaClientEnv, startSecuredStack, type SecuredStack } from './testing/secured-stack';

jest.setTimeout(600_000);

const RAW = 'iot.telemetry.raw.v1';
const DLQ = 'iot.telemetry.dlq.v1';
const AGG = 'iot.telemetry.minute-agg.v1';
const RAW_PARTITIONS = 24;
// The datasets live in 2001 and their records carry today's timestamps: the aggregate retention is
// raised so that the aggregator (and the replayer's pre-check) do not judge them beyond_retention.
const LATENESS = { ALLOWED_LATENESS_SECS: '86400', AGGREGATE_RETENTION_DAYS: '36500' };
const START = '2001-03-04T05:00:00Z';

let s: SecuredStack;
/** Every output of every app run here, and every /metrics page scraped: checked for passwords at the end. */
const transcripts: string[] = [];

beforeAll(async () => {
  s = await startSecuredStack();
}, 300_000);

afterAll(async () => {
  await s?.stop();
});

async function run(app: string, args: string[], env: Record<string, string>, timeoutMs = 120_000) {
  const started = Date.now();
  const res = await runApp(app, args, { METRICS_PORT: '0', ...env }, timeoutMs);
  transcripts.push(res.stdout, res.stderr);
  return { ...res, seconds: (Date.now() - started) / 1000 };
}

const aggregatorEnv = (overrides: Record<string, string> = {}) => ({
  ...kafkaClientEnv(s, 'aggregator', 'SCRAM-SHA-512'),
  ...clickhouseClientEnv(s, 'aggregator'),
  FLUSH_INTERVAL_SECS: '1',
  IDLE_PARTITION_TIMEOUT_SECS: '3600',
  METRICS_PORT: '0',
  ...LATENESS,
  ...overrides,
});

async function metricsPage(a: AppRun): Promise<string> {
  const port = Number(/"metricsPort":(\d+)/.exec(a.stdout())![1]);
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  transcripts.push(text);
  return text;
}

async function clickhouseMatches(oracle: OracleResult): Promise<boolean> {
  const ch = createClickHouseClient({ url: s.clickhouseHttpUrl });
  try {
    const starts = oracle.windows.map((w) => w.windowStartMs);
    const rows = await readMinuteAgg(ch, Math.min(...starts), Math.max(...starts) + 60000);
    const got = rows.map((r) => [r.windowStartMs, r.totalEvents, r.uniqueUsers, r.anomalyEvents]);
    return JSON.stringify(got) === JSON.stringify(oracle.windows.map((w) => [w.windowStartMs, w.totalEvents, w.uniqueUsers, w.anomalyEvents]));
  } finally {
    await ch.close();
  }
}

// read_committed: the replayer writes in transactions, whose markers end the partitions.
const rawOracle = async () => computeOracle(await readTopic(s.plaintextBrokers, RAW, { partitions: RAW_PARTITIONS, isolation: 'read_committed' }), { allowedLatenessMs: 86_400_000 });

describe('over SASL_SSL with ACLs and ClickHouse over https', () => {
  describe('with the right credentials', () => {
    it('producer -> aggregator -> ClickHouse -> replayer equals the oracle', async () => {
      // SCRAM-SHA-256 for the producer, SCRAM-SHA-512 for the aggregator, PLAIN for the replayer.
      const produced = await run(
        'producer',
        ['--count', '6000', '--rate', '0', '--seed', '1212', '--start-time', START, '--event-rate', '100', '--devices', '200', '--users', '80', '--invalid-fraction', '0.02', '--invalid-kinds', 'repairable_numeric_string'],
        kafkaClientEnv(s, 'producer', 'SCRAM-SHA-256'),
      );
      expect(produced.code).toBe(0);

      const aggregator = startApp('aggregator', [], aggregatorEnv());
      try {
        await aggregator.waitForOutput(/"metricsPort":\d+/, 60_000);
        const before = await rawOracle();
        expect(before.deadLetters.length).toBeGreaterThan(50);
        await waitFor('ClickHouse equals the oracle of the produced events', () => clickhouseMatches(before), 180_000, 1000);

        const replayed = await run('dlq-replayer', ['replay', '--repair', 'numeric-strings', '--json'], { ...kafkaClientEnv(s, 'replayer', 'PLAIN'), ...LATENESS });
        expect(replayed.code).toBe(0);
        expect(JSON.parse(replayed.stdout).counts.replayed).toBe(before.deadLetters.length);

        // The repaired events are now on the raw topic too; the aggregator counts them exactly once.
        const after = await rawOracle();
        expect(after.windows.reduce((n, w) => n + w.totalEvents, 0)).toBe(6000);
        await waitFor('ClickHouse equals the oracle including the replayed events', () => clickhouseMatches(after), 180_000, 1000);
        expect(await metricsPage(aggregator)).toContain('aggregator_');
      } finally {
        aggregator.child.kill('SIGTERM');
        const { stdout, stderr, code } = await aggregator.exited;
        transcripts.push(stdout, stderr);
        expect(code).toBe(0);
      }
    });
  });

  describe('mutual TLS', () => {
    it('the producer presents a client certificate when given one', async () => {
      const rawBefore = await endOffsets(s.plaintextBrokers, RAW, RAW_PARTITIONS);
      const r = await run('producer', ['--count', '50', '--rate', '0', '--seed', '5', '--start-time', '2001-03-04T09:00:00Z'], kafkaClientEnv(s, 'producer', 'SCRAM-SHA-512', { KAFKA_SSL_CERT_LOCATION: s.clientCert, KAFKA_SSL_KEY_LOCATION: s.clientKey }));
      expect(r.code).toBe(0);
      const rawAfter = await endOffsets(s.plaintextBrokers, RAW, RAW_PARTITIONS);
      expect(rawAfter.reduce((a, b) => a + b, 0) - rawBefore.reduce((a, b) => a + b, 0)).toBe(50);
    });
  });

  describe('a security fault during a run', () => {
    it('is logged, makes the aggregator unready, is retried, and loses nothing', async () => {
      const aggregator = startApp('aggregator', [], aggregatorEnv());
      const admin = new KafkaJs({ brokers: [s.brokers], clientId: 'acl-revoker', logLevel: logLevel.NOTHING, ssl: { ca: fs.readFileSync(s.ca, 'utf8') }, sasl: { mechanism: 'scram-sha-512', username: 'admin', password: fs.readFileSync(s.passwordFile('kafka', 'admin'), 'utf8').trim() } }).admin();
      await admin.connect();
      try {
        const port = Number(/"metricsPort":(\d+)/.exec(await aggregator.waitForOutput(/"metricsPort":\d+/, 60_000))![0].split(':')[1]);
        const ready = async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
        await waitFor('the aggregator ready', ready, 60_000, 500);
        // The aggregator loses its right to read the raw topic while it runs.
        const readRaw = { resourceType: AclResourceTypes.TOPIC, resourceName: RAW, resourcePatternType: ResourcePatternTypes.LITERAL, principal: 'User:aggregator', host: '*', operation: AclOperationTypes.READ, permissionType: AclPermissionTypes.ALLOW };
        await admin.deleteAcls({ filters: [readRaw] });
        const produced = await run('producer', ['--count', '3000', '--rate', '0', '--seed', '3434', '--start-time', '2001-03-04T07:00:00Z', '--event-rate', '100', '--devices', '200', '--users', '80'], kafkaClientEnv(s, 'producer', 'SCRAM-SHA-256'));
        expect(produced.code).toBe(0);
        await waitFor('the aggregator unready, saying why', async () => !(await ready()) && /Kafka denied user \\?"aggregator\\?" access/.test(aggregator.stdout()), 60_000, 500);
        expect(aggregator.child.exitCode).toBeNull();
        // Access comes back: the aggregator catches up by itself and nothing is lost.
        await s.applyAcls();
        await waitFor('the aggregator ready again', ready, 90_000, 500);
        await waitFor('ClickHouse equals the oracle of every event', async () => clickhouseMatches(await rawOracle()), 180_000, 1000);
        await metricsPage(aggregator);
      } finally {
        await admin.disconnect();
        aggregator.child.kill('SIGTERM');
        const { stdout, stderr } = await aggregator.exited;
        transcripts.push(stdout, stderr);
      }
    });
  });

  describe('a wrong password or an untrusted CA ends the start in one sentence, within 30 s', () => {
    const cases: Array<[string, string[], (o: Record<string, string>) => Record<string, string>]> = [
      ['producer', ['--count', '1'], (o) => kafkaClientEnv(s, 'producer', 'SCRAM-SHA-256', o)],
      ['aggregator', [], (o) => aggregatorEnv({ ...kafkaClientEnv(s, 'aggregator', 'SCRAM-SHA-512'), ...o })],
      ['dlq-replayer', ['inspect'], (o) => kafkaClientEnv(s, 'replayer', 'PLAIN', o)],
    ];
    beforeAll(() => fs.writeFileSync(`${s.env['STACK_DIR']}/wrong.password`, 'not-the-password\n'));

    it.each(cases)('%s with a wrong password', async (app, args, env) => {
      const user = env({})['KAFKA_SASL_USERNAME'];
      const r = await run(app, args, env({ KAFKA_SASL_PASSWORD_FILE: `${s.env['STACK_DIR']}/wrong.password` }), 60_000);
      expect(r.code).not.toBe(0);
      expect(r.seconds).toBeLessThan(30);
      expect(r.stdout + r.stderr).toMatch(new RegExp(`rejected the SASL credentials of user \\\\?"${user}\\\\?"`));
    });

    it.each(cases)('%s with an untrusted CA', async (app, args, env) => {
      const r = await run(app, args, env({ KAFKA_SSL_CA_LOCATION: s.otherCa }), 60_000);
      expect(r.code).not.toBe(0);
      expect(r.seconds).toBeLessThan(30);
      expect(r.stdout + r.stderr).toContain('is not signed by a trusted CA: set KAFKA_SSL_CA_LOCATION');
    });

    it('a broker name the certificate does not list', async () => {
      const r = await run('producer', ['--count', '1'], kafkaClientEnv(s, 'producer', 'SCRAM-SHA-256', { KAFKA_BROKERS: s.brokers.replace('127.0.0.1', 'localhost') }), 60_000);
      expect(r.code).not.toBe(0);
      expect(r.seconds).toBeLessThan(30);
      expect(r.stdout + r.stderr).toContain('is not issued for that host name');
    });

    it('the aggregator with a wrong ClickHouse password or CA', async () => {
      const wrong = await run('aggregator', [], aggregatorEnv({ CLICKHOUSE_PASSWORD_FILE: `${s.env['STACK_DIR']}/wrong.password` }), 60_000);
      expect(wrong.code).not.toBe(0);
      expect(wrong.seconds).toBeLessThan(30);
      expect(wrong.stdout + wrong.stderr).toMatch(/ClickHouse at https:\/\/\S+ rejected the credentials of user aggregator/);
      const ca = await run('aggregator', [], aggregatorEnv({ CLICKHOUSE_CA_CERT: s.otherCa }), 60_000);
      expect(ca.code).not.toBe(0);
      expect(ca.stdout + ca.stderr).toContain('is not signed by a trusted CA: set CLICKHOUSE_CA_CERT');
    });
  });

  describe('a principal outside its ACLs gets a clear authorization error and nothing is lost', () => {
    it('the producer reading the DLQ', async () => {
      const dlqBefore = await endOffsets(s.plaintextBrokers, DLQ, 6);
      const security = resolveKafkaSecurity({
        kafkaSecurityProtocol: 'SASL_SSL',
        kafkaSaslMechanism: 'SCRAM-SHA-256',
        kafkaSaslUsername: 'producer',
        kafkaSaslPasswordFile: s.passwordFile('kafka', 'producer'),
        kafkaSslCaLocation: s.ca,
      });
      const consumer = new Kafka.KafkaConsumer({ ...baseKafkaConfig({ brokers: s.brokers, clientId: 'acl-test', security }), 'group.id': 'iot-aggregator' } as Kafka.ConsumerGlobalConfig, {});
      await connectClient(consumer, s.brokers, 15000, security);
      const errors: string[] = [];
      try {
        consumer.assign([{ topic: DLQ, partition: 0, offset: 0 }]);
        for (let i = 0; i < 20 && errors.length === 0; i++) {
          await consumeBatch(consumer, 10).catch((err: Kafka.LibrdKafkaError) => errors.push(describeKafkaSecurityError(err, s.brokers, security) ?? err.message));
        }
      } finally {
        await disconnectClient(consumer);
      }
      expect(errors[0]).toMatch(/Kafka denied user "producer" access \((topic|group)/);
      expect(await endOffsets(s.plaintextBrokers, DLQ, 6)).toEqual(dlqBefore);
    });

    it('the aggregator writing the raw topic', async () => {
      const rawBefore = await endOffsets(s.plaintextBrokers, RAW, RAW_PARTITIONS);
      const r = await run('producer', ['--count', '20', '--rate', '0'], kafkaClientEnv(s, 'aggregator', 'SCRAM-SHA-512'), 60_000);
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/Kafka denied user \\?"aggregator\\?" access \(topic/);
      expect(await endOffsets(s.plaintextBrokers, RAW, RAW_PARTITIONS)).toEqual(rawBefore);
    });
  });

  // Last: the outputs of every run above are in.
  describe('secrets', () => {
    it('no log line, report, /metrics page or message on the aggregate and dead-letter topics holds a password', async () => {
      const passwords = s.passwords();
      for (const [topic, partitions] of [[AGG, 6], [DLQ, 6]] as const) {
        const messages = await readTopic(s.plaintextBrokers, topic, { partitions });
        expect(messages.length).toBeGreaterThan(0);
        transcripts.push(messages.map((m) => `${m.key ?? ''} ${m.value?.toString() ?? ''} ${JSON.stringify(m.headers)}`).join('\n'));
      }
      expect(passwords.length).toBeGreaterThanOrEqual(7);
      expect(transcripts.length).toBeGreaterThan(10);
      for (const text of transcripts) for (const p of passwords) expect(text.includes(p)).toBe(false);
    });
  });
});
