/**
 * The engine's rows in the state store's shape and back. The engine speaks of
 * (partition, window) aggregates; the store keys them by source topic too and
 * keeps the users apart from the counts.
 */
import type { StoredWindowRow, WindowPartitionRow, WindowUsersRow } from '@stream-analytics/clickhouse-sink';
import type { StoredWindow, WindowRow } from '@stream-analytics/windowing';

export function toStoredWindow(r: StoredWindowRow): StoredWindow {
  return {
    windowStart: r.windowStartMs,
    totalEvents: r.totalEvents,
    metricSum: r.metricSum,
    anomalyEvents: r.anomalyEvents,
    lateEvents: r.lateEvents,
    lastOffset: r.lastOffset,
    final: r.isFinal,
  };
}

export function toPartitionRow(r: WindowRow, topic: string, updatedAtMs: number): WindowPartitionRow {
  return {
    windowStartMs: r.windowStart,
    sourcePartition: r.partition,
    sourceTopic: topic,
    totalEvents: r.totalEvents,
    metricSum: r.metricSum,
    anomalyEvents: r.anomalyEvents,
    lateEvents: r.lateEvents,
    lastOffset: r.version,
    isFinal: r.final,
    rowVersion: r.rowVersion,
    updatedAtMs,
  };
}

/** The rows' new users per window, each once (a user of several partitions is written once). */
export function usersByWindow(rows: readonly WindowRow[]): WindowUsersRow[] {
  const byWindow = new Map<number, Set<string>>();
  for (const r of rows) {
    if (r.newUsers.length === 0) continue;
    const set = byWindow.get(r.windowStart) ?? new Set<string>();
    for (const u of r.newUsers) set.add(u);
    byWindow.set(r.windowStart, set);
  }
  return [...byWindow].map(([windowStartMs, users]) => ({ windowStartMs, userIds: [...users] }));
}
