// Human output of the stack tool. Log lines go to stderr so that stdout carries only
// machine-readable output (`env` export lines, `status --json`) and can be eval'ed.
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function say(message) {
  process.stderr.write(`[stack] ${message}\n`);
}

/** A failure the user can act on: printed as one sentence, exit code 1, no stack trace. */
export class StackError extends Error {
  constructor(message, { details } = {}) {
    super(message);
    this.name = 'StackError';
    // Optional extra lines (e.g. the tail of a server log) printed under the sentence.
    this.details = details;
  }
}

/** Paths are shown relative to the repo when inside it: shorter lines, still clickable. */
export function shortPath(p) {
  const rel = relative(REPO_ROOT, p);
  return rel && !rel.startsWith('..') ? rel : p;
}

export function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}
