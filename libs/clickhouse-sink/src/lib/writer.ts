import type { ClickHouseSinkClient } from './client';
import { retryWithBackoff, type RetryOptions, type RetryRuntime } from './retry';
import { minuteDeadLetterRollupSelect, MINUTE_DEAD_LETTER_ROLLUP_COLUMNS, minuteRollupSelect, MINUTE_ROLLUP_COLUMNS, VIEW_READ_SETTINGS } from './readers';
import {
  DEVICE_COPY_SCHEMA,
  toDeadLetterRecord,
  toDeviceCopyChunks,
  toWindowStateRecords,
  toWindowStateChunks,
  toWindowUserRecords,
  WINDOW_STATE_SCHEMA,
  type DeadLetterRow,
  type WindowPartitionRow,
  type WindowUsersRow,
} from './rows';
import { TABLES } from './schema';

export interface WindowRowWriterOptions extends RetryOptions {
  /** Target of writeWindowRows. Default stream_analytics.iot_window_agg_state. */
  windowTable?: string;
  /** Where writeWindowRows copies the device rows first. Default stream_analytics.iot_device_partition_minute. */
  deviceCopyTable?: string;
  /** Target of writeDeadLetters. Default stream_analytics.dead_letters. */
  deadLetterTable?: string;
  /** Target of writeWindowUsers. Default stream_analytics.iot_window_users. */
  usersTable?: string;
  /** The most RowBinary bytes per INSERT of window-state rows. Default MAX_STATE_INSERT_BYTES (8 MiB). */
  maxStateInsertBytes?: number;
  /** Test seam for the retry loop. */
  retryRuntime?: RetryRuntime;
  /** The clock that stamps each refresh (the results' updated_at), in ms. Default Date.now. */
  now?: () => number;
}

export interface WriteCallOptions {
  /** Overrides the writer's signal for this call. */
  signal?: AbortSignal;
}

export interface WriteResult {
  rows: number;
  attempts: number;
  elapsedMs: number;
}

/**
 * Writes a flush: window users, window-partition state rows (their device
 * rows copied first), dead letters and the refresh of the windows' results,
 * synchronous INSERTs (window rows in RowBinary with bit-exact floats, users and dead
 * letters as JSONEachRow, the refresh as INSERT ... SELECT), retried with
 * exponential backoff and jitter on connection errors and transient server
 * errors. The aggregator calls them in that order, so that a window's result
 * never counts an event whose user is missing, and is refreshed after every
 * state row it depends on.
 *
 * A returned promise resolves only after the server acknowledged the whole
 * batch (the rows are in the table and visible to the views). It rejects with
 * - RowValidationError before anything is sent, for a row that cannot be stored;
 * - NonRetryableClickHouseError for a permanent server-side failure (schema mismatch, auth);
 * - RetriesExhaustedError when maxAttempts / deadlineMs ran out;
 * - WriteAbortedError when the AbortSignal fired.
 * In every rejected case the batch may or may not be stored: do not commit the
 * offsets it covers. Repeating a batch is harmless (same version, same content).
 */
export class WindowRowWriter {
  private readonly windowTable: string;
  private readonly deviceCopyTable: string;
  private readonly deadLetterTable: string;
  private readonly usersTable: string;

  constructor(
    private readonly client: ClickHouseSinkClient,
    private readonly options: WindowRowWriterOptions = {},
  ) {
    this.windowTable = options.windowTable ?? TABLES.windowState;
    this.deviceCopyTable = options.deviceCopyTable ?? TABLES.devicePartitionMinute;
    this.deadLetterTable = options.deadLetterTable ?? TABLES.deadLetters;
    this.usersTable = options.usersTable ?? TABLES.windowUsers;
  }

  async writeWindowUsers(rows: readonly WindowUsersRow[], call: WriteCallOptions = {}): Promise<WriteResult> {
    const records = toWindowUserRecords(rows);
    return this.write(this.usersTable, records.length, (table) => this.client.insertJsonEachRow(table, records), call);
  }

