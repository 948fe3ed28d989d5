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
 * rollup, iot_device_hour) whose last arrival lies within 24 h of its
 * newest rolled-up arrival: first to last arrival of those hours, over
 * events - 1; with
 * a single event there is no interval and the floor applies. Its last arrival,
 * status and temperature come from iot_device_last_seen (exact at every
 * flush). Events in the last hour and 24 h count the minutes (by event time)
 * starting within them. Those counts and the interval are summarized per
 * device by the device rollup job after each run (writeDeviceRecent into
 * iot_device_recent, every DEVICE_ROLLUP_INTERVAL_SECS) and are as of that run
 * (counts_as_of): at 100,000 devices the summary reads 4.8 million device
 * hours, seconds of work, where health must answer in a fraction of a second.
 * Devices not heard from for longer than the aggregate retention are not
 * listed.
 */
import type { ClickHouseSinkClient, RequestOptions } from './client';
import { epochMsArgument, RowValidationError } from './errors';
import { VIEW_READ_SETTINGS } from './readers';
import { DEVICE_HOURS_NEWEST, TABLES } from './schema';

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
 * last_temperature (live: iot_device_last_seen), events_last_hour,
 * events_last_24h and typical_interval_ms (0 when unknown) as of the newest
 * run of the device rollup job (iot_device_recent, counts_as_of), and
 * silent_after_ms, quiet_ms, silent at now.
 */
export function deviceHealthQuery(options: DeviceHealthOptions): string {
  const rule = options.rule ?? DEFAULT_SILENCE_RULE;
  const problem = silenceRuleProblem(rule);
  if (problem) throw new RowValidationError(problem);
  if (!Number.isInteger(options.retentionDays) || options.retentionDays < 1) throw new RowValidationError(`retentionDays must be a whole number >= 1, got ${options.retentionDays}`);
  if (options.nowMs !== undefined) epochMsArgument('nowMs', options.nowMs);
  const nowMs = options.nowMs === undefined ? 'toInt64(toUnixTimestamp(now())) * 1000' : `toInt64(${options.nowMs})`;
  const nowS = options.nowMs === undefined ? 'toUnixTimestamp(now())' : String(Math.floor(options.nowMs / 1000));
  // The newest summary run at or before now (a reader of an earlier instant, as tests are, ignores later runs).
  const newestRun = `(SELECT max(as_of_ms) FROM ${TABLES.deviceRecent} WHERE as_of_ms <= ${nowMs})`;
  return `SELECT
    device_id,
    toDateTime(intDiv(d_seen_ms, 1000), 'UTC') AS last_seen,
    d_seen_ms AS last_seen_ms,
    d_status AS last_status,
    d_temperature AS last_temperature,
    r_events_hour AS events_last_hour,
    r_events_day AS events_last_24h,
    r_interval_ms AS typical_interval_ms,
    toDateTime(intDiv(${newestRun}, 1000), 'UTC') AS counts_as_of,
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
    -- That run lists every device with traffic in the 48 h before it; one it does not list has none. (A
    -- run whose insert was retried may be there twice, each complete: any of them.)
    SELECT device_id, any(events_last_hour) AS r_events_hour, any(events_last_24h) AS r_events_day, any(typical_interval_ms) AS r_interval_ms
    FROM ${TABLES.deviceRecent}
    WHERE as_of_ms = ${newestRun}
    GROUP BY device_id
) AS recent USING device_id
ORDER BY device_id`;
}

/** The columns of iot_device_recent a summary run writes, in order. */
export const DEVICE_RECENT_COLUMNS = ['device_id', 'events_last_hour', 'events_last_24h', 'typical_interval_ms', 'as_of_ms'] as const;

/**
 * The INSERT ... SELECT of one device-recent summary at asOfMs, from the last
 * HEALTH_HOURS_SCANNED hours of the hourly rollup: per device, its events in
 * the minutes (by event time) starting within the hour and the day before
 * asOfMs (whole seconds) and its typical interval. Whole hours come from their
 * totals; only the two hours holding a boundary read their minute arrays (all
 * 48 hours of arrays at 100,000 devices took 16 s on 18.16).
 */

