/**
 * Command line of the DLQ replayer: `dlq-replayer inspect|replay [options]`.
 * Every option is a flag and, where it makes sense, an environment variable
 * (the shared names of docs/architecture.md: KAFKA_BROKERS, RAW_TOPIC, DLQ_TOPIC, ...).
 * Contradictory selections are usage errors (exit 2), like unknown flags.
 */
import { REASON_CODE_LIST, REPAIR_NAMES, isRepairName, normalizeTimestamp, parseUtcInstant, type RepairName } from '@stream-analytics/event-schema';
import {
  HelpRequested,
  formatUsage,
  KAFKA_CONNECTION_OPTIONS,
  topicOption,
  parseKafkaSecurity,
  UsageError,
  parseConfig,
  windowingConfigOf,
  windowingOptions,
  type CommandSpec,
  type KafkaSecurity,
  type OptionSpecs,
  type ParsedConfig,
} from '@stream-analytics/runtime';
import { RETENTION_OPTIONS } from '@stream-analytics/clickhouse-sink';
import { registryConnection, SCHEMA_REGISTRY_OPTIONS, type RegistryConnection } from '@stream-analytics/schema-registry';
import { resolveWindowingConfig, type WindowingConfig } from '@stream-analytics/windowing';
import type { Selection } from './selection';

export const DEFAULT_GROUP = 'iot-dlq-replayer';
export const DEFAULT_LEDGER_TOPIC = 'iot.telemetry.dlq-replay-ledger.v1';

/** Flags that may be given more than once; their values are joined into one comma list. */
const REPEATABLE = ['reason', 'repair', 'partition', 'device'] as const;

const commonOptions = {
  ...KAFKA_CONNECTION_OPTIONS,
  dlqTopic: topicOption('deadLetter', 'Dead-letter topic to read.'),
  topic: topicOption('raw', 'Raw telemetry topic replayed entries are published to.'),
  ledgerTopic: {
    type: 'string',
    env: 'LEDGER_TOPIC',
    default: DEFAULT_LEDGER_TOPIC,
    description: 'Compacted topic recording every replayed entry (written in the same transaction as the replayed record).',
  },
  fromStart: { type: 'boolean', description: 'Start reading every DLQ partition at its beginning.' },
  startOffset: {
    type: 'string',
    description: 'Start reading the DLQ at this offset: N (every DLQ partition) or P:N[,P:N...] (per DLQ partition; others are not read).',
  },
  reason: { type: 'string', description: `Select entries with these reason codes (repeatable or comma list): ${REASON_CODE_LIST.join(', ')}.` },
  from: { type: 'string', description: 'Select entries dead-lettered at or after this time (the DLQ record timestamp; ISO-8601, UTC unless an offset is given, or epoch ms). Also where reading starts when no start flag is given.' },
  to: { type: 'string', description: 'Select entries dead-lettered before this time (DLQ record timestamp); reading of a DLQ partition stops at its first record at or after it.' },
  partition: { type: 'string', description: 'Select entries whose source (raw topic) partition is one of these (repeatable or comma list).' },
  fromOffset: { type: 'integer', min: 0, description: 'Select entries whose source offset is >= this (needs exactly one --partition).' },
  toOffset: { type: 'integer', min: 0, description: 'Select entries whose source offset is <= this (needs exactly one --partition).' },
  device: { type: 'string', description: 'Select entries of these devices (the message key, else the payload device_id; repeatable or comma list).' },
  json: { type: 'boolean', description: 'Print the result as one JSON document instead of tables.' },
  timeoutSecs: { type: 'number', env: 'KAFKA_TIMEOUT_SECS', default: 30, min: 1, max: 600, description: 'Timeout for connecting and for Kafka requests.' },
} as const satisfies OptionSpecs;

export const inspectCommand = {
  name: 'dlq-replayer inspect',
  summary:
    'Reads the dead-letter topic up to its end (as of the start of the run) and summarises it: distinct entries by reason, source partition and device, first/last timestamps, samples per reason, what the repairs could fix and what was already replayed. Read-only: commits nothing.',
  options: {
    ...commonOptions,
    samples: { type: 'integer', default: 3, min: 0, max: 100, description: 'Samples shown per reason code.' },
    top: { type: 'integer', default: 20, min: 1, max: 100000, description: 'Devices shown in the table (JSON has all).' },
  },
  epilogue: [
    'Reads from the beginning of the DLQ unless --from or --start-offset says otherwise.',
    'Examples:',
    '  dlq-replayer inspect',
    '  dlq-replayer inspect --from 2026-11-24T09:00:00Z --reason bad_timestamp --json',
  ].join('\n'),
} satisfies CommandSpec<OptionSpecs>;

