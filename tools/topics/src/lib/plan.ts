/**
 * Desired topics (a profile) against what the cluster has: the changes that
 * make them equal, the ones refused as unsafe, and the diff shown to the
 * operator. Pure functions: no I/O.
 */
import { describeValue, type Profile, type TopicSpec } from './profiles';

/** DescribeConfigs config_source values (the Kafka protocol's numbering). */
export const CONFIG_SOURCE: Record<number, string> = {
  [-1]: 'unknown',
  0: 'unknown',
  1: 'topic',
  2: 'broker (dynamic, this broker)',
  3: 'broker (dynamic default)',
  4: 'broker (static)',
  5: 'default',
  6: 'broker (dynamic logger)',
  7: 'client metrics',
  8: 'group',
};
export const TOPIC_CONFIG_SOURCE = 1;

export interface ActualConfig {
  value: string | null;
  /** DescribeConfigs source; 1 = set on the topic. */
  source: number;
}

export interface ActualTopic {
  name: string;
  /** Replica broker ids per partition, index = partition id; first = preferred leader. */
  replicas: number[][];
  /** In-sync replicas per partition. */
  isr: number[][];
  configs: Map<string, ActualConfig>;
}

export type Change =
  | { kind: 'create'; topic: string; spec: TopicSpec }
  | { kind: 'partitions'; topic: string; from: number; to: number }
  | { kind: 'replication'; topic: string; from: number; to: number }
  | { kind: 'config'; topic: string; key: string; from: ActualConfig | undefined; to: string };

export interface Refusal {
  topic: string;
  message: string;
}

export interface TopicPlan {
  spec: TopicSpec;
  actual: ActualTopic | undefined;
  changes: Change[];
  refusals: Refusal[];
}

export interface Plan {
  profile: Profile;
  brokerIds: number[];
  topics: TopicPlan[];
}

export const replicationFactorOf = (t: ActualTopic): number => (t.replicas.length ? Math.min(...t.replicas.map((r) => r.length)) : 0);

export function planTopics(profile: Profile, actual: ReadonlyMap<string, ActualTopic>, brokerIds: readonly number[]): Plan {
  const topics = profile.topics.map((spec): TopicPlan => {
    const current = actual.get(spec.name);
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    const tooFewBrokers = () =>
      refusals.push({
        topic: spec.name,
        message: `needs replication factor ${spec.replicationFactor}, but the cluster has ${brokerIds.length} live broker${brokerIds.length === 1 ? '' : 's'} (${brokerIds.join(', ') || 'none'}); use a profile that fits the cluster`,
      });
    if (!current) {
      changes.push({ kind: 'create', topic: spec.name, spec });
      if (spec.replicationFactor > brokerIds.length) tooFewBrokers();
      return { spec, actual: current, changes, refusals };
    }
    const partitions = current.replicas.length;
    if (spec.partitions > partitions) changes.push({ kind: 'partitions', topic: spec.name, from: partitions, to: spec.partitions });
    else if (spec.partitions < partitions) {
      refusals.push({
        topic: spec.name,
        message:
          `has ${partitions} partitions, the ${profile.name} profile wants ${spec.partitions}: Kafka cannot remove partitions, and recreating the topic ` +
          `would lose its data and break per-device ordering. Keep ${partitions} partitions (change the profile) or migrate to a new topic deliberately`,
      });
    }
    const rf = replicationFactorOf(current);
    const maxRf = Math.max(0, ...current.replicas.map((r) => r.length));
    if (spec.replicationFactor > rf) {
      changes.push({ kind: 'replication', topic: spec.name, from: rf, to: spec.replicationFactor });
      if (spec.replicationFactor > brokerIds.length) tooFewBrokers();
    } else if (spec.replicationFactor < maxRf) {
      refusals.push({
        topic: spec.name,
        message:
          `has replication factor ${maxRf}, the ${profile.name} profile wants ${spec.replicationFactor}: lowering it removes redundancy from live data; ` +
          'the tool only raises replication factors (reassign replicas by hand if you really mean it)',
      });
    }
    for (const [key, value] of Object.entries(spec.configs)) {
      const have = current.configs.get(key);
      if (!have || have.value !== value || have.source !== TOPIC_CONFIG_SOURCE) changes.push({ kind: 'config', topic: spec.name, key, from: have, to: value });
    }
    return { spec, actual: current, changes, refusals };
  });
  return { profile, brokerIds: [...brokerIds], topics };
}

