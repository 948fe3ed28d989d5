/**
 * SQL of the window results that carry the whole accumulator (010): the
 * refresh SELECT of the fleet minute results, and the quantile columns readers
 * compute from a device minute's bins (selectWithQuantiles), with the quantiles
 * read from the merged DDSketch bins. The sketch's mapping (gamma, key bias,
 * rank) is defined once in libs/windowing (sketch.ts); the SQL here is
 * generated from it, so the stored quantiles are what sketchQuantile gives
 * for the same bins (up to the last bits of pow()).
 */
import { RESULT_QUANTILES, SKETCH_GAMMA, SKETCH_KEY_BIAS } from '@stream-analytics/windowing';
import { epochMsArgument, RowValidationError } from './errors';
import { TABLES } from './schema';

/** Column names of the quantiles, by RESULT_QUANTILES key. */
export const QUANTILE_COLUMNS = Object.freeze({ p50Metric: 'p50_metric', p95Metric: 'p95_metric', p99Metric: 'p99_metric', p95Temperature: 'p95_temperature' } as const);

type QuantileName = keyof typeof RESULT_QUANTILES;

/** The bins and exact extremes of the value a quantile is read from (columns of the *_merged views and results). */
const SOURCES = {
  metric: { keys: 'metric_sketch_keys', counts: 'metric_sketch_counts', min: 'min_metric', max: 'max_metric' },
  temperature: { keys: 'temperature_sketch_keys', counts: 'temperature_sketch_counts', min: 'min_temperature', max: 'max_temperature' },
} as const;

/**
 * The key of the bin holding the q-quantile of the sketch (keys, counts
 * ascending by key): the first bin whose running count exceeds the rank
 * floor(q * (n - 1)), as quantileRank/sketchQuantile define it; 0 for an
 * empty sketch.
 */
export function sketchQuantileKeySql(keys: string, counts: string, q: number): string {
  if (!(q >= 0 && q <= 1)) throw new RowValidationError(`quantile must be in [0, 1], got ${q}`);
  return `arrayFirst((sketch_key, running_count) -> running_count > floor(${q} * (toInt64(arraySum(${counts})) - 1)), ${keys}, arrayCumSum(${counts}))`;
}

/** The value a bin key stands for (sketchValueOf), clamped to the exact extremes. */
export function sketchKeyValueSql(key: string, min: string, max: string): string {
  const magnitude = `(2 * pow(${SKETCH_GAMMA}, toFloat64(abs(${key})) - ${SKETCH_KEY_BIAS}) / ${SKETCH_GAMMA + 1})`;
  return `least(greatest(if(${key} = 0, 0, if(${key} < 0, -1, 1) * ${magnitude}), ${min}), ${max})`;
}

/** A q-quantile read from sketch bins in SQL (for dashboards merging minutes: pass sumMap'ed bins). */
export function sketchQuantileSql(keys: string, counts: string, q: number, min: string, max: string): string {
  return sketchKeyValueSql(sketchQuantileKeySql(keys, counts, q), min, max);
}

/** Counts, sums and extremes of a fleet result. */
const ACCUMULATOR_RESULT_COLUMNS = [
  'total_events',
  'metric_sum',
  'min_metric',
  'max_metric',
  'temperature_sum',
  'min_temperature',
  'max_temperature',
  'status_ok',
  'status_warning',
  'status_error',
  'status_offline',
] as const;

/** The merged sketch bins and the quantiles read from them. */
const SKETCH_RESULT_COLUMNS = [
  'metric_sketch_keys',
  'metric_sketch_counts',
  'temperature_sketch_keys',
  'temperature_sketch_counts',
  ...Object.values(QUANTILE_COLUMNS),
] as const;

/** The columns of stream_analytics.iot_minute_results that a refresh writes, in order. */
export const MINUTE_RESULT_COLUMNS = [
  'window_start',
  ...ACCUMULATOR_RESULT_COLUMNS,
  'unique_users',
  'anomaly_events',
  'late_events',
  ...SKETCH_RESULT_COLUMNS,
  'source_partitions',
  'is_final',
  'updated_at',
  'updated_at_ms',
  'state_version',
  'computed_at_ms',
] as const;


const QUANTILE_COLUMN_SET = new Set<string>(Object.values(QUANTILE_COLUMNS));

const QUANTILE_NAMES = Object.keys(RESULT_QUANTILES) as QuantileName[];

/** `<bin key> AS <quantile column>_key` of every quantile, over the columns of SOURCES. */
function quantileKeyColumnsSql(): string {
  return QUANTILE_NAMES.map((n) => {
    const src = SOURCES[RESULT_QUANTILES[n].of];
    return `${sketchQuantileKeySql(src.keys, src.counts, RESULT_QUANTILES[n].q)} AS ${QUANTILE_COLUMNS[n]}_key`;
  }).join(', ');
}

/** The value of a quantile column from its `_key` column and the exact extremes. */
function quantileValueSql(column: string): string {
  const n = QUANTILE_NAMES.find((x) => QUANTILE_COLUMNS[x] === column) as QuantileName;
  const src = SOURCES[RESULT_QUANTILES[n].of];
  return `${sketchKeyValueSql(`${column}_key`, src.min, src.max)} AS ${column}`;
}

/**
 * Rows of `source` (a table or view with the bins and extremes of SOURCES)
 * that `where` selects, with the quantile columns computed from their bins:
 * `columns` may name p50_metric, p95_metric, p99_metric and p95_temperature
 * beside the source's own columns (and expressions of them).
 */
export function selectWithQuantiles(columns: readonly string[], source: string, where: string): string {
  const outer = columns.map((c) => (QUANTILE_COLUMN_SET.has(c) ? quantileValueSql(c) : c));
  return `SELECT ${outer.join(', ')}
FROM
(
    SELECT *, ${quantileKeyColumnsSql()}
    FROM ${source}
    WHERE ${where}
)`;
}

/**
 * A refresh's SELECT: the view's rows of the given windows, the quantile
 * columns computed from their merged bins, the rest as the view gives them,
 * stamped with computedAtMs. Run as INSERT ... SELECT with VIEW_READ_SETTINGS.
 */
function resultsRefreshSelect(view: string, columns: readonly string[], windowStartsList: string, computedAtMs: number): string {
  epochMsArgument('computedAtMs', computedAtMs);
  return selectWithQuantiles([...columns.slice(0, -1), `toUInt64(${computedAtMs}) AS computed_at_ms`], view, `window_start IN (${windowStartsList})`);
}

/** The SELECT of a fleet results refresh: the windows' results as iot_minute_results_merged defines them now. */
export function minuteResultsSelect(windowStartsList: string, computedAtMs: number): string {
  return resultsRefreshSelect(TABLES.minuteMerged, MINUTE_RESULT_COLUMNS, windowStartsList, computedAtMs);
}

