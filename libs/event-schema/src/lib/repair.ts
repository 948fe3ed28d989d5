/**
 * The DLQ replayer's repair set: a small, explicit list of pure functions that
 * turn a payload of a known-bad *shape* back into a valid event. Each repair is
 * chosen by name (`--repair numeric-strings`, `--repair timestamps`); nothing
 * is repaired unless asked for.
 *
 * Guarantees (unit and property tested in repair.spec.ts):
 *  - a payload that already validates is returned unchanged (same bytes);
 *  - a repaired payload validates (otherwise the result is a failure, carrying
 *    the reason the repaired object still fails with);
 *  - repairing is idempotent: repairing a repaired payload changes nothing;
 *  - a repair never guesses: anything ambiguous is left alone and keeps failing.
 *
 * Repairs
 *  - `numeric-strings`: `temperature`, `metric_value` or `anomaly_score` given
 *    as a string that is exactly a JSON number literal (optional `-`, digits
 *    without leading zeros, optional fraction, optional exponent; no spaces,
 *    no `+`, no hex, no `NaN`/`Infinity`) whose value is finite become that
 *    number. `"21.5"` -> `21.5`; `" 21.5"`, `"21,5"`, `"0x10"`, `"1e999"`,
 *    `"hot"` are left alone.
 *  - `timestamps`: an `event_time` that is not a valid UTC instant but is
 *    `YYYY-MM-DD(T| )HH:MM:SS[.fraction][zone]`, where zone is `Z`, an offset
 *    `+HH:MM` / `-HH:MM` / `+HHMM` (at most 14:00, minutes < 60; `-00:00`, the
 *    RFC 3339 "unknown offset", is refused) or absent (UTC implied), with a
 *    real calendar date and time of day, becomes the same instant in
 *    canonical UTC `YYYY-MM-DDTHH:MM:SS.sssZ` (fraction padded to at least 3
 *    digits; finer digits are kept). Day/month-order dates (`24/11/2026`),
 *    missing seconds, week dates, lowercase `t`/`z`, leap seconds and
 *    impossible dates are refused.
 */
import { isUtf8 } from 'node:buffer';
import { type ReasonCode } from './reasons';
import { MAX_EVENT_BYTES, type TelemetryEvent } from './schema';
import { parseUtcInstant } from './time';
import { parseAndValidate, serializeEvent, validateEvent } from './validator';
import { payloadKind } from './wire/confluent';
import type { EventDecoder } from './wire/decoder';

export const REPAIRS = {
  'numeric-strings':
    'temperature, metric_value or anomaly_score sent as a string holding exactly a JSON number literal with a finite value ("21.5") becomes that number.',
  timestamps:
    'event_time with a UTC offset (+01:00, -0500), a space instead of T, or no zone designator (UTC implied) becomes the same instant as canonical UTC YYYY-MM-DDTHH:MM:SS.sssZ; ambiguous or impossible forms are refused.',
} as const;

export type RepairName = keyof typeof REPAIRS;
export const REPAIR_NAMES = Object.keys(REPAIRS) as RepairName[];

export function isRepairName(name: string): name is RepairName {
  return Object.prototype.hasOwnProperty.call(REPAIRS, name);
}

