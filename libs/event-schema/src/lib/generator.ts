/**
 * Deterministic telemetry generator: the dataset is a pure function of its
 * options (no I/O, no clock, no Math.random), so a test can regenerate exactly
 * what the producer sent and compute expected results offline.
 *
 * Model
 * - Devices `dev-000000`.. each have a stable user (`user-` + device index
 *   modulo `users`), a base temperature, a daily cycle, a 15-minute HVAC
 *   cycle and AR(1) noise; the metric follows its own AR(1) process and
 *   the temperature. Normal readings score low (anomaly_score < 0.9 for all
 *   practical purposes); an injected anomaly (probability `anomalyFraction`)
 *   spikes temperature and metric and scores 0.9-1.0.
 * - Event i is emitted by a uniformly drawn device at simulated time
 *   `startTimeMs + floor(i * 1000 / ratePerSec)`.
 * - Faults (each event gets at most one): malformed payloads of the requested
 *   kinds, out-of-order events (event time up to `maxOutOfOrderMs` earlier) and
 *   late events (`lateMinMs`-`lateMaxMs` earlier, beyond any allowed lateness).
 * - Independent PRNG streams: readings, ids, fault choice and malformed
 *   variants do not disturb each other, so changing the fault fractions changes
 *   which events are faulty but not the underlying readings, and the first N
 *   records never depend on `count`.
 */
import { Random, uuidFromWords, writeUuid } from './random';
import { type ReasonCode } from './reasons';
import { EVENT_FIELDS, MAX_EVENT_BYTES, type EventStatus, type TelemetryEvent } from './schema';
import { formatUtcMillis, writeUtcMillis } from './time';

/** Malformed-payload kinds, each mapped to the reason the validator gives it. */
export const MALFORMED_REASONS = {
  invalid_json: 'invalid_json',
  too_large: 'too_large',
  wrong_type: 'wrong_type',
  missing_field: 'missing_field',
  unknown_field: 'unknown_field',
  out_of_range: 'out_of_range',
  invalid_value: 'invalid_value',
  bad_timestamp: 'bad_timestamp',
  /** A numeric field sent as a numeric string ("temperature":"21.5"): repairable. */
  repairable_numeric_string: 'wrong_type',
  /** event_time with an offset, a space separator or no Z (same instant): repairable. */
  repairable_timestamp: 'bad_timestamp',
} as const satisfies Record<string, ReasonCode>;

export type MalformedKind = keyof typeof MALFORMED_REASONS;
export const MALFORMED_KINDS = Object.keys(MALFORMED_REASONS) as MalformedKind[];
export const REPAIRABLE_KINDS: readonly MalformedKind[] = ['repairable_numeric_string', 'repairable_timestamp'];
export type FaultKind = MalformedKind | 'out_of_order' | 'late';

export interface FaultOptions {
  /** Fraction of events replaced by a malformed payload (default 0). */
  invalidFraction?: number;
  /** Kinds of malformed payloads, drawn uniformly (default: all MALFORMED_KINDS). */
  invalidKinds?: readonly MalformedKind[];
  /** Fraction of valid events whose time is moved back by 1..maxOutOfOrderMs (default 0). */
  outOfOrderFraction?: number;
  /** Largest out-of-order shift in ms (default 5000, inside the aggregator's 10 s bound). */
  maxOutOfOrderMs?: number;
  /** Fraction of valid events whose time is moved back by lateMinMs..lateMaxMs (default 0). */
  lateFraction?: number;
  /** Default 120000 (2 min). */
  lateMinMs?: number;
  /** Default 300000 (5 min). */
  lateMaxMs?: number;
}

export interface GeneratorOptions {
  /** 32-bit unsigned integer; same seed and options, same records. */
  seed: number;
  /** Number of simulated devices (default 2000). */
  devices?: number;
  /** Number of users owning them (default 500). */
  users?: number;
  /** Number of records; undefined = endless. */
  count?: number;
  /** Simulated time of record 0, epoch ms. */
  startTimeMs: number;
  /** Events per simulated second (default 10000). */
  ratePerSec?: number;
  /** Probability that a reading is an anomaly (default 0.005). */
  anomalyFraction?: number;
  faults?: FaultOptions;
}

