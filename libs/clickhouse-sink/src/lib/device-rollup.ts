/**
 * The device rollup (012): per (hour, device), the device's minutes of that
 * hour summed into iot_device_hour, so that the fleet-wide device views (top
 * devices over a range, device health) read one row per device and hour
 * instead of one per device and minute: at 100,000 devices a day is 144
 * million device minutes but 2.4 million device hours.
 *
 * Which hours to recompute: every flush that writes device rows refreshes the
 * fleet results of their windows afterwards, stamping them computed_at_ms, so
 * the hours holding a fleet result computed at or after a point in time are
 * exactly the hours whose device minutes may have changed since then (a
 * late event, a replayed dead letter, a catch-up of old data included). A run
 * recomputes those hours from the device state rows and stamps its rows with
 * its own start time: the newest row per (hour, device) is the complete one.
 * Recomputing an hour again is harmless, so the caller overlaps its runs.
 */
import type { ClickHouseSinkClient, RequestOptions } from './client';
import { epochMsArgument, RowValidationError } from './errors';
import { VIEW_READ_SETTINGS } from './readers';
import { TABLES } from './schema';

/** The columns of iot_device_hour a rollup writes, in order. */
export const DEVICE_HOUR_COLUMNS = [
  'window_start',
  'device_id',
  'total_events',
  'anomaly_events',
  'status_ok',
  'status_warning',
  'status_error',
  'status_offline',
  'late_events',
  'first_seen_ms',
  'last_seen_ms',
  'minute_events',
  'computed_at_ms',
] as const;

/**
 * A result stamped at t may become visible a little after t (its INSERT is
 * still running, or another instance's clock is behind): each run looks back
 * this far before the newest stamp the previous run saw.
 */
export const ROLLUP_OVERLAP_MS = 60_000;

/** The most hours one run recomputes (the oldest changes first); the rest wait for the next run. */
export const MAX_HOURS_PER_RUN = 24;

const HOUR_S = 3600;

/** The hours (start, in seconds) whose fleet results were computed at or after sinceMs, with the newest stamp of each, oldest change first. */
export function changedHoursQuery(sinceMs: number): string {
  return `SELECT toUInt32(toStartOfHour(window_start)) AS hour_s, max(computed_at_ms) AS newest_ms
FROM ${TABLES.minuteRollup}
WHERE computed_at_ms >= ${epochMsArgument('sinceMs', sinceMs)}
GROUP BY hour_s
ORDER BY newest_ms, hour_s`;
}

/**
 * The INSERT ... SELECT of one hour's rollup rows, stamped computedAtMs: per
 * device, the newest state row of each (window, topic, partition) of that
 * hour, summed. It reads the state table, whose key starts with window_start,
 * so an hour is one index range (iot_device_minute, ordered by device for the
 * per-device panels, would be scanned whole: 60-80 s an hour at 100,000
 * devices). The newest row per (window, device, topic, partition) is the
 * table's own key and version, read with FINAL: the same rule as
 * iot_device_minute's argMax (011), but a merge of sorted parts instead of a
 * hash table of every key. The device scenario checks every rolled-up hour
 * against the oracle.
 *
 * Events per minute: each minute's events summed by a sumMap over the device's
 * (minute, events) pairs gathered into two arrays, the pairs padded with
 * (m, 1) for every minute so that all 60 keys come out in order (sumMap drops
 * keys whose sum is 0), then 1 taken off. At 100,000 devices this hour took
 * 95-160 s with argMax and a sumMap per row, 6 s so.
 */
