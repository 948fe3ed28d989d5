/**
 * Rate control with absolute-time targets: event i is due at start + i/rate,
 * so the long-run average is exact however late individual ticks run (a late
 * tick sends the backlog, an early one sends nothing). The send loop asks
 * every few milliseconds how many events are due, which keeps the stream
 * smooth (no once-a-second bursts).
 */
export class Pacer {
  constructor(
    /** Events per second; 0 = unthrottled. */
    readonly rate: number,
    /** Monotonic clock reading (ms) at which event 0 is due. */
    readonly startMs: number,
  ) {}

  /** How many events should have been sent by `nowMs` (event 0 is due at start). */
  dueBy(nowMs: number): number {
    if (this.rate === 0) return Number.POSITIVE_INFINITY;
    if (nowMs < this.startMs) return 0;
    return Math.floor(((nowMs - this.startMs) * this.rate) / 1000) + 1;
  }

  /** Monotonic time (ms) at which event `index` is due. */
  dueAt(index: number): number {
    return this.rate === 0 ? this.startMs : this.startMs + (index * 1000) / this.rate;
  }
}
