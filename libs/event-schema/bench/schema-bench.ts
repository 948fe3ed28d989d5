/**
 * Microbenchmark: parse+validate throughput on one core (and the generator's).
 * Run it on a quiet machine: other processes on the same cores skew it.
 *
 *   npx nx run event-schema:bench
 *
 * which bundles this file with esbuild (like the apps are built) and runs
 * `node tmp/bench/schema-bench.js --json tmp/bench/schema-bench.json`.
 *
 * Each case runs 7 rounds over a pre-generated sample after a warm-up and
 * reports the median round (events/s and ns/event). Single-threaded.
 */
import fs from 'node:fs';
import os from 'node:os';
import { EventGenerator, generateEvents, parseAndValidate, parseJsonAndValidate, validateEvent } from '../src';

const SAMPLE = 200_000;
const ROUNDS = 7;
const start = Date.parse('2026-11-24T09:00:00Z');

function measure(name: string, n: number, fn: () => number) {
  fn(); // warm-up
  const rates: number[] = [];
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    sink += fn();
    const ns = Number(process.hrtime.bigint() - t0);
    rates.push((n * 1e9) / ns);
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(ROUNDS / 2)];
  const row = { case: name, eventsPerSec: Math.round(median), nsPerEvent: Math.round(1e9 / median), min: Math.round(rates[0]), max: Math.round(rates[ROUNDS - 1]), sink };
  console.log(`${name.padEnd(42)} ${String(row.eventsPerSec).padStart(10)} events/s  ${String(row.nsPerEvent).padStart(6)} ns/event  (min ${row.min}, max ${row.max})`);
  return row;
}

console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg()[0].toFixed(2)}; ${SAMPLE} events per round`);
// The generator runs first, before the samples below fill the heap.
const generatorResult = measure('generator (EventGenerator.next)', SAMPLE, () => {
  const gen = new EventGenerator({ seed: 3, startTimeMs: start });
  let bytes = 0;
  for (let i = 0; i < SAMPLE; i++) bytes += gen.next().value.length;
  return bytes;
});

const payloadResult = measure('generator (EventGenerator.nextPayload)', SAMPLE, () => {
  const gen = new EventGenerator({ seed: 3, startTimeMs: start });
  let bytes = 0;
  for (let i = 0; i < SAMPLE; i++) bytes += gen.nextPayload().value.length;
  return bytes;
});

const valid = [...generateEvents({ seed: 1, startTimeMs: start, count: SAMPLE })].map((r) => r.value);
const mixed = [...generateEvents({ seed: 2, startTimeMs: start, count: SAMPLE, faults: { invalidFraction: 0.1 } })].map((r) => r.value);
const parsed = valid.map((b) => JSON.parse(b.toString()));
const avgBytes = valid.reduce((s, b) => s + b.length, 0) / valid.length;

console.log(`average payload ${avgBytes.toFixed(1)} bytes`);
const results = [
  generatorResult,
  payloadResult,
  measure('JSON.parse only (baseline)', SAMPLE, () => {
    let ok = 0;
    for (const b of valid) if (JSON.parse(b.toString()) !== null) ok++;
    return ok;
  }),
  measure('parseAndValidate, all valid', SAMPLE, () => {
    let ok = 0;
    for (const b of valid) if (parseAndValidate(b).ok) ok++;
    return ok;
  }),
  measure('general path only (JSON.parse + ajv, as before the scanner), all valid', SAMPLE, () => {
    let ok = 0;
    for (const b of valid) if (parseJsonAndValidate(b).ok) ok++;
    return ok;
  }),
  measure('parseAndValidate, 10% malformed (all kinds)', SAMPLE, () => {
    let ok = 0;
    for (const b of mixed) if (parseAndValidate(b).ok) ok++;
    return ok;
  }),
  measure('validateEvent (already parsed)', SAMPLE, () => {
    let ok = 0;
    for (const e of parsed) if (validateEvent(e).ok) ok++;
    return ok;
  }),
];

const jsonAt = process.argv.indexOf('--json');
if (jsonAt > 0 && process.argv[jsonAt + 1]) {
  fs.writeFileSync(process.argv[jsonAt + 1], JSON.stringify({ node: process.version, cpu: os.cpus()[0]?.model, avgBytes, results }, null, 2));
}
