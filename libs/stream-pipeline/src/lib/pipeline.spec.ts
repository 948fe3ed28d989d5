/**
 * The consume -> fold -> flush -> commit protocol against fakes of the
 * consumer, the producer and the store: deterministic (a fake clock), and the
 * results compared with what the events must give.
 */
import fc from 'fast-check';
import type { DeadLetterRow, DeviceStateRow, StoredWindowRow, WindowPartitionRow, WindowUsersRow } from '@stream-analytics/clickhouse-sink';
import { compileWriterSchema, createEventEncoder, parseDeadLetterHeaders, schemaTextFor, staticDecoder, type EventDecoder, type TelemetryEvent } from '@stream-analytics/event-schema';
import { StreamPipeline, type PipelineOptions } from './pipeline';
import type { CommittedPosition, Headers, OffsetCommit, OutputSink, RebalanceEvent, RecordColumns, RecordSource, ResultSink, SourceRecord, WindowStateStore } from './ports';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);
const TOPIC = 'raw';

class Clock {
  t = 1_000_000;
  now = () => this.t;
  sleep = async (ms: number) => {
    this.t += ms;
  };
}

class FakeSource implements RecordSource {
  readonly logs = new Map<number, SourceRecord[]>();
  readonly positions = new Map<number, number>();
  readonly committedOffsets = new Map<number, { offset: number; metadata: string }>();
  readonly pausedSet = new Set<number>();
  assignment: number[] = [];
  handler: (e: RebalanceEvent) => void = () => undefined;
  commitFailures = 0;
  commits = 0;
  /** Hand batches over in columns, as the client's consumePacked does. */
  packed = false;
  constructor(private readonly clock: Clock) {}

  append(partition: number, eventTimeMs: number | undefined, opts: { value?: string; timestamp?: number; user?: string; metric?: number; encode?: (json: string) => Buffer } = {}): void {
    const log = this.logs.get(partition) ?? [];
    const value =
      opts.value ??
      JSON.stringify({
        event_id: '00000000-0000-4000-8000-' + String(log.length).padStart(12, '0'),
        event_time: new Date(eventTimeMs as number).toISOString(),
        device_id: `dev-${partition}`,
        user_id: opts.user ?? 'u1',
        temperature: 20,
        metric_value: opts.metric ?? 1,
        status: 'ok',
        anomaly_score: 0,
      });
    log.push({ topic: TOPIC, partition, offset: log.length, timestamp: opts.timestamp ?? eventTimeMs, key: Buffer.from(`dev-${partition}`), value: opts.encode ? opts.encode(value) : Buffer.from(value) });
    this.logs.set(partition, log);
  }
  assign(partitions: number[]): void {
    if (this.assignment.length > 0) this.handler({ kind: 'revoked', partitions: this.assignment });
    this.assignment = partitions;
    this.handler({ kind: 'assigned', partitions });
  }
  drained(): boolean {
    return this.assignment.every((p) => (this.positions.get(p) ?? 0) >= (this.logs.get(p)?.length ?? 0));
  }
  subscribe(): void {
    // The fake's assignment comes from assign().
  }
  /** A record as it is (key or value null, no timestamp, any bytes). */
  appendRecord(partition: number, r: Pick<SourceRecord, 'key' | 'value' | 'timestamp'>): void {
    const log = this.logs.get(partition) ?? [];
    log.push({ topic: TOPIC, partition, offset: log.length, ...r });
    this.logs.set(partition, log);
  }
  async consume(max: number): Promise<SourceRecord[] | RecordColumns> {
    // A real consumer waits on I/O: let the test's own turns run.
    await new Promise((r) => setImmediate(r));
    this.clock.t += 100;
    const out: SourceRecord[] = [];
    for (const p of this.assignment) {
      if (this.pausedSet.has(p)) continue;
      const log = this.logs.get(p) ?? [];
      let pos = this.positions.get(p) ?? 0;
      while (pos < log.length && out.length < max) out.push(log[pos++]);
      this.positions.set(p, pos);
    }
    return this.packed ? packColumns(out) : out;
  }
  async committed(partitions: readonly number[]): Promise<CommittedPosition[]> {
    return partitions.map((partition) => ({ partition, offset: this.committedOffsets.get(partition)?.offset ?? -1001, metadata: this.committedOffsets.get(partition)?.metadata }));
  }
  async seek(partition: number, offset: number | 'beginning'): Promise<void> {
    this.positions.set(partition, offset === 'beginning' ? 0 : offset);
  }
  commit(commits: readonly OffsetCommit[]): void {
    if (this.commitFailures > 0) {
      this.commitFailures--;
      throw new Error('Broker: Specified group generation id is not valid');
    }
    this.commits++;
    for (const c of commits) this.committedOffsets.set(c.partition, { offset: c.offset, metadata: c.metadata });
  }
  pause(partitions: readonly number[]): void {
    for (const p of partitions) this.pausedSet.add(p);
  }
  resume(partitions: readonly number[]): void {
    for (const p of partitions) this.pausedSet.delete(p);
  }
  onRebalance(handler: (e: RebalanceEvent) => void): void {
    this.handler = handler;
  }
}

