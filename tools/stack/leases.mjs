// Several runs may share one stack (two `npm test`s in one checkout, `npm start` beside a test
// run). "Stop only what this run started" alone would let the first run to finish pull the
// servers out from under the others. So each script run holds a lease while it uses the stack:
// a run that finishes while other live runs hold leases hands its servers over instead of
// stopping them, and the last run to leave stops everything handed over to it.
//
// All functions here are called with the stack lock held.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isAlive } from './process.mjs';

const leaseDir = (cfg) => join(cfg.stateDir, 'leases');
const handoffFile = (cfg) => join(cfg.stateDir, 'leases', 'handoff.json');
const leaseFile = (cfg, startedFile) =>
  join(leaseDir(cfg), `${createHash('sha1').update(resolve(startedFile)).digest('hex').slice(0, 16)}.lease.json`);

function readJson(file, fallback) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return fallback;
  }
}

/** Called by `up --started-file F`: the run identified by F uses the stack while holderPid lives. */
export function takeLease(cfg, startedFile, holderPid) {
  mkdirSync(leaseDir(cfg), { recursive: true });
  writeFileSync(leaseFile(cfg, startedFile), JSON.stringify({ holderPid, startedFile: resolve(startedFile), since: new Date().toISOString() }));
}

/** Live leases other than the one of `startedFile`; leases of dead holders are deleted. */
function otherLiveLeases(cfg, startedFile) {
  const mine = leaseFile(cfg, startedFile);
  const others = [];
  let names = [];
  try {
    names = readdirSync(leaseDir(cfg)).filter((n) => n.endsWith('.lease.json'));
  } catch {
    return others;
  }
  for (const name of names) {
    const file = join(leaseDir(cfg), name);
    if (file === mine) continue;
    const lease = readJson(file, null);
    if (lease && Number.isInteger(lease.holderPid) && isAlive(lease.holderPid)) others.push(lease);
    else rmSync(file, { force: true });
  }
  return others;
}

/**
 * Called by `down --only-if-started F`. Releases F's lease and decides what to stop now:
 * returns {stop: [names], deferredTo: [pids]}. `startedNames` are the servers F's run started.
 */
export function releaseLease(cfg, startedFile, startedNames) {
  rmSync(leaseFile(cfg, startedFile), { force: true });
  const handedOver = readJson(handoffFile(cfg), []);
  const candidates = [...new Set([...startedNames, ...handedOver])];
  const others = otherLiveLeases(cfg, startedFile);
  if (others.length > 0) {
    if (candidates.length > 0) writeFileSync(handoffFile(cfg), JSON.stringify(candidates));
    return { stop: [], deferred: candidates, deferredTo: others.map((l) => l.holderPid) };
  }
  rmSync(handoffFile(cfg), { force: true });
  return { stop: candidates, deferred: [], deferredTo: [] };
}

/** A plain `down` stops everything, so nothing is left to hand over. */
export function clearHandoff(cfg) {
  rmSync(handoffFile(cfg), { force: true });
}
