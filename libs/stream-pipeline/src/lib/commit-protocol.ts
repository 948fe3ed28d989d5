/**
 * The commit protocol: how one flush goes from folded state to a committed
 * offset. This order is what makes the aggregator exactly-once
 * (docs/architecture.md, "The commit protocol"); every step keeps an
 * invariant the next one relies on, and a failure at any step before the
 * commit leaves the offsets where they were, so the records are replayed and
 * the same rows (same version, same content) are written again.
 *
 *   1. settle     every dead letter (and earlier published result) is
 *                 acknowledged by the broker: a committed offset never covers
 *                 a dead letter that is not in the dead-letter topic.
 *   2. state      users, then the cumulative window rows, are durable in the
 *                 state store: a restart loads them back, and an event at or
 *                 below a loaded row's last offset is known to be in it.
 *   3. dead       the dead-letter rows are durable.
 *   4. refresh    the readers' results of every window written (and revisited)
 *                 and the dead-letter counts of their minutes are recomputed
 *                 from everything durable.
 *   5. durable    the engine learns the rows are durable: final windows may
 *                 now leave memory, since they can be loaded back.
 *   6. publish    the refreshed results go to the aggregate topic (settled by
 *                 the next flush's step 1; they are derived, never counted).
 *   7. commit     the position reached and the checkpoint, for the partitions
 *                 this pipeline still owns. It is safe because steps 1 to 4
 *                 resolved: everything the offset covers is durable.
 *
 * A failed commit is not a failed flush: the rows are durable, and the next
 * flush commits a position at or past this one.
 */
import type { DeadLetterRow, WindowPartitionRow, WindowUsersRow } from '@stream-analytics/clickhouse-sink';
import type { PartitionCommit } from '@stream-analytics/windowing';
import type { OutputSink, RecordSource, ResultPublisher, ResultSink, WindowStateStore } from './ports';

/** Everything one flush writes and commits. */
export interface FlushBatch {
  readonly users: readonly WindowUsersRow[];
  readonly rows: readonly WindowPartitionRow[];
  readonly deadLetters: readonly DeadLetterRow[];
  /** Windows whose results are recomputed (written and revisited ones). */
  readonly refreshWindows: readonly number[];
  /** Commits to make once everything above is durable; filtered by `stillOwned` at commit time. */
  readonly commits: readonly PartitionCommit[];
}

export interface CommitProtocolPorts {
  readonly output: Pick<OutputSink, 'settled'>;
  readonly state: Pick<WindowStateStore, 'writeWindows'>;
  readonly results: ResultSink;
  readonly publisher: ResultPublisher;
  readonly source: Pick<RecordSource, 'commit'>;
}

/** The steps a flush spends its time in (step 5, durable, is in-memory bookkeeping). */
export type FlushStep = 'settle' | 'state' | 'dead_letters' | 'refresh' | 'publish' | 'commit';

export interface CommitProtocolHooks {
  /** Step 5: the batch is durable (the engine may evict final windows). */
  durable(): void;
  /** Commits of partitions the pipeline no longer owns (a rebalance happened meanwhile) are left out. */
  stillOwned(commit: PartitionCommit): boolean;
  /** How long each step that resolved took, by the clock `now` (ms); both or neither. */
  timing?: { now(): number; stepDone(step: FlushStep, durationMs: number): void };
}

export type CommitOutcome =
  | { readonly kind: 'committed'; readonly partitions: number }
  /** Nothing to commit (no partition owned, or no position known). */
  | { readonly kind: 'nothing_to_commit' }
  /** The rows are durable but the broker refused the commit (typically a rebalance in progress). */
  | { readonly kind: 'commit_failed'; readonly error: Error };

/** How long step 1 waits for the broker before the flush fails (and is retried). */
export const SETTLE_TIMEOUT_MS = 15_000;

/**
 * Runs steps 1 to 7 in order, each after the previous resolved. Rejects,
 * having committed nothing, when any step before the commit fails.
 */
export async function runCommitProtocol(ports: CommitProtocolPorts, batch: FlushBatch, hooks: CommitProtocolHooks): Promise<CommitOutcome> {
  const { timing } = hooks;
  const step = async (name: FlushStep, run: () => Promise<unknown>): Promise<void> => {
    const started = timing?.now();
    await run();
    if (timing && started !== undefined) timing.stepDone(name, timing.now() - started);
  };
  await step('settle', () => ports.output.settled(SETTLE_TIMEOUT_MS));
  await step('state', () => ports.state.writeWindows(batch.users, batch.rows));
  await step('dead_letters', () => ports.results.writeDeadLetters(batch.deadLetters));
  // A dead letter has no stored state: a replay after a crash records it again, and refreshes its minute then.
  await step('refresh', () => ports.results.refreshResults(batch.refreshWindows, [...new Set(batch.deadLetters.map((d) => d.windowStartMs))]));
  hooks.durable();
  if (batch.refreshWindows.length > 0) await step('publish', () => ports.publisher.publish(batch.refreshWindows));
  const commits = batch.commits.filter((c) => hooks.stillOwned(c));
  if (commits.length === 0) return { kind: 'nothing_to_commit' };
  try {
    await step('commit', async () => ports.source.commit(commits));
    return { kind: 'committed', partitions: commits.length };
  } catch (err) {
    return { kind: 'commit_failed', error: err instanceof Error ? err : new Error(String(err)) };
  }
}