export const replayCommand = {
  name: 'dlq-replayer replay',
  summary:
    'Re-validates the selected DLQ entries with the current schema (plus the chosen repairs) and publishes the valid ones to the raw topic with their original key and provenance headers, exactly once: each batch is one Kafka transaction holding the records, their ledger entries and the DLQ offsets consumed.',
  options: {
    ...commonOptions,
    group: { type: 'string', env: 'REPLAYER_GROUP', default: DEFAULT_GROUP, description: 'Consumer group whose DLQ offsets are committed inside each transaction.' },
    transactionalId: {
      type: 'string',
      env: 'REPLAYER_TRANSACTIONAL_ID',
      description: 'Kafka transactional.id (default dlq-replayer.<ledger topic>): replayers sharing a ledger fence each other.',
    },
    resume: { type: 'boolean', description: "Start at the group's committed DLQ offsets (where the last run stopped) instead of the beginning." },
    repair: { type: 'string', description: `Repairs to apply (repeatable or comma list): ${REPAIR_NAMES.join(', ')}.` },
    limit: { type: 'integer', min: 1, description: 'Replay at most this many entries, then stop.' },
    rate: { type: 'number', min: 0.001, description: 'Publish at most this many entries per second.' },
    dryRun: { type: 'boolean', description: 'Show what would be replayed and why; publish and commit nothing.' },
    batchSize: { type: 'integer', env: 'REPLAY_BATCH_SIZE', default: 200, min: 1, max: 10000, description: 'DLQ messages per transaction.' },
    progressSecs: { type: 'number', env: 'REPLAY_PROGRESS_SECS', default: 5, min: 0.1, max: 3600, description: 'Seconds between progress lines on stderr.' },
    // The aggregator's event-time knobs, same flags and environment: entries are judged by its rules.
    ...windowingOptions,
    // Avro and Protobuf entries are read with the registry's schemas, as the aggregator reads them.
    ...SCHEMA_REGISTRY_OPTIONS,
    aggregateRetentionDays: RETENTION_OPTIONS.aggregateRetentionDays,
    tailRecords: {
      type: 'integer',
      env: 'REPLAY_TAIL_RECORDS',
      default: 2000,
      min: 1,
      max: 1000000,
      description: 'Records read from the end of each target raw partition to estimate its watermark (lateness horizon check).',
    },
  },
  epilogue: [
    `Repairs: ${REPAIR_NAMES.join(', ')} (see README).`,
    "Entries are judged by the aggregator's event-time rules (the knobs above, same environment): one whose window is within ALLOWED_LATENESS_SECS of its target partition's watermark is replayed and counted once, also into a final window and also a late_event entry; one beyond it is refused as late_event, one more than MAX_FUTURE_SKEW_SECS ahead of its original or the replay's record timestamp as future_event_time.",
    'Reads from the beginning of the DLQ unless --resume, --from or --start-offset says otherwise; entries already replayed are skipped (ledger).',
    'Examples:',
    '  dlq-replayer replay --repair timestamps --reason bad_timestamp --dry-run',
    '  dlq-replayer replay --repair numeric-strings,timestamps --rate 500',
  ].join('\n'),
} satisfies CommandSpec<OptionSpecs>;

/** Kafka security is resolved once at start (password file read). */
export type InspectConfig = ParsedConfig<typeof inspectCommand.options> & { kafkaSecurity: KafkaSecurity };
export type ReplayConfig = ParsedConfig<typeof replayCommand.options> & { kafkaSecurity: KafkaSecurity; registry: RegistryConnection | undefined };

/** Where reading of the DLQ starts. */
export type StartPosition =
  | { kind: 'beginning' }
  | { kind: 'committed' }
  | { kind: 'time'; ms: number }
  | { kind: 'offsets'; all?: number; perPartition?: Map<number, number> };

export interface InspectCommandLine {
  command: 'inspect';
  config: InspectConfig;
  selection: Selection;
  start: StartPosition;
}

export interface ReplayCommandLine {
  command: 'replay';
  config: ReplayConfig;
  /** The aggregator's event-time rules, from the shared knobs. */
  windowing: WindowingConfig;
  selection: Selection;
  start: StartPosition;
  repairs: RepairName[];
  transactionalId: string;
}

export type CommandLine = InspectCommandLine | ReplayCommandLine;

export const TOP_USAGE = [
  'Usage: dlq-replayer <command> [options]',
  '',
  'Inspect, repair and replay dead-lettered telemetry events exactly once.',
  '',
  'Commands:',
  '  inspect   Summarise the dead-letter topic (read-only).',
  '  replay    Re-validate, repair and publish selected entries to the raw topic (exactly once).',
  '',
  'Run `dlq-replayer <command> --help` for the options of a command.',
].join('\n');