  /**
   * The device rows into the device copy (iot_device_partition_minute), then
   * the state rows (fleet and device) into the state table. In that order:
   * a restarted aggregator loads the state table and does not write again
   * what it finds there, and a state insert may be in the table without
   * having been acknowledged (an unknown outcome, e.g. a quorum timeout), so
   * every device row the state table can hold must be in the copy already.
   */
  async writeWindowRows(rows: readonly WindowPartitionRow[], call: WriteCallOptions = {}): Promise<WriteResult> {
    // RowBinary: every Float64 with its exact bits, the window state must round-trip bit for bit (see row-binary.ts).
    // Large batches (a catch-up flush) go as several INSERTs (MAX_STATE_INSERT_BYTES); rows are idempotent, so a
    // batch cut short by a failure is simply written again.
    // Each row goes with its device rows; every record carries its own version, so a batch cut
    // between them leaves nothing a replay does not write again.
    const records = rows.flatMap(toWindowStateRecords);
    const started = Date.now();
    let attempts = 0;
    for (const chunk of toDeviceCopyChunks(records, this.options.maxStateInsertBytes)) {
      const r = await this.write(this.deviceCopyTable, chunk.rows, (table) => this.client.insertRowBinary(table, DEVICE_COPY_SCHEMA, chunk.body), call);
      attempts = Math.max(attempts, r.attempts);
    }
    for (const chunk of toWindowStateChunks(records, this.options.maxStateInsertBytes)) {
      const r = await this.write(this.windowTable, chunk.rows, (table) => this.client.insertRowBinary(table, WINDOW_STATE_SCHEMA, chunk.body), call);
      attempts = Math.max(attempts, r.attempts);
    }
    return { rows: rows.length, attempts, elapsedMs: Date.now() - started };
  }

  /**
   * The state store's write: the users first, then the rows that count their
   * events, so that a window's result never counts an event whose user is
   * missing. Resolves once both are acknowledged.
   */
  async writeWindowState(users: readonly WindowUsersRow[], rows: readonly WindowPartitionRow[], call: WriteCallOptions = {}): Promise<WriteResult> {
    const u = await this.writeWindowUsers(users, call);
    const r = await this.writeWindowRows(rows, call);
    return { rows: u.rows + r.rows, attempts: Math.max(u.attempts, r.attempts), elapsedMs: u.elapsedMs + r.elapsedMs };
  }

  /**
   * The readers' fleet results of these windows and the dead-letter counts of
   * these minutes, recomputed. (Device results need no refresh: readers sum
   * the device rows, which the state write copies first (013).)
   */
  async refreshResults(windowStartsMs: readonly number[], deadLetterWindowStartsMs: readonly number[], call: WriteCallOptions = {}): Promise<void> {
    await this.refreshMinuteRollup(windowStartsMs, call);
    await this.refreshDeadLetterRollup(deadLetterWindowStartsMs, call);
  }

  async writeDeadLetters(rows: readonly DeadLetterRow[], call: WriteCallOptions = {}): Promise<WriteResult> {
    const records = rows.map(toDeadLetterRecord);
    return this.write(this.deadLetterTable, records.length, (table) => this.client.insertJsonEachRow(table, records), call);
  }

  /**
   * Recomputes the results of these windows from their state and users rows
   * (iot_minute_merged) into iot_minute_rollup, which iot_minute_agg reads.
   * Call it after the rows it must reflect are acknowledged; a refresh that
   * ran before another writer's rows were in is superseded by that writer's
   * own refresh (higher state_version), so the newest result is complete.
   */
  async refreshMinuteRollup(windowStartsMs: readonly number[], call: WriteCallOptions = {}): Promise<WriteResult> {
    return this.refresh(TABLES.minuteRollup, MINUTE_ROLLUP_COLUMNS, minuteRollupSelect, windowStartsMs, call);
  }


  /**
   * Recomputes the dead-letter counts of these minutes (the windowStartMs of
   * dead letters written) into iot_minute_dead_letter_rollup, which
   * iot_minute_dead_letters reads. Same rules as refreshMinuteRollup.
   */
  async refreshDeadLetterRollup(windowStartsMs: readonly number[], call: WriteCallOptions = {}): Promise<WriteResult> {
    return this.refresh(TABLES.minuteDeadLetterRollup, MINUTE_DEAD_LETTER_ROLLUP_COLUMNS, minuteDeadLetterRollupSelect, windowStartsMs, call);
  }

  private async refresh(
    table: string,
    columns: readonly string[],
    select: (windowStartsMs: readonly number[], computedAtMs: number) => string,
    windowStartsMs: readonly number[],
    call: WriteCallOptions,
  ): Promise<WriteResult> {
    const windows = [...new Set(windowStartsMs)];
    if (windows.length === 0) return { rows: 0, attempts: 0, elapsedMs: 0 };
    const computedAtMs = (this.options.now ?? Date.now)();
    return this.write(table, windows.length, (t) => this.client.insertSelect(t, columns, select(windows, computedAtMs), { settings: VIEW_READ_SETTINGS }), call);
  }

  private async write(table: string, count: number, insert: (table: string) => Promise<void>, call: WriteCallOptions): Promise<WriteResult> {
    const started = Date.now();
    if (count === 0) return { rows: 0, attempts: 0, elapsedMs: 0 };
    let attempts = 0;
    await retryWithBackoff(
      `insert ${count} row(s) into ${table}`,
      async (attempt) => {
        attempts = attempt;
        await insert(table);
      },
      { ...this.options, signal: call.signal ?? this.options.signal },
      this.options.retryRuntime,
    );
    return { rows: count, attempts, elapsedMs: Date.now() - started };
  }
}
