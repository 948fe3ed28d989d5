/**
 * provision-topics against a real, secured three-broker Kafka cluster (KRaft,
 * started here from the jars, SASL_SSL with SCRAM and the StandardAuthorizer):
 * dev, then prod, then prod again, each with the apps' ACLs; the built CLI
 * runs exactly as an operator runs it (dist/tools/topics/main.js), as the
 * admin user over SASL_SSL.
 */
import Kafka from '@confluentinc/kafka-javascript';
import { endOffsets } from '@stream-analytics/testing';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { resolveKafkaSecurity, type KafkaSecurity } from '@stream-analytics/runtime';
import { DEFAULT_ACL_SETTINGS, planAcls, wantedAcls } from './lib/acls';
import { TopicAdmin } from './lib/cluster';
import { profile } from './lib/profiles';
import { startKraftCluster, type KraftCluster } from './testing/kraft-cluster';

jest.setTimeout(240_000);

const DAY = 86_400_000;
const RAW = 'iot.telemetry.raw.v1';
const AGG = 'iot.telemetry.minute-agg.v1';
const DLQ = 'iot.telemetry.dlq.v1';

const bundle = path.resolve(__dirname, '../../../dist/tools/topics/main.js');

let cluster: KraftCluster;
let admin: KafkaSecurity;