export interface GeneratedRecord {
  /** Position in the generated sequence, from 0. */
  index: number;
  /** Message key: the device_id of the emitting device (also for malformed payloads). */
  key: string;
  /** Exact message payload. */
  value: Buffer;
  /** The event when the payload is valid (including out_of_order and late events). */
  event?: TelemetryEvent;
  fault?: FaultKind;
  /** For malformed payloads: the reason code parseAndValidate returns. */
  reason?: ReasonCode;
  /** For repairable payloads: the event a correct repair yields. */
  repaired?: TelemetryEvent;
}

export type ResolvedGeneratorOptions = Required<Omit<GeneratorOptions, 'faults' | 'count'>> & { count: number | undefined; faults: Required<FaultOptions> };

export const GENERATOR_DEFAULTS = {
  devices: 2000,
  users: 500,
  ratePerSec: 10000,
  anomalyFraction: 0.005,
  maxOutOfOrderMs: 5000,
  lateMinMs: 120000,
  lateMaxMs: 300000,
} as const;

const fraction = (name: string, v: number) => {
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be in [0, 1] (got ${v})`);
  return v;
};
const positiveInt = (name: string, v: number) => {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer (got ${v})`);
  return v;
};

/** Fills in defaults and checks ranges (throws RangeError). */
export function resolveGeneratorOptions(opts: GeneratorOptions): ResolvedGeneratorOptions {
  const f = opts.faults ?? {};
  const faults: Required<FaultOptions> = {
    invalidFraction: fraction('invalidFraction', f.invalidFraction ?? 0),
    invalidKinds: f.invalidKinds ?? MALFORMED_KINDS,
    outOfOrderFraction: fraction('outOfOrderFraction', f.outOfOrderFraction ?? 0),
    maxOutOfOrderMs: positiveInt('maxOutOfOrderMs', f.maxOutOfOrderMs ?? GENERATOR_DEFAULTS.maxOutOfOrderMs),
    lateFraction: fraction('lateFraction', f.lateFraction ?? 0),
    lateMinMs: positiveInt('lateMinMs', f.lateMinMs ?? GENERATOR_DEFAULTS.lateMinMs),
    lateMaxMs: positiveInt('lateMaxMs', f.lateMaxMs ?? GENERATOR_DEFAULTS.lateMaxMs),
  };
  if (faults.invalidFraction + faults.outOfOrderFraction + faults.lateFraction > 1 + 1e-12) {
    throw new RangeError('invalidFraction + outOfOrderFraction + lateFraction must not exceed 1');
  }
  if (faults.invalidKinds.length === 0 && faults.invalidFraction > 0) throw new RangeError('invalidKinds is empty');
  for (const k of faults.invalidKinds) if (!(k in MALFORMED_REASONS)) throw new RangeError(`unknown malformed kind "${k}"`);
  if (faults.lateMaxMs < faults.lateMinMs) throw new RangeError('lateMaxMs must be >= lateMinMs');
  if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2^32) (got ${opts.seed})`);
  if (!Number.isFinite(opts.startTimeMs)) throw new RangeError('startTimeMs must be a finite number');
  const ratePerSec = opts.ratePerSec ?? GENERATOR_DEFAULTS.ratePerSec;
  if (!(ratePerSec > 0)) throw new RangeError(`ratePerSec must be > 0 (got ${ratePerSec})`);
  if (opts.count !== undefined && (!Number.isInteger(opts.count) || opts.count < 0)) throw new RangeError(`count must be a non-negative integer (got ${opts.count})`);
  return {
    seed: opts.seed,
    devices: positiveInt('devices', opts.devices ?? GENERATOR_DEFAULTS.devices),
    users: positiveInt('users', opts.users ?? GENERATOR_DEFAULTS.users),
    count: opts.count,
    startTimeMs: Math.floor(opts.startTimeMs),
    ratePerSec,
    anomalyFraction: fraction('anomalyFraction', opts.anomalyFraction ?? GENERATOR_DEFAULTS.anomalyFraction),
    faults,
  };
}

/** device_id of device index d (0-based). */
export function deviceId(d: number): string {
  return `dev-${String(d).padStart(6, '0')}`;
}

/** user_id of user index u (0-based). */
export function userId(u: number): string {
  return `user-${String(u).padStart(5, '0')}`;
}

// ---- payload encoding ----
// Valid payloads are written byte by byte into 256 KiB slabs (one allocation
// per ~1000 events): the text is ASCII and its pieces (ids, digits) are known,
// so no intermediate strings are built. Numbers are fixed-point integers
// written as the same text String(n / 10^k) gives (so they parse back to
// exactly the event's numbers).
const SLAB_BYTES = 256 * 1024;
const MAX_VALID_BYTES = 512;
const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const PIECES = {
  eventId: ascii('{"event_id":"'),
  eventTime: ascii('","event_time":"'),
  metric: ascii(',"metric_value":'),
};
/** `","device_id":"<device>","user_id":"<user>","temperature":` for one device. */
const devicePiece = (device: string, user: string) => ascii(`","device_id":"${device}","user_id":"${user}","temperature":`);
/** `,"status":"<status>","anomaly_score":` per status. */
const STATUS_PIECES: Record<EventStatus, Uint8Array> = {
  ok: ascii(',"status":"ok","anomaly_score":'),
  warning: ascii(',"status":"warning","anomaly_score":'),
  error: ascii(',"status":"error","anomaly_score":'),
  offline: ascii(',"status":"offline","anomaly_score":'),
};