/** The layout of the client's consumePacked: values and keys in one buffer, one record after another. */
function packColumns(records: readonly SourceRecord[]): RecordColumns {
  const n = records.length;
  const ints = () => new Int32Array(n);
  const c = { count: n, topics: [TOPIC], topicIndexes: ints(), partitions: ints(), offsets: new Float64Array(n), timestamps: new Float64Array(n), valueOffsets: ints(), valueLengths: ints(), keyOffsets: ints(), keyLengths: ints() };
  const parts: Buffer[] = [];
  let pos = 0;
  records.forEach((r, i) => {
    c.partitions[i] = r.partition;
    c.offsets[i] = r.offset;
    c.timestamps[i] = r.timestamp ?? -1;
    c.valueOffsets[i] = pos;
    c.valueLengths[i] = r.value === null ? -1 : r.value.length;
    if (r.value !== null) parts.push(r.value);
    pos += r.value?.length ?? 0;
    c.keyOffsets[i] = pos;
    c.keyLengths[i] = r.key === null ? -1 : r.key.length;
    if (r.key !== null) parts.push(r.key);
    pos += r.key?.length ?? 0;
  });
  return { ...c, buffer: Buffer.concat(parts) };
}

class FakeOutput implements OutputSink {
  readonly acked: Array<{ topic: string; headers?: Headers }> = [];
  private unacked: Array<{ topic: string; headers?: Headers }> = [];
  /** Every message sent, with its bytes, in order. */
  readonly sent: Array<{ topic: string; value: Buffer; key: Buffer | null; headers?: Headers }> = [];
  rejectSettles = 0;
  send(topic: string, value: Buffer, key: Buffer | null, headers?: Headers): void {
    this.unacked.push({ topic, headers });
    this.sent.push({ topic, value, key, headers });
  }
  async settled(): Promise<void> {
    if (this.rejectSettles > 0) {
      this.rejectSettles--;
      throw new Error('1 produced messages are not acknowledged: 1 rejected by the broker (Broker: Topic authorization failed)');
    }
    this.acked.push(...this.unacked.splice(0));
  }
  deadLetters(): Map<string, string> {
    const out = new Map<string, string>();
    for (const m of this.acked) {
      const parsed = parseDeadLetterHeaders(m.headers ?? []);
      if (parsed.ok) out.set(`${parsed.entry.sourcePartition}:${parsed.entry.sourceOffset}`, parsed.entry.reason);
    }
    return out;
  }
}

