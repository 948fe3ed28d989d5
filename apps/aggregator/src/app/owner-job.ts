/**
 * A periodic job that one pipeline of the whole consumer group runs: the one
 * holding partition 0 of the raw topic (a partition has exactly one owner in
 * a group, so no election of its own; during a rebalance two may briefly both
 * run it, so a job must be harmless to run twice). The first check comes soon
 * after start, then one every interval; a check never throws and never
 * overlaps the previous one; the timer never keeps a stopping process alive.
 */
export abstract class OwnerJob<Outcome> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<Outcome> | undefined;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly firstDelayMs: number,
  ) {
    if (!(intervalMs > 0)) throw new RangeError(`job interval must be > 0 ms (got ${intervalMs})`);
  }

  start(): void {
    if (this.stopped || this.timer) return;
    this.schedule(this.firstDelayMs);
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One check now (or the one in progress). Never throws. */
  runOnce(): Promise<Outcome> {
    this.running ??= this.check().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** One check: the job's work when this pipeline owns it. Must not throw. */
  protected abstract check(): Promise<Outcome>;

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runOnce().then(() => {
        if (!this.stopped) this.schedule(this.intervalMs);
      });
    }, delayMs);
    this.timer.unref();
  }
}
