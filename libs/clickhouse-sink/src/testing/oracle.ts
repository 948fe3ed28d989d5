import type { DeadLetterCountRow, MinuteAggRow } from '../lib/readers';
import { deadLetterClassOf } from '@stream-analytics/event-schema';
import { toDeadLetterRecord, toWindowPartitionRecord, toWindowUserRecords, type DeadLetterRow, type WindowPartitionRow, type WindowUsersRow } from '../lib/rows';

/**
 * What stream_analytics.iot_minute_agg returns for a set of inserted state
 * and users rows (in any order, with duplicates) once their windows are
 * refreshed: per (window, topic, partition) the row with the greatest
 * rowVersion (rows of equal rowVersion have equal counts), summed per window,
 * with the window's distinct users. A brute-force oracle for tests.
 */
export function expectedMinuteAgg(rows: readonly WindowPartitionRow[], userRows: readonly WindowUsersRow[]): MinuteAggRow[] {
  const usersOf = new Map<number, Set<string>>();
  for (const u of toWindowUserRecords(userRows)) {
    const set = usersOf.get(u.window_start * 1000) ?? new Set<string>();
    set.add(u.user_id);
    usersOf.set(u.window_start * 1000, set);
  }
  const latest = new Map<string, WindowPartitionRow>();
  for (const row of rows) {
    toWindowPartitionRecord(row); // same validation as the writer
    const key = `${row.windowStartMs}/${row.sourceTopic}/${row.sourcePartition}`;
    const cur = latest.get(key);
    if (!cur || row.rowVersion > cur.rowVersion) latest.set(key, row);
  }
  const byWindow = new Map<number, WindowPartitionRow[]>();
  for (const r of latest.values()) {
    const list = byWindow.get(r.windowStartMs) ?? [];
    list.push(r);
    byWindow.set(r.windowStartMs, list);
  }
  return [...byWindow.entries()]
    .sort(([a], [b]) => a - b)
    .map(([windowStartMs, parts]) => {
      let totalEvents = 0;
      let metricSum = 0;
      let anomalyEvents = 0;
      let lateEvents = 0;
      let updatedAtMs = 0;
      let isFinal = true;
      for (const p of parts) {
        totalEvents += p.totalEvents;
        metricSum += p.metricSum;
        anomalyEvents += p.anomalyEvents;
        lateEvents += p.lateEvents;
        updatedAtMs = Math.max(updatedAtMs, p.updatedAtMs);
        isFinal = isFinal && p.isFinal;
      }
      return {
        windowStartMs,
        totalEvents,
        avgMetric: totalEvents === 0 ? 0 : metricSum / totalEvents,
        uniqueUsers: usersOf.get(windowStartMs)?.size ?? 0,
        anomalyEvents,
        updatedAtMs,
        metricSum,
        sourcePartitions: parts.length,
        isFinal,
        lateEvents,
      };
    });
}

/**
 * What stream_analytics.iot_minute_dead_letters returns once the minutes of
 * the rows are refreshed: the rule of iot_minute_dead_letters_merged (008).
 * Per minute, each source message (topic, partition, offset) once, by its
 * newest record (greatest recorded_at, which is stored in whole seconds).
 *
 * The view takes argMax(reason, recorded_at), so records of one message in
 * the same second with different reasons have no defined winner there (and a
 * merge of dead_letters keeps whichever was inserted last): the oracle
 * refuses such input instead of inventing a tie rule the view does not have.
 */
export function expectedDeadLetterCounts(rows: readonly DeadLetterRow[]): DeadLetterCountRow[] {
  const latest = new Map<string, ReturnType<typeof toDeadLetterRecord>>();
  for (const row of rows) {
    const rec = toDeadLetterRecord(row);
    const key = JSON.stringify([rec.window_start, rec.source_topic, rec.source_partition, rec.source_offset]);
    const cur = latest.get(key);
    if (cur && rec.recorded_at === cur.recorded_at && rec.reason !== cur.reason) {
      throw new Error(`dead letter ${key} has two records at ${rec.recorded_at} s with different reasons (${cur.reason}, ${rec.reason}): the view counts either`);
    }
    if (!cur || rec.recorded_at > cur.recorded_at) latest.set(key, rec);
  }
  const byWindow = new Map<number, DeadLetterCountRow>();
  for (const rec of latest.values()) {
    const ms = rec.window_start * 1000;
    const c = byWindow.get(ms) ?? { windowStartMs: ms, invalidEvents: 0, lateEvents: 0, futureEvents: 0 };
    const cls = deadLetterClassOf(rec.reason);
    if (cls === 'late') c.lateEvents++;
    else if (cls === 'future') c.futureEvents++;
    else c.invalidEvents++;
    byWindow.set(ms, c);
  }
  return [...byWindow.values()].sort((a, b) => a.windowStartMs - b.windowStartMs);
}