/** The state store and the result tables in one fake, so results can be checked against the stored rows. */
class FakeStore implements WindowStateStore, ResultSink {
  readonly rows = new Map<string, WindowPartitionRow>();
  /** Device rows by topic:partition:window:device, the newest version kept. */
  readonly deviceRows = new Map<string, DeviceStateRow>();
  readonly users = new Map<number, Set<string>>();
  /** What readers see: per window, the result as of its last refresh. */
  readonly results = new Map<number, { totalEvents: number; uniqueUsers: number }>();
  readonly deadLetters: DeadLetterRow[] = [];
  failLoads = 0;
  failWrites = 0;
  failRefreshes = 0;
  loads = 0;
  /** Event-loop turns each write takes before it lands (ClickHouse's insert time). */
  writeTurns: () => number = () => 0;
  async loadWindows(topic: string, wanted: ReadonlyArray<{ partition: number; windowStartsMs: readonly number[] }>): Promise<StoredWindowRow[]> {
    if (this.failLoads > 0) {
      this.failLoads--;
      throw new Error('connect ECONNREFUSED 127.0.0.1:8123');
    }
    this.loads++;
    const out: StoredWindowRow[] = [];
    for (const w of wanted) {
      for (const ws of w.windowStartsMs) {
        const r = this.rows.get(`${topic}:${w.partition}:${ws}`);
        const devices = [...this.deviceRows].filter(([k]) => k.startsWith(`${topic}:${w.partition}:${ws}:`)).map(([, d]) => ({ deviceId: d.deviceId, aggregate: d.aggregate, lastOffset: d.lastOffset, rowVersion: d.rowVersion }));
        if (r && r.aggregate) {
          out.push({ windowStartMs: ws, sourcePartition: w.partition, totalEvents: r.totalEvents, metricSum: r.metricSum, anomalyEvents: r.anomalyEvents, lateEvents: r.lateEvents, lastOffset: r.lastOffset, isFinal: r.isFinal, rowVersion: r.rowVersion, aggregate: r.aggregate, devices });
        }
      }
    }
    return out;
  }
  async writeWindows(users: readonly WindowUsersRow[], rows: readonly WindowPartitionRow[]): Promise<void> {
    if (this.failWrites > 0) {
      this.failWrites--;
      throw new Error('ClickHouse is down');
    }
    const turns = this.writeTurns();
    for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
    for (const r of users) {
      const set = this.users.get(r.windowStartMs) ?? new Set<string>();
      for (const u of r.userIds) set.add(u);
      this.users.set(r.windowStartMs, set);
    }
    for (const r of rows) {
      const k = `${r.sourceTopic}:${r.sourcePartition}:${r.windowStartMs}`;
      const prev = this.rows.get(k);
      if (!prev || prev.rowVersion < r.rowVersion) this.rows.set(k, r);
      for (const d of r.devices ?? []) {
        const before = this.deviceRows.get(`${k}:${d.deviceId}`);
        if (!before || before.rowVersion < d.rowVersion) this.deviceRows.set(`${k}:${d.deviceId}`, d);
      }
    }
  }
  async writeDeadLetters(rows: readonly DeadLetterRow[]): Promise<void> {
    this.deadLetters.push(...rows);
  }
  /** Dead letters per minute as readers see them (as of each minute's last refresh). */
  readonly deadLetterResults = new Map<number, number>();
  async refreshResults(windowStartsMs: readonly number[], deadLetterWindowStartsMs: readonly number[]): Promise<void> {
    if (this.failRefreshes > 0) {
      this.failRefreshes--;
      throw new Error('Timeout exceeded while reading from socket');
    }
    for (const w of deadLetterWindowStartsMs) this.deadLetterResults.set(w, new Set(this.deadLetters.filter((d) => d.windowStartMs === w).map((d) => d.sourceOffset)).size);
    for (const w of windowStartsMs) {
      let totalEvents = 0;
      for (const r of this.rows.values()) if (r.windowStartMs === w) totalEvents += r.totalEvents;
      this.results.set(w, { totalEvents, uniqueUsers: this.users.get(w)?.size ?? 0 });
    }
  }
  /** Events per window as readers see them (the refreshed results), checked against the stored rows. */
  totals(): Map<number, number> {
    const out = new Map<number, number>();
    for (const r of this.rows.values()) out.set(r.windowStartMs, (out.get(r.windowStartMs) ?? 0) + r.totalEvents);
    expect(new Map([...this.results].map(([w, r]) => [w, r.totalEvents]))).toEqual(out);
    return out;
  }
}

const OPTIONS: PipelineOptions = {
  topic: TOPIC,
  dlqTopic: 'dlq',
  windowing: { allowedLatenessMs: 3_600_000, retainFinalWindowsForFlushes: 1 },
  flushIntervalMs: 1000,
  idleTimeoutMs: 3_600_000,
  batchSize: 7,
};

function harness(store = new FakeStore(), source?: FakeSource, clock = new Clock(), options: PipelineOptions = OPTIONS, decoder?: EventDecoder) {
  const src = source ?? new FakeSource(clock);
  const output = new FakeOutput();
  const published: number[][] = [];
  const health: Array<[boolean, string | undefined]> = [];
  const engineStats = { open: -1, cached: -1 };
  const logs: string[] = [];
  const log = (level: string) => (obj: object, msg: string) => logs.push(`${level} ${msg} ${JSON.stringify(obj)}`);
  const pipeline = new StreamPipeline({
    options,
    source: src,
    output,
    state: store,
    results: store,
    publisher: { publish: async (w) => void published.push([...w]) },
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    decoder,
    observer: {
      healthChanged: (h, r) => health.push([h, r]),
      engineStats: (open, cached) => Object.assign(engineStats, { open, cached }),
    },
    now: clock.now,
    sleep: clock.sleep,
  });
  /** Runs the loop until `until()` holds after a flush (bounded), then stops it cleanly. */
  const runUntil = async (until: () => boolean, maxTurns = 5000) => {
    const done = pipeline.run();
    for (let i = 0; i < maxTurns && !until(); i++) await new Promise((r) => setImmediate(r));
    pipeline.stop();
    await done;
  };
  return { pipeline, source: src, output, store, clock, published, health, engineStats, logs, runUntil };
}

