/**
 * The retention knobs as flags + environment, declared once for whatever runs
 * the retention job (the aggregator), and their validation against the
 * lateness horizon.
 */
import { formatUsage, UsageError, type CommandSpec, type OptionSpecs } from '@stream-analytics/runtime';
import { DAY_MS, DEFAULT_RETENTION_POLICY, minAggregateRetentionDays, type RetentionPolicy } from './retention';

const days = (ms: number) => {
  const n = +(ms / DAY_MS).toFixed(3);
  return `${n} day${n === 1 ? '' : 's'}`;
};

/** A hundred years: beyond that a value is a typo, not a policy. */
const MAX_RETENTION_DAYS = 36_500;

export const RETENTION_OPTIONS = {
  aggregateRetentionDays: {
    type: 'integer',
    env: 'AGGREGATE_RETENTION_DAYS',
    default: DEFAULT_RETENTION_POLICY.aggregateDays,
    min: 1,
    max: MAX_RETENTION_DAYS,
    description:
      'Days the aggregate rows (window state, window users, per-window results) are kept; whole days older than this are dropped. Must exceed the lateness horizon by at least one day.',
  },
  deadLetterRetentionDays: {
    type: 'integer',
    env: 'DEAD_LETTER_RETENTION_DAYS',
    default: DEFAULT_RETENTION_POLICY.deadLetterDays,
    min: 1,
    max: MAX_RETENTION_DAYS,
    description: 'Days the dead-letter rows are kept; whole days older than this are dropped.',
  },
  retentionIntervalSecs: {
    type: 'integer',
    env: 'RETENTION_INTERVAL_SECS',
    default: 3600,
    min: 0,
    max: 7 * 86400,
    description: 'Seconds between retention runs (drop expired day partitions, set the TTL where the server has it), by the instance holding partition 0 of the raw topic; 0 disables the job.',
  },
} as const satisfies OptionSpecs;

export interface RetentionOptions {
  aggregateRetentionDays: number;
  deadLetterRetentionDays: number;
}

/**
 * The policy of parsed options, checked against the lateness horizon; a
 * UsageError (exit 2) when the aggregate rows would expire before the
 * aggregator stops needing them.
 */
export function retentionPolicyOf(o: RetentionOptions, allowedLatenessSecs: number, spec: CommandSpec<OptionSpecs>): RetentionPolicy {
  const min = minAggregateRetentionDays(allowedLatenessSecs * 1000);
  if (o.aggregateRetentionDays < min) {
    throw new UsageError(
      `--aggregate-retention-days/AGGREGATE_RETENTION_DAYS (${o.aggregateRetentionDays}) must exceed the lateness horizon ALLOWED_LATENESS_SECS (${allowedLatenessSecs} s = ${days(allowedLatenessSecs * 1000)}) by at least one day, so be at least ${min}, or late events would be folded into windows whose state was already dropped.`,
      formatUsage(spec),
    );
  }
  return { aggregateDays: o.aggregateRetentionDays, deadLetterDays: o.deadLetterRetentionDays };
}
