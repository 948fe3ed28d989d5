/**
 * Pure accounting of what a run saw: the inspect summary and the replay
 * report, each with a JSON form and a table form.
 */
import { deadLetterClassOf, LATE_EVENT, REPAIR_NAMES, repairPayload } from '@stream-analytics/event-schema';
import { ledgerKey, sourceKey, type DlqRecord } from './dlq-record';
import type { Decision } from './decide';
import { inTimeRange, selects, type Selection } from './selection';

export interface PartitionRange {
  partition: number;
  startOffset: number;
  endOffset: number;
}

export interface UnreadableEntry {
  dlqPartition: number;
  dlqOffset: number;
  problem: string;
}

export interface EntrySample {
  dlqPartition: number;
  dlqOffset: number;
  sourcePartition: number;
  sourceOffset: number;
  device: string | null;
  message: string;
  payloadBytes: number;
  /** First 200 characters of the payload (UTF-8, invalid bytes shown as U+FFFD). */
  payload: string;
}

export interface TimeSpan {
  first: string | null;
  last: string | null;
}

export interface InspectReport {
  dlqTopic: string;
  ranges: PartitionRange[];
  selection: Record<string, unknown>;
  /** DLQ messages read in the ranges. */
  messages: number;
  /** Distinct selected source events (source topic/partition/offset). */
  entries: number;
  /** Selected messages repeating an entry already counted. */
  duplicates: number;
  /** Messages without a readable envelope. */
  unreadable: { count: number; entries: UnreadableEntry[] };
  byReason: Record<string, number>;
  bySourcePartition: Record<string, number>;
  byDevice: Record<string, number>;
  /** DLQ record timestamps (when dead-lettered) of the selected entries. */
  deadLetteredAt: TimeSpan;
  /** Source record timestamps of the selected entries. */
  sourceTimestamps: TimeSpan;
  /** What a replay could do with the selected entries. */
  outlook: {
    /**
     * Entries with reason late_event: valid; a replay counts those whose window
     * is within the lateness horizon of their partition's watermark then, and
     * refuses the rest (see a --dry-run).
     */
    late: number;
    /**
     * Entries with reason future_event_time: valid; a replay counts those no
     * longer more than the future skew ahead of its time, and refuses the rest.
     */
    future: number;
    /** Valid with the current schema as they are. */
    validNow: number;
    /** Fixed by the named repairs (key: the repairs needed, joined with +). */
    repairable: Record<string, number>;
    unrepairable: number;
    /** Already in the replay ledger (for the raw topic). */
    alreadyReplayed: number;
  };
  samples: Record<string, EntrySample[]>;
}

const MAX_LISTED = 10000;

function iso(ms: number | undefined): string | null {
  return ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString();
}

