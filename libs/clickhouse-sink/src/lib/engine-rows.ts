/**
 * The windowing engine's rows as the store keeps them, and back: the one
 * mapping between WindowRow / StoredWindow (libs/windowing) and the sink's
 * WindowPartitionRow / StoredWindowRow, fleet row and device rows together.
 */
import type { StoredWindow, WindowRow } from '@stream-analytics/windowing';
import type { StoredWindowRow } from './readers';
import type { WindowPartitionRow } from './rows';

/** The row to write for an engine row of `topic`, stamped updatedAtMs. */
export function windowPartitionRowOf(r: WindowRow, topic: string, updatedAtMs: number): WindowPartitionRow {
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
    aggregate: r.aggregate,
    devices: r.devices.map((d) => ({ deviceId: d.deviceId, aggregate: d.aggregate, lastOffset: d.version, rowVersion: d.rowVersion })),
  };
}

/** The engine's view of a stored row (installWindows). */
export function storedWindowOf(r: StoredWindowRow): StoredWindow {
  return {
    windowStart: r.windowStartMs,
    aggregate: r.aggregate,
    lastOffset: r.lastOffset,
    final: r.isFinal,
    devices: r.devices.map((d) => ({ deviceId: d.deviceId, aggregate: d.aggregate, lastOffset: d.lastOffset })),
  };
}