class SlabWriter {
  private buf = Buffer.allocUnsafe(SLAB_BYTES);
  private pos = 0;
  private start = 0;

  begin(): void {
    if (this.pos + MAX_VALID_BYTES > SLAB_BYTES) {
      this.buf = Buffer.allocUnsafe(SLAB_BYTES);
      this.pos = 0;
    }
    this.start = this.pos;
  }

  end(): Buffer {
    return this.buf.subarray(this.start, this.pos);
  }

  bytes(b: Uint8Array): void {
    const buf = this.buf;
    const n = b.length;
    if (n > 24) {
      buf.set(b, this.pos);
      this.pos += n;
      return;
    }
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = b[i];
    this.pos = p;
  }

  byte(c: number): void {
    this.buf[this.pos++] = c;
  }

  /** Non-negative integer in decimal. */
  uint(n: number): void {
    if (n < 10) {
      this.buf[this.pos++] = 48 + n;
      return;
    }
    let digits = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    for (let t = n; digits-- > 0; t = Math.floor(t / 10)) this.buf[--p] = 48 + (t % 10);
  }

  /** n / scale (scale a power of ten, n an integer) with trailing fraction zeros dropped. */
  fixed(n: number, scale: number): void {
    if (n < 0) {
      this.byte(45);
      n = -n;
    }
    const whole = Math.floor(n / scale);
    this.uint(whole);
    let frac = n - whole * scale;
    if (frac === 0) return;
    this.byte(46);
    let div = scale / 10;
    while (frac > 0) {
      const digit = Math.floor(frac / div);
      this.buf[this.pos++] = 48 + digit;
      frac -= digit * div;
      div /= 10;
    }
  }

  /** Version-4 UUID from four random words (writeUuid, the text of uuidFromWords). */
  uuid(a: number, b: number, c: number, d: number): void {
    this.pos = writeUuid(this.buf, this.pos, a, b, c, d);
  }

  /** YYYY-MM-DDTHH:MM:SS.mmmZ (writeUtcMillis, the text of formatUtcMillis). */
  time(ms: number): void {
    this.pos = writeUtcMillis(this.buf, this.pos, ms);
  }
}