/** Joins repeated occurrences of the repeatable flags into one comma-separated flag. */
export function mergeRepeatedFlags(argv: readonly string[]): string[] {
  const collected = new Map<string, string[]>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const name = REPEATABLE.find((n) => arg === `--${n}` || arg.startsWith(`--${n}=`));
    if (name === undefined || (arg === `--${name}` && i + 1 >= argv.length)) {
      rest.push(arg);
      continue;
    }
    const value = arg === `--${name}` ? argv[++i] : arg.slice(name.length + 3);
    collected.set(name, [...(collected.get(name) ?? []), value]);
  }
  for (const [name, values] of collected) rest.push(`--${name}`, values.join(','));
  return rest;
}

const list = (text: string | undefined): string[] | undefined =>
  text === undefined
    ? undefined
    : text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);

/** ISO-8601 (UTC unless an offset is given), a date, or epoch milliseconds. */
export function parseTimeFlag(text: string): number | undefined {
  const t = text.trim();
  if (/^[0-9]{1,15}$/.test(t)) return Number(t);
  if (/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(t)) {
    const ms = parseUtcInstant(`${t}T00:00:00Z`);
    return Number.isNaN(ms) ? undefined : ms;
  }
  const canonical = normalizeTimestamp(t);
  if (canonical === undefined) return undefined;
  const ms = parseUtcInstant(canonical);
  return Number.isNaN(ms) ? undefined : ms;
}

function parseStartOffsets(text: string, fail: (msg: string) => never): StartPosition {
  if (/^[0-9]+$/.test(text.trim())) return { kind: 'offsets', all: Number(text.trim()) };
  const perPartition = new Map<number, number>();
  for (const part of list(text) ?? []) {
    const m = /^([0-9]+):([0-9]+)$/.exec(part);
    if (!m) fail(`--start-offset: "${part}" is not N or P:N`);
    if (perPartition.has(Number(m![1]))) fail(`--start-offset names DLQ partition ${m![1]} twice`);
    perPartition.set(Number(m![1]), Number(m![2]));
  }
  if (perPartition.size === 0) fail('--start-offset needs N or P:N[,P:N...]');
  return { kind: 'offsets', perPartition };
}

interface CommonParsed {
  selection: Selection;
  start: StartPosition;
}

function parseCommon(
  config: { fromStart?: boolean; startOffset?: string; reason?: string; from?: string; to?: string; partition?: string; fromOffset?: number; toOffset?: number; device?: string },
  resume: boolean,
  usage: string,
): CommonParsed {
  const fail = (msg: string): never => {
    throw new UsageError(msg, usage);
  };
  const selection: Selection = {};

  const reasons = list(config.reason);
  if (reasons !== undefined) {
    if (reasons.length === 0) fail('--reason needs at least one reason code');
    const unknown = reasons.filter((r) => !(REASON_CODE_LIST as string[]).includes(r));
    if (unknown.length > 0) fail(`unknown reason code ${unknown.map((u) => `"${u}"`).join(', ')} (expected one of ${REASON_CODE_LIST.join(', ')})`);
    selection.reasons = new Set(reasons);
  }

  if (config.from !== undefined) {
    const ms = parseTimeFlag(config.from);
    if (ms === undefined) fail(`--from: "${config.from}" is not a time (expected ISO-8601 such as 2026-11-24T09:00:00Z, or epoch ms)`);
    selection.fromMs = ms;
  }
  if (config.to !== undefined) {
    const ms = parseTimeFlag(config.to);
    if (ms === undefined) fail(`--to: "${config.to}" is not a time (expected ISO-8601 such as 2026-11-24T10:00:00Z, or epoch ms)`);
    selection.toMs = ms;
  }
  if (selection.fromMs !== undefined && selection.toMs !== undefined && selection.fromMs >= selection.toMs) {
    fail(`--from (${new Date(selection.fromMs).toISOString()}) must be before --to (${new Date(selection.toMs).toISOString()})`);
  }

  const partitions = list(config.partition);
  if (partitions !== undefined) {
    if (partitions.length === 0) fail('--partition needs at least one partition number');
    const bad = partitions.find((p) => !/^[0-9]{1,9}$/.test(p));
    if (bad !== undefined) fail(`--partition: "${bad}" is not a partition number`);
    selection.partitions = new Set(partitions.map(Number));
  }
  if (config.fromOffset !== undefined || config.toOffset !== undefined) {
    const flag = config.fromOffset !== undefined ? '--from-offset' : '--to-offset';
    if (selection.partitions === undefined) fail(`${flag} selects source offsets, which only mean something within one partition: add --partition <p>`);
    if (selection.partitions!.size !== 1) fail(`${flag} needs exactly one --partition (source offsets of different partitions are unrelated)`);
    if (config.fromOffset !== undefined && config.toOffset !== undefined && config.fromOffset > config.toOffset) {
      fail(`--from-offset (${config.fromOffset}) must not be greater than --to-offset (${config.toOffset})`);
    }
    selection.fromOffset = config.fromOffset;
    selection.toOffset = config.toOffset;
  }

  const devices = list(config.device);
  if (devices !== undefined) {
    if (devices.length === 0) fail('--device needs at least one device id');
    selection.devices = new Set(devices);
  }

  const startFlags = [config.fromStart ? '--from-start' : undefined, config.startOffset !== undefined ? '--start-offset' : undefined, resume ? '--resume' : undefined].filter(
    (f): f is string => f !== undefined,
  );
  if (startFlags.length > 1) fail(`${startFlags.join(' and ')} contradict each other: give at most one start position`);
  let start: StartPosition = { kind: 'beginning' };
  if (config.startOffset !== undefined) start = parseStartOffsets(config.startOffset, fail);
  else if (resume) start = { kind: 'committed' };
  else if (!config.fromStart && selection.fromMs !== undefined) start = { kind: 'time', ms: selection.fromMs };
  return { selection, start };
}

