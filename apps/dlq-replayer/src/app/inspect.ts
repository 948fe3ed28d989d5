/** `dlq-replayer inspect`: read-only summary of the dead-letter topic. */
import { disconnectClient } from '@stream-analytics/runtime';
import type { InspectCommandLine } from './cli';
import { decodeDlqMessage } from './dlq-record';
import { createConsumer, loadLedger, partitionCount, RangeReader, resolveRanges } from './kafka';
import type { Output } from './output';
import { describeSelection } from './selection';
import { InspectSummary, renderInspect, type InspectReport } from './summary';

export async function runInspect(cl: InspectCommandLine, out: Output): Promise<InspectReport> {
  const { config, selection, start } = cl;
  const timeoutMs = config.timeoutSecs * 1000;
  // A throwaway group and assign(): inspect never joins or commits for a real group.
  const consumer = await createConsumer(config, 'dlq-replayer-inspect', undefined, timeoutMs);
  try {
    const partitions = await partitionCount(consumer, config.dlqTopic, timeoutMs);
    if (partitions === undefined) throw new Error(`DLQ topic ${config.dlqTopic} does not exist (check --dlq-topic / DLQ_TOPIC)`);
    const ledger = await loadLedger(config, config.ledgerTopic, Math.min(timeoutMs, 15000));
    if (!ledger.complete) out.warn(`ledger ${config.ledgerTopic} could not be read to its end (a replay may be running); "already replayed" may be low`);
    const ranges = await resolveRanges(consumer, config.dlqTopic, partitions, start, timeoutMs);
    const summary = new InspectSummary({
      dlqTopic: config.dlqTopic,
      targetTopic: config.topic,
      selection,
      samplesPerReason: config.samples,
      ledger: ledger.keys,
    });
    const reader = new RangeReader(consumer, config.dlqTopic, ranges);
    let idleSince = Date.now();
    while (!reader.done()) {
      const batch = await reader.next(2000);
      if (batch.length === 0) {
        if (Date.now() - idleSince > timeoutMs) throw new Error(`no progress reading ${config.dlqTopic} for ${config.timeoutSecs} s`);
        continue;
      }
      idleSince = Date.now();
      for (const m of batch) {
        if (reader.isFinished(m.partition)) continue;
        if (selection.toMs !== undefined && (m.timestamp ?? 0) >= selection.toMs) {
          reader.finish(m.partition);
          continue;
        }
        summary.add(decodeDlqMessage(m));
        reader.processed(m);
      }
    }
    reader.unassign();
    const report = summary.report(
      ranges.map((r) => ({ ...r, endOffset: reader.position.get(r.partition) ?? r.startOffset })),
      describeSelection(selection),
    );
    out.result(config.json ? JSON.stringify(report, null, 2) : renderInspect(report, config.top));
    return report;
  } finally {
    await disconnectClient(consumer);
  }
}
