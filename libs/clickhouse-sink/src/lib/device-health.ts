/**
 * Device health: when each device was last heard from (by arrival, the Kafka
 * record timestamp, so a device whose clock is wrong but which still sends is
 * alive), its last status and temperature, its events in the last hour and
 * day, the interval it usually sends at (learned from its own traffic), and
 * whether it has gone silent.
 *
 * The silence rule, defined here once (silentAfterMs; the SQL below encodes
 * the same expression): a device is silent when nothing arrived from it for
 * longer than SILENT_FACTOR x its typical interval, and at least
 * SILENT_MIN_SECS. A device that sends every 10 s is silent after 2 minutes
 * (the floor), one that reports every 15 minutes after 45. Its typical
 * interval is the mean gap between arrivals over its hours (of the device
 * rollup, iot_device_hourly) whose last arrival lies within 24 h of its
 * newest rolled-up arrival: first to last arrival of those hours, over
 * events - 1; with
 * a single event there is no interval and the floor applies. Its last arrival,
 * status and temperature come from iot_device_last_seen (exact at every
 * flush); the hourly figures are as fresh as the last rollup run (every
 * DEVICE_ROLLUP_INTERVAL_SECS). Events in the last hour and 24 h count the
 * minutes (by event time) starting within them. Devices not heard from for
 * longer than the aggregate retention are not listed.
 */
import type { ClickHouseSinkClient, RequestOptions } from './client';
import { RowValidationError } from './errors';
import { VIEW_READ_SETTINGS } from './readers';
import { TABLES } from './schema';

export interface SilenceRule {
  /** SILENT_FACTOR: silent after this many typical intervals without an arrival (default 3). */
  readonly silentFactor: number;
  /** SILENT_MIN_SECS: never silent sooner than this (default 120). */
  readonly silentMinSecs: number;
}

export const DEFAULT_SILENCE_RULE: SilenceRule = Object.freeze({ silentFactor: 3, silentMinSecs: 120 });

/** The arrival history the interval is learned from, before the device's last arrival (whole hours of it, see the file comment). */
export const TYPICAL_INTERVAL_LOOKBACK_MS = 86_400_000;

/**
 * How many hours back from now device health reads the hourly rollup: the
 * lookback plus a day, so that a device quiet for up to a day keeps the
 * rhythm of its last 24 h; one quiet for longer is silent under any rhythm
 * faster than every 16 h (3 x 16 h = 48 h), and shows no usual interval.
 */
export const HEALTH_HOURS_SCANNED = 48;

/** How long without an arrival makes a device with this typical interval (undefined: unknown) silent. */
export function silentAfterMs(typicalIntervalMs: number | undefined, rule: SilenceRule = DEFAULT_SILENCE_RULE): number {
  const floor = rule.silentMinSecs * 1000;
  return typicalIntervalMs === undefined ? floor : Math.max(rule.silentFactor * typicalIntervalMs, floor);
}

/** Silent: nothing arrived for longer than silentAfterMs. */
export function isSilent(quietMs: number, typicalIntervalMs: number | undefined, rule: SilenceRule = DEFAULT_SILENCE_RULE): boolean {
  return quietMs > silentAfterMs(typicalIntervalMs, rule);
}

export function silenceRuleProblem(rule: SilenceRule): string | undefined {
  if (!Number.isFinite(rule.silentFactor) || rule.silentFactor < 1) return `SILENT_FACTOR must be a number >= 1 (got ${rule.silentFactor})`;
  if (!Number.isFinite(rule.silentMinSecs) || rule.silentMinSecs < 0) return `SILENT_MIN_SECS must be a number >= 0 (got ${rule.silentMinSecs})`;
  return undefined;
}

export interface DeviceHealthOptions {
  rule?: SilenceRule;
  /** AGGREGATE_RETENTION_DAYS: devices not heard from for longer drop out. */
  retentionDays: number;
  /** "Now" as epoch ms; undefined: the server's now() (the view). Tests pass a fixed time. */
  nowMs?: number;
}

/**
 * The SELECT of device health, one row per device heard from within the
 * retention: device_id, last_seen (DateTime) and last_seen_ms, last_status,
 * last_temperature, events_last_hour, events_last_24h (by event-time minute),
 * typical_interval_ms (0 when unknown), silent_after_ms, quiet_ms, silent.
 */