export function deviceRecentSelect(asOfMs: number): string {
  epochMsArgument('asOfMs', asOfMs);
  const nowS = Math.floor(asOfMs / 1000);
  const lookback = TYPICAL_INTERVAL_LOOKBACK_MS;
  const boundaries = [nowS - 3600, nowS - 86400];
  const hourOf = (s: number) => s - (s % 3600);
  // Events of the minutes of an hour starting at or after fromS, for the hour holding fromS strictly inside it.
  const partial = (fromS: number) =>
    `sum(if(toUInt32(window_start) < ${fromS} AND toUInt32(window_start) + 3600 > ${fromS}, arraySum(arraySlice(minute_events, toInt64(intDiv(${fromS} - toUInt32(window_start) + 59, 60)) + 1)), toUInt64(0)))`;
  const whole = (fromS: number) => `sum(if(toUInt32(window_start) >= ${fromS}, total_events, toUInt64(0)))`;
  return `SELECT device_id, r_events_hour, r_events_day, r_interval_ms, toUInt64(${asOfMs})
FROM
(
    -- Per device, from its recent hours (h: first arrival, last arrival, events): its typical interval
    -- over the hours within the lookback of its newest arrival.
    SELECT
        device_id,
        r_events_hour,
        r_events_day,
        arrayFilter(h -> tupleElement(h, 2) >= r_newest_ms - ${lookback}, r_hours) AS r_recent,
        arraySum(arrayMap(h -> tupleElement(h, 3), r_recent)) AS r_recent_events,
        if(r_recent_events > 1, (r_newest_ms - arrayReduce('min', arrayMap(h -> tupleElement(h, 1), r_recent))) / (r_recent_events - 1), 0) AS r_interval_ms
    FROM
    (
        SELECT device_id, sum(u_hour) AS r_events_hour, sum(u_day) AS r_events_day, max(u_newest_ms) AS r_newest_ms, groupArrayArray(u_hours) AS r_hours
        FROM
        (
            SELECT device_id, ${whole(boundaries[0])} AS u_hour, ${whole(boundaries[1])} AS u_day, max(last_seen_ms) AS u_newest_ms,
                groupArray((first_seen_ms, last_seen_ms, total_events)) AS u_hours
            FROM ${DEVICE_HOURS_NEWEST}
            WHERE window_start >= toDateTime(${nowS - HEALTH_HOURS_SCANNED * 3600})
            GROUP BY device_id
            UNION ALL
            SELECT device_id, ${partial(boundaries[0])} AS u_hour, ${partial(boundaries[1])} AS u_day, toInt64(0) AS u_newest_ms,
                arrayFilter(h -> 0, [(toInt64(0), toInt64(0), toUInt64(0))]) AS u_hours
            FROM ${DEVICE_HOURS_NEWEST}
            WHERE window_start IN (toDateTime(${hourOf(boundaries[0])}), toDateTime(${hourOf(boundaries[1])}))
            GROUP BY device_id
        )
        GROUP BY device_id
    )
)`;
}

/**
 * Writes the device-recent summary at asOfMs (the device rollup job, after
 * each run). One block, so one part: readers take the newest run, which must
 * be whole.
 */
export async function writeDeviceRecent(client: Pick<ClickHouseSinkClient, 'insertSelect'>, asOfMs: number, request: RequestOptions = {}): Promise<void> {
  await client.insertSelect(TABLES.deviceRecent, DEVICE_RECENT_COLUMNS, deviceRecentSelect(asOfMs), {
    ...request,
    settings: { ...VIEW_READ_SETTINGS, ...ONE_BLOCK_INSERT, ...request.settings },
  });
}

/** INSERT ... SELECT squashed into one block however many rows (a row count it never reaches, no byte threshold). */
const ONE_BLOCK_INSERT = { min_insert_block_size_rows: String(2 ** 40), min_insert_block_size_bytes: '0' };

export interface DeviceHealthRow {
  deviceId: string;
  lastSeenMs: number;
  lastStatus: string;
  lastTemperature: number;
  eventsLastHour: number;
  eventsLast24h: number;
  /** The device rollup run the event counts and the interval are as of (epoch ms, whole seconds; 0 before the first). */
  countsAsOfMs: number;
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
    countsAsOfMs: Date.parse(`${String(r['counts_as_of']).replace(' ', 'T')}Z`),
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