/** What the producer needs per event (no event object): see EventGenerator.nextPayload. */
export interface GeneratedPayload {
  index: number;
  key: string;
  value: Buffer;
  fault?: FaultKind;
}

const DAY_MS = 86_400_000;
const HVAC_MS = 900_000;
const TWO_PI = 2 * Math.PI;
const round4 = (x: number) => Math.round(x * 10000) / 10000;

const enum Stream {
  Params = 1,
  Readings = 2,
  Ids = 3,
  Faults = 4,
  Malformed = 5,
}

/**
 * Stateful generator; `next()` returns record 0, 1, 2, ... (endless; the
 * `count` option is applied by generateEvents).
 */
export class EventGenerator {
  readonly options: ResolvedGeneratorOptions;
  private index = 0;
  private readonly readings: Random;
  private readonly ids: Random;
  private readonly faultRng: Random;
  private readonly malformedRng: Random;
  private readonly deviceIds: string[];
  private readonly deviceUsers: string[];
  private readonly devicePieces: Uint8Array[];
  private readonly baseTemp: Float64Array;
  private readonly amplitude: Float64Array;
  private readonly phase: Float64Array;
  private readonly sigma: Float64Array;
  private readonly metricBase: Float64Array;
  private readonly tempNoise: Float64Array;
  private readonly metricNoise: Float64Array;
  private readonly invalidUpTo: number;
  private readonly lateUpTo: number;
  private readonly outOfOrderUpTo: number;
  private readonly msPerEvent: number;

  constructor(opts: GeneratorOptions) {
    const o = (this.options = resolveGeneratorOptions(opts));
    const params = new Random(o.seed, Stream.Params);
    this.readings = new Random(o.seed, Stream.Readings);
    this.ids = new Random(o.seed, Stream.Ids);
    this.faultRng = new Random(o.seed, Stream.Faults);
    this.malformedRng = new Random(o.seed, Stream.Malformed);
    const n = o.devices;
    this.deviceIds = Array.from({ length: n }, (_, d) => deviceId(d));
    this.deviceUsers = Array.from({ length: n }, (_, d) => userId(d % o.users));
    this.devicePieces = this.deviceIds.map((id, d) => devicePiece(id, this.deviceUsers[d]));
    this.baseTemp = new Float64Array(n);
    this.amplitude = new Float64Array(n);
    this.phase = new Float64Array(n);
    this.sigma = new Float64Array(n);
    this.metricBase = new Float64Array(n);
    this.tempNoise = new Float64Array(n);
    this.metricNoise = new Float64Array(n);
    for (let d = 0; d < n; d++) {
      this.baseTemp[d] = params.range(12, 40);
      this.amplitude[d] = params.range(1, 5);
      this.phase[d] = params.range(0, TWO_PI);
      this.sigma[d] = params.range(0.2, 0.5);
      this.metricBase[d] = params.range(50, 1000);
      this.tempNoise[d] = params.gaussian();
      this.metricNoise[d] = params.gaussian();
    }
    this.invalidUpTo = o.faults.invalidFraction;
    this.lateUpTo = this.invalidUpTo + o.faults.lateFraction;
    this.outOfOrderUpTo = this.lateUpTo + o.faults.outOfOrderFraction;
    this.msPerEvent = 1000 / o.ratePerSec;
  }

  /** Index of the record the next call to next() returns. */
  get position(): number {
    return this.index;
  }

  // Per-event state computed by step(), consumed by next() / nextPayload().
  private cur = { index: 0, d: 0, timeMs: 0, temp100: 0, metric100: 0, score10k: 0, status: 'ok' as EventStatus, a: 0, b: 0, c: 0, dd: 0 };
  private curFault: FaultKind | undefined;
  private curMalformed: MalformedKind | undefined;
  private readonly writer = new SlabWriter();