/** One partition: on-time minutes, a far-future clock, an invalid message, an hour-late and a days-late event. */
function fillRealWorld(src: FakeSource): void {
  for (let i = 0; i < 40; i++) src.append(0, T0 + i * 5000, { user: `u${i % 3}` });
  src.append(0, Date.UTC(2031, 0, 1), { timestamp: T0 + 200_000 }); // clock years ahead
  src.append(0, undefined, { value: '{"not json', timestamp: T0 + 200_000 });
  for (let i = 0; i < 5; i++) src.append(0, T0 + i * 5000, { timestamp: T0 + 200_000 }); // late, counted
  src.append(0, T0 - 2 * 3_600_000, { timestamp: T0 + 200_000 }); // beyond the 1 h horizon
  for (let i = 40; i < 60; i++) src.append(0, T0 + i * 5000);
}

describe('StreamPipeline (fakes)', () => {
  it('counts late events in their windows, dead-letters future, too-late and invalid ones, commits the position', async () => {
    const h = harness();
    fillRealWorld(h.source);
    h.source.assign([0]);
    await h.runUntil(() => h.source.drained() && h.source.committedOffsets.get(0)?.offset === 68);
    expect(Object.fromEntries(h.store.totals())).toEqual({ [T0]: 17, [T0 + MIN]: 12, [T0 + 2 * MIN]: 12, [T0 + 3 * MIN]: 12, [T0 + 4 * MIN]: 12 });
    expect([...h.store.rows.values()].find((r) => r.windowStartMs === T0)).toMatchObject({ lateEvents: 5, isFinal: true });
    expect([...(h.store.users.get(T0) ?? [])].sort()).toEqual(['u0', 'u1', 'u2']);
    expect(h.store.results.get(T0)).toEqual({ totalEvents: 17, uniqueUsers: 3 });
    expect(Object.fromEntries(h.output.deadLetters())).toEqual({ '0:40': 'future_event_time', '0:41': 'invalid_json', '0:47': 'late_event' });
    expect(h.store.deadLetters.map((d) => [d.sourceOffset, d.reason, d.windowStartMs])).toEqual([
      [40, 'future_event_time', T0 + 3 * MIN], // the minute of its record timestamp, not 2031
      [41, 'invalid_json', windowOf(T0 + 200_000)],
      [47, 'late_event', T0 - 2 * 3_600_000],
    ]);
    // The future and the invalid one share the minute of their record timestamp.
    expect(Object.fromEntries(h.store.deadLetterResults)).toEqual({ [T0 + 3 * MIN]: 2, [T0 - 2 * 3_600_000]: 1 });
    expect(h.health.at(-1)).toEqual([true, undefined]);
  });

  it('folds a batch in columns (packed) exactly as the same records as objects: same rows, dead letters with the same bytes and key, same commits', async () => {
    const run = async (packed: boolean) => {
      const h = harness();
      h.source.packed = packed;
      fillRealWorld(h.source);
      // Dead letters with every kind of key and value: null, empty, binary, a truncated event.
      h.source.appendRecord(0, { key: null, value: Buffer.from('{"oops"'), timestamp: T0 + 210_000 });
      h.source.appendRecord(0, { key: Buffer.alloc(0), value: null, timestamp: T0 + 210_000 });
      h.source.appendRecord(0, { key: Buffer.from([0, 255, 34, 10]), value: Buffer.alloc(0), timestamp: -1 });
      h.source.appendRecord(0, { key: Buffer.from('dev-0'), value: Buffer.from([0, 0, 0, 0, 9, 1]), timestamp: T0 + 210_000 });
      h.source.appendRecord(0, { key: Buffer.from('dev-0'), value: Buffer.from('{"event_id":"00000000-0000-4000-8000-000000000000","event_time":"2026-11-'), timestamp: T0 + 210_000 });
      for (let i = 0; i < 10; i++) h.source.append(1, T0 + 6 * MIN + i * 1000);
      // A failed state load holds records back (as objects) and folds them later.
      h.store.failLoads = 2;
      h.source.assign([0, 1]);
      await h.runUntil(() => h.source.drained() && h.source.committedOffsets.get(0)?.offset === 73 && h.source.committedOffsets.get(1)?.offset === 10);
      return {
        totals: Object.fromEntries(h.store.totals()),
        rows: [...h.store.rows.values()],
        deadLetters: h.store.deadLetters,
        sent: h.output.sent.map((m) => ({ ...m, value: m.value.toString('hex'), key: m.key === null ? null : m.key.toString('hex') })),
        committed: [...h.source.committedOffsets],
      };
    };
    const objects = await run(false);
    const packed = await run(true);
    expect(objects.deadLetters.map((d) => d.reason)).toEqual(['future_event_time', 'invalid_json', 'late_event', 'invalid_json', 'invalid_json', 'invalid_json', 'unknown_schema', 'invalid_json']);
    expect(objects.sent.map((m) => m.key)).toEqual(['6465762d30', '6465762d30', '6465762d30', null, '', '00ff220a', '6465762d30', '6465762d30']);
    expect(packed).toEqual(objects);
  });

  it('dead-letters an event whose window is beyond the aggregate retention at its record timestamp (beyond_retention) instead of counting it', async () => {
    const DAY = 86_400_000;
    const h = harness(undefined, undefined, undefined, { ...OPTIONS, aggregateRetentionDays: 30 });
    h.source.append(0, T0);
    h.source.append(0, T0 - 40 * DAY, { timestamp: T0 + 1000 }); // last quarter's history, replayed now
    h.source.append(0, T0 + 5000);
    h.source.assign([0]);
    await h.runUntil(() => h.source.drained() && h.source.committedOffsets.get(0)?.offset === 3);
    expect(Object.fromEntries(h.store.totals())).toEqual({ [T0]: 2 });
    expect(Object.fromEntries(h.output.deadLetters())).toEqual({ '0:1': 'beyond_retention' });
    // Recorded in the minute it arrived, with its device: the dead-letter retention keeps it 14 days from now.
    expect(h.store.deadLetters.map((d) => [d.sourceOffset, d.reason, d.windowStartMs, d.deviceId])).toEqual([[1, 'beyond_retention', windowOf(T0 + 1000), 'dev-0']]);
  });

  it('after a crash replays from the last commit and counts nothing twice, loading window state from the store', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const src = new FakeSource(clock);
    fillRealWorld(src);
    const first = harness(store, src, clock);
    src.assign([0]);
    // Stop after a durable flush that covered only part of the log (crash: no final flush).
    const done = first.pipeline.run();
    while (src.commits < 3) await new Promise((r) => setImmediate(r));
    // Rows of a later flush may be durable without their commit: simulate by writing, not committing.
    src.commitFailures = 1000;
    while ((src.positions.get(0) ?? 0) < 50) await new Promise((r) => setImmediate(r));
    await first.pipeline.flush();
    first.pipeline.stop();
    src.commitFailures = 0;
    await done.catch(() => undefined);
    // The crashed instance's final flush did not commit; a new one takes over from the commit.
    const second = harness(store, src, clock);
    src.assign([0]);
    await second.runUntil(() => src.drained() && src.committedOffsets.get(0)?.offset === 68);
    expect(Object.fromEntries(store.totals())).toEqual({ [T0]: 17, [T0 + MIN]: 12, [T0 + 2 * MIN]: 12, [T0 + 3 * MIN]: 12, [T0 + 4 * MIN]: 12 });
    expect(store.loads).toBeGreaterThan(0);
  });

  it('refreshes the results of rows an uncommitted flush wrote, after a crash between the write and the refresh', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const src = new FakeSource(clock);
    for (let i = 0; i < 30; i++) src.append(0, T0 + i * 10_000, { user: `u${i % 4}` });
    const first = harness(store, src, clock);
    src.assign([0]);
    const done = first.pipeline.run();
    while (src.committedOffsets.get(0)?.offset !== 30) await new Promise((r) => setImmediate(r));
    // Late events for the first, final window; their rows are written, then every refresh fails and the process dies.
    store.failRefreshes = 1_000_000;
    for (let i = 0; i < 3; i++) src.append(0, T0 + i * 1000, { user: 'late-user', timestamp: T0 + 300_000 });
    while (![...store.rows.values()].some((r) => r.windowStartMs === T0 && r.lateEvents === 3)) await new Promise((r) => setImmediate(r));
    first.pipeline.stop();
    src.commitFailures = 1000; // nothing of the dying instance is committed
    await done.catch(() => undefined);
    expect(store.results.get(T0)).toEqual({ totalEvents: 6, uniqueUsers: 4 }); // stale: without the late events
    store.failRefreshes = 0;
    src.commitFailures = 0;
    src.pausedSet.clear(); // a new consumer pauses nothing
    // The next owner replays the late events, finds them already in the stored row, and still refreshes the window.
    const second = harness(store, src, clock);
    src.assign([0]);
    await second.runUntil(() => src.drained() && src.committedOffsets.get(0)?.offset === 33);
    expect(store.results.get(T0)).toEqual({ totalEvents: 9, uniqueUsers: 5 });
    expect(Object.fromEntries(store.totals())).toEqual({ [T0]: 9, [T0 + MIN]: 6, [T0 + 2 * MIN]: 6, [T0 + 3 * MIN]: 6, [T0 + 4 * MIN]: 6 });
  });

  /**
   * Five minutes of events, flushed until the final windows left memory; then four late events for
   * them, so the store must be read, with its next `failLoads` reads failing. Returns the running loop.
   */
  async function lateAfterEviction(h: ReturnType<typeof harness>, failLoads: number): Promise<{ done: Promise<void> }> {
    for (let i = 0; i < 30; i++) h.source.append(0, T0 + i * 10_000);
    h.source.assign([0]);
    const done = h.pipeline.run();
    // Flushes with nothing new: the final windows leave memory.
    while (!(h.source.committedOffsets.get(0)?.offset === 30 && h.engineStats.cached === 1)) await new Promise((r) => setImmediate(r));
    h.store.failLoads = failLoads;
    for (let i = 0; i < 4; i++) h.source.append(0, T0 + i * 1000, { timestamp: T0 + 300_000 });
    return { done };
  }

  it('holds records behind a failed state load, pauses, reports unready, and resumes exactly', async () => {
    const h = harness();
    const { done } = await lateAfterEviction(h, 3);
    while (h.source.committedOffsets.get(0)?.offset !== 34) await new Promise((r) => setImmediate(r));
    h.pipeline.stop();
    await done;
    expect(h.health.some(([ok, why]) => !ok && /cannot read window state/.test(why ?? ''))).toBe(true);
    expect(h.logs.some((l) => l.startsWith('warn window state load failed'))).toBe(true);
    expect(h.health.at(-1)).toEqual([true, undefined]);
    expect(Object.fromEntries(h.store.totals())).toEqual({ [T0]: 10, [T0 + MIN]: 6, [T0 + 2 * MIN]: 6, [T0 + 3 * MIN]: 6, [T0 + 4 * MIN]: 6 });
    expect(h.source.pausedSet.size).toBe(0);
  });

  it('consumes the new assignment after a rebalance that came while records waited for a failed state load', async () => {
    const h = harness();
    const { done } = await lateAfterEviction(h, 1);
    while (h.source.pausedSet.size === 0) await new Promise((r) => setImmediate(r));
    // The group rebalances before the load is retried: the waiting records are dropped and read again.
    h.source.assign([0]);
    for (let turn = 0; turn < 10_000 && h.source.committedOffsets.get(0)?.offset !== 34; turn++) await new Promise((r) => setImmediate(r));
    h.pipeline.stop();
    await done;
    expect(h.source.committedOffsets.get(0)?.offset).toBe(34);
    expect(Object.fromEntries(h.store.totals())).toEqual({ [T0]: 10, [T0 + MIN]: 6, [T0 + 2 * MIN]: 6, [T0 + 3 * MIN]: 6, [T0 + 4 * MIN]: 6 });
    expect(h.health.at(-1)).toEqual([true, undefined]);
  });

  it('reads JSON, Avro and Protobuf on one partition; waits (unready, nothing dead-lettered) while the registry cannot resolve a schema id, then counts exactly', async () => {
    const avro = createEventEncoder('avro', 7, 2);
    const proto = createEventEncoder('protobuf', 8);
    const known = staticDecoder([compileWriterSchema(7, { schema: schemaTextFor('avro', 2) }), compileWriterSchema(8, { schemaType: 'PROTOBUF', schema: schemaTextFor('protobuf') })]);
    let outage = 3;
    const decoder: EventDecoder = {
      decode: known.decode,
      decodeRange: known.decodeRange,
      prepare: async () => {
        if (outage-- > 0) throw new Error('connect ECONNREFUSED 127.0.0.1:8081');
      },
    };
    const h = harness(undefined, undefined, undefined, undefined, decoder);
    const encodings = [undefined, (j: string) => avro.encode(JSON.parse(j) as TelemetryEvent), (j: string) => proto.encode(JSON.parse(j) as TelemetryEvent)];
    for (let i = 0; i < 30; i++) h.source.append(0, T0 + i * 5000, { user: `u${i % 4}`, encode: encodings[i % 3] });
    h.source.append(0, undefined, { value: 'x', encode: () => Buffer.from([0, 0, 0, 0, 7, 0xff]) }); // truncated Avro
    h.source.append(0, undefined, { value: 'x', encode: () => Buffer.from([0, 0, 0, 1, 44, 0]) }); // id 300: unknown
    h.source.assign([0]);
    await h.runUntil(() => h.source.drained() && h.source.committedOffsets.get(0)?.offset === 32);
    expect(h.health.some(([ok, why]) => !ok && /waiting for the schema registry: connect ECONNREFUSED/.test(why ?? ''))).toBe(true);
    expect(h.logs.some((l) => l.startsWith('warn schema lookup failed'))).toBe(true);
    expect(Object.fromEntries(h.store.totals())).toEqual({ [T0]: 12, [T0 + MIN]: 12, [T0 + 2 * MIN]: 6 });
    expect(Object.fromEntries(h.output.deadLetters())).toEqual({ '0:30': 'undecodable', '0:31': 'unknown_schema' });
    const schemaIds = h.output.acked.filter((m) => m.topic === 'dlq').map((m) => parseDeadLetterHeaders(m.headers));
    expect(schemaIds.map((p) => (p.ok ? p.entry.schemaId : p.problem))).toEqual([7, 300]);
    expect(h.health.at(-1)).toEqual([true, undefined]);
  });

  it('never commits past a dead letter the broker has not acknowledged', async () => {
    const h = harness();
    h.source.append(0, T0);
    h.source.append(0, undefined, { value: 'garbage' });
    h.source.append(0, T0 + 1000);
    h.output.rejectSettles = 4;
    h.source.assign([0]);
    const done = h.pipeline.run();
    while (h.output.rejectSettles > 0) {
      expect(h.source.committedOffsets.get(0)).toBeUndefined();
      await new Promise((r) => setImmediate(r));
    }
    while (h.source.committedOffsets.get(0)?.offset !== 3) await new Promise((r) => setImmediate(r));
    h.pipeline.stop();
    await done;
    expect(Object.fromEntries(h.output.deadLetters())).toEqual({ '0:1': 'invalid_json' });
    expect(h.health.some(([ok, why]) => !ok && /not acknowledged/.test(why ?? ''))).toBe(true);
  });

  it('flushes a backlog as soon as it is folded, not a whole interval later; live traffic keeps the interval', async () => {
    const clock = new Clock();
    const h = harness(undefined, undefined, clock, { ...OPTIONS, flushIntervalMs: 60_000 });
    for (let i = 0; i < 30; i++) h.source.append(0, T0 + i * 1000); // more than a batch (7): the client is behind
    h.source.assign([0]);
    const started = clock.t;
    const done = h.pipeline.run();
    for (let turn = 0; turn < 10_000 && h.source.committedOffsets.get(0)?.offset !== 30; turn++) await new Promise((r) => setImmediate(r));
    expect(h.source.committedOffsets.get(0)?.offset).toBe(30);
    expect(clock.t - started).toBeLessThan(60_000);
    // A trickle that never fills a batch waits for the interval.
    h.source.append(0, T0 + 40_000);
    const trickleAt = clock.t;
    for (let turn = 0; turn < 10_000 && h.source.committedOffsets.get(0)?.offset !== 31; turn++) await new Promise((r) => setImmediate(r));
    expect(clock.t - trickleAt).toBeGreaterThanOrEqual(50_000);
    h.pipeline.stop();
    await done;
    expect(Object.fromEntries(h.store.totals())).toEqual({ [T0]: 31 });
  });

  it('reports unready when commits keep failing, and ready again once one succeeds', async () => {
    const h = harness();
    for (let i = 0; i < 10; i++) h.source.append(0, T0 + i * 1000);
    h.source.commitFailures = 3;
    h.source.assign([0]);
    await h.runUntil(() => h.source.committedOffsets.get(0)?.offset === 10);
    expect(h.health.some(([ok, why]) => !ok && /offset commits failed/.test(why ?? ''))).toBe(true);
    expect(h.health.at(-1)).toEqual([true, undefined]);
  });

  it('rebuilds from the commits and the store after a rebalance, exactly', async () => {
    const h = harness();
    for (const p of [0, 1]) for (let i = 0; i < 40; i++) h.source.append(p, T0 + i * 4000, { user: `p${p}` });
    h.source.assign([0, 1]);
    const done = h.pipeline.run();
    while ((h.source.positions.get(1) ?? 0) < 20) await new Promise((r) => setImmediate(r));
    h.source.assign([0, 1]); // revoke + assign: state dropped, rewind to the commits
    while (!(h.source.drained() && h.source.committedOffsets.get(0)?.offset === 40 && h.source.committedOffsets.get(1)?.offset === 40)) await new Promise((r) => setImmediate(r));
    h.pipeline.stop();
    await done;
    const expected = new Map<number, number>();
    for (let i = 0; i < 40; i++) expected.set(windowOf(T0 + i * 4000), (expected.get(windowOf(T0 + i * 4000)) ?? 0) + 2);
    expect(Object.fromEntries(h.store.totals())).toEqual(Object.fromEntries(expected));
    expect(h.logs.filter((l) => l.startsWith('info partition restored')).length).toBeGreaterThanOrEqual(4);
  });
});