export const planChanges = (plan: Plan): Change[] => plan.topics.flatMap((t) => t.changes);
export const planRefusals = (plan: Plan): Refusal[] => plan.topics.flatMap((t) => t.refusals);

/**
 * New replica lists for partitions below `targetRf`: current replicas keep
 * their order (the preferred leader stays), missing ones are the brokers
 * holding the fewest replicas of this topic so far (ties: rotate by
 * partition, so leaders and followers spread evenly).
 */
export function planReassignment(replicas: readonly number[][], targetRf: number, brokerIds: readonly number[]): Map<number, number[]> {
  if (targetRf > brokerIds.length) throw new Error(`replication factor ${targetRf} needs ${targetRf} brokers, the cluster has ${brokerIds.length}`);
  const load = new Map<number, number>(brokerIds.map((id) => [id, 0]));
  for (const list of replicas) for (const id of list) load.set(id, (load.get(id) ?? 0) + 1);
  const out = new Map<number, number[]>();
  replicas.forEach((current, partition) => {
    if (current.length >= targetRf) return;
    const next = [...current];
    while (next.length < targetRf) {
      const candidates = brokerIds.filter((id) => !next.includes(id));
      const rotated = candidates.map((id, i) => ({ id, order: (i - (partition % candidates.length) + candidates.length) % candidates.length }));
      rotated.sort((a, b) => load.get(a.id)! - load.get(b.id)! || a.order - b.order);
      const chosen = rotated[0].id;
      next.push(chosen);
      load.set(chosen, load.get(chosen)! + 1);
    }
    out.set(partition, next);
  });
  return out;
}

function sourceLabel(c: ActualConfig | undefined): string {
  if (!c) return 'absent';
  return CONFIG_SOURCE[c.source] ?? `source ${c.source}`;
}

/** The diff an operator reads: one line per change, `!` for refusals. */
export function formatPlan(plan: Plan): string {
  const lines: string[] = [];
  lines.push(`Profile ${plan.profile.name} (${plan.profile.description}); cluster brokers: ${plan.brokerIds.join(', ') || 'none'}`);
  for (const t of plan.topics) {
    const { spec, actual } = t;
    if (!actual) {
      lines.push(`+ ${spec.name}: create with ${spec.partitions} partitions, replication factor ${spec.replicationFactor}`);
      for (const [k, v] of Object.entries(spec.configs)) lines.push(`    + ${k} = ${describeValue(k, v)}`);
    } else if (t.changes.length === 0 && t.refusals.length === 0) {
      lines.push(`= ${spec.name}: up to date (${actual.replicas.length} partitions, replication factor ${replicationFactorOf(actual)})`);
    } else {
      lines.push(`~ ${spec.name}:`);
      for (const c of t.changes) {
        if (c.kind === 'partitions') lines.push(`    ~ partitions: ${c.from} -> ${c.to}`);
        else if (c.kind === 'replication') lines.push(`    ~ replication factor: ${c.from} -> ${c.to} (replicas are added by reassignment)`);
        else if (c.kind === 'config') {
          const from = c.from?.value ?? undefined;
          const note = c.from && c.from.value === c.to ? ` (now inherited from ${sourceLabel(c.from)}; pinned on the topic)` : c.from && c.from.source !== TOPIC_CONFIG_SOURCE ? ` (was ${sourceLabel(c.from)})` : '';
          lines.push(`    ~ ${c.key}: ${describeValue(c.key, from ?? undefined)} -> ${describeValue(c.key, c.to)}${note}`);
        }
      }
    }
    for (const r of t.refusals) lines.push(`    ! refused: ${spec.name} ${r.message}`);
  }
  const changes = planChanges(plan);
  const refusals = planRefusals(plan);
  const creates = changes.filter((c) => c.kind === 'create').length;
  const updated = plan.topics.filter((t) => t.actual && t.changes.length > 0).length;
  const same = plan.topics.filter((t) => t.actual && t.changes.length === 0 && t.refusals.length === 0).length;
  if (refusals.length) lines.push(`Refused: ${refusals.length} unsafe change${refusals.length === 1 ? '' : 's'}; nothing will be applied.`);
  else if (changes.length === 0) lines.push('No changes: the cluster matches the profile.');
  else lines.push(`Plan: ${creates} to create, ${updated} to update, ${same} unchanged.`);
  return lines.join('\n');
}