/**
 * Parses `<command> [options]`. Throws UsageError (exit 2) for anything
 * invalid or contradictory, HelpRequested for --help.
 */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CommandLine {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError('missing command (inspect or replay)', TOP_USAGE);
  if (command === '--help' || command === '-h' || command === 'help') throw new HelpRequested(TOP_USAGE);
  if (command.startsWith('-')) throw new UsageError(`the command comes first (inspect or replay), got option ${command}`, TOP_USAGE);
  const args = mergeRepeatedFlags(rest);
  if (command === 'inspect') {
    const usage = inspectCommandUsage();
    const { config: parsed } = parseConfig(inspectCommand, args, env);
    const config = { ...parsed, kafkaSecurity: parseKafkaSecurity(parsed, inspectCommand) };
    return { command, config, ...parseCommon(config, false, usage) };
  }
  if (command === 'replay') {
    const usage = replayCommandUsage();
    const fail = (msg: string): never => {
      throw new UsageError(msg, usage);
    };
    rejectClosedWindows(args, env, fail);
    const { config: parsed } = parseConfig(replayCommand, args, env);
    const config = { ...parsed, kafkaSecurity: parseKafkaSecurity(parsed, replayCommand), registry: registryConnection(parsed, replayCommand) };
    const common = parseCommon(config, Boolean(config.resume), usage);
    const repairs = list(config.repair) ?? [];
    if (config.repair !== undefined && repairs.length === 0) fail('--repair needs at least one repair name');
    const unknown = repairs.filter((r) => !isRepairName(r));
    if (unknown.length > 0) fail(`unknown repair ${unknown.map((u) => `"${u}"`).join(', ')} (expected ${REPAIR_NAMES.join(', ')})`);
    if (config.dryRun && config.rate !== undefined) fail('--rate limits publishing, and --dry-run publishes nothing: give one or the other');
    const transactionalId = config.transactionalId ?? `dlq-replayer.${config.ledgerTopic}`;
    let windowing: WindowingConfig;
    try {
      windowing = resolveWindowingConfig(windowingConfigOf(config));
    } catch (err) {
      return fail((err as Error).message);
    }
    return { command, config, windowing, ...common, repairs: [...new Set(repairs)] as RepairName[], transactionalId };
  }
  throw new UsageError(`unknown command "${command}" (expected inspect or replay)`, TOP_USAGE);
}

export const CLOSED_WINDOWS_REMOVED =
  '--closed-windows (REPLAY_CLOSED_WINDOWS) is gone: the aggregator now counts a late event in its window, final or not, while the window is within ALLOWED_LATENESS_SECS of its partition\'s watermark, so replay publishes such entries and they are counted once (reported as "into a final window"); entries beyond the horizon are refused as late_event. Use --dry-run to see which, and --reason/--from/--to/--device to choose what to replay.';

/**
 * --closed-windows chose between publishing into final windows (which the
 * aggregator then dead-lettered again) and refusing; final windows now take
 * late events, so neither choice exists. Named, not "Unknown option".
 */
function rejectClosedWindows(args: readonly string[], env: NodeJS.ProcessEnv, fail: (msg: string) => never): void {
  for (const arg of args) {
    if (arg === '--') break;
    if (arg === '--closed-windows' || arg.startsWith('--closed-windows=')) fail(CLOSED_WINDOWS_REMOVED);
  }
  // "publish" (the old default) is what every replay does now; "refuse" would silently stop meaning anything.
  const fromEnv = env['REPLAY_CLOSED_WINDOWS'];
  if (fromEnv !== undefined && fromEnv !== '' && fromEnv !== 'publish') fail(CLOSED_WINDOWS_REMOVED);
}

// Usage texts for errors raised after parseConfig (same text parseConfig prints).
const inspectCommandUsage = () => formatUsage(inspectCommand);
const replayCommandUsage = () => formatUsage(replayCommand);
