/** pino JSON logs on stdout, level from LOG_LEVEL, one base field naming the app. */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(app: string, level = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  return pino({
    level,
    base: { app },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