describe('StreamPipeline under seeded schedules of faults', () => {
  it('counts every event once and dead-letters exactly the invalid ones, whatever the write times, failures and rebalances', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          events: fc.array(fc.record({ partition: fc.nat(2), second: fc.nat(359), invalid: fc.nat(9).map((n) => n === 0) }), { minLength: 20, maxLength: 200, size: 'max' }),
          writeTurns: fc.array(fc.nat(40), { minLength: 1, maxLength: 8 }),
          failWrites: fc.nat(2),
          failLoads: fc.nat(2),
          failRefreshes: fc.nat(2),
          commitFailures: fc.nat(2),
          rebalanceAtTurns: fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 2 }),
        }),
        async (sc) => {
          const store = new FakeStore();
          const clock = new Clock();
          const src = new FakeSource(clock);
          const expected = new Map<number, number>();
          const invalid: string[] = [];
          for (const e of sc.events) {
            const offset = src.logs.get(e.partition)?.length ?? 0;
            if (e.invalid) {
              src.append(e.partition, undefined, { value: '{"broken', timestamp: T0 });
              invalid.push(`${e.partition}:${offset}`);
            } else {
              // Out of order within six minutes: late events, evicted windows loaded back, all within the lateness horizon.
              src.append(e.partition, T0 + e.second * 1000, { user: `u${e.second % 5}` });
              expected.set(windowOf(T0 + e.second * 1000), (expected.get(windowOf(T0 + e.second * 1000)) ?? 0) + 1);
            }
          }
          // Writes take a while: rebalances and the driver's turns land in the middle of flushes.
          let write = 0;
          store.writeTurns = () => sc.writeTurns[write++ % sc.writeTurns.length];
          Object.assign(store, { failWrites: sc.failWrites, failLoads: sc.failLoads, failRefreshes: sc.failRefreshes });
          src.commitFailures = sc.commitFailures;
          const h = harness(store, src, clock);
          src.assign([0, 1, 2]);
          const done = h.pipeline.run();
          const committedAll = () => [...src.logs].every(([p, log]) => src.committedOffsets.get(p)?.offset === log.length);
          let turn = 0;
          for (; turn < 50_000 && !(src.drained() && committedAll()); turn++) {
            if (sc.rebalanceAtTurns.includes(turn)) src.assign([0, 1, 2]);
            await new Promise((r) => setImmediate(r));
          }
          h.pipeline.stop();
          await done;
          expect(turn).toBeLessThan(50_000);
          expect(Object.fromEntries(store.totals())).toEqual(Object.fromEntries(expected));
          expect([...h.output.deadLetters().keys()].sort()).toEqual([...invalid].sort());
          expect(new Set(store.deadLetters.map((d) => `${d.sourcePartition}:${d.sourceOffset}`))).toEqual(new Set(invalid));
        },
      ),
      { seed: 20261205, numRuns: 200 },
    );
  }, 120_000);
});

function windowOf(t: number): number {
  return Math.floor(t / MIN) * MIN;
}
