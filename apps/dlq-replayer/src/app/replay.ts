/**
 * `dlq-replayer replay`: re-validate, repair and publish selected DLQ entries
 * to the raw topic, exactly once.
 *
 * Exactly once
 *  - One transactional producer (transactional.id stable per ledger). Its
 *    initTransactions() fences any other replayer with the same id and aborts
 *    the transaction a killed run left open, before anything is read.
 *  - Each batch of DLQ messages is one transaction holding: the replayed
 *    records (raw topic), one ledger record per replayed entry (compacted
 *    ledger topic, key = target topic + source topic/partition/offset), and
 *    the DLQ offsets consumed (sendOffsetsToTransaction, the replayer's group).
 *    Either all of it becomes visible to read_committed readers, or none.
 *  - At start (after initTransactions) the ledger is read to its end,
 *    read_committed: it names exactly the entries whose replayed records are
 *    committed. Those are skipped, as are repeats of an entry within the run.
 *  So a second run, or a run after a SIGKILL, publishes only entries no
 *  committed transaction published before.
 */
import Kafka from '@confluentinc/kafka-javascript';
import { JSON_ONLY_DECODER, REPLAY_HEADERS } from '@stream-analytics/event-schema';
import { backoffDelayMs, baseKafkaConfig, connectClient, disconnectClient, onShutdownSignal } from '@stream-analytics/runtime';
import { createSchemaRegistry, RegistryDecoder } from '@stream-analytics/schema-registry';
import type { ReplayCommandLine } from './cli';
import { decide, targetPartition, type Decision, type DecisionContext } from './decide';
import { decodeDlqMessage, ledgerKey, type DlqRecord } from './dlq-record';
import { createConsumer, ensureLedgerTopic, loadLedger, partitionCount, RangeReader, resolveRanges, sleep, tailMaxEventTime, type LedgerRecord } from './kafka';
import type { Output } from './output';
import { describeSelection, selects } from './selection';
import { renderReplay, ReplayTally, type ReplayReport } from './summary';

type Producer = Kafka.Producer;

const call = (f: (cb: (err: Kafka.LibrdKafkaError | null | undefined) => void) => void): Promise<void> =>
  new Promise((resolve, reject) => f((err) => (err ? reject(err) : resolve())));

/** Publishes at most `rate` entries per second (no limit when undefined). */
export class RateLimiter {
  private next = 0;
  constructor(private readonly rate: number | undefined) {}
  async take(): Promise<void> {
    if (this.rate === undefined) return;
    const now = Date.now();
    if (this.next < now) this.next = now;
    const wait = this.next - now;
    this.next += 1000 / this.rate;
    if (wait > 0) await sleep(wait);
  }
}

async function produce(producer: Producer, topic: string, partition: number | undefined, value: Buffer, key: Buffer | string | null, timestampMs: number, headers?: Kafka.MessageHeader[]): Promise<void> {
  for (;;) {
    try {
      producer.produce(topic, partition ?? null, value, key, timestampMs, undefined, headers);
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== Kafka.CODES.ERRORS.ERR__QUEUE_FULL) throw err;
      producer.poll();
      await sleep(5);
    }
  }
}

function replayHeaders(rec: DlqRecord, d: Extract<Decision, { kind: 'replay' }>, group: string, now: number): Kafka.MessageHeader[] {
  const e = rec.entry!;
  return [
    { [REPLAY_HEADERS.sourceTopic]: e.sourceTopic },
    { [REPLAY_HEADERS.sourcePartition]: String(e.sourcePartition) },
    { [REPLAY_HEADERS.sourceOffset]: String(e.sourceOffset) },
    { [REPLAY_HEADERS.sourceTimestamp]: Number.isFinite(e.sourceTimestampMs) ? String(e.sourceTimestampMs) : '' },
    { [REPLAY_HEADERS.dlqTopic]: rec.dlqTopic },
    { [REPLAY_HEADERS.dlqPartition]: String(rec.dlqPartition) },
    { [REPLAY_HEADERS.dlqOffset]: String(rec.dlqOffset) },
    { [REPLAY_HEADERS.reason]: e.reason },
    { [REPLAY_HEADERS.repairs]: d.applied.join(',') },
    { [REPLAY_HEADERS.replayedAt]: String(now) },
    { [REPLAY_HEADERS.group]: group },
  ];
}

