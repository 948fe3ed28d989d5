// The lifecycle shared by both servers: find out whether our recorded server is usable, start
// it detached if not, wait for real readiness, and stop only what this tool started.
//
// A server is described by an object built in kafka.mjs / clickhouse.mjs:
//   { name, title, pidFile, logFile, marker, endpoint, ports: [{port, envName}],
//     prepare(), command() -> {cmd, args, cwd, stdoutLog, env?}, probe(timeoutMs) }
// `marker` is a string (our config file path) that must appear in the server's command line;
// that is how a recorded pid is told apart from an unrelated process that reused it.
import { StackError, say, seconds, shortPath } from './log.mjs';
import { describeListener, isPortFree } from './ports.mjs';
import {
  fileSize,
  isAlive,
  isOurProcess,
  readPidFile,
  removeFile,
  spawnDetached,
  stopProcess,
  tailLines,
  writePidFile,
} from './process.mjs';
import { probeOnce, waitUntilReady } from './readiness.mjs';

// How long a live-but-unready server we find (left by an interrupted `up`) gets to finish
// starting before we consider it hung and restart it.
const HALF_STARTED_GRACE_MS = 15_000;

function portsKey(server) {
  return server.ports.map((p) => p.port).join(',');
}

/**
 * What the pid file says, checked against reality:
 *   none     no pid file
 *   stale    pid file, but that process is gone (or is now something else)
 *   running  our process is alive (readiness is checked separately)
 */
export function inspect(server) {
  const info = readPidFile(server.pidFile);
  if (!info) return { state: 'none' };
  if (!isOurProcess(info.pid, server.marker)) return { state: 'stale', pid: info.pid, info };
  return { state: 'running', pid: info.pid, info };
}

async function assertPortsFree(server) {
  for (const { port, envName } of server.ports) {
    if (!(await isPortFree(port))) {
      const who = describeListener(port);
      throw new StackError(
        `Port ${port} is already in use by another process, not started by this tool${who ? ` (${who})` : ''}; stop it or set ${envName} to a free port.`,
      );
    }
  }
}

/**
 * Fails fast, before anything is started, when a server we would have to start cannot bind its
 * ports; otherwise `up` would start one server only to stop it again when the other fails.
 * (ensureRunning checks again right before starting.)
 */
export async function preflight(server) {
  if (inspect(server).state !== 'running') await assertPortsFree(server);
}

/**
 * Makes sure the server runs and is ready. Resolves to {started, pid}: started is true only
 * when this call launched it (callers record that so they stop only what they started).
 * `onSpawn(pid)` is called as soon as a process exists, before readiness, for the same reason.
 */
export async function ensureRunning(server, { readyTimeoutMs, stopTimeoutMs, onSpawn = () => {} }) {
  const found = inspect(server);

  if (found.state === 'stale') {
    say(`${server.name}: removed stale pid file (pid ${found.pid} is not running)`);
    removeFile(server.pidFile);
  }

  if (found.state === 'running') {
    if (found.info.ports && found.info.ports !== portsKey(server)) {
      const envNames = server.ports.map((p) => p.envName).join('/');
      throw new StackError(
        `${server.title} from this STACK_DIR is already running (pid ${found.pid}) on port(s) ${found.info.ports}, but ${envNames} now ask for ${portsKey(server)}; run \`node tools/stack/stack.mjs down\` first or use another STACK_DIR.`,
      );
    }
    if (await probeOnce(() => server.probe(2000))) {
      say(`${server.name} already running (pid ${found.pid}) on ${server.endpoint}`);
      return { started: false, pid: found.pid };
    }
    // Alive but not answering: maybe an interrupted `up` left it mid-start. Give it a moment.
    const grace = await waitUntilReady(() => server.probe(2000), {
      timeoutMs: Math.min(HALF_STARTED_GRACE_MS, readyTimeoutMs),
      gaveUp: () => (isAlive(found.pid) ? null : 'exited'),
    });
    if (grace.ready) {
      say(`${server.name} already running (pid ${found.pid}) on ${server.endpoint} (finished starting)`);
      return { started: false, pid: found.pid };
    }
    say(`${server.name} (pid ${found.pid}) is running but not answering on ${server.endpoint}; restarting it`);
    await stopProcess(found.pid, stopTimeoutMs);
    removeFile(server.pidFile);
  }

  return start(server, { readyTimeoutMs, onSpawn });
}

