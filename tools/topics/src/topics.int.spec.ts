/**
 * provision-topics against a real three-broker Kafka cluster (KRaft, started
 * here from the jars): dev, then prod, then prod again; the built CLI runs
 * exactly as an operator runs it (dist/tools/topics/main.js).
 */
import Kafka from '@confluentinc/kafka-javascript';
import { endOffsets } from '@stream-analytics/testing';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { WireAdmin } from './lib/kafka-wire';
import { startKraftCluster, type KraftCluster } from './testing/kraft-cluster';

jest.setTimeout(240_000);

const DAY = 86_400_000;
const RAW = 'iot.telemetry.raw.v1';
const AGG = 'iot.telemetry.minute-agg.v1';
const DLQ = 'iot.telemetry.dlq.v1';

const bundle = path.resolve(__dirname, '../../../dist/tools/topics/main.js');

let cluster: KraftCluster;

beforeAll(async () => {
  if (!fs.existsSync(bundle)) throw new Error(`${bundle} is missing; run: npx nx build topics`);
  cluster = await startKraftCluster({ size: 3 });
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
  return new Promise((resolve) =>
    execFile(process.execPath, [bundle, '--brokers', cluster.brokers, ...args], { timeout: 180_000, env: { ...process.env, KAFKA_BROKERS: '' } }, (err, stdout, stderr) =>
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
  const wire = new WireAdmin(cluster.brokers);
  const meta = await wire.metadata([RAW, AGG, DLQ]);
  const present = meta.topics.filter((t) => t.errorCode === 0);
  const configs = present.length ? await wire.describeTopicConfigs(present.map((t) => t.name)) : new Map();
  const out: Record<string, TopicState> = {};
  for (const t of present) {
    const parts = [...t.partitions].sort((a, b) => a.partition - b.partition);
    const pinned = (configs.get(t.name) ?? []).filter((c: { source: number }) => c.source === 1);
    out[t.name] = {
      partitions: parts.length,
      replicas: parts.map((p) => p.replicas),
      isr: parts.map((p) => [...p.isr].sort()),
      configs: Object.fromEntries(pinned.map((c: { name: string; value: string | null }) => [c.name, c.value])),
    };
  }
  return out;
}

async function produce(topic: string, partitions: number, perPartition: number): Promise<void> {
  const producer = new Kafka.Producer({ 'bootstrap.servers': cluster.brokers, dr_cb: true, acks: -1 } as Kafka.ProducerGlobalConfig);
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

  it('--dry-run shows the creations and changes nothing', async () => {
    const r = await provision('--profile', 'dev', '--dry-run');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`+ ${RAW}: create with 24 partitions, replication factor 1`);
    expect(r.stdout).toContain('Dry run: nothing applied.');
    expect(await snapshot()).toEqual({});
  });

  it('dev creates the three topics with the dev settings', async () => {
    const r = await provision('--profile', 'dev');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Done: the cluster matches the dev profile.');
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
    const offsets = await endOffsets(cluster.brokers, RAW, 48);
    expect(offsets.slice(0, 24).every((o) => o === 5)).toBe(true);
    expect(offsets.slice(24).every((o) => o === 0)).toBe(true);
  });

  it('a second prod run changes nothing', async () => {
    const r = await provision('--profile', 'prod');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('No changes: the cluster matches the profile.');
    expect(r.stdout).not.toContain('applied:');
    expect(await snapshot()).toEqual(afterProd);
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