  /** Draws event `index` (all PRNG streams advance the same way whatever is asked of it). */
  private step(): void {
    const index = this.index++;
    const o = this.options;
    let timeMs = o.startTimeMs + Math.floor(index * this.msPerEvent);
    const r = this.readings;
    const d = r.int(o.devices);

    // Reading: daily cycle + HVAC cycle + AR(1) noise; metric follows its own AR(1) and the temperature.
    const z = (this.tempNoise[d] = 0.95 * this.tempNoise[d] + 0.31225 * r.gaussian());
    const mz = (this.metricNoise[d] = 0.9 * this.metricNoise[d] + 0.43589 * r.gaussian());
    const uStatus = r.next();
    const uAnomaly = r.next();
    const u1 = r.next();
    const u2 = r.next();
    const u3 = r.next();
    const base = this.baseTemp[d];
    let temperature =
      base + this.amplitude[d] * Math.sin((TWO_PI * (timeMs % DAY_MS)) / DAY_MS + this.phase[d]) + 0.6 * Math.sin((TWO_PI * (timeMs % HVAC_MS)) / HVAC_MS + 2 * this.phase[d]) + this.sigma[d] * z;
    let metric = this.metricBase[d] * (1 + 0.08 * mz + 0.015 * (temperature - base));
    const s = Math.max(Math.abs(z), Math.abs(mz));
    let score = round4(1 - Math.exp((-s * s) / 18));
    let status: EventStatus = uStatus < 0.001 ? 'offline' : Math.abs(z) > 2.5 ? 'warning' : uStatus > 0.997 ? 'error' : 'ok';
    if (uAnomaly < o.anomalyFraction) {
      temperature += 12 + 18 * u1;
      metric *= 2.5 + 1.5 * u2;
      score = Math.min(1, round4(0.9 + 0.1 * u3));
      status = u3 < 0.7 ? 'error' : 'warning';
    }
    const ids = this.ids;
    const c = this.cur;
    c.a = ids.u32();
    c.b = ids.u32();
    c.c = ids.u32();
    c.dd = ids.u32();

    // Fault choice: always two draws per event.
    const uf = this.faultRng.next();
    const uj = this.faultRng.next();
    let fault: FaultKind | undefined;
    let malformed: MalformedKind | undefined;
    if (uf < this.invalidUpTo) {
      const kinds = o.faults.invalidKinds;
      fault = malformed = kinds[Math.floor(uj * kinds.length)];
    } else if (uf < this.lateUpTo) {
      fault = 'late';
      timeMs -= Math.floor(o.faults.lateMinMs + uj * (o.faults.lateMaxMs - o.faults.lateMinMs));
    } else if (uf < this.outOfOrderUpTo) {
      fault = 'out_of_order';
      timeMs -= 1 + Math.floor(uj * o.faults.maxOutOfOrderMs);
    }
    c.index = index;
    c.d = d;
    c.timeMs = timeMs;
    c.temp100 = Math.round(temperature * 100);
    c.metric100 = Math.round(Math.max(0, metric) * 100);
    c.score10k = Math.round(score * 10000);
    c.status = status;
    this.curFault = fault;
    this.curMalformed = malformed;
  }

  private currentEvent(): TelemetryEvent {
    const c = this.cur;
    return {
      event_id: uuidFromWords(c.a, c.b, c.c, c.dd),
      event_time: formatUtcMillis(c.timeMs),
      device_id: this.deviceIds[c.d],
      user_id: this.deviceUsers[c.d],
      temperature: c.temp100 / 100,
      metric_value: c.metric100 / 100,
      status: c.status,
      anomaly_score: c.score10k / 10000,
    };
  }