async function start(server, { readyTimeoutMs, onSpawn }) {
  await assertPortsFree(server);
  await server.prepare();
  const { cmd, args, cwd, stdoutLog, env } = server.command();

  const t0 = Date.now();
  const logOffsets = { stdout: fileSize(stdoutLog), error: server.errorLog ? fileSize(server.errorLog) : 0 };
  const child = spawnDetached(cmd, args, { cwd, logFile: stdoutLog, ...(env ? { env } : {}) });
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  // A spawn failure (ENOENT...) arrives as an 'error' event; treat it like an exit.
  child.on('error', (err) => (exited = { code: null, signal: null, error: err }));
  if (!child.pid) await new Promise((r) => setImmediate(r));
  if (!child.pid) throw new StackError(`Could not start ${server.title} (${cmd}): ${exited?.error?.message ?? 'unknown error'}.`);

  writePidFile(server.pidFile, { pid: child.pid, ports: portsKey(server), startedAt: new Date().toISOString() });
  onSpawn(child.pid);

  const result = await waitUntilReady(() => server.probe(2000), {
    timeoutMs: readyTimeoutMs,
    gaveUp: () => (exited ? 'exited' : null),
  });
  if (result.ready) {
    say(`${server.name} started (pid ${child.pid}) on ${server.endpoint}, ready in ${seconds(Date.now() - t0)}; log ${shortPath(server.logFile)}`);
    return { started: true, pid: child.pid };
  }

  // Failed: never leave a half-started server behind.
  if (!exited) await stopProcess(child.pid, 5000);
  removeFile(server.pidFile);
  if (result.reason === 'exited') {
    const how = exited.error ? exited.error.message : exited.signal ? `signal ${exited.signal}` : `exit code ${exited.code}`;
    const details = [
      ...new Set([...tailLines(stdoutLog, 8, logOffsets.stdout), ...(server.errorLog ? tailLines(server.errorLog, 5, logOffsets.error) : [])]),
    ];
    throw new StackError(`${server.title} exited during startup (${how}); see ${shortPath(server.logFile)}`, { details });
  }
  throw new StackError(`${server.title} did not become ready within ${Math.round(readyTimeoutMs / 1000)} s; see ${shortPath(server.logFile)}`, {
    details: result.lastError ? [`last check: ${result.lastError.message}`] : [],
  });
}

/** Stops the recorded server if it is ours. Resolves to a short description of what happened. */
export async function stopServer(server, { stopTimeoutMs }) {
  const found = inspect(server);
  if (found.state === 'none') return { stopped: false, message: `${server.name} is not running` };
  if (found.state === 'stale') {
    removeFile(server.pidFile);
    return { stopped: false, message: `${server.name} was not running (removed stale pid file for pid ${found.pid})` };
  }
  const { forced, ms } = await stopProcess(found.pid, stopTimeoutMs);
  removeFile(server.pidFile);
  return {
    stopped: true,
    message: `stopped ${server.name} (pid ${found.pid}) in ${seconds(ms)}${forced ? ` (SIGKILL after ${seconds(stopTimeoutMs)})` : ''}`,
  };
}

/** For `status`: state, pid, readiness, and who holds the port when it is not us. */
export async function describe(server) {
  const found = inspect(server);
  const base = { name: server.name, endpoint: server.endpoint, log: server.logFile, pidFile: server.pidFile };
  if (found.state === 'running') {
    const ready = await probeOnce(() => server.probe(2000));
    return { ...base, state: 'running', pid: found.pid, ready };
  }
  const busy = [];
  for (const { port } of server.ports) {
    if (!(await isPortFree(port))) {
      const who = describeListener(port);
      busy.push(`${port}${who ? ` (${who})` : ''}`);
    }
  }
  return { ...base, state: 'stopped', stalePid: found.state === 'stale' ? found.pid : undefined, portsInUseByOthers: busy };
}
