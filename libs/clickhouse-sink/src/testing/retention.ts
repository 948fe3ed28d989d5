/**
 * One retention scenario for both servers (18.16 in retention.int.spec.ts,
 * current ClickHouse in retention.chdb.spec.ts): the tables under retention
 * as the init files create them, in a scratch database, with rows in days
 * on both sides of each class's cutoff.
 */
import { forDatabase } from './history';
import type { MigrationFile } from '../lib/migrations';
import { DAY_MS, retentionTables, type RetentionPolicy } from '../lib/retention';

/** Short and different per class, so a mix-up of the classes shows. */
export const TEST_POLICY: RetentionPolicy = { aggregateDays: 5, deadLetterDays: 3 };

const HOUR_MS = 3_600_000;
/** Rows of each day: at its first second, at noon and in its last minute. */
const TIMES_OF_DAY = [0, 12 * HOUR_MS, DAY_MS - 60_000];

/** The CREATE TABLE statements of the tables under retention, from the init files, for `db`. */
export function retentionTableStatements(files: readonly MigrationFile[], db: string): string[] {
  const names = new Set(retentionTables(TEST_POLICY).map((t) => t.table));
  return files
    .flatMap((f) => f.statements)
    .filter((s) => {
      const m = /^\s*CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(\S+)/i.exec(s);
      return m !== null && names.has(m[1]);
    })
    .map((s) => forDatabase(s, db));
}

export interface ScenarioTable {
  /** As named in the schema (TABLES). */
  table: string;
  days: number;
  /** `db.table` */
  physical: string;
  /** Day starts (UTC ms) that get rows; k days before the day of now for k in {days + 3, days + 1, days, days - 1, 1, 0}. */
  dayStarts: number[];
  /** The days whose whole day ended at or before now - days: k >= days + 1. */
  expiredDayStarts: number[];
}

export function retentionScenario(nowMs: number, db: string, policy: RetentionPolicy = TEST_POLICY): ScenarioTable[] {
  const today = Math.floor(nowMs / DAY_MS) * DAY_MS;
  return retentionTables(policy).map(({ table, days }) => {
    const ks = [days + 3, days + 1, days, days - 1, 1, 0];
    return {
      table,
      days,
      physical: `${db}.${table.slice(table.indexOf('.') + 1)}`,
      dayStarts: ks.map((k) => today - k * DAY_MS).sort((a, b) => a - b),
      expiredDayStarts: ks.filter((k) => k >= days + 1).map((k) => today - k * DAY_MS).sort((a, b) => a - b),
    };
  });
}

const dateTimeText = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

/**
 * One INSERT of rows at the given instants (one part per day partition). Each
 * row has its own sorting key, so no merge collapses two of them.
 */
export function insertRowsSql(t: Pick<ScenarioTable, 'table' | 'physical'>, instants: readonly number[], tag = 0): string {
  const name = t.table.slice(t.table.indexOf('.') + 1);
  const values = instants.map((ms, i) => {
    const ts = `'${dateTimeText(ms)}'`;
    if (name === 'iot_window_users') return `(${ts}, 'user-${tag}-${i}')`;
    if (name === 'dead_letters') return `(${ts}, ${tag * 100_000 + i})`;
    if (name === 'iot_window_state') return `(${ts}, 'retention.test.${tag}.${i}')`;
    return `(${ts})`;
  });
  const columns =
    name === 'iot_window_users' ? 'window_start, user_id' : name === 'dead_letters' ? 'window_start, source_offset' : name === 'iot_window_state' ? 'window_start, source_topic' : 'window_start';
  return `INSERT INTO ${t.physical} (${columns}) VALUES ${values.join(', ')}`;
}

/** The scenario's rows of one table: three per day (rollup rows are keyed by window_start alone, so each row is its own minute). */
export function scenarioInstants(t: ScenarioTable): number[] {
  return t.dayStarts.flatMap((d) => TIMES_OF_DAY.map((o) => d + o));
}

/** `SELECT` of rows per UTC day (`YYYYMMDD` -> count) of one table. */
export function countsPerDaySql(physical: string): string {
  return `SELECT toString(toYYYYMMDD(window_start)) AS day, count() AS n FROM ${physical} GROUP BY day ORDER BY day`;
}

export function countsOf(rows: readonly { day: string; n: number | string }[]): Record<string, number> {
  return Object.fromEntries(rows.map((r) => [r.day, Number(r.n)]));
}

export const dayId = (dayStartMs: number) => new Date(dayStartMs).toISOString().slice(0, 10).replace(/-/g, '');