export function deviceHealthQuery(options: DeviceHealthOptions): string {
  const rule = options.rule ?? DEFAULT_SILENCE_RULE;
  const problem = silenceRuleProblem(rule);
  if (problem) throw new RowValidationError(problem);
  if (!Number.isInteger(options.retentionDays) || options.retentionDays < 1) throw new RowValidationError(`retentionDays must be a whole number >= 1, got ${options.retentionDays}`);
  if (options.nowMs !== undefined && (!Number.isSafeInteger(options.nowMs) || options.nowMs < 0)) throw new RowValidationError(`nowMs must be an epoch millisecond value, got ${options.nowMs}`);
  const nowMs = options.nowMs === undefined ? 'toInt64(toUnixTimestamp(now())) * 1000' : `toInt64(${options.nowMs})`;
  const nowS = options.nowMs === undefined ? 'toUnixTimestamp(now())' : String(Math.floor(options.nowMs / 1000));
  const lookback = TYPICAL_INTERVAL_LOOKBACK_MS;
  // Events of an hour's minutes starting at or after `fromS`: the whole hour from its total, the hour
  // holding fromS from its minutes.
  const eventsSince = (fromS: string) =>
    `sum(if(toUInt32(window_start) >= ${fromS}, total_events, if(toUInt32(window_start) + 3600 > ${fromS}, arraySum(arraySlice(minute_events, toInt64(intDiv(${fromS} - toUInt32(window_start) + 59, 60)) + 1)), toUInt64(0))))`;
  return `SELECT
    device_id,
    toDateTime(intDiv(d_seen_ms, 1000), 'UTC') AS last_seen,
    d_seen_ms AS last_seen_ms,
    d_status AS last_status,
    d_temperature AS last_temperature,
    r_events_hour AS events_last_hour,
    r_events_day AS events_last_24h,
    r_interval_ms AS typical_interval_ms,
    if(r_interval_ms > 0, greatest(${rule.silentFactor} * r_interval_ms, ${rule.silentMinSecs * 1000}), ${rule.silentMinSecs * 1000}) AS silent_after_ms,
    ${nowMs} - d_seen_ms AS quiet_ms,
    toUInt8(quiet_ms > silent_after_ms) AS silent
FROM
(
    SELECT device_id, maxMerge(last_seen_state) AS d_seen_ms, argMaxMerge(last_status_state) AS d_status, argMaxMerge(last_temperature_state) AS d_temperature
    FROM ${TABLES.deviceLastSeen}
    GROUP BY device_id
    HAVING d_seen_ms >= (${nowS} - ${options.retentionDays * 86400}) * 1000
) AS last_seen
ANY LEFT JOIN
(
    -- Only scalars cross the join (arrays in a joined block made 18.16 take seconds per 100,000 devices).
    SELECT device_id, r_events_hour, r_events_day, r_interval_ms
    FROM
    (
        -- Per device, from its recent hours (h: first arrival, last arrival, events): the events of the
        -- last hour and day, and its typical interval over the hours within the lookback of its newest.
        SELECT
            device_id,
            r_events_hour,
            r_events_day,
            arrayFilter(h -> tupleElement(h, 2) >= r_newest_ms - ${lookback}, r_hours) AS r_recent,
            arraySum(arrayMap(h -> tupleElement(h, 3), r_recent)) AS r_recent_events,
            if(r_recent_events > 1, (r_newest_ms - arrayReduce('min', arrayMap(h -> tupleElement(h, 1), r_recent))) / (r_recent_events - 1), 0) AS r_interval_ms
        FROM
        (
            SELECT
                device_id,
                ${eventsSince(`${nowS} - 3600`)} AS r_events_hour,
                ${eventsSince(`${nowS} - 86400`)} AS r_events_day,
                max(last_seen_ms) AS r_newest_ms,
                groupArray((first_seen_ms, last_seen_ms, total_events)) AS r_hours
            FROM ${TABLES.deviceHourly}
            WHERE window_start >= toDateTime(${nowS} - ${HEALTH_HOURS_SCANNED * 3600})
            GROUP BY device_id
        )
    )
) AS recent_hours USING device_id
ORDER BY device_id`;
}

export interface DeviceHealthRow {
  deviceId: string;
  lastSeenMs: number;
  lastStatus: string;
  lastTemperature: number;
  eventsLastHour: number;
  eventsLast24h: number;
  /** undefined when the device sent a single event in its last 24 h. */
  typicalIntervalMs: number | undefined;
  silentAfterMs: number;
  quietMs: number;
  silent: boolean;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

export async function readDeviceHealth(client: ClickHouseSinkClient, options: DeviceHealthOptions, request: RequestOptions = {}): Promise<DeviceHealthRow[]> {
  const rows = await client.queryRows<Record<string, unknown>>(deviceHealthQuery(options), { ...request, settings: { ...VIEW_READ_SETTINGS, ...request.settings } });
  return rows.map((r) => ({
    deviceId: String(r['device_id']),
    lastSeenMs: num(r['last_seen_ms']),
    lastStatus: String(r['last_status']),
    lastTemperature: num(r['last_temperature']),
    eventsLastHour: num(r['events_last_hour']),
    eventsLast24h: num(r['events_last_24h']),
    typicalIntervalMs: num(r['typical_interval_ms']) > 0 ? num(r['typical_interval_ms']) : undefined,
    silentAfterMs: num(r['silent_after_ms']),
    quietMs: num(r['quiet_ms']),
    silent: num(r['silent']) === 1,
  }));
}

/**
 * (Re)creates stream_analytics.iot_device_health, the view dashboards read:
 * deviceHealthQuery at the server's now(), with this deployment's knobs.
 * The aggregator calls it at start (after the migrations), so the view always
 * carries the configured SILENT_FACTOR, SILENT_MIN_SECS and retention.
 */
export async function ensureDeviceHealthView(client: Pick<ClickHouseSinkClient, 'command'>, options: Omit<DeviceHealthOptions, 'nowMs'>): Promise<void> {
  const select = deviceHealthQuery(options);
  // 18.16 has no CREATE OR REPLACE VIEW and no DROP VIEW: DROP TABLE drops a view.
  await client.command(`DROP TABLE IF EXISTS ${TABLES.deviceHealth}`);
  await client.command(`CREATE VIEW IF NOT EXISTS ${TABLES.deviceHealth} AS ${select}`);
}