export function deviceHourRollupSelect(hourStartS: number, computedAtMs: number): string {
  if (!Number.isSafeInteger(hourStartS) || hourStartS % HOUR_S !== 0) throw new RowValidationError(`hourStartS must be a whole hour in epoch seconds, got ${hourStartS}`);
  epochMsArgument('computedAtMs', computedAtMs);
  // Aggregates named apart from the columns they read (18.16: "Cyclic aliases"); the INSERT maps by position.
  return `SELECT toDateTime(${hourStartS}, 'UTC'), device_id, h_events, h_anomalies, h_ok, h_warning, h_error, h_offline, h_late, h_first_seen, h_last_seen, h_minutes, toUInt64(${computedAtMs})
FROM
(
    SELECT
        device_id,
        sum(total_events) AS h_events,
        sum(anomaly_events) AS h_anomalies,
        sum(status_ok) AS h_ok,
        sum(status_warning) AS h_warning,
        sum(status_error) AS h_error,
        sum(status_offline) AS h_offline,
        sum(late_events) AS h_late,
        min(first_seen_ms) AS h_first_seen,
        max(last_seen_ms) AS h_last_seen,
        arrayMap(x -> x - 1, tupleElement(arrayReduce('sumMap',
            [arrayConcat(groupArray(toUInt8(intDiv(toUInt32(window_start) - ${hourStartS}, 60))), range(60))],
            [arrayConcat(groupArray(toUInt64(total_events)), arrayResize([toUInt64(1)], 60, toUInt64(1)))]), 2)) AS h_minutes
    FROM ${TABLES.windowState} FINAL
    WHERE window_start >= toDateTime(${hourStartS}) AND window_start < toDateTime(${hourStartS + HOUR_S}) AND device_id != ''
    GROUP BY device_id
)`;
}

export interface DeviceRollupRun {
  /** Hour starts (epoch ms) recomputed, in the order they were. */
  hoursMs: number[];
  /** Where the next run starts looking (pass as sinceMs). */
  nextSinceMs: number;
  /** Hours that changed but wait for the next run (MAX_HOURS_PER_RUN). */
  deferred: number;
}

/**
 * One rollup run at nowMs: recomputes the hours whose results changed since
 * sinceMs (at most MAX_HOURS_PER_RUN, oldest change first).
 */
export async function rollupDeviceHours(client: Pick<ClickHouseSinkClient, 'queryRows' | 'insertSelect'>, sinceMs: number, nowMs: number, request: RequestOptions = {}): Promise<DeviceRollupRun> {
  const changed = await client.queryRows<{ hour_s: number | string; newest_ms: number | string }>(changedHoursQuery(sinceMs), request);
  // Hours changed by the same refresh share a stamp: they go together, or a run could never move past them.
  let take = Math.min(MAX_HOURS_PER_RUN, changed.length);
  while (take < changed.length && Number(changed[take].newest_ms) === Number(changed[take - 1].newest_ms)) take++;
  const batch = changed.slice(0, take);
  await rollupHours(client, batch.map((h) => Number(h.hour_s)), nowMs, request);
  const newest = batch.length > 0 ? Number(batch[batch.length - 1].newest_ms) : undefined;
  // Deferred hours are newer than every one done, so the next run still finds them.
  const nextSinceMs = newest === undefined ? sinceMs : Math.max(sinceMs, newest - ROLLUP_OVERLAP_MS);
  return { hoursMs: batch.map((h) => Number(h.hour_s) * 1000), nextSinceMs, deferred: changed.length - batch.length };
}

/** Sums these hours (starts in epoch seconds) of device minutes into iot_device_hour, stamped nowMs. */
export async function rollupHours(client: Pick<ClickHouseSinkClient, 'insertSelect'>, hoursS: readonly number[], nowMs: number, request: RequestOptions = {}): Promise<void> {
  for (const h of hoursS) {
    await client.insertSelect(TABLES.deviceHour, DEVICE_HOUR_COLUMNS, deviceHourRollupSelect(h, nowMs), { ...request, settings: { ...VIEW_READ_SETTINGS, ...request.settings } });
  }
}

/** Where a rollup job starts after a restart: shortly before the newest rollup written (0 when none). */
export async function rollupResumePointMs(client: Pick<ClickHouseSinkClient, 'queryRows'>, request: RequestOptions = {}): Promise<number> {
  const [r] = await client.queryRows<{ newest: number | string }>(`SELECT max(computed_at_ms) AS newest FROM ${TABLES.deviceHour}`, request);
  const newest = Number(r?.newest ?? 0);
  return newest > 0 ? Math.max(0, newest - ROLLUP_OVERLAP_MS) : 0;
}
