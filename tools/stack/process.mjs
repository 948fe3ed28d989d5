// Process plumbing: pid files, liveness, detached spawning, stopping, PATH lookup.
// Linux-specific where it helps (/proc); the dev machines are Debian.
import { spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Pid files hold JSON ({pid, ports, startedAt}); anything unreadable counts as absent. */
export function readPidFile(file) {
  try {
    const info = JSON.parse(readFileSync(file, 'utf8'));
    return Number.isInteger(info?.pid) && info.pid > 0 ? info : null;
  } catch {
    return null;
  }
}

export function writePidFile(file, info) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(info)}\n`);
}

export function removeFile(file) {
  rmSync(file, { force: true });
}

/**
 * True when the pid exists and is not a zombie. The servers are detached and outlive this
 * tool; if the machine's pid 1 does not reap orphans, a dead server lingers as a zombie and
 * kill(pid, 0) alone would still call it alive.
 */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: exists but belongs to someone else, so it is alive (and surely not ours).
    return err.code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3 (state) follows the parenthesised command name, which may itself contain spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return existsSync(`/proc/${pid}`) || !existsSync('/proc/self');
  }
}

export function commandLine(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * Pids get reused, so a live pid from our pid file is only "ours" when its command line still
 * names our own config file (which lives in this STACK_DIR).
 */
export function isOurProcess(pid, marker) {
  return isAlive(pid) && commandLine(pid).some((arg) => arg.includes(marker));
}

/**
 * Starts a server that must outlive this tool: its own session (so a Ctrl-C in the terminal
 * that ran `up` does not reach it), output appended to a log file, not keeping us alive.
 */
export function spawnDetached(cmd, args, { cwd, logFile, env = process.env }) {
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL after timeoutMs. Resolves once the process is gone. */
export async function stopProcess(pid, timeoutMs) {
  const t0 = Date.now();
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return { forced: false, ms: 0 };
  }
  while (Date.now() - t0 < timeoutMs) {
    if (!isAlive(pid)) return { forced: false, ms: Date.now() - t0 };
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* exited in between */
  }
  while (isAlive(pid) && Date.now() - t0 < timeoutMs + 5000) await sleep(50);
  return { forced: true, ms: Date.now() - t0 };
}

export function findOnPath(name, extraDirs = []) {
  const dirs = [...(process.env.PATH || '').split(delimiter), ...extraDirs].filter(Boolean);
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* keep looking */
    }
  }
  return null;
}

/** Runs a short command to completion, capturing its output. */
export function run(cmd, args, { cwd, env = process.env, timeoutMs = 0 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : null;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolvePromise({ code: code ?? 128, signal, stdout, stderr });
    });
  });
}

export function fileSize(file) {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Last non-empty lines of a log file, for showing why a server died. */
export function tailLines(file, count, fromOffset = 0) {
  let fd;
  try {
    // Logs can be large; the last 64 KiB hold far more than `count` lines. `fromOffset` skips
    // what earlier runs appended to the same file.
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const start = Math.max(fromOffset, size - 64 * 1024, 0);
    const length = Math.max(size - start, 0);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, start);
    return buf.toString('utf8').split('\n').filter((l) => l.trim()).slice(-count);
  } catch {
    return [];
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
