/** pino JSON logs on stdout, level from LOG_LEVEL, one base field naming the app. */
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /**
   * Where lines go (default: straight to fd 1). A worker thread passes its
   * process.stdout, which hands whole lines to the main thread, so lines of
   * several threads never interleave mid-line.
   */
  destination?: DestinationStream;
}

export function createLogger(app: string, options: LoggerOptions = {}): Logger {
  const opts = {
    level: options.level ?? process.env['LOG_LEVEL'] ?? 'info',
    base: { app },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