beforeAll(async () => {
  if (!fs.existsSync(bundle)) throw new Error(`${bundle} is missing; run: npx nx build topics`);
  cluster = await startKraftCluster({ size: 3, secured: true });
  admin = resolveKafkaSecurity({
    kafkaSecurityProtocol: 'SASL_SSL',
    kafkaSaslMechanism: 'SCRAM-SHA-512',
    kafkaSaslUsername: 'admin',
    kafkaSaslPassword: cluster.security!.passwords['admin'],
    kafkaSslCaLocation: cluster.security!.ca,
  });
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function provision(...args: string[]): Promise<RunResult> {
  return provisionWith({}, ...args);
}

function provisionWith(env: Record<string, string>, ...args: string[]): Promise<RunResult> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [bundle, '--brokers', cluster.brokers, '--acls', ...args],
      {
        timeout: 180_000,
        env: {
          ...process.env,
          KAFKA_BROKERS: '',
          KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
          KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
          KAFKA_SASL_USERNAME: 'admin',
          KAFKA_SASL_PASSWORD: cluster.security!.passwords['admin'],
          KAFKA_SSL_CA_LOCATION: cluster.security!.ca,
          ...env,
        },
      },
      (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

interface TopicState {
  partitions: number;
  replicas: number[][];
  isr: number[][];
  configs: Record<string, string | null>;
}

async function snapshot(): Promise<Record<string, TopicState>> {
  const topicAdmin = new TopicAdmin(cluster.brokers, 30000, admin);
  try {
    const { topics } = await topicAdmin.readState([RAW, AGG, DLQ]);
    const out: Record<string, TopicState> = {};
    for (const [name, t] of topics) {
      const pinned = [...t.configs].filter(([, c]) => c.source === 1);
      out[name] = {
        partitions: t.replicas.length,
        replicas: t.replicas,
        isr: t.isr.map((isr) => [...isr].sort()),
        configs: Object.fromEntries(pinned.map(([k, c]) => [k, c.value])),
      };
    }
    return out;
  } finally {
    await topicAdmin.close();
  }
}

/** What the cluster lacks or has beyond the profile's ACLs. */
async function aclDiff(name: 'dev' | 'prod') {
  const topicAdmin = new TopicAdmin(cluster.brokers, 30000, admin);
  try {
    const plan = planAcls(wantedAcls(profile(name), DEFAULT_ACL_SETTINGS), await topicAdmin.readAcls());
    return { add: plan.add.length, remove: plan.remove.length, kept: plan.kept };
  } finally {
    await topicAdmin.close();
  }
}

async function produce(topic: string, partitions: number, perPartition: number): Promise<void> {
  const producer = new Kafka.Producer({ 'bootstrap.servers': cluster.plaintextBrokers, dr_cb: true, acks: -1 } as Kafka.ProducerGlobalConfig);
  await new Promise<void>((resolve, reject) => producer.connect({}, (err) => (err ? reject(err) : resolve())));
  let acked = 0;
  producer.on('delivery-report', (err) => {
    if (err) throw err;
    acked++;
  });
  producer.setPollInterval(10);
  for (let p = 0; p < partitions; p++) for (let i = 0; i < perPartition; i++) producer.produce(topic, p, Buffer.from(`m-${p}-${i}`), `k-${p}`);
  await new Promise<void>((resolve, reject) => producer.flush(30_000, (err) => (err ? reject(err) : resolve())));
  const deadline = Date.now() + 30_000;
  while (acked < partitions * perPartition && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
  expect(acked).toBe(partitions * perPartition);
}

describe('provision-topics on a three-broker cluster', () => {
  let afterProd: Record<string, TopicState>;

  it('says in one sentence when the password is wrong or the CA unknown, and changes nothing', async () => {
    const wrong = await provisionWith({ KAFKA_SASL_PASSWORD: 'not-the-password' }, '--profile', 'dev');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('rejected the SASL credentials of user "admin" (SCRAM-SHA-512)');
    const ca = await provisionWith({ KAFKA_SSL_CA_LOCATION: cluster.security!.otherCa }, '--profile', 'dev');
    expect(ca.code).toBe(1);
    expect(ca.stderr).toContain('is not signed by a trusted CA');
    expect(await snapshot()).toEqual({});
  });

  it('--dry-run shows the creations and changes nothing', async () => {
    const r = await provision('--profile', 'dev', '--dry-run');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`+ ${RAW}: create with 24 partitions, replication factor 1`);
    expect(r.stdout).toContain('Dry run: nothing applied.');
    expect(r.stdout).toContain('+ allow User:producer write topic:iot.telemetry.raw.v1');
    expect(await snapshot()).toEqual({});
    expect((await aclDiff('dev')).kept).toBe(0);
  });

  it('dev creates the three topics with the dev settings', async () => {
    const r = await provision('--profile', 'dev');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Done: the cluster matches the dev profile.');
    expect(r.stdout).toMatch(/applied: \d+ ACL binding\(s\) added, 0 removed/);
    expect(await aclDiff('dev')).toMatchObject({ add: 0, remove: 0 });
    const s = await snapshot();
    expect(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, [v.partitions, Math.max(...v.replicas.map((x) => x.length)), v.configs]]))).toEqual({
      [RAW]: [24, 1, { 'cleanup.policy': 'delete', 'retention.ms': String(7 * DAY), 'min.insync.replicas': '1' }],
      [AGG]: [6, 1, { 'cleanup.policy': 'delete', 'retention.ms': String(30 * DAY), 'min.insync.replicas': '1' }],
      [DLQ]: [6, 1, { 'cleanup.policy': 'delete', 'retention.ms': String(14 * DAY), 'min.insync.replicas': '1' }],
    });
    // Data written under the dev profile must survive the move to prod.
    await produce(RAW, 24, 5);
  });

  it('prod then raises partitions, replication factor and min.insync.replicas', async () => {
    const r = await provision('--profile', 'prod');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('~ partitions: 24 -> 48');
    expect(r.stdout).toContain('~ replication factor: 1 -> 3');
    expect(r.stdout).toContain('~ min.insync.replicas: 1 -> 2');
    expect(r.stdout).toContain('Done: the cluster matches the prod profile.');
    afterProd = await snapshot();
    const expected = { [RAW]: [48, 30], [AGG]: [6, 30], [DLQ]: [6, 14] } as const;
    for (const [name, [partitions, days]] of Object.entries(expected)) {
      const t = afterProd[name];
      expect(t.partitions).toBe(partitions);
      expect(t.configs).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': String((name === RAW ? 7 : days) * DAY), 'min.insync.replicas': '2' });
      for (let p = 0; p < t.partitions; p++) {
        expect(new Set(t.replicas[p])).toEqual(new Set([1, 2, 3]));
        expect(t.isr[p]).toEqual([1, 2, 3]);
      }
      // Preferred leaders are spread over the brokers.
      const leaders = new Set(t.replicas.map((r) => r[0]));
      expect(leaders.size).toBe(3);
    }
    const offsets = await endOffsets(cluster.plaintextBrokers, RAW, 48);
    expect(offsets.slice(0, 24).every((o) => o === 5)).toBe(true);
    expect(offsets.slice(24).every((o) => o === 0)).toBe(true);
  });

  it('a second prod run changes nothing', async () => {
    const r = await provision('--profile', 'prod');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('No changes: the cluster matches the profile.');
    expect(r.stdout).toMatch(/= \d+ bindings as wanted, no change/);
    expect(r.stdout).not.toContain('applied:');
    expect(await snapshot()).toEqual(afterProd);
    expect(await aclDiff('prod')).toMatchObject({ add: 0, remove: 0 });
  });

  it('dev after prod is refused with a clear message and changes nothing', async () => {
    const r = await provision('--profile', 'dev');
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(`! refused: ${RAW} has 48 partitions, the dev profile wants 24: Kafka cannot remove partitions`);
    expect(r.stdout).toContain('the tool only raises replication factors');
    expect(r.stderr).toMatch(/refused: the dev profile asks for changes that are unsafe on this cluster.*nothing was changed/);
    expect(await snapshot()).toEqual(afterProd);
  });
});