  /** The current event's canonical JSON, written straight into a slab. */
  private currentPayload(): Buffer {
    const c = this.cur;
    const w = this.writer;
    w.begin();
    w.bytes(PIECES.eventId);
    w.uuid(c.a, c.b, c.c, c.dd);
    w.bytes(PIECES.eventTime);
    w.time(c.timeMs);
    w.bytes(this.devicePieces[c.d]);
    w.fixed(c.temp100, 100);
    w.bytes(PIECES.metric);
    w.fixed(c.metric100, 100);
    w.bytes(STATUS_PIECES[c.status]);
    w.fixed(c.score10k, 10000);
    w.byte(125);
    return w.end();
  }

  /** The next record, with its event (see GeneratedRecord). */
  next(): GeneratedRecord {
    this.step();
    const c = this.cur;
    const key = this.deviceIds[c.d];
    const event = this.currentEvent();
    const fault = this.curFault;
    if (this.curMalformed !== undefined) return this.malform(c.index, key, event, this.curMalformed, c.timeMs);
    const value = this.currentPayload();
    return fault === undefined ? { index: c.index, key, value, event } : { index: c.index, key, value, event, fault };
  }

  /**
   * The next record's key, payload and fault only: the same bytes as next()
   * without building the event object (the producer's hot path).
   */
  nextPayload(): GeneratedPayload {
    this.step();
    const c = this.cur;
    const key = this.deviceIds[c.d];
    const fault = this.curFault;
    if (this.curMalformed !== undefined) return { index: c.index, key, value: this.malform(c.index, key, this.currentEvent(), this.curMalformed, c.timeMs).value, fault };
    const value = this.currentPayload();
    return fault === undefined ? { index: c.index, key, value } : { index: c.index, key, value, fault };
  }

  private malform(index: number, key: string, event: TelemetryEvent, kind: MalformedKind, timeMs: number): GeneratedRecord {
    const value = malformedPayload(kind, event, timeMs, this.malformedRng);
    const record: GeneratedRecord = { index, key, value, fault: kind, reason: MALFORMED_REASONS[kind] };
    if (REPAIRABLE_KINDS.includes(kind)) record.repaired = event;
    return record;
  }
}

const RAW = '\u0000raw\u0000';
/** JSON of `obj` where string values RAW+text+RAW are emitted as raw text (e.g. 1e999). */
function stringifyWithRaw(obj: Record<string, unknown>): string {
  return JSON.stringify(obj).replace(/"\\u0000raw\\u0000(.*?)\\u0000raw\\u0000"/g, (_, text: string) => text);
}
const raw = (text: string) => `${RAW}${text}${RAW}`;

const NUMERIC_FIELDS = ['temperature', 'metric_value', 'anomaly_score'] as const;
const STRING_FIELDS = ['event_id', 'event_time', 'device_id', 'user_id', 'status'] as const;

const pad2 = (n: number) => String(n).padStart(2, '0');

/** The same instant in one of the non-canonical formats the DLQ replayer can normalise. */
function oddTimestamp(timeMs: number, rng: Random): string {
  const iso = formatUtcMillis(timeMs); // YYYY-MM-DDTHH:MM:SS.mmmZ
  switch (rng.int(4)) {
    case 0:
      return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`; // space separator, UTC implied
    case 1:
      return iso.slice(0, 23); // no zone designator, UTC implied
    default: {
      const offsetMin = rng.pick([60, 120, -300, 330, -480]);
      const local = new Date(timeMs + offsetMin * 60000).toISOString().slice(0, 23);
      const sign = offsetMin < 0 ? '-' : '+';
      const abs = Math.abs(offsetMin);
      return `${local}${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
    }
  }
}

