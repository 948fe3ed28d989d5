/**
 * Where a run writes: the result (table or JSON) on stdout, progress lines
 * and warnings on stderr, so `--json` output can be piped as it is.
 */
export interface Output {
  result(text: string): void;
  progress(line: string): void;
  warn(line: string): void;
}

export const processOutput: Output = {
  result: (text) => process.stdout.write(`${text}\n`),
  progress: (line) => process.stderr.write(`[dlq-replayer] ${line}\n`),
  warn: (line) => process.stderr.write(`[dlq-replayer] warning: ${line}\n`),
};
