/**
 * Least-privilege Kafka ACLs of the platform's apps, as data: what each
 * app's principal may do, derived from the topic names of a profile. Pure:
 * the plan compares wanted and actual bindings; cluster.ts applies it.
 *
 *   producer, gateway  write the raw topic only
 *   aggregator         reads the raw topic with its group, writes the DLQ and aggregate topics
 *   replayer           reads the DLQ with its group, writes the raw and ledger topics with its
 *                      transactional id (and reads the ledger and the raw tail, creates the ledger)
 */
import type { Profile } from './profiles';

export type AclResource = 'topic' | 'group' | 'transactionalId';
export type AclPattern = 'literal' | 'prefixed';
export type AclOperation = 'read' | 'write' | 'describe' | 'create';

/** One ALLOW binding for any host. */
export interface AclBinding {
  principal: string;
  resource: AclResource;
  name: string;
  pattern: AclPattern;
  operation: AclOperation;
}

export interface AppPrincipals {
  producer: string;
  gateway: string;
  aggregator: string;
  replayer: string;
}

export interface AclSettings {
  principals: AppPrincipals;
  aggregatorGroup: string;
  replayerGroup: string;
  ledgerTopic: string;
  replayerTransactionalId: string;
}

export const DEFAULT_ACL_SETTINGS: AclSettings = {
  principals: { producer: 'User:producer', gateway: 'User:gateway', aggregator: 'User:aggregator', replayer: 'User:replayer' },
  aggregatorGroup: 'iot-aggregator',
  replayerGroup: 'iot-dlq-replayer',
  ledgerTopic: 'iot.telemetry.dlq-replay-ledger.v1',
  replayerTransactionalId: 'dlq-replayer.iot.telemetry.dlq-replay-ledger.v1',
};

const topicOf = (p: Profile, role: 'raw' | 'aggregate' | 'deadLetter') => p.topics.find((t) => t.role === role)!.name;

export function wantedAcls(profile: Profile, s: AclSettings = DEFAULT_ACL_SETTINGS): AclBinding[] {
  const raw = topicOf(profile, 'raw');
  const agg = topicOf(profile, 'aggregate');
  const dlq = topicOf(profile, 'deadLetter');
  const bind = (principal: string, resource: AclResource, name: string, operations: AclOperation[], pattern: AclPattern = 'literal') =>
    operations.map((operation) => ({ principal, resource, name, pattern, operation }));
  const writer = (principal: string) => bind(principal, 'topic', raw, ['write', 'describe']);
  const { producer, gateway, aggregator, replayer } = s.principals;
  return [
    ...writer(producer),
    ...writer(gateway),
    ...bind(aggregator, 'topic', raw, ['read', 'describe']),
    ...bind(aggregator, 'group', s.aggregatorGroup, ['read', 'describe']),
    ...bind(aggregator, 'topic', dlq, ['write', 'describe']),
    ...bind(aggregator, 'topic', agg, ['write', 'describe']),
    ...bind(replayer, 'topic', dlq, ['read', 'describe']),
    ...bind(replayer, 'group', s.replayerGroup, ['read', 'describe']),
    // inspect and the ledger/tail readers use throwaway groups named dlq-replayer-*.
    ...bind(replayer, 'group', 'dlq-replayer-', ['read', 'describe'], 'prefixed'),
    // The raw tail tells it how far the aggregator's watermark may be.
    ...bind(replayer, 'topic', raw, ['write', 'describe', 'read']),
    ...bind(replayer, 'topic', s.ledgerTopic, ['write', 'describe', 'read', 'create']),
    ...bind(replayer, 'transactionalId', s.replayerTransactionalId, ['write', 'describe']),
  ];
}

export const aclKey = (b: AclBinding) => `${b.principal} ${b.operation} ${b.resource}:${b.pattern === 'prefixed' ? `${b.name}*` : b.name}`;

export interface AclPlan {
  add: AclBinding[];
  /** Bindings of the managed principals that the profile does not grant. */
  remove: AclBinding[];
  kept: number;
}

/** Compares wanted bindings with the cluster's, for the principals the profile manages. */
export function planAcls(wanted: readonly AclBinding[], actual: readonly AclBinding[]): AclPlan {
  const managed = new Set(wanted.map((b) => b.principal));
  const wantedKeys = new Set(wanted.map(aclKey));
  const actualKeys = new Set(actual.map(aclKey));
  return {
    add: wanted.filter((b) => !actualKeys.has(aclKey(b))),
    remove: actual.filter((b) => managed.has(b.principal) && !wantedKeys.has(aclKey(b))),
    kept: wanted.filter((b) => actualKeys.has(aclKey(b))).length,
  };
}

export function formatAclPlan(plan: AclPlan): string {
  const lines = ['ACLs:'];
  for (const b of plan.add) lines.push(`  + allow ${aclKey(b)}`);
  for (const b of plan.remove) lines.push(`  - allow ${aclKey(b)}`);
  if (!plan.add.length && !plan.remove.length) lines.push(`  = ${plan.kept} bindings as wanted, no change`);
  else lines.push(`  (${plan.add.length} to add, ${plan.remove.length} to remove, ${plan.kept} unchanged)`);
  return lines.join('\n');
}
