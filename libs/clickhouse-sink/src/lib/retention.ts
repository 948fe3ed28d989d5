import { BEYOND_RETENTION } from '@stream-analytics/event-schema';
/**
 * Retention rules, pure (no I/O): which tables hold which class of rows, how
 * long each class is kept, and which whole-day partitions have expired.
 *
 * Every table under retention is partitioned by `toYYYYMMDD(window_start)`
 * (007_window_users_and_minute_rollup.sql), so a partition id is the UTC day
 * of its rows. A day is dropped only once the whole day ended at or before
 * `now - retention`: every row of a dropped day is older than the retention,
 * and no row inside the retention is ever touched.
 */
import { TABLES } from './schema';

export const DAY_MS = 86_400_000;

export interface RetentionPolicy {
  /** Days the aggregate rows (window state, window users, per-window results) are kept. */
  aggregateDays: number;
  /** Days the dead-letter rows are kept. */
  deadLetterDays: number;
}

export const DEFAULT_RETENTION_POLICY: Readonly<RetentionPolicy> = Object.freeze({ aggregateDays: 30, deadLetterDays: 14 });

export type RetentionClass = 'aggregate' | 'deadLetter';

/**
 * The tables of each class. The legacy tables (iot_window_partition_state,
 * dead_letter_events) are no longer written and are left alone; the fleet
 * tables 010 replaced (iot_window_state, iot_minute_rollup) still expire the
 * days they hold.
 */
export const RETENTION_TABLES: Readonly<Record<RetentionClass, readonly string[]>> = Object.freeze({
  aggregate: Object.freeze([TABLES.windowState, TABLES.windowUsers, TABLES.minuteRollup, TABLES.devicePartitionMinute, TABLES.deviceHour, TABLES.legacyWindowState, TABLES.legacyMinuteRollup]),
  deadLetter: Object.freeze([TABLES.deadLetters, TABLES.minuteDeadLetterRollup]),
});

/** The column every table under retention is partitioned by (by day) and expires by. */
export const RETENTION_TIME_COLUMN = 'window_start';

export function retentionDaysOf(policy: RetentionPolicy, cls: RetentionClass): number {
  return cls === 'aggregate' ? policy.aggregateDays : policy.deadLetterDays;
}

/** Every table under retention with the days it keeps. */
export function retentionTables(policy: RetentionPolicy): { table: string; cls: RetentionClass; days: number }[] {
  return (Object.keys(RETENTION_TABLES) as RetentionClass[]).flatMap((cls) =>
    RETENTION_TABLES[cls].map((table) => ({ table, cls, days: retentionDaysOf(policy, cls) })),
  );
}

/** Problems with a policy on its own (whole days, at least one). */
export function retentionPolicyProblem(policy: RetentionPolicy): string | undefined {
  for (const [name, days] of [
    ['aggregate', policy.aggregateDays],
    ['dead-letter', policy.deadLetterDays],
  ] as const) {
    if (!Number.isInteger(days) || days < 1) return `${name} retention must be a whole number of days >= 1 (got ${days})`;
  }
  return undefined;
}

/**
 * The aggregator folds a late event into its window as long as the window
 * ended less than the lateness horizon before the watermark, reading the
 * window's stored state back if needed. Whole days are dropped, and the
 * watermark may run a little ahead of the wall clock, so the aggregate
 * retention must exceed the horizon by at least one day; otherwise late events
 * would be folded into windows whose state was already dropped.
 */
export function minAggregateRetentionDays(allowedLatenessMs: number): number {
  return Math.ceil(allowedLatenessMs / DAY_MS) + 1;
}

export interface PartitionRef {
  /** `database.table` */
  table: string;
  /** `YYYYMMDD` (partition_id in system.parts). */
  partitionId: string;
}

export interface ExpiredPartition extends PartitionRef {
  cls: RetentionClass;
  /** Start of the partition's UTC day (ms). */
  dayStartMs: number;
}

/** Start (UTC ms) of the day a `YYYYMMDD` partition id names; undefined when it names no calendar day. */
export function dayOfPartitionId(partitionId: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(partitionId);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined;
  return ms;
}

/** At `nowMs` with `days` of retention, a day whose end is at or before this instant has expired. */
export function expiryCutoffMs(nowMs: number, days: number): number {
  return nowMs - days * DAY_MS;
}

/** A day (its UTC start) has expired at `nowMs` with `days` of retention: it ended at or before now - retention. */
export function isDayExpired(dayStartMs: number, nowMs: number, days: number): boolean {
  return dayStartMs + DAY_MS <= expiryCutoffMs(nowMs, days);
}

/**
 * The window's day has expired (or expires at `atMs`) under the aggregate
 * retention: rows of the window are dropped by the retention job, so an
 * event folded into it would be counted and then vanish. The aggregator
 * dead-letters such an event as `beyond_retention` instead, judged at the
 * record's Kafka timestamp so that a replay decides the same.
 */
export function isBeyondAggregateRetention(windowStartMs: number, atMs: number, aggregateDays: number): boolean {
  return isDayExpired(Math.floor(windowStartMs / DAY_MS) * DAY_MS, atMs, aggregateDays);
}

/** The reason code of an event whose window is beyond the aggregate retention. */
export const BEYOND_RETENTION_REASON = BEYOND_RETENTION;

/**
 * The partitions to drop at `nowMs`: those of a table under retention whose
 * whole day ended at or before `nowMs - retention` of the table's class.
 * Partitions of other tables, and ids that are not a calendar day, are never
 * returned. Sorted by table, then day; duplicates (several parts of one
 * partition) collapse.
 */
export function expiredPartitions(present: readonly PartitionRef[], nowMs: number, policy: RetentionPolicy): ExpiredPartition[] {
  const problem = retentionPolicyProblem(policy);
  if (problem) throw new RangeError(problem);
  if (!Number.isFinite(nowMs)) throw new RangeError(`now must be a finite time in ms (got ${nowMs})`);
  const byTable = new Map(retentionTables(policy).map((t) => [t.table, t]));
  const out = new Map<string, ExpiredPartition>();
  for (const p of present) {
    const t = byTable.get(p.table);
    if (!t) continue;
    const dayStartMs = dayOfPartitionId(p.partitionId);
    if (dayStartMs === undefined) continue;
    if (!isDayExpired(dayStartMs, nowMs, t.days)) continue;
    out.set(`${p.table}\u0000${p.partitionId}`, { table: p.table, partitionId: p.partitionId, cls: t.cls, dayStartMs });
  }
  return [...out.values()].sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : a.dayStartMs - b.dayStartMs));
}

/** The TTL expression of a table kept `days` days, as current servers print it back (engine_full). */
export function ttlExpression(days: number): string {
  return `${RETENTION_TIME_COLUMN} + toIntervalDay(${days})`;
}

/**
 * The TTL of a table from its `engine_full` text (`... TTL <expr> SETTINGS ...`);
 * undefined when it has none.
 */
export function tableTtlOf(engineFull: string): string | undefined {
  const m = /\bTTL\s+(.+?)(?:\s+SETTINGS\b|$)/s.exec(engineFull);
  return m ? m[1].trim() : undefined;
}