const describeError = (err: unknown) => {
  const e = err as Kafka.LibrdKafkaError;
  return `${e?.message ?? String(err)}${e?.code !== undefined ? ` (code ${e.code})` : ''}`;
};

export async function runReplay(cl: ReplayCommandLine, out: Output): Promise<ReplayReport> {
  const { config, selection, start, repairs, transactionalId } = cl;
  const dryRun = Boolean(config.dryRun);
  const timeoutMs = config.timeoutSecs * 1000;
  const startedAt = Date.now();
  const shutdown = onShutdownSignal();
  const consumer = await createConsumer(config, 'dlq-replayer', config.group, timeoutMs);
  const tailConsumer = await createConsumer(config, 'dlq-replayer-tail', undefined, timeoutMs);
  let producer: Producer | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  try {
    const dlqPartitions = await partitionCount(consumer, config.dlqTopic, timeoutMs);
    if (dlqPartitions === undefined) throw new Error(`DLQ topic ${config.dlqTopic} does not exist (check --dlq-topic / DLQ_TOPIC)`);
    const targetPartitions = await partitionCount(consumer, config.topic, timeoutMs);
    if (targetPartitions === undefined) throw new Error(`raw topic ${config.topic} does not exist (check --topic / RAW_TOPIC)`);

    if (!dryRun) {
      await ensureLedgerTopic(config, config.ledgerTopic, timeoutMs);
      producer = new Kafka.Producer({
        ...baseKafkaConfig({ brokers: config.brokers, clientId: 'dlq-replayer', security: config.kafkaSecurity }),
        'transactional.id': transactionalId,
        'enable.idempotence': true,
        acks: 'all',
        'linger.ms': 5,
        // A killed run's open transaction is aborted by the next run's
        // initTransactions at the latest, or by the broker after this.
        'transaction.timeout.ms': 60000,
        dr_cb: false,
      } as Kafka.ProducerGlobalConfig);
      producer.on('event.error', (err) => out.warn(`producer: ${err.message}`));
      await connectClient(producer, config.brokers, timeoutMs, config.kafkaSecurity);
      producer.setPollInterval(50);
      // Fences any other replayer on this ledger and aborts a killed run's open transaction.
      await call((cb) => producer!.initTransactions(timeoutMs, cb));
    }

    // After initTransactions no transaction of ours is open: read_committed reaches the ledger's end.
    const ledger = await loadLedger(config, config.ledgerTopic, dryRun ? Math.min(timeoutMs, 15000) : timeoutMs);
    if (!ledger.complete) {
      if (!dryRun) throw new Error(`cannot read the ledger ${config.ledgerTopic} to its end within ${config.timeoutSecs} s; nothing was replayed`);
      out.warn(`ledger ${config.ledgerTopic} could not be read to its end (a replay may be running): the plan may list entries that run is replaying`);
    }

    const ranges = await resolveRanges(consumer, config.dlqTopic, dlqPartitions, start, timeoutMs);
    const reader = new RangeReader(consumer, config.dlqTopic, ranges);
    const maxEventTime = new Map<number, number>();
    const decoder = config.registry ? new RegistryDecoder(createSchemaRegistry(config.registry)) : JSON_ONLY_DECODER;
    /** decoder.prepare, retried while the registry does not answer, for at most --timeout-secs. */
    const prepare = async (values: ReadonlyArray<Buffer | null>) => {
      const giveUpAt = Date.now() + timeoutMs;
      for (let attempt = 1; ; attempt++) {
        try {
          return await decoder.prepare(values);
        } catch (err) {
          if (Date.now() >= giveUpAt || shutdown.isRequested()) throw err;
          out.warn(`${(err as Error).message}; retrying`);
          await sleep(backoffDelayMs(attempt, { initialDelayMs: 500, maxDelayMs: 5000 }));
        }
      }
    };
    const ctx: DecisionContext = {
      selection,
      repairs,
      targetTopic: config.topic,
      targetPartitions,
      windowing: cl.windowing,
      seen: new Set(),
      ledger: ledger.keys,
      maxEventTime: (p) => maxEventTime.get(p),
      replayTimestampMs: Date.now(),
      aggregateRetentionDays: config.aggregateRetentionDays,
      decoder,
    };
    const ensureTail = async (p: number) => {
      if (maxEventTime.has(p)) return;
      const tail = await tailMaxEventTime(tailConsumer, config.topic, p, config.tailRecords, cl.windowing, timeoutMs, decoder, prepare);
      if (!tail.complete) out.warn(`could not read the tail of ${config.topic}[${p}] to its end; the lateness check uses what was read`);
      maxEventTime.set(p, tail.max);
    };

    // With a rate limit a transaction stays open while its records trickle out:
    // keep that under ~10 s, far below transaction.timeout.ms.
    const batchSize = config.rate === undefined ? config.batchSize : Math.max(1, Math.min(config.batchSize, Math.floor(config.rate * 10)));
    const tally = new ReplayTally(dryRun);
    const limiter = new RateLimiter(config.rate);
    let transactions = 0;
    let stoppedBy: ReplayReport['stoppedBy'] = 'end';
    progressTimer = setInterval(() => out.progress(tally.progressLine(Date.now() - startedAt, dryRun)), config.progressSecs * 1000);
    progressTimer.unref();

    let idleSince = Date.now();
    while (!reader.done()) {
      if (shutdown.isRequested()) {
        stoppedBy = 'signal';
        break;
      }
      if (config.limit !== undefined && tally.counts.replayed >= config.limit) {
        stoppedBy = 'limit';
        break;
      }
      const batch = await reader.next(batchSize);
      if (batch.length === 0) {
        if (Date.now() - idleSince > timeoutMs) throw new Error(`no progress reading ${config.dlqTopic} for ${config.timeoutSecs} s`);
        continue;
      }
      idleSince = Date.now();
      // Binary entries need their writer schemas before they can be judged (waits while the registry is down).
      await prepare(batch.map((m) => m.value ?? null));

      // Decide the batch (the ledger and the seen set make every entry's decision final).
      const decided: Array<[DlqRecord, Decision]> = [];
      const consumed = new Map<number, number>();
      let replays = 0;
      for (const m of batch) {
        if (reader.isFinished(m.partition)) continue;
        if (config.limit !== undefined && tally.counts.replayed + replays >= config.limit) break;
        if (selection.toMs !== undefined && (m.timestamp ?? 0) >= selection.toMs) {
          reader.finish(m.partition);
          continue;
        }
        const rec = decodeDlqMessage(m);
        if (rec.entry !== undefined && selects(selection, rec)) {
          const p = targetPartition(rec, config.topic, targetPartitions);
          if (p !== undefined) await ensureTail(p);
        }
        // The record is published with this timestamp (d.recordTimestampMs): the future guard's judgement holds.
        ctx.replayTimestampMs = Date.now();
        const d = decide(rec, ctx);
        if (d.kind === 'replay') {
          replays++;
          // The aggregator will read this record after everything before it on the partition (it is accepted: it moves the watermark).
          if (d.partition !== undefined && d.eventTimeMs > (maxEventTime.get(d.partition) ?? -Infinity)) maxEventTime.set(d.partition, d.eventTimeMs);
        }
        decided.push([rec, d]);
        reader.processed(m);
        consumed.set(m.partition, m.offset + 1);
      }
      if (consumed.size === 0) continue;

      if (!dryRun) {
        await publishBatch(producer!, consumer, decided, consumed, { ...cl, limiter, timeoutMs, group: config.group });
        transactions++;
      }
      for (const [rec, d] of decided) {
        tally.add(rec, d);
        if (d.kind === 'replay') ledger.keys.add(ledgerKey(config.topic, rec.entry!));
      }
    }
    if (reader.done() && stoppedBy === 'end' && config.limit !== undefined && tally.counts.replayed >= config.limit) stoppedBy = 'limit';
    reader.unassign();
    clearInterval(progressTimer);
    out.progress(tally.progressLine(Date.now() - startedAt, dryRun));

    const report: ReplayReport = {
      mode: dryRun ? 'dry-run' : 'replay',
      dlqTopic: config.dlqTopic,
      targetTopic: config.topic,
      ledgerTopic: config.ledgerTopic,
      group: config.group,
      repairs,
      selection: describeSelection(selection),
      ranges: ranges.map((r) => ({ ...r, endOffset: reader.position.get(r.partition) ?? r.startOffset })),
      stoppedBy,
      durationMs: Date.now() - startedAt,
      transactions,
      ...tally.outcome(),
    };
    out.result(config.json ? JSON.stringify(report, null, 2) : renderReplay(report));
    return report;
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    shutdown.dispose();
    if (producer) await disconnectClient(producer);
    await disconnectClient(tailConsumer);
    await disconnectClient(consumer);
  }
}