/** Builds one malformed payload of the given kind from a valid event. */
export function malformedPayload(kind: MalformedKind, event: TelemetryEvent, timeMs: number, rng: Random): Buffer {
  const o: Record<string, unknown> = { ...event };
  switch (kind) {
    case 'invalid_json': {
      const text = JSON.stringify(o);
      switch (rng.int(6)) {
        case 0:
          return Buffer.from(text.slice(0, 1 + rng.int(text.length - 2))); // truncated
        case 1:
          return Buffer.from(text.slice(0, -1)); // missing closing brace
        case 2:
          return Buffer.from(`${text.slice(0, -1)},}`); // trailing comma
        case 3:
          return Buffer.from(`device ${event.device_id} says hello`); // not JSON at all
        case 4:
          return Buffer.alloc(0); // empty payload
        default: {
          const bytes = Buffer.from(text);
          const at = text.indexOf(event.device_id) + 1;
          bytes[at] = 0xff; // invalid UTF-8 inside a string
          return bytes;
        }
      }
    }
    case 'too_large':
      o['padding'] = 'x'.repeat(MAX_EVENT_BYTES + rng.int(4096));
      return Buffer.from(JSON.stringify(o));
    case 'missing_field':
      delete o[rng.pick(EVENT_FIELDS)];
      return Buffer.from(JSON.stringify(o));
    case 'unknown_field':
      switch (rng.int(4)) {
        case 0:
          o['firmware'] = '1.4.2';
          break;
        case 1:
          o['Temperature'] = event.temperature;
          break;
        case 2:
          o['battery'] = Math.round(rng.next() * 100) / 100;
          break;
        default:
          o['location'] = { lat: 48.2, lon: 16.37 };
      }
      return Buffer.from(JSON.stringify(o));
    case 'wrong_type': {
      if (rng.next() < 0.5) {
        o[rng.pick(STRING_FIELDS)] = rng.pick<unknown>([12345, true, null, { value: 'x' }, ['x']]);
      } else {
        o[rng.pick(NUMERIC_FIELDS)] = rng.pick<unknown>([true, null, 'hot', [21.5], { value: 21.5 }, 'n/a']);
      }
      return Buffer.from(JSON.stringify(o));
    }
    case 'out_of_range': {
      const field = rng.pick(NUMERIC_FIELDS);
      const choices: Record<(typeof NUMERIC_FIELDS)[number], unknown[]> = {
        temperature: [999.5, -273.15, raw('1e999'), 150.01],
        metric_value: [5e9, -2e10, raw('-1e999')],
        anomaly_score: [1.5, -0.01, 7],
      };
      o[field] = rng.pick(choices[field]);
      return Buffer.from(stringifyWithRaw(o));
    }
    case 'invalid_value': {
      const variants: Array<[string, unknown]> = [
        ['status', 'bogus'],
        ['status', 'OK'],
        ['status', ''],
        ['event_id', 'not-a-uuid'],
        ['event_id', ''],
        ['device_id', ''],
        ['device_id', `${event.device_id} x`],
        ['user_id', 'u'.repeat(65)],
        ['user_id', 'bob"s'],
      ];
      const [field, value] = rng.pick(variants);
      o[field] = value;
      return Buffer.from(JSON.stringify(o));
    }
    case 'bad_timestamp': {
      const year = event.event_time.slice(0, 4);
      o['event_time'] = rng.pick([
        'not-a-time',
        '',
        `${year}-02-30T10:00:00.000Z`,
        `${year}-11-24T25:61:00.000Z`,
        '1969-12-31T23:59:59.999Z',
        `24/11/${year} 09:00`,
        `${event.event_time}Z`,
      ]);
      return Buffer.from(JSON.stringify(o));
    }
    case 'repairable_numeric_string': {
      const field = rng.pick(NUMERIC_FIELDS);
      o[field] = String(event[field]);
      return Buffer.from(JSON.stringify(o));
    }
    case 'repairable_timestamp':
      o['event_time'] = oddTimestamp(timeMs, rng);
      return Buffer.from(JSON.stringify(o));
  }
}

/**
 * Yields `count` records (endless when count is undefined). Pure: same
 * options, same records; a shorter count yields a prefix of a longer one.
 */
export function* generateEvents(opts: GeneratorOptions): Generator<GeneratedRecord, void, undefined> {
  const gen = new EventGenerator(opts);
  const count = gen.options.count;
  for (let i = 0; count === undefined || i < count; i++) yield gen.next();
}
