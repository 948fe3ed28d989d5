/**
 * What the next flush must write: the newest row of every (partition, window)
 * changed since the last successful flush, the windows to refresh, and the
 * dead letters recorded. A failed flush keeps all of it; the next one writes
 * it again together with what changed meanwhile (rows are idempotent).
 */
import { windowPartitionRowOf, type DeadLetterRow, type WindowUsersRow } from '@stream-analytics/clickhouse-sink';
import type { Changes, DeviceWindowRow, WindowRow } from '@stream-analytics/windowing';
import type { FlushBatch } from './commit-protocol';

export class PendingFlush {
  private readonly rows = new Map<string, WindowRow>();
  private refresh = new Set<number>();
  private deadLetters: DeadLetterRow[] = [];

  get rowCount(): number {
    return this.rows.size;
  }

  addDeadLetter(row: DeadLetterRow): void {
    this.deadLetters.push(row);
  }

  /**
   * Takes in a collectChanges result: a newer row replaces a pending one, but
   * the users and device rows the older one handed out must still be written.
   */
  addChanges(changes: Pick<Changes, 'rows' | 'revisitedWindows'>): void {
    for (const row of changes.rows) {
      const key = `${row.partition}:${row.windowStart}`;
      const prev = this.rows.get(key);
      const newer = !prev || prev.rowVersion <= row.rowVersion ? row : prev;
      this.rows.set(key, prev ? { ...newer, newUsers: mergeUsers(prev.newUsers, row.newUsers), devices: newestDeviceRows(prev.devices, row.devices) } : row);
      this.refresh.add(row.windowStart);
    }
    for (const w of changes.revisitedWindows) this.refresh.add(w);
  }

  /** Everything pending, as the commit protocol writes it. */
  batch(topic: string, updatedAtMs: number, commits: Changes['commits']): FlushBatch {
    const rows = [...this.rows.values()];
    return {
      users: usersByWindow(rows),
      rows: rows.map((r) => windowPartitionRowOf(r, topic, updatedAtMs)),
      deadLetters: [...this.deadLetters],
      refreshWindows: [...this.refresh].sort((a, b) => a - b),
      commits,
    };
  }

  /** `batch` is durable: forget it (dead letters recorded since it was taken stay pending). */
  written(batch: FlushBatch): void {
    this.rows.clear();
    this.refresh = new Set();
    this.deadLetters = this.deadLetters.slice(batch.deadLetters.length);
  }
}

function mergeUsers(a: readonly string[], b: readonly string[]): string[] {
  return a.length === 0 ? [...b] : b.length === 0 ? [...a] : [...new Set([...a, ...b])].sort();
}

/** Device rows of two pending versions of a (window, partition) row: per device the newest. */
function newestDeviceRows(a: readonly DeviceWindowRow[], b: readonly DeviceWindowRow[]): DeviceWindowRow[] {
  if (a.length === 0) return [...b];
  const byDevice = new Map(a.map((d) => [d.deviceId, d]));
  for (const d of b) if ((byDevice.get(d.deviceId)?.rowVersion ?? -1) <= d.rowVersion) byDevice.set(d.deviceId, d);
  return [...byDevice.values()];
}

/** The rows' new users per window, each once (a user of several partitions is written once). */
function usersByWindow(rows: readonly WindowRow[]): WindowUsersRow[] {
  const byWindow = new Map<number, Set<string>>();
  for (const r of rows) {
    if (r.newUsers.length === 0) continue;
    const set = byWindow.get(r.windowStart) ?? new Set<string>();
    for (const u of r.newUsers) set.add(u);
    byWindow.set(r.windowStart, set);
  }
  return [...byWindow].map(([windowStartMs, users]) => ({ windowStartMs, userIds: [...users] }));
}