function preview(value: Buffer | null): string {
  if (value === null) return '';
  const text = value.subarray(0, 800).toString('utf8');
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

const bump = (o: Record<string, number>, k: string, n = 1) => (o[k] = (o[k] ?? 0) + n);

/** Sorted by count (descending), then key. */
function sortedCounts(o: Record<string, number>, numericKeys = false): Record<string, number> {
  const entries = Object.entries(o).sort(([a, x], [b, y]) => (numericKeys ? Number(a) - Number(b) : y - x || a.localeCompare(b)));
  return Object.fromEntries(entries);
}

export class InspectSummary {
  private messages = 0;
  private duplicates = 0;
  private readonly seen = new Set<string>();
  private readonly unreadable: UnreadableEntry[] = [];
  private unreadableCount = 0;
  private readonly byReason: Record<string, number> = {};
  private readonly byPartition: Record<string, number> = {};
  private readonly byDevice: Record<string, number> = {};
  private readonly samples: Record<string, EntrySample[]> = {};
  private dlqFirst: number | undefined;
  private dlqLast: number | undefined;
  private srcFirst: number | undefined;
  private srcLast: number | undefined;
  private readonly outlook = { late: 0, future: 0, validNow: 0, repairable: {} as Record<string, number>, unrepairable: 0, alreadyReplayed: 0 };

  constructor(
    private readonly opts: {
      dlqTopic: string;
      targetTopic: string;
      selection: Selection;
      samplesPerReason: number;
      ledger: Set<string>;
    },
  ) {}

  add(rec: DlqRecord): void {
    this.messages++;
    if (rec.entry === undefined) {
      if (!inTimeRange(this.opts.selection, rec)) return;
      this.unreadableCount++;
      if (this.unreadable.length < MAX_LISTED) this.unreadable.push({ dlqPartition: rec.dlqPartition, dlqOffset: rec.dlqOffset, problem: rec.problem ?? 'unreadable envelope' });
      return;
    }
    if (!selects(this.opts.selection, rec)) return;
    const e = rec.entry;
    const key = sourceKey(e);
    if (this.seen.has(key)) {
      this.duplicates++;
      return;
    }
    this.seen.add(key);
    bump(this.byReason, e.reason);
    bump(this.byPartition, String(e.sourcePartition));
    bump(this.byDevice, rec.device ?? '(unknown)');
    const t = rec.dlqTimestampMs;
    if (Number.isFinite(t)) {
      this.dlqFirst = this.dlqFirst === undefined ? t : Math.min(this.dlqFirst, t);
      this.dlqLast = this.dlqLast === undefined ? t : Math.max(this.dlqLast, t);
    }
    const s = e.sourceTimestampMs;
    if (Number.isFinite(s)) {
      this.srcFirst = this.srcFirst === undefined ? s : Math.min(this.srcFirst, s);
      this.srcLast = this.srcLast === undefined ? s : Math.max(this.srcLast, s);
    }
    const list = (this.samples[e.reason] ??= []);
    if (list.length < this.opts.samplesPerReason) {
      list.push({
        dlqPartition: rec.dlqPartition,
        dlqOffset: rec.dlqOffset,
        sourcePartition: e.sourcePartition,
        sourceOffset: e.sourceOffset,
        device: rec.device,
        message: e.message,
        payloadBytes: rec.value?.length ?? 0,
        payload: preview(rec.value),
      });
    }
    if (this.opts.ledger.has(ledgerKey(this.opts.targetTopic, e))) this.outlook.alreadyReplayed++;
    if (deadLetterClassOf(e.reason) !== 'invalid') {
      // Valid when dead-lettered; whether they count is judged by event time at replay.
      if (e.reason === LATE_EVENT) this.outlook.late++;
      else this.outlook.future++;
      return;
    }
    const r = repairPayload(rec.value, REPAIR_NAMES);
    if (!r.ok) this.outlook.unrepairable++;
    else if (r.applied.length === 0) this.outlook.validNow++;
    else bump(this.outlook.repairable, [...r.applied].sort().join('+'));
  }

  report(ranges: PartitionRange[], describe: Record<string, unknown>): InspectReport {
    return {
      dlqTopic: this.opts.dlqTopic,
      ranges,
      selection: describe,
      messages: this.messages,
      entries: this.seen.size,
      duplicates: this.duplicates,
      unreadable: { count: this.unreadableCount, entries: this.unreadable },
      byReason: sortedCounts(this.byReason),
      bySourcePartition: sortedCounts(this.byPartition, true),
      byDevice: sortedCounts(this.byDevice),
      deadLetteredAt: { first: iso(this.dlqFirst), last: iso(this.dlqLast) },
      sourceTimestamps: { first: iso(this.srcFirst), last: iso(this.srcLast) },
      outlook: { ...this.outlook, repairable: sortedCounts(this.outlook.repairable) },
      samples: this.samples,
    };
  }
}

// ---------------------------------------------------------------- replay

export interface PlannedEntry {
  dlqPartition: number;
  dlqOffset: number;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  device: string | null;
  reason: string;
  action: 'replay' | 'refuse' | 'skip';
  /** replay: repairs applied and the target; refuse: code and message; skip: why. */
  why: string;
  code?: string;
  repairs?: string[];
  eventId?: string;
  targetPartition?: number;
}

export interface ReplayCounts {
  /** DLQ messages read. */
  read: number;
  /** Entries published (dry run: that would be published). */
  replayed: number;
  /** Of those, into a window already final on its partition: counted as late events, revising that window. */
  intoFinalWindow: number;
  refused: number;
  /** Repeats of an entry already decided in this run. */
  duplicate: number;
  /** In the ledger: replayed by an earlier run. */
  alreadyReplayed: number;
  notSelected: number;
  unreadable: number;
}

export interface ReplayReport {
  mode: 'replay' | 'dry-run';
  dlqTopic: string;
  targetTopic: string;
  ledgerTopic: string;
  group: string;
  repairs: string[];
  selection: Record<string, unknown>;
  ranges: PartitionRange[];
  stoppedBy: 'end' | 'limit' | 'signal';
  durationMs: number;
  transactions: number;
  counts: ReplayCounts;
  replayedByReason: Record<string, number>;
  repairsApplied: Record<string, number>;
  refusedByCode: Record<string, number>;
  refused: PlannedEntry[];
  unreadable: UnreadableEntry[];
  /** Dry run only: every selected entry with its decision. */
  plan?: PlannedEntry[];
}

export class ReplayTally {
  readonly counts: ReplayCounts = { read: 0, replayed: 0, intoFinalWindow: 0, refused: 0, duplicate: 0, alreadyReplayed: 0, notSelected: 0, unreadable: 0 };
  readonly replayedByReason: Record<string, number> = {};
  readonly repairsApplied: Record<string, number> = {};
  readonly refusedByCode: Record<string, number> = {};
  readonly refused: PlannedEntry[] = [];
  readonly unreadable: UnreadableEntry[] = [];
  readonly plan: PlannedEntry[] = [];

  constructor(private readonly keepPlan: boolean) {}

  /** Records a decision; for replays call it only once the transaction committed (or in a dry run). */
  add(rec: DlqRecord, d: Decision): void {
    this.counts.read++;
    if (d.kind === 'unreadable') {
      this.counts.unreadable++;
      if (this.unreadable.length < MAX_LISTED) this.unreadable.push({ dlqPartition: rec.dlqPartition, dlqOffset: rec.dlqOffset, problem: d.problem });
      return;
    }
    if (d.kind === 'not_selected') {
      this.counts.notSelected++;
      return;
    }
    const e = rec.entry!;
    const base = {
      dlqPartition: rec.dlqPartition,
      dlqOffset: rec.dlqOffset,
      sourceTopic: e.sourceTopic,
      sourcePartition: e.sourcePartition,
      sourceOffset: e.sourceOffset,
      device: rec.device,
      reason: e.reason,
    };
    let planned: PlannedEntry;
    switch (d.kind) {
      case 'duplicate':
        this.counts.duplicate++;
        planned = { ...base, action: 'skip', why: 'duplicate: same source partition/offset earlier in this run' };
        break;
      case 'already_replayed':
        this.counts.alreadyReplayed++;
        planned = { ...base, action: 'skip', why: 'already replayed (ledger)' };
        break;
      case 'refused':
        this.counts.refused++;
        bump(this.refusedByCode, d.code);
        planned = { ...base, action: 'refuse', code: d.code, why: `${d.code}: ${d.message}`, ...(d.applied.length ? { repairs: d.applied } : {}) };
        if (this.refused.length < MAX_LISTED) this.refused.push(planned);
        break;
      case 'replay':
        this.counts.replayed++;
        if (d.intoFinalWindow) this.counts.intoFinalWindow++;
        bump(this.replayedByReason, e.reason);
        for (const r of d.applied) bump(this.repairsApplied, r);
        planned = {
          ...base,
          action: 'replay',
          why:
            (d.applied.length === 0 ? 'valid with the current schema' : `valid after ${d.applied.join(' + ')}`) +
            (d.intoFinalWindow ? `; window ${new Date(d.windowStartMs).toISOString()} is already final: counted as a late event (the window is revised)` : ''),
          repairs: d.applied,
          eventId: d.event.event_id,
          ...(d.partition === undefined ? {} : { targetPartition: d.partition }),
        };
        break;
    }
    if (this.keepPlan && this.plan.length < MAX_LISTED) this.plan.push(planned);
  }

  /** The report's accounting part (with the plan when it is kept, i.e. in a dry run). */
  outcome(): Pick<ReplayReport, 'counts' | 'replayedByReason' | 'repairsApplied' | 'refusedByCode' | 'refused' | 'unreadable' | 'plan'> {
    return {
      counts: this.counts,
      replayedByReason: this.replayedByReason,
      repairsApplied: this.repairsApplied,
      refusedByCode: this.refusedByCode,
      refused: this.refused,
      unreadable: this.unreadable,
      ...(this.keepPlan ? { plan: this.plan } : {}),
    };
  }

  progressLine(elapsedMs: number, dryRun: boolean): string {
    const c = this.counts;
    const rate = elapsedMs > 0 ? Math.round((c.replayed * 1000) / elapsedMs) : 0;
    return `progress ${(elapsedMs / 1000).toFixed(1)} s: read ${c.read}, ${dryRun ? 'would replay' : 'replayed'} ${c.replayed}, refused ${c.refused}, skipped-duplicate ${c.duplicate}, already-replayed ${c.alreadyReplayed}, not-selected ${c.notSelected}, unreadable ${c.unreadable} (${rate}/s)`;
  }
}

// ---------------------------------------------------------------- tables

function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(cells[0]), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

const countsTable = (title: string, o: Record<string, number>, limit = Infinity) => {
  const entries = Object.entries(o);
  const rows = entries.slice(0, limit).map(([k, v]) => [k, v]);
  const more = entries.length > limit ? `\n… ${entries.length - limit} more (see --json)` : '';
  return rows.length === 0 ? `${title}: none` : `${table([title, 'entries'], rows)}${more}`;
};

export function renderInspect(r: InspectReport, topDevices: number): string {
  const out: string[] = [];
  out.push(`DLQ ${r.dlqTopic}: ${r.messages} messages read, ${r.entries} distinct entries, ${r.duplicates} duplicates, ${r.unreadable.count} unreadable`);
  out.push(`ranges: ${r.ranges.map((p) => `[${p.partition}] ${p.startOffset}..${p.endOffset}`).join(', ') || 'none'}`);
  if (Object.keys(r.selection).length > 0) out.push(`selection: ${JSON.stringify(r.selection)}`);
  out.push(`dead-lettered: ${r.deadLetteredAt.first ?? '-'} .. ${r.deadLetteredAt.last ?? '-'}`);
  out.push(`source timestamps: ${r.sourceTimestamps.first ?? '-'} .. ${r.sourceTimestamps.last ?? '-'}`);
  out.push('', countsTable('reason', r.byReason));
  out.push('', countsTable('source partition', r.bySourcePartition));
  out.push('', countsTable('device', r.byDevice, topDevices));
  const o = r.outlook;
  out.push(
    '',
    table(
      ['replay outlook', 'entries'],
      [
        ['late_event (counted if within the horizon; see --dry-run)', o.late],
        ['future_event_time (counted if no longer ahead; see --dry-run)', o.future],
        ['valid now', o.validNow],
        ...Object.entries(o.repairable).map(([k, v]) => [`repairable with ${k}`, v] as [string, number]),
        ['unrepairable', o.unrepairable],
        ['already replayed (ledger)', o.alreadyReplayed],
      ],
    ),
  );
  for (const [reason, list] of Object.entries(r.samples)) {
    out.push('', `samples: ${reason}`);
    for (const s of list) out.push(`  dlq[${s.dlqPartition}]@${s.dlqOffset} source[${s.sourcePartition}]@${s.sourceOffset} device=${s.device ?? '-'}: ${s.message}`, `    ${JSON.stringify(s.payload)}`);
  }
  if (r.unreadable.count > 0) {
    out.push('', `unreadable entries (${r.unreadable.count}):`);
    for (const u of r.unreadable.entries.slice(0, 20)) out.push(`  dlq[${u.dlqPartition}]@${u.dlqOffset}: ${u.problem}`);
    if (r.unreadable.count > 20) out.push(`  … ${r.unreadable.count - 20} more (see --json)`);
  }
  return out.join('\n');
}

export function renderReplay(r: ReplayReport): string {
  const dry = r.mode === 'dry-run';
  const c = r.counts;
  const out: string[] = [];
  out.push(
    `${dry ? 'DRY RUN (nothing published or committed): ' : ''}${r.dlqTopic} -> ${r.targetTopic}, repairs: ${r.repairs.join(', ') || 'none'}, stopped by ${r.stoppedBy} after ${(r.durationMs / 1000).toFixed(1)} s${dry ? '' : `, ${r.transactions} transactions`}`,
  );
  out.push(`ranges: ${r.ranges.map((p) => `[${p.partition}] ${p.startOffset}..${p.endOffset}`).join(', ') || 'none'}`);
  if (Object.keys(r.selection).length > 0) out.push(`selection: ${JSON.stringify(r.selection)}`);
  out.push(
    '',
    table(
      ['outcome', 'entries'],
      [
        ['read (DLQ messages)', c.read],
        [dry ? 'would replay' : 'replayed', c.replayed],
        ['  of which into a final window (counted late)', c.intoFinalWindow],
        ['refused (left in the DLQ)', c.refused],
        ['skipped: duplicate in this run', c.duplicate],
        ['skipped: already replayed', c.alreadyReplayed],
        ['not selected', c.notSelected],
        ['unreadable', c.unreadable],
      ],
    ),
  );
  if (Object.keys(r.replayedByReason).length > 0) out.push('', countsTable(dry ? 'would replay, by reason' : 'replayed, by reason', r.replayedByReason));
  if (Object.keys(r.repairsApplied).length > 0) out.push('', countsTable('repair applied', r.repairsApplied));
  if (Object.keys(r.refusedByCode).length > 0) out.push('', countsTable('refused, because', r.refusedByCode));
  if (r.plan) {
    out.push('', `plan (${r.plan.length} selected entries):`);
    for (const p of r.plan.slice(0, 50)) out.push(`  ${p.action.padEnd(6)} source[${p.sourcePartition}]@${p.sourceOffset} (dlq[${p.dlqPartition}]@${p.dlqOffset}, ${p.reason}, ${p.device ?? '-'}): ${p.why}`);
    if (r.plan.length > 50) out.push(`  … ${r.plan.length - 50} more (see --json)`);
  } else if (r.refused.length > 0) {
    out.push('', `refused entries (${r.counts.refused}):`);
    for (const p of r.refused.slice(0, 20)) out.push(`  source[${p.sourcePartition}]@${p.sourceOffset} (dlq[${p.dlqPartition}]@${p.dlqOffset}, ${p.device ?? '-'}): ${p.why}`);
    if (r.refused.length > 20) out.push(`  … ${r.refused.length - 20} more (see --json)`);
  }
  if (r.unreadable.length > 0) {
    out.push('', `unreadable entries (${r.counts.unreadable}):`);
    for (const u of r.unreadable.slice(0, 20)) out.push(`  dlq[${u.dlqPartition}]@${u.dlqOffset}: ${u.problem}`);
  }
  return out.join('\n');
}
