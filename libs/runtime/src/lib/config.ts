/**
 * Declarative command-line + environment configuration.
 *
 * Every knob of every app is declared once (flag name, environment name,
 * type, default, help text) and parsed with node:util parseArgs. Flags win over
 * the environment, the environment wins over defaults. Any invalid value
 * throws a UsageError whose message names the flag, the bad value and what is
 * expected; `runMain` turns that into a usage message and exit code 2.
 */
import { parseArgs } from 'node:util';

export type OptionType = 'string' | 'integer' | 'number' | 'boolean';

interface OptionSpecBase<T> {
  /** Environment variable that also sets this option (flags take precedence). */
  env?: string;
  description: string;
  default?: T;
  /** Extra validation; return an error message or undefined. */
  validate?: (value: T) => string | undefined;
  /** One-letter alias for the flag. */
  short?: string;
}

export type OptionSpec =
  | ({ type: 'string'; choices?: readonly string[] } & OptionSpecBase<string>)
  | ({ type: 'integer'; min?: number; max?: number } & OptionSpecBase<number>)
  | ({ type: 'number'; min?: number; max?: number } & OptionSpecBase<number>)
  | ({ type: 'boolean' } & OptionSpecBase<boolean>);

export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S extends { type: 'string' }
  ? string
  : S extends { type: 'boolean' }
    ? boolean
    : number;

/** Parsed configuration: options with a default are always present. */
export type ParsedConfig<S extends OptionSpecs> = {
  [K in keyof S]: S[K] extends { default: unknown } ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
};

export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Thrown for --help: not an error, but parsing stops. */
export class HelpRequested extends Error {
  constructor(readonly usage: string) {
    super('help requested');
    this.name = 'HelpRequested';
  }
}

export interface CommandSpec<S extends OptionSpecs> {
  name: string;
  summary: string;
  options: S;
  /** Extra lines printed after the options (examples, notes). */
  epilogue?: string;
  /** Accept positional arguments (e.g. subcommands); default false. */
  allowPositionals?: boolean;
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function formatUsage<S extends OptionSpecs>(spec: CommandSpec<S>): string {
  const rows = Object.entries(spec.options).map(([key, o]) => {
    const flag = `--${kebab(key)}${o.type === 'boolean' ? '' : ` <${o.type === 'string' && 'choices' in o && o.choices ? o.choices.join('|') : o.type}>`}`;
    const extras = [
      o.env ? `env ${o.env}` : undefined,
      o.default !== undefined ? `default ${JSON.stringify(o.default)}` : undefined,
    ].filter(Boolean);
    return { flag: (o.short ? `-${o.short}, ` : '    ') + flag, text: `${o.description}${extras.length ? ` (${extras.join(', ')})` : ''}` };
  });
  rows.push({ flag: '    --help', text: 'Show this help and exit.' });
  const width = Math.max(...rows.map((r) => r.flag.length)) + 2;
  return [
    `Usage: ${spec.name} [options]`,
    '',
    spec.summary,
    '',
    'Options:',
    ...rows.map((r) => `  ${r.flag.padEnd(width)}${r.text}`),
    ...(spec.epilogue ? ['', spec.epilogue] : []),
  ].join('\n');
}

function convert(key: string, spec: OptionSpec, raw: string | boolean, source: string, usage: string): unknown {
  const where = source === 'flag' ? `--${kebab(key)}` : `${spec.env}`;
  const fail = (expected: string): never => {
    throw new UsageError(`Invalid value ${JSON.stringify(raw)} for ${where}: expected ${expected}.`, usage);
  };
  switch (spec.type) {
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
      return fail('true or false');
    }
    case 'string': {
      const v = String(raw);
      if (spec.choices && !spec.choices.includes(v)) fail(`one of ${spec.choices.join(', ')}`);
      return v;
    }
    case 'integer':
    case 'number': {
      const text = String(raw).trim();
      const n = text === '' ? NaN : Number(text);
      if (!Number.isFinite(n) || (spec.type === 'integer' && !Number.isInteger(n))) fail(spec.type === 'integer' ? 'an integer' : 'a number');
      if (spec.min !== undefined && n < spec.min) fail(`a value >= ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) fail(`a value <= ${spec.max}`);
      return n;
    }
  }
}

/**
 * Parses argv (without node and script) and env against the spec.
 * Throws UsageError for anything invalid, HelpRequested for --help.
 */
export function parseConfig<S extends OptionSpecs>(
  spec: CommandSpec<S>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): { config: ParsedConfig<S>; positionals: string[] } {
  const usage = formatUsage(spec);
  const parseOptions: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean' } };
  for (const [key, o] of Object.entries(spec.options)) {
    parseOptions[kebab(key)] = { type: o.type === 'boolean' ? 'boolean' : 'string', ...(o.short ? { short: o.short } : {}) };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: parseOptions, allowPositionals: spec.allowPositionals ?? false, strict: true });
  } catch (err) {
    // parseArgs messages are already specific ("Unknown option '--x'").
    throw new UsageError((err as Error).message.split('\n')[0], usage);
  }
  if (parsed.values['help']) throw new HelpRequested(usage);

  const config: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(spec.options)) {
    const flagValue = parsed.values[kebab(key)];
    const envValue = o.env !== undefined ? env[o.env] : undefined;
    let value: unknown;
    if (flagValue !== undefined) value = convert(key, o, flagValue as string | boolean, 'flag', usage);
    else if (envValue !== undefined && envValue !== '') value = convert(key, o, envValue, 'env', usage);
    else value = o.default;
    if (value !== undefined && o.validate) {
      const problem = (o.validate as (v: unknown) => string | undefined)(value);
      if (problem) throw new UsageError(`Invalid --${kebab(key)}: ${problem}`, usage);
    }
    config[key] = value;
  }
  return { config: config as ParsedConfig<S>, positionals: parsed.positionals };
}

/**
 * Runs an app's main function with the conventions every app shares:
 * --help prints usage and exits 0, a UsageError prints the message and usage
 * to stderr and exits 2, any other startup error is printed as one line and
 * exits 1 (no stack trace unless DEBUG is set).
 */
export function runMain(main: () => Promise<number | void>): void {
  // Once main has finished its own orderly shutdown the process ends, even if
  // a client library still holds a handle (a broker that never answered a
  // disconnect must not keep a stopped app alive).
  // stdout/stderr to a pipe are asynchronous: wait until what main printed
  // (e.g. a large --json report) is written, with a bounded fallback.
  const exit = () => {
    setTimeout(() => process.exit(), 10000).unref();
    let pending = 2;
    const done = () => {
      if (--pending === 0) process.exit();
    };
    process.stdout.write('', done);
    process.stderr.write('', done);
  };
  main().then(
    (code) => {
      if (typeof code === 'number') process.exitCode = code;
      exit();
    },
    (err: unknown) => {
      if (err instanceof HelpRequested) {
        process.stdout.write(`${err.usage}\n`);
        process.exitCode = 0;
      } else if (err instanceof UsageError) {
        process.stderr.write(`error: ${err.message}\n\n${err.usage}\n`);
        process.exitCode = 2;
      } else {
        const e = err as Error;
        process.stderr.write(`fatal: ${e?.message ?? String(err)}\n${process.env['DEBUG'] ? `${e?.stack}\n` : ''}`);
        process.exitCode = 1;
      }
      exit();
    },
  );
}
