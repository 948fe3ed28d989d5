import { formatPlan, planChanges, planReassignment, planRefusals, planTopics, type ActualTopic } from './plan';
import { profile } from './profiles';

const DAY = 86400000;

function topic(name: string, partitions: number, rf: number, configs: Record<string, string> = {}, brokers = [1, 2, 3]): ActualTopic {
  const replicas = Array.from({ length: partitions }, (_, p) => Array.from({ length: rf }, (_, i) => brokers[(p + i) % brokers.length]));
  return { name, replicas, isr: replicas, configs: new Map(Object.entries(configs).map(([k, v]) => [k, { value: v, source: 1 }])) };
}

const pinned = (role: 'raw' | 'aggregate' | 'deadLetter', mir: number) => ({
  'cleanup.policy': 'delete',
  'retention.ms': String({ raw: 7, aggregate: 30, deadLetter: 14 }[role] * DAY),
  'min.insync.replicas': String(mir),
});

describe('profiles', () => {
  it('match the topic contract (docs/architecture.md)', () => {
    const dev = profile('dev');
    const prod = profile('prod');
    expect(dev.topics.map((t) => [t.name, t.partitions, t.replicationFactor, t.configs['retention.ms'], t.configs['min.insync.replicas']])).toEqual([
      ['iot.telemetry.raw.v1', 24, 1, String(7 * DAY), '1'],
      ['iot.telemetry.minute-agg.v1', 6, 1, String(30 * DAY), '1'],
      ['iot.telemetry.dlq.v1', 6, 1, String(14 * DAY), '1'],
    ]);
    expect(prod.topics.map((t) => [t.name, t.partitions, t.replicationFactor, t.configs['min.insync.replicas']])).toEqual([
      ['iot.telemetry.raw.v1', 48, 3, '2'],
      ['iot.telemetry.minute-agg.v1', 6, 3, '2'],
      ['iot.telemetry.dlq.v1', 6, 3, '2'],
    ]);
  });
});

describe('planTopics', () => {
  it('creates missing topics', () => {
    const plan = planTopics(profile('dev'), new Map(), [1]);
    expect(planChanges(plan).map((c) => c.kind)).toEqual(['create', 'create', 'create']);
    expect(planRefusals(plan)).toEqual([]);
    expect(formatPlan(plan)).toContain('+ iot.telemetry.raw.v1: create with 24 partitions, replication factor 1');
  });

  it('is empty when the cluster matches', () => {
    const p = profile('prod');
    const actual = new Map(p.topics.map((t) => [t.name, topic(t.name, t.partitions, 3, pinned(t.role, 2))]));
    const plan = planTopics(p, actual, [1, 2, 3]);
    expect(planChanges(plan)).toEqual([]);
    expect(formatPlan(plan)).toContain('No changes');
  });

  it('grows dev into prod: partitions, replication factor, min.insync.replicas', () => {
    const d = profile('dev');
    const actual = new Map(d.topics.map((t) => [t.name, topic(t.name, t.partitions, 1, pinned(t.role, 1))]));
    const plan = planTopics(profile('prod'), actual, [1, 2, 3]);
    expect(planRefusals(plan)).toEqual([]);
    const raw = plan.topics[0].changes;
    expect(raw).toEqual([
      { kind: 'partitions', topic: 'iot.telemetry.raw.v1', from: 24, to: 48 },
      { kind: 'replication', topic: 'iot.telemetry.raw.v1', from: 1, to: 3 },
      { kind: 'config', topic: 'iot.telemetry.raw.v1', key: 'min.insync.replicas', from: { value: '1', source: 1 }, to: '2' },
    ]);
    expect(formatPlan(plan)).toContain('~ partitions: 24 -> 48');
  });

  it('pins configs that are only inherited from the broker', () => {
    const d = profile('dev');
    const t = topic(d.topics[0].name, 24, 1, pinned('raw', 1));
    t.configs.set('cleanup.policy', { value: 'delete', source: 5 });
    const plan = planTopics(d, new Map([[t.name, t]]), [1]);
    expect(plan.topics[0].changes).toEqual([{ kind: 'config', topic: t.name, key: 'cleanup.policy', from: { value: 'delete', source: 5 }, to: 'delete' }]);
  });

  it('refuses fewer partitions and a lower replication factor, with a reason', () => {
    const p = profile('prod');
    const actual = new Map(p.topics.map((t) => [t.name, topic(t.name, t.partitions, 3, pinned(t.role, 2))]));
    const plan = planTopics(profile('dev'), actual, [1, 2, 3]);
    const refusals = planRefusals(plan);
    expect(refusals.map((r) => r.topic)).toEqual(['iot.telemetry.raw.v1', 'iot.telemetry.raw.v1', 'iot.telemetry.minute-agg.v1', 'iot.telemetry.dlq.v1']);
    expect(refusals[0].message).toMatch(/has 48 partitions, the dev profile wants 24: Kafka cannot remove partitions/);
    expect(refusals[1].message).toMatch(/replication factor 3, the dev profile wants 1/);
    expect(formatPlan(plan)).toMatch(/Refused: 4 unsafe changes; nothing will be applied/);
  });

  it('refuses a replication factor the cluster cannot hold', () => {
    const plan = planTopics(profile('prod'), new Map(), [1]);
    expect(planRefusals(plan)[0].message).toMatch(/needs replication factor 3, but the cluster has 1 live broker/);
  });
});

describe('planReassignment', () => {
  it('keeps current replicas first and spreads the new ones evenly', () => {
    const current = Array.from({ length: 24 }, (_, p) => [[1, 2, 3][p % 3]]);
    const plan = planReassignment(current, 3, [1, 2, 3]);
    expect(plan.size).toBe(24);
    for (const [p, replicas] of plan) {
      expect(replicas[0]).toBe(current[p][0]);
      expect(new Set(replicas).size).toBe(3);
    }
  });

  it('balances followers across more brokers than the replication factor', () => {
    const current = Array.from({ length: 60 }, () => [1]);
    const plan = planReassignment(current, 2, [1, 2, 3, 4, 5, 6]);
    const load = new Map<number, number>();
    for (const r of plan.values()) load.set(r[1], (load.get(r[1]) ?? 0) + 1);
    expect([...load.values()].every((n) => n === 12)).toBe(true);
  });

  it('leaves partitions that already have enough replicas alone', () => {
    expect(planReassignment([[1, 2, 3]], 3, [1, 2, 3]).size).toBe(0);
  });
});