const NUMERIC_FIELDS = ['temperature', 'metric_value', 'anomaly_score'] as const;
/** Exactly the JSON number grammar (RFC 8259 section 6). */
const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/** The number a numeric string stands for, or undefined when it is not a plain finite JSON number literal. */
export function coerceNumericString(text: string): number | undefined {
  if (text.length === 0 || text.length > 64 || !JSON_NUMBER.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

const LOOSE_INSTANT = /^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:?[0-9]{2})?$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/**
 * Canonical UTC text of a loosely written timestamp, or undefined when the
 * text is not one of the accepted unambiguous forms. A text that already is a
 * valid UTC instant is returned unchanged.
 */
export function normalizeTimestamp(text: string): string | undefined {
  if (!Number.isNaN(parseUtcInstant(text))) return text;
  const m = LOOSE_INSTANT.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const fraction = m[7] ?? '';
  const zone = m[8] ?? '';
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (zone !== '' && zone !== 'Z') {
    if (zone === '-00:00' || zone === '-0000') return undefined; // RFC 3339: offset unknown
    const digits = zone.replace(':', '');
    const oh = Number(digits.slice(1, 3));
    const om = Number(digits.slice(3, 5));
    if (om > 59 || oh * 60 + om > 14 * 60) return undefined;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // Whole seconds of the instant; the fraction is carried over as text so no digit is lost.
  const localSeconds = Date.UTC(year, month - 1, day, hour, minute, second) / 1000;
  if (year < 100) return undefined; // Date.UTC maps years 0-99 to 1900-1999
  const utc = new Date((localSeconds - offsetMinutes * 60) * 1000);
  const canonical =
    `${pad(utc.getUTCFullYear(), 4)}-${pad(utc.getUTCMonth() + 1, 2)}-${pad(utc.getUTCDate(), 2)}` +
    `T${pad(utc.getUTCHours(), 2)}:${pad(utc.getUTCMinutes(), 2)}:${pad(utc.getUTCSeconds(), 2)}` +
    `.${fraction.padEnd(3, '0')}Z`;
  return Number.isNaN(parseUtcInstant(canonical)) ? undefined : canonical;
}

export interface RepairChange {
  repair: RepairName;
  field: string;
  from: unknown;
  to: unknown;
}

/**
 * Applies the chosen repairs to a parsed JSON object and returns a shallow
 * copy plus the list of changes (empty when nothing applied). Values that are
 * not in a repairable form are left as they are. Never throws.
 */
export function repairObject(data: Record<string, unknown>, repairs: readonly RepairName[]): { value: Record<string, unknown>; changes: RepairChange[] } {
  const value: Record<string, unknown> = { ...data };
  const changes: RepairChange[] = [];
  if (repairs.includes('numeric-strings')) {
    for (const field of NUMERIC_FIELDS) {
      const v = value[field];
      if (typeof v !== 'string') continue;
      const n = coerceNumericString(v);
      if (n === undefined) continue;
      value[field] = n;
      changes.push({ repair: 'numeric-strings', field, from: v, to: n });
    }
  }
  if (repairs.includes('timestamps')) {
    const v = value['event_time'];
    if (typeof v === 'string') {
      const t = normalizeTimestamp(v);
      if (t !== undefined && t !== v) {
        value['event_time'] = t;
        changes.push({ repair: 'timestamps', field: 'event_time', from: v, to: t });
      }
    }
  }
  return { value, changes };
}

export interface RepairedPayload {
  ok: true;
  event: TelemetryEvent;
  eventTimeMs: number;
  /** The bytes to publish: the original bytes when nothing was repaired, else the canonical JSON of the event. */
  payload: Buffer;
  /** Repairs that changed something (empty when the payload was already valid). */
  applied: RepairName[];
  changes: RepairChange[];
}

export interface UnrepairablePayload {
  ok: false;
  /** Why the payload (after the repairs that applied, if any) is still invalid. */
  reason: ReasonCode;
  message: string;
  field?: string;
  /** Repairs that changed something before validation still failed. */
  applied: RepairName[];
  changes: RepairChange[];
}

export type RepairResult = RepairedPayload | UnrepairablePayload;

const toBuffer = (payload: Buffer | Uint8Array): Buffer => (Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length));

/**
 * Validates a payload with the current schema, applying the chosen repairs
 * when it does not validate as it is. Never throws.
 */
export function repairPayload(payload: Buffer | Uint8Array | null | undefined, repairs: readonly RepairName[], decoder?: EventDecoder): RepairResult {
  // Binary formats (Avro, Protobuf) are judged by the decoder as they are: the repairs are JSON text repairs.
  if (decoder !== undefined && payloadKind(payload) !== 'json') {
    const r = decoder.decode(toBuffer(payload as Buffer | Uint8Array));
    if (r.ok) return { ok: true, event: r.event, eventTimeMs: r.eventTimeMs, payload: toBuffer(payload as Buffer | Uint8Array), applied: [], changes: [] };
    return { ok: false, reason: r.reason, message: r.message, ...(r.field === undefined ? {} : { field: r.field }), applied: [], changes: [] };
  }
  const first = parseAndValidate(payload);
  if (first.ok) return { ok: true, event: first.event, eventTimeMs: first.eventTimeMs, payload: toBuffer(payload as Buffer | Uint8Array), applied: [], changes: [] };
  const failed = (r: { reason: ReasonCode; message: string; field?: string }, changes: RepairChange[] = []): UnrepairablePayload => ({
    ok: false,
    reason: r.reason,
    message: r.message,
    ...(r.field === undefined ? {} : { field: r.field }),
    applied: [...new Set(changes.map((c) => c.repair))],
    changes,
  });
  // Unreadable bytes (not JSON, not UTF-8, too large) are outside the repair set.
  if (repairs.length === 0 || payload == null || payload.length > MAX_EVENT_BYTES || !isUtf8(payload)) return failed(first);
  let data: unknown;
  try {
    data = JSON.parse(toBuffer(payload).toString('utf8'));
  } catch {
    return failed(first);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return failed(first);
  const { value, changes } = repairObject(data as Record<string, unknown>, repairs);
  if (changes.length === 0) return failed(first);
  const second = validateEvent(value);
  if (!second.ok) return failed(second, changes);
  const event = second.event;
  return {
    ok: true,
    event,
    eventTimeMs: second.eventTimeMs,
    payload: Buffer.from(serializeEvent(event)),
    applied: [...new Set(changes.map((c) => c.repair))],
    changes,
  };
}

/**
 * Headers the DLQ replayer puts on a record it publishes to the raw topic:
 * where the event came from (source coordinates and DLQ position), why it was
 * dead-lettered and which repairs were applied.
 */
export const REPLAY_HEADERS = {
  sourceTopic: 'replay.source.topic',
  sourcePartition: 'replay.source.partition',
  sourceOffset: 'replay.source.offset',
  sourceTimestamp: 'replay.source.timestamp',
  dlqTopic: 'replay.dlq.topic',
  dlqPartition: 'replay.dlq.partition',
  dlqOffset: 'replay.dlq.offset',
  reason: 'replay.reason',
  /** Comma-separated repair names; empty when the payload was valid as it was. */
  repairs: 'replay.repairs',
  replayedAt: 'replay.replayed.at',
  group: 'replay.group',
} as const;
