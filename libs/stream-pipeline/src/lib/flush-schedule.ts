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