/** One transaction: the replayed records, their ledger records and the DLQ offsets consumed. */
async function publishBatch(
  producer: Producer,
  consumer: Kafka.KafkaConsumer,
  decided: Array<[DlqRecord, Decision]>,
  consumed: Map<number, number>,
  opts: ReplayCommandLine & { limiter: RateLimiter; timeoutMs: number; group: string },
): Promise<void> {
  const { config } = opts;
  await call((cb) => producer.beginTransaction(cb));
  try {
    for (const [rec, d] of decided) {
      if (d.kind !== 'replay') continue;
      await opts.limiter.take();
      const now = Date.now();
      const e = rec.entry!;
      await produce(producer, config.topic, d.partition, d.payload, rec.key, d.recordTimestampMs, replayHeaders(rec, d, opts.group, now));
      const ledgerRecord: LedgerRecord = {
        targetTopic: config.topic,
        sourceTopic: e.sourceTopic,
        sourcePartition: e.sourcePartition,
        sourceOffset: e.sourceOffset,
        eventId: d.event.event_id,
        targetPartition: d.partition ?? null,
        dlqTopic: rec.dlqTopic,
        dlqPartition: rec.dlqPartition,
        dlqOffset: rec.dlqOffset,
        reason: e.reason,
        repairs: d.applied,
        group: opts.group,
        replayedAtMs: now,
      };
      await produce(producer, config.ledgerTopic, 0, Buffer.from(JSON.stringify(ledgerRecord)), ledgerKey(config.topic, e), now);
    }
    const offsets = [...consumed].map(([partition, offset]) => ({ topic: config.dlqTopic, partition, offset }));
    await call((cb) => producer.sendOffsetsToTransaction(offsets, consumer, opts.timeoutMs, cb));
    for (let attempt = 1; ; attempt++) {
      try {
        await call((cb) => producer.commitTransaction(opts.timeoutMs, cb));
        return;
      } catch (err) {
        const e = err as Kafka.LibrdKafkaError;
        if (!e.isRetriable || attempt >= 5) throw err;
        await sleep(200 * attempt);
      }
    }
  } catch (err) {
    const e = err as Kafka.LibrdKafkaError;
    const codes = Kafka.CODES.ERRORS;
    if (e?.isFatal || e?.code === codes.ERR__FATAL || e?.code === codes.ERR__FENCED) {
      // Nothing of this transaction becomes visible: the broker aborts it.
      throw new Error(`fenced or fatal transactional error (another replayer with transactional.id "${opts.transactionalId}" took over?): ${describeError(err)}; nothing of this batch was published`);
    }
    try {
      await call((cb) => producer.abortTransaction(opts.timeoutMs, cb));
    } catch (abortErr) {
      throw new Error(`transaction failed (${describeError(err)}) and could not be aborted (${describeError(abortErr)}); the next run aborts it`);
    }
    throw new Error(`transaction aborted (${describeError(err)}): nothing of this batch was published; run again to continue (replayed entries are skipped)`);
  }
}
