/**
 * Runs a built app (dist/apps/<app>/main.js) as a real child process, the way
 * an operator would, capturing output and exit code. Apps' test targets depend
 * on their build, so the bundle exists when these tests run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { workspaceRoot } from './endpoints';

export interface AppRun {
  child: ChildProcess;
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  stdout(): string;
  stderr(): string;
  /** Resolves when a line matching the pattern appears on stdout or stderr. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

export function appBundle(app: string): string {
  const bundle = path.join(workspaceRoot(), 'dist/apps', app, 'main.js');
  if (!fs.existsSync(bundle)) throw new Error(`${bundle} is missing; run: npx nx build ${app}`);
  return bundle;
}

/** Apps started by this test file and not yet exited. */
const running = new Set<ChildProcess>();

// A test that fails before stopping its apps must not leave them running: they
// would hold Jest open (and keep consuming) until the CI job times out.
const jestAfterAll = (globalThis as { afterAll?: (fn: () => void) => void }).afterAll;
jestAfterAll?.(() => {
  for (const child of running) child.kill('SIGKILL');
});

export function startApp(app: string, args: string[], env: Record<string, string | undefined> = {}): AppRun {
  const child = spawn(process.execPath, [appBundle(app), ...args], {
    // No retention job unless a test asks for one: test data lies years in the
    // past (1980-2023) in the shared ClickHouse, and the job would drop it.
    env: { ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info', RETENTION_INTERVAL_SECS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let out = '';
  let err = '';
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = w.pattern.exec(out + err);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m[0]);
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => ((out += d.toString()), check()));
  child.stderr!.on('data', (d: Buffer) => ((err += d.toString()), check()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err })),
  );
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    waitForOutput: (pattern, timeoutMs = 60000) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in ${app} output:\n${out}\n${err}`)), timeoutMs);
        waiters.push({ pattern, resolve: (line) => (clearTimeout(timer), resolve(line)) });
        check();
      }),
  };
}

/** Runs an app to completion. */
export async function runApp(app: string, args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 300000) {
  const run = startApp(app, args, env);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  try {
    return await run.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** The direct children of a process (Linux /proc), e.g. an app's forked workers. */
export function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    const children = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (children) pids.push(...children.split(/\s+/).map(Number));
  }
  return pids;
}
