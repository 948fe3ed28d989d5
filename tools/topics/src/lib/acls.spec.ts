import { aclKey, DEFAULT_ACL_SETTINGS, formatAclPlan, planAcls, wantedAcls, type AclBinding } from './acls';
import { profile } from './profiles';

const RAW = 'iot.telemetry.raw.v1';
const DLQ = 'iot.telemetry.dlq.v1';
const AGG = 'iot.telemetry.minute-agg.v1';
const grants = (principal: string) =>
  wantedAcls(profile('prod'))
    .filter((b) => b.principal === principal)
    .map(aclKey)
    .map((k) => k.slice(principal.length + 1))
    .sort();

describe('the apps\u2019 ACLs', () => {
  it('let the producer and the gateway write the raw topic only', () => {
    expect(grants('User:producer')).toEqual([`describe topic:${RAW}`, `write topic:${RAW}`]);
    expect(grants('User:gateway')).toEqual(grants('User:producer'));
  });

  it('let the aggregator read raw with its group and write the DLQ and aggregate topics, never raw', () => {
    expect(grants('User:aggregator')).toEqual(
      [`describe group:iot-aggregator`, `describe topic:${AGG}`, `describe topic:${DLQ}`, `describe topic:${RAW}`, `read group:iot-aggregator`, `read topic:${RAW}`, `write topic:${AGG}`, `write topic:${DLQ}`].sort(),
    );
  });

  it('let the replayer read the DLQ with its group and write raw and ledger with its transactional id, never write the DLQ', () => {
    const r = grants('User:replayer');
    expect(r).toEqual(expect.arrayContaining([`read topic:${DLQ}`, 'read group:iot-dlq-replayer', `write topic:${RAW}`, 'write topic:iot.telemetry.dlq-replay-ledger.v1', 'write transactionalId:dlq-replayer.iot.telemetry.dlq-replay-ledger.v1']));
    expect(r).not.toContain(`write topic:${DLQ}`);
  });

  it('follow renamed topics, groups and principals', () => {
    const b = wantedAcls(profile('dev', { raw: 'r', aggregate: 'a', deadLetter: 'd' }), { ...DEFAULT_ACL_SETTINGS, principals: { ...DEFAULT_ACL_SETTINGS.principals, producer: 'User:p1' }, aggregatorGroup: 'g' });
    expect(b.map(aclKey)).toEqual(expect.arrayContaining(['User:p1 write topic:r', 'User:aggregator read group:g', 'User:aggregator write topic:d']));
  });
});

describe('planAcls', () => {
  const wanted = wantedAcls(profile('dev'));
  const extra: AclBinding = { principal: 'User:producer', resource: 'topic', name: DLQ, pattern: 'literal', operation: 'read' };
  const foreign: AclBinding = { principal: 'User:someone-else', resource: 'topic', name: DLQ, pattern: 'literal', operation: 'read' };

  it('adds what is missing, removes what a managed principal has beyond the profile, leaves other principals alone', () => {
    const plan = planAcls(wanted, [...wanted.slice(2), extra, foreign]);
    expect(plan.add).toEqual(wanted.slice(0, 2));
    expect(plan.remove).toEqual([extra]);
    expect(plan.kept).toBe(wanted.length - 2);
    expect(formatAclPlan(plan)).toContain(`- allow User:producer read topic:${DLQ}`);
    expect(formatAclPlan(plan)).toContain(`+ allow User:producer write topic:${RAW}`);
  });

  it('is empty once applied (idempotent)', () => {
    const plan = planAcls(wanted, [...wanted, foreign]);
    expect([plan.add, plan.remove]).toEqual([[], []]);
    expect(formatAclPlan(plan)).toMatch(/= \d+ bindings as wanted, no change/);
  });
});
