/**
 * DLQ replayer entry point: `dlq-replayer inspect|replay [options]`.
 * Exit codes: 0 done, 1 fatal error (e.g. Kafka unreachable, fenced by
 * another replayer), 2 usage error (unknown flag, contradictory selection).
 */
import { runMain } from '@stream-analytics/runtime';
import { parseCommandLine } from './app/cli';
import { runInspect } from './app/inspect';
import { processOutput } from './app/output';
import { runReplay } from './app/replay';

runMain(async () => {
  const cl = parseCommandLine(process.argv.slice(2));
  if (cl.command === 'inspect') await runInspect(cl, processOutput);
  else await runReplay(cl, processOutput);
  return 0;
});
