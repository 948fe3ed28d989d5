import { HelpRequested, parseConfig, UsageError, type CommandSpec } from './config';

const spec = {
  name: 'demo',
  summary: 'A demo command.',
  options: {
    brokers: { type: 'string', env: 'KAFKA_BROKERS', default: '127.0.0.1:9092', description: 'Brokers.' },
    rate: { type: 'integer', env: 'RATE', default: 10000, min: 0, description: 'Events per second.' },
    fraction: { type: 'number', default: 0, min: 0, max: 1, description: 'A fraction.' },
    mode: { type: 'string', choices: ['a', 'b'] as const, default: 'a', description: 'Mode.' },
    dryRun: { type: 'boolean', default: false, description: 'Dry run.' },
    count: { type: 'integer', min: 1, description: 'Optional count.' },
  },
} satisfies CommandSpec<any>;

describe('parseConfig', () => {
  it('applies defaults, then environment, then flags', () => {
    expect(parseConfig(spec, [], {}).config).toEqual({ brokers: '127.0.0.1:9092', rate: 10000, fraction: 0, mode: 'a', dryRun: false, count: undefined });
    expect(parseConfig(spec, [], { RATE: '500' }).config.rate).toBe(500);
    expect(parseConfig(spec, ['--rate', '7'], { RATE: '500' }).config.rate).toBe(7);
    expect(parseConfig(spec, ['--dry-run', '--count=3'], {}).config).toMatchObject({ dryRun: true, count: 3 });
  });

  it.each([
    [['--rate', 'fast'], /Invalid value "fast" for --rate: expected an integer/],
    [['--rate', '1.5'], /expected an integer/],
    [['--rate=-1'], /expected a value >= 0/],
    [['--fraction', '2'], /expected a value <= 1/],
    [['--mode', 'c'], /expected one of a, b/],
    [['--nope'], /Unknown option '--nope'/],
    [['extra'], /positional argument/],
  ])('rejects %j with a specific message', (argv, message) => {
    expect(() => parseConfig(spec, argv, {})).toThrow(UsageError);
    expect(() => parseConfig(spec, argv, {})).toThrow(message);
  });

  it('names the environment variable when the bad value came from it', () => {
    expect(() => parseConfig(spec, [], { RATE: 'x' })).toThrow(/for RATE: expected an integer/);
  });

  it('reports --help with the usage text listing every flag and env name', () => {
    try {
      parseConfig(spec, ['--help'], {});
      throw new Error('expected HelpRequested');
    } catch (err) {
      expect(err).toBeInstanceOf(HelpRequested);
      const usage = (err as HelpRequested).usage;
      for (const text of ['--brokers', 'KAFKA_BROKERS', '--dry-run', '--rate <integer>', '<a|b>']) expect(usage).toContain(text);
    }
  });
});
