/**
 * Acknowledgement bookkeeping, without I/O.
 *
 * An `Ingest` is what the gateway acknowledges as a whole: one MQTT message
 * (PUBACK) or one HTTP request (the response). It holds the number of Kafka
 * records produced for it (valid events to the raw topic, invalid ones to the
 * DLQ); each delivery report settles one, and the ingest completes exactly
 * once, when the last one is settled, telling whether every record was
 * acknowledged by the broker.
 *
 * `InFlight` bounds what the gateway holds in memory (events and bytes handed
 * to Kafka and not yet acknowledged): an HTTP request beyond the bound is
 * answered 503, and a drain waits until nothing is left.
 */

export interface IngestOutcome {
  records: number;
  failed: number;
  /** First delivery error, when any record failed. */
  error?: string;
  /** Milliseconds from receipt to the last delivery report. */
  latencyMs: number;
}

export class Ingest {
  private records = 0;
  private remaining = 0;
  private failed = 0;
  private error: string | undefined;
  private sealed = false;
  private completed = false;

  constructor(
    readonly receivedAtMs: number,
    private readonly onComplete: (outcome: IngestOutcome) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** One more record was handed to Kafka for this ingest. */
  add(): void {
    if (this.sealed) throw new Error('Ingest.add() after seal()');
    this.records++;
    this.remaining++;
  }

  /** Every record was handed over: complete once they are all settled (now, if there were none). */
  seal(): void {
    this.sealed = true;
    this.maybeComplete();
  }

  /** A record's delivery report (error message when it failed). */
  settle(error?: string): void {
    if (this.remaining <= 0) throw new Error('Ingest.settle() without a pending record');
    this.remaining--;
    if (error !== undefined) {
      this.failed++;
      this.error ??= error;
    }
    this.maybeComplete();
  }

  get isComplete(): boolean {
    return this.completed;
  }

  get pending(): number {
    return this.remaining;
  }

  private maybeComplete(): void {
    if (!this.sealed || this.remaining > 0 || this.completed) return;
    this.completed = true;
    this.onComplete({ records: this.records, failed: this.failed, ...(this.error !== undefined ? { error: this.error } : {}), latencyMs: this.now() - this.receivedAtMs });
  }
}

export interface InFlightLimits {
  maxEvents: number;
  maxBytes: number;
}

export class InFlight {
  events = 0;
  bytes = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly limits: InFlightLimits) {}

  /** Whether `events` more events of `bytes` bytes fit (an empty gateway always admits one ingest). */
  admits(events: number, bytes: number): boolean {
    if (this.events === 0) return true;
    return this.events + events <= this.limits.maxEvents && this.bytes + bytes <= this.limits.maxBytes;
  }

  take(bytes: number): void {
    this.events++;
    this.bytes += bytes;
  }

  release(bytes: number): void {
    this.events--;
    this.bytes -= bytes;
    if (this.events === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves true once nothing is in flight, false after `timeoutMs`. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.events === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }
}
