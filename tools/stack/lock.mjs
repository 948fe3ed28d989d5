// A cross-process lock so that concurrent `up`s (e.g. parallel jest workers) don't start
// duplicate servers: the second one waits, then finds the servers running and reuses them.
// mkdir is atomic on every local filesystem, so the directory itself is the lock; a file inside
// names the owner so a lock left by a killed process can be recognised and cleared.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StackError, say, seconds, shortPath } from './log.mjs';
import { commandLine, isAlive, sleep } from './process.mjs';

const OWNER_FILE = 'owner.json';

function readOwner(lockDir) {
  try {
    return JSON.parse(readFileSync(join(lockDir, OWNER_FILE), 'utf8'));
  } catch {
    return null;
  }
}

/** The owner still holds the lock if it is alive and still a stack.mjs process (pids get reused). */
function ownerAlive(owner) {
  return isAlive(owner.pid) && commandLine(owner.pid).some((arg) => arg.endsWith('stack.mjs'));
}

function ageMs(path) {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Removes a stale lock. Renaming first means only one of several waiters that all saw the same
 * stale lock gets to delete it; the others' rename fails and they simply retry mkdir.
 */
function breakStaleLock(lockDir) {
  const trash = `${lockDir}.stale-${process.pid}-${Date.now()}`;
  try {
    renameSync(lockDir, trash);
  } catch {
    return;
  }
  rmSync(trash, { recursive: true, force: true });
}

export async function acquireLock(lockDir, { command, timeoutMs }) {
  mkdirSync(dirname(lockDir), { recursive: true });
  const t0 = Date.now();
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, OWNER_FILE), JSON.stringify({ pid: process.pid, command, since: new Date().toISOString() }));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    const owner = readOwner(lockDir);
    if (owner ? !ownerAlive(owner) : ageMs(lockDir) > 10_000) {
      // Owner died (kill -9, crash) or never wrote its file: the lock is stale.
      say(`removing stale lock ${shortPath(lockDir)}${owner ? ` (pid ${owner.pid} is gone)` : ''}`);
      breakStaleLock(lockDir);
      continue;
    }
    if (!announced && owner) {
      say(`waiting for another stack command (pid ${owner.pid}, ${owner.command}) to finish`);
      announced = true;
    }
    if (Date.now() - t0 > timeoutMs) {
      throw new StackError(
        `Another stack command (pid ${owner?.pid ?? '?'}) still holds ${shortPath(lockDir)} after ${seconds(timeoutMs)}; wait for it, stop it, or remove that directory if it is stuck.`,
      );
    }
    await sleep(200);
  }

  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    // Only delete the lock if it is still ours (it may have been broken as stale meanwhile).
    if (readOwner(lockDir)?.pid === process.pid) rmSync(lockDir, { recursive: true, force: true });
  };
  // Also release when the process exits abruptly via process.exit (signals are handled in stack.mjs).
  process.once('exit', release);
  return release;
}
