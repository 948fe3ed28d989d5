import { HelpRequested, UsageError } from '@stream-analytics/runtime';
import { DEFAULT_WINDOWING_CONFIG } from '@stream-analytics/windowing';
import { CLOSED_WINDOWS_REMOVED, mergeRepeatedFlags, parseCommandLine, parseTimeFlag, type ReplayCommandLine } from './cli';

const env = {};
const parse = (...argv: string[]) => parseCommandLine(argv, env);
const usageError = (...argv: string[]) => {
  try {
    parse(...argv);
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
};

describe('command line', () => {
  it('needs a known command first', () => {
    expect(usageError()).toMatch(/missing command/);
    expect(usageError('--json', 'inspect')).toMatch(/command comes first/);
    expect(usageError('replya')).toMatch(/unknown command "replya"/);
    expect(() => parse('--help')).toThrow(HelpRequested);
    expect(() => parse('replay', '--help')).toThrow(HelpRequested);
  });

  it('rejects unknown flags and flags of the other command', () => {
    expect(usageError('inspect', '--bogus')).toMatch(/Unknown option '--bogus'/);
    expect(usageError('inspect', '--repair', 'timestamps')).toMatch(/Unknown option '--repair'/);
    expect(usageError('inspect', '--dry-run')).toMatch(/Unknown option '--dry-run'/);
    expect(usageError('replay', 'extra')).toMatch(/positional/i);
  });

  it('has the defaults of the design contract', () => {
    const cl = parse('replay') as ReplayCommandLine;
    expect(cl.config.dlqTopic).toBe('iot.telemetry.dlq.v1');
    expect(cl.config.topic).toBe('iot.telemetry.raw.v1');
    expect(cl.config.group).toBe('iot-dlq-replayer');
    expect(cl.config.ledgerTopic).toBe('iot.telemetry.dlq-replay-ledger.v1');
    expect(cl.transactionalId).toBe('dlq-replayer.iot.telemetry.dlq-replay-ledger.v1');
    expect(cl.repairs).toEqual([]);
    // The aggregator's event-time rules, with its defaults (the shared knobs).
    expect(cl.windowing).toEqual({ ...DEFAULT_WINDOWING_CONFIG });
    expect(cl.start).toEqual({ kind: 'beginning' });
    expect(cl.selection).toEqual({});
  });

  it('reads the environment names (flags win)', () => {
    const cl = parseCommandLine(['replay', '--group', 'g2'], { KAFKA_BROKERS: 'k:1', DLQ_TOPIC: 'd', RAW_TOPIC: 'r', REPLAYER_GROUP: 'g', LEDGER_TOPIC: 'l' }) as ReplayCommandLine;
    expect([cl.config.brokers, cl.config.dlqTopic, cl.config.topic, cl.config.group, cl.config.ledgerTopic, cl.transactionalId]).toEqual(['k:1', 'd', 'r', 'g2', 'l', 'dlq-replayer.l']);
  });

  it('accepts repeatable and comma-list selections', () => {
    const cl = parse('replay', '--reason', 'wrong_type', '--reason=bad_timestamp,late_event', '--repair', 'timestamps', '--repair', 'numeric-strings,timestamps', '--device', 'dev-1', '--partition', '3') as ReplayCommandLine;
    expect([...cl.selection.reasons!]).toEqual(['wrong_type', 'bad_timestamp', 'late_event']);
    expect(cl.repairs).toEqual(['timestamps', 'numeric-strings']);
    expect([...cl.selection.devices!]).toEqual(['dev-1']);
    expect([...cl.selection.partitions!]).toEqual([3]);
    expect(mergeRepeatedFlags(['--json', '--reason', 'a', '--limit', '3', '--reason', 'b'])).toEqual(['--json', '--limit', '3', '--reason', 'a,b']);
  });

  it.each([
    [['replay', '--reason', 'nope'], /unknown reason code "nope"/],
    [['replay', '--repair', 'magic'], /unknown repair "magic"/],
    [['replay', '--from', '2026-11-24T10:00:00Z', '--to', '2026-11-24T09:00:00Z'], /--from .* must be before --to/],
    [['replay', '--from', '2026-11-24T10:00:00Z', '--to', '2026-11-24T10:00:00Z'], /must be before/],
    [['replay', '--from', 'yesterday'], /--from: "yesterday" is not a time/],
    [['replay', '--from-offset', '10'], /add --partition/],
    [['replay', '--to-offset', '10', '--partition', '1,2'], /exactly one --partition/],
    [['replay', '--from-offset', '10', '--to-offset', '5', '--partition', '1'], /must not be greater/],
    [['replay', '--partition', 'x'], /not a partition number/],
    [['replay', '--dry-run', '--rate', '10'], /--rate .* --dry-run/],
    [['replay', '--from-start', '--resume'], /contradict/],
    [['replay', '--resume', '--start-offset', '5'], /contradict/],
    [['inspect', '--from-start', '--start-offset', '1:5'], /contradict/],
    [['inspect', '--start-offset', '1:5,1:6'], /twice/],
    [['inspect', '--start-offset', 'abc'], /not N or P:N/],
    [['replay', '--limit', '0'], /--limit/],
    [['replay', '--rate', '-1'], /--rate/],
    [['replay', '--batch-size', 'many'], /--batch-size/],
    [['inspect', '--brokers', 'nohost'], /host:port/],
    [['replay', '--allowed-lateness-secs=-1'], /--allowed-lateness-secs: expected a value >= 0/],
    [['replay', '--allowed-lateness-secs', String(31 * 86400)], /--allowed-lateness-secs: expected a value <= 2592000/],
    [['replay', '--max-future-skew-secs', 'soon'], /--max-future-skew-secs: expected a number/],
    [['replay', '--window-size-secs', '1.5'], /--window-size-secs: expected an integer/],
  ])('rejects %j', (argv, pattern) => expect(usageError(...(argv as string[]))).toMatch(pattern));

  it('takes the event-time knobs from the aggregator`s flags and environment (flags win)', () => {
    const env = { WINDOW_SIZE_SECS: '30', MAX_OUT_OF_ORDER_SECS: '5', ALLOWED_LATENESS_SECS: '3600', MAX_FUTURE_SKEW_SECS: '60' };
    expect((parseCommandLine(['replay'], env) as ReplayCommandLine).windowing).toMatchObject({ windowSizeMs: 30_000, maxOutOfOrdernessMs: 5000, allowedLatenessMs: 3_600_000, maxFutureSkewMs: 60_000 });
    const flags = parseCommandLine(['replay', '--allowed-lateness-secs', '120', '--max-future-skew-secs', '0'], env) as ReplayCommandLine;
    expect(flags.windowing).toMatchObject({ windowSizeMs: 30_000, allowedLatenessMs: 120_000, maxFutureSkewMs: 0 });
  });

  it('explains that --closed-windows is gone (final windows now count late events)', () => {
    for (const argv of [['replay', '--closed-windows', 'refuse'], ['replay', '--closed-windows=publish'], ['replay', '--dry-run', '--closed-windows']]) {
      expect(usageError(...argv)).toBe(CLOSED_WINDOWS_REMOVED);
    }
    expect(CLOSED_WINDOWS_REMOVED).toMatch(/ALLOWED_LATENESS_SECS.*counted once.*refused as late_event/);
    const refuseFromEnv = () => parseCommandLine(['replay'], { REPLAY_CLOSED_WINDOWS: 'refuse' });
    expect(refuseFromEnv).toThrow(UsageError);
    expect(refuseFromEnv).toThrow(CLOSED_WINDOWS_REMOVED);
    // The old default is what every replay does now.
    expect(parseCommandLine(['replay'], { REPLAY_CLOSED_WINDOWS: 'publish' }).command).toBe('replay');
    // inspect never had it.
    expect(usageError('inspect', '--closed-windows', 'refuse')).toMatch(/Unknown option '--closed-windows'/);
  });

  it('derives the start position', () => {
    expect(parse('inspect').start).toEqual({ kind: 'beginning' });
    expect(parse('inspect', '--from', '2026-11-24T09:00:00Z').start).toEqual({ kind: 'time', ms: Date.parse('2026-11-24T09:00:00Z') });
    expect(parse('inspect', '--from', '2026-11-24T09:00:00Z', '--from-start').start).toEqual({ kind: 'beginning' });
    expect(parse('inspect', '--start-offset', '7').start).toEqual({ kind: 'offsets', all: 7 });
    expect(parse('inspect', '--start-offset', '0:7,1:9').start).toEqual({ kind: 'offsets', perPartition: new Map([[0, 7], [1, 9]]) });
    expect(parse('replay', '--resume', '--from', '2026-11-24T09:00:00Z').start).toEqual({ kind: 'committed' });
  });

  it('parses times as ISO-8601 (UTC unless an offset is given), dates and epoch ms', () => {
    expect(parseTimeFlag('2026-11-24T09:00:00Z')).toBe(Date.parse('2026-11-24T09:00:00Z'));
    expect(parseTimeFlag('2026-11-24T10:00:00+01:00')).toBe(Date.parse('2026-11-24T09:00:00Z'));
    expect(parseTimeFlag('2026-11-24 09:00:00')).toBe(Date.parse('2026-11-24T09:00:00Z'));
    expect(parseTimeFlag('2026-11-24')).toBe(Date.parse('2026-11-24T00:00:00Z'));
    expect(parseTimeFlag('1795600000000')).toBe(1795600000000);
    expect(parseTimeFlag('2026-02-30')).toBeUndefined();
    expect(parseTimeFlag('now')).toBeUndefined();
  });
});
