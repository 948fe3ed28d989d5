import pino from 'pino';
import { Writable } from 'node:stream';
import { createAggregatorMetrics } from './metrics';
import { DeviceRollupJob } from './device-rollup-job';

/** The client calls of a rollup run, answered from a script: the resume point, the changed hours, then inserts (the hours, then the device-recent summary). */
function fakeClickHouse(changed: Array<{ hour_s: number; newest_ms: number }>, newestRollup = 0) {
  const queries: string[] = [];
  const inserts: string[] = [];
  let failNext = false;
  const client = {
    queryRows: async <T>(sql: string): Promise<T[]> => {
      queries.push(sql);
      if (failNext) {
        failNext = false;
        throw new Error('ClickHouse is down');
      }
      if (sql.includes('iot_device_hour')) return [{ newest: newestRollup }] as T[];
      const since = Number(/computed_at_ms >= (\d+)/.exec(sql)?.[1]);
      return changed.filter((c) => c.newest_ms >= since) as T[];
    },
    // An hour's rollup as its start (s), the device-recent summary as the instant it is as of (ms).
    insertSelect: async (table: string, _columns: readonly string[], select: string) =>
      void inserts.push(table.endsWith('.iot_device_recent') ? `recent@${/toUInt64\((\d+)\)\s*FROM/.exec(select)?.[1] ?? '?'}` : (/toDateTime\((\d+), 'UTC'\)/.exec(select)?.[1] ?? '?')),
  };
  return { client, queries, inserts, failOnce: () => (failNext = true) };
}

function setup(ch: ReturnType<typeof fakeClickHouse>, owner = { is: true }) {
  const metrics = createAggregatorMetrics({ processMetrics: false });
  const logger = pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));
  const clock = { t: 1_000_000_000_000 };
  const job = new DeviceRollupJob({ intervalMs: 60_000, isOwner: () => owner.is, clickhouse: ch.client, logger, metrics, now: () => clock.t });
  const value = async (name: string, labels: Record<string, string> = {}) =>
    (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name)?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
  return { job, clock, owner, value };
}

describe('device rollup job', () => {
  it('resumes shortly before the newest rollup, sums the changed hours, then looks only past what it saw', async () => {
    const ch = fakeClickHouse([{ hour_s: 3600, newest_ms: 500_000 }, { hour_s: 7200, newest_ms: 900_000 }], 400_000);
    const s = setup(ch);
    const first = await s.job.runOnce();
    expect(first).toMatchObject({ kind: 'done', run: { hoursMs: [3_600_000, 7_200_000], deferred: 0, nextSinceMs: 840_000 } });
    expect(ch.queries[0]).toContain('iot_device_hour'); // the resume point
    expect(ch.queries[1]).toContain('computed_at_ms >= 340000'); // 400,000 less the overlap
    expect(ch.inserts).toEqual(['3600', '7200', 'recent@1000000000000']);
    s.clock.t += 60_000;
    await s.job.runOnce();
    expect(ch.queries.at(-1)).toContain('computed_at_ms >= 840000');
    // The overlap sees the newest hour again (harmless); the summary is written at every run, as of its clock.
    expect(ch.inserts).toEqual(['3600', '7200', 'recent@1000000000000', '7200', 'recent@1000000060000']);
    expect(await s.value('aggregator_device_rollup_runs_total', { outcome: 'ok' })).toBe(2);
    expect(await s.value('aggregator_device_rollup_hours_total')).toBe(3);
  });

  it('does nothing where partition 0 is not held, and a new owner resumes from the table', async () => {
    const ch = fakeClickHouse([{ hour_s: 3600, newest_ms: 500_000 }], 0);
    const s = setup(ch, { is: false });
    expect(await s.job.runOnce()).toEqual({ kind: 'not-owner' });
    expect(ch.queries).toEqual([]);
    s.owner.is = true;
    expect(await s.job.runOnce()).toMatchObject({ kind: 'done', run: { hoursMs: [3_600_000] } });
    expect(ch.queries[1]).toContain('computed_at_ms >= 0');
  });

  it('counts a failed run and retries from the same point, never throwing', async () => {
    const ch = fakeClickHouse([{ hour_s: 3600, newest_ms: 500_000 }], 200_000);
    const s = setup(ch);
    await s.job.runOnce();
    ch.failOnce();
    expect(await s.job.runOnce()).toMatchObject({ kind: 'failed' });
    expect(await s.value('aggregator_device_rollup_runs_total', { outcome: 'failed' })).toBe(1);
    await s.job.runOnce();
    expect(ch.queries.at(-1)).toContain('computed_at_ms >= 440000');
  });
});
