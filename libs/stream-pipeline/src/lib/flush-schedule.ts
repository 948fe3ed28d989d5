/**
 * When the next flush is due, after one that started at startedMs and ended
 * at endedMs (processing time).
 *
 * A flush that took less than half the interval keeps a steady cadence: the
 * next is due one interval after this one started, so an event waits at most
 * the interval plus one flush. (Counted from the end of the flush, it waited
 * the interval plus two: the rest of the flush that had just collected its
 * batch, then its own.) A slower flush (a catch-up, a slow server) is followed
 * by a whole interval of consuming, as before, so that flushes never come back
 * to back and a catch-up keeps its large batches.
 */
export function nextFlushDueAt(startedMs: number, endedMs: number, intervalMs: number): number {
  const steady = startedMs + intervalMs;
  return steady - endedMs >= intervalMs / 2 ? steady : endedMs + intervalMs;
}

/**
 * The end of a catch-up: since the last flush took its rows some batch came back
 * full (records were waiting in the client) and now one came back empty
 * (none are). Its results need not wait for the rest of the interval: after a
 * restart or an outage they are visible as soon as the backlog is folded.
 * Live traffic seldom fills a batch, so it keeps the interval's cadence, and
 * ClickHouse its insert rate.
 */
export class CatchUpEnd {
  private behind = false;

  /** Every consumed batch's size; true when this batch ends a catch-up. */
  observe(records: number, batchSize: number): boolean {
    if (records >= batchSize) this.behind = true;
    return records === 0 && this.behind;
  }

  /** A flush took its rows: what was behind is in them. */
  flushTaken(): void {
    this.behind = false;
  }
}
