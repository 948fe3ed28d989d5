/**
 * Prometheus's and Alertmanager's own checkers (Debian's `prometheus` package ships promtool,
 * `prometheus-alertmanager` ships amtool; tools/run/bootstrap.sh installs both). The rule files
 * are only as good as promtool says.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

const TOOLS = {
  promtool: { env: 'PROMTOOL', pkg: 'prometheus' },
  amtool: { env: 'AMTOOL', pkg: 'prometheus-alertmanager' },
} as const;

export function toolPath(name: keyof typeof TOOLS, env: NodeJS.ProcessEnv = process.env): string {
  const { env: override, pkg } = TOOLS[name];
  const candidates = [env[override], `/usr/bin/${name}`, `/usr/local/bin/${name}`].filter((p): p is string => Boolean(p));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`${name} was not found (set ${override}, or install Debian\u2019s ${pkg} package: bash tools/run/bootstrap.sh).`);
  return found;
}

/** Runs the tool; resolves to its combined output, rejects with that output when it fails. */
async function runTool(name: keyof typeof TOOLS, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(toolPath(name), args, { timeout: 120_000 });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${name} ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

export const promtool = (args: string[]) => runTool('promtool', args);
export const amtool = (args: string[]) => runTool('amtool', args);
