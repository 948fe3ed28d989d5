/**
 * The fast path of parseAndValidate: a scanner specialised to the 8-field
 * telemetry event, straight over the message bytes (no UTF-8 decoding of the
 * whole payload, no JSON.parse, no ajv). It accepts only what it is sure
 * JSON.parse + the schema validator accept, and returns the same event:
 *
 *  - ASCII only, JSON whitespace anywhere between tokens, one object with
 *    each of the 8 schema fields exactly once, in any order, nothing else;
 *  - keys and strings without escapes or control characters;
 *  - every field's schema rule checked here (lengths, patterns, the status
 *    enum, the event_time format with parseUtcInstant, numeric ranges);
 *  - numbers in JSON's grammar, converted bit-identically to JSON.parse: up to
 *    15 significant digits without an exponent as an exact integer divided by
 *    an exact power of ten (one correctly rounded IEEE operation on exact
 *    operands, so the correctly rounded value of the decimal, which is what
 *    JSON.parse returns), anything longer through Number() of the literal
 *    (the same correctly rounding conversion).
 *
 * Anything else (a duplicate, unknown or missing key, an escape, a non-ASCII
 * byte, a value the schema rejects, bad syntax) returns undefined, and the
 * caller takes the general JSON.parse + ajv path, so every reason code and
 * message of a rejected event comes from that one path by construction.
 */
import { EVENT_STATUSES, MAX_EVENT_BYTES, TELEMETRY_EVENT_SCHEMA, type EventStatus, type TelemetryEvent } from './schema';
import { parseUtcInstant } from './time';

/** The scanner's verdict on an event it accepts (parseAndValidate's ValidEvent). */
export interface ScannedEvent {
  ok: true;
  event: TelemetryEvent;
  eventTimeMs: number;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;

const FIELD_NAMES = ['event_id', 'event_time', 'device_id', 'user_id', 'temperature', 'metric_value', 'status', 'anomaly_score'] as const;
const EVENT_ID = 0;
const EVENT_TIME = 1;
const DEVICE_ID = 2;
const USER_ID = 3;
const TEMPERATURE = 4;
const METRIC_VALUE = 5;
const ANOMALY_SCORE = 7;
const ALL_FIELDS = (1 << FIELD_NAMES.length) - 1;
const FIELD_BYTES = FIELD_NAMES.map((n) => Buffer.from(n, 'latin1'));

/** Inclusive ranges of the numeric fields: the schema's minimum / maximum. */
const range = (field: 'temperature' | 'metric_value' | 'anomaly_score') => [TELEMETRY_EVENT_SCHEMA.properties[field].minimum, TELEMETRY_EVENT_SCHEMA.properties[field].maximum] as const;
const [TEMPERATURE_MIN, TEMPERATURE_MAX] = range('temperature');
const [METRIC_MIN, METRIC_MAX] = range('metric_value');
const [SCORE_MIN, SCORE_MAX] = range('anomaly_score');

const STATUSES: readonly EventStatus[] = EVENT_STATUSES;
const STATUS_BYTES = STATUSES.map((s) => Buffer.from(s, 'latin1'));

/** 10^0 .. 10^22: every one exactly representable as a double. */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

// Character classes of the bytes, one table lookup each.
const WS = 1;
const DIGIT = 2;
const HEX = 4;
const ALNUM = 8;
const ID_CHAR = 16;
const TIME_CHAR = 32;
const CLASS = new Uint8Array(256);
for (const c of [0x20, 0x0a, 0x0d, 0x09]) CLASS[c] |= WS;
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[0-9]/.test(ch)) CLASS[c] |= DIGIT;
  if (/[0-9a-fA-F]/.test(ch)) CLASS[c] |= HEX;
  if (/[0-9a-zA-Z]/.test(ch)) CLASS[c] |= ALNUM | ID_CHAR;
  if (/[._:-]/.test(ch)) CLASS[c] |= ID_CHAR; // ID_PATTERN's later characters: letters, digits and . _ : -
  if (/[0-9TZ:.-]/.test(ch)) CLASS[c] |= TIME_CHAR;
}
const isWs = (c: number) => (CLASS[c] & WS) !== 0;
const isDigit = (c: number) => (CLASS[c] & DIGIT) !== 0;

/** Latin-1 text of b[start, end) (Buffer#latin1Slice: the bytes are ASCII here). */
const latin1 = (b: Buffer, start: number, end: number): string => (b as unknown as { latin1Slice(start: number, end: number): string }).latin1Slice(start, end);

/**
 * device_id and user_id recur (a fleet has a bounded set): one string per
 * distinct id, found by a hash of its bytes, instead of a new string per
 * event. The Maps and Sets of the windowing engine then find an interned
 * string's hash already computed.
 */
const INTERN_SLOTS = 8192;
const internBytes: Array<Buffer | undefined> = new Array(INTERN_SLOTS).fill(undefined);
const internStrings: string[] = new Array(INTERN_SLOTS).fill('');

/** The string of b[start, end), whose FNV-1a hash is h. */
function intern(b: Buffer, start: number, end: number, h: number): string {
  const slot = (h >>> 0) & (INTERN_SLOTS - 1);
  const known = internBytes[slot];
  if (known !== undefined && known.length === end - start) {
    let i = 0;
    while (i < known.length && known[i] === b[start + i]) i++;
    if (i === known.length) return internStrings[slot];
  }
  const text = latin1(b, start, end);
  internBytes[slot] = Buffer.from(text, 'latin1');
  internStrings[slot] = text;
  return text;
}

/** The 8 names have 8 different lengths: the length picks the one candidate. */
const FIELD_BY_LENGTH = new Int8Array(16).fill(-1);
FIELD_BYTES.forEach((name, f) => {
  if (FIELD_BY_LENGTH[name.length] !== -1) throw new Error('two event fields have the same length');
  FIELD_BY_LENGTH[name.length] = f;
});

function fieldOf(b: Buffer, start: number, end: number): number {
  const len = end - start;
  if (len >= FIELD_BY_LENGTH.length) return -1;
  const f = FIELD_BY_LENGTH[len];
  if (f < 0) return -1;
  const name = FIELD_BYTES[f];
  for (let i = 0; i < len; i++) if (b[start + i] !== name[i]) return -1;
  return f;
}

/** UUID_PATTERN: 8-4-4-4-12 hex digits at b[start, start + 36), followed by a byte before `end`. */
function isUuidAt(b: Buffer, start: number, end: number): boolean {
  if (start + 36 >= end) return false;
  for (let i = 0; i < 36; i++) {
    const c = b[start + i];
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== MINUS) return false;
    } else if ((CLASS[c] & HEX) === 0) return false;
  }
  return true;
}

// The hash of the id scanScanId just read (FNV-1a over its bytes), for intern().
let idHash = 0;

/**
 * Scans an id string's characters from b[start] (after its opening quote) and
 * returns the index of its closing quote when it matches ID_PATTERN with the
 * schema's length 1-64, else -1. Hashes the bytes on the way (idHash).
 */
function scanId(b: Buffer, start: number, end: number): number {
  if (start >= end || (CLASS[b[start]] & ALNUM) === 0) return -1;
  let h = 0x811c9dc5;
  let i = start;
  while (i < end) {
    const c = b[i];
    if ((CLASS[c] & ID_CHAR) === 0) break;
    h = Math.imul(h ^ c, 0x01000193);
    i++;
  }
  if (i >= end || b[i] !== QUOTE || i - start > 64) return -1;
  idHash = h;
  return i;
}

/** The status written at b[start] (after the opening quote) up to a closing quote, else undefined. */
function statusAt(b: Buffer, start: number, end: number): EventStatus | undefined {
  for (let s = 0; s < STATUS_BYTES.length; s++) {
    const name = STATUS_BYTES[s];
    const stop = start + name.length;
    if (stop >= end || b[stop] !== QUOTE) continue;
    let i = 0;
    while (i < name.length && b[start + i] === name[i]) i++;
    if (i === name.length) return STATUSES[s];
  }
  return undefined;
}

// The number just scanned (scanNumber's second result, kept out of an allocated tuple).
let scannedNumber = NaN;

/**
 * Scans a JSON number at b[i]; returns the index after it (scannedNumber set),
 * or -1 when the text is not in JSON's number grammar.
 */
function scanNumber(b: Buffer, i: number, end: number): number {
  const start = i;
  let negative = false;
  if (b[i] === MINUS) {
    negative = true;
    i++;
  }
  let mantissa = 0;
  let digits = 0;
  if (i >= end) return -1;
  if (b[i] === ZERO) {
    i++;
    digits = 1;
    if (i < end && isDigit(b[i])) return -1; // a leading zero
  } else if (isDigit(b[i])) {
    while (i < end && isDigit(b[i])) {
      mantissa = mantissa * 10 + (b[i] - ZERO);
      digits++;
      i++;
    }
  } else return -1;
  let fraction = 0;
  if (i < end && b[i] === DOT) {
    i++;
    if (i >= end || !isDigit(b[i])) return -1;
    while (i < end && isDigit(b[i])) {
      mantissa = mantissa * 10 + (b[i] - ZERO);
      digits++;
      fraction++;
      i++;
    }
  }
  let exponent = false;
  if (i < end && (b[i] === 0x65 || b[i] === 0x45)) {
    exponent = true;
    i++;
    if (i < end && (b[i] === PLUS || b[i] === MINUS)) i++;
    if (i >= end || !isDigit(b[i])) return -1;
    while (i < end && isDigit(b[i])) i++;
  }
  if (!exponent && digits <= 15) {
    // mantissa < 10^15 < 2^53 and 10^fraction are exact: one correctly rounded division.
    const v = fraction === 0 ? mantissa : mantissa / POW10[fraction];
    scannedNumber = negative ? -v : v;
  } else {
    scannedNumber = Number(latin1(b, start, i));
  }
  return i;
}

/**
 * The event in `b[start, end)` when it is certainly valid (see the module
 * comment), else undefined; a range at most MAX_EVENT_BYTES long. The range
 * lets a message be read where it lies in a packed batch, without a view.
 */
export function scanEvent(b: Buffer, start = 0, end = b.length): ScannedEvent | undefined {
  if (end - start > MAX_EVENT_BYTES) return undefined;
  let i = start;
  while (i < end && isWs(b[i])) i++;
  if (i >= end || b[i] !== OPEN) return undefined;
  i++;
  let seen = 0;
  let eventId = '';
  let eventTime = '';
  let deviceId = '';
  let userId = '';
  let status: EventStatus | undefined;
  let temperature = NaN;
  let metricValue = NaN;
  let anomalyScore = NaN;
  for (;;) {
    while (i < end && isWs(b[i])) i++;
    if (i >= end || b[i] !== QUOTE) return undefined;
    const keyStart = ++i;
    while (i < end && b[i] !== QUOTE) i++;
    if (i >= end) return undefined;
    const field = fieldOf(b, keyStart, i);
    if (field < 0 || (seen & (1 << field)) !== 0) return undefined;
    seen |= 1 << field;
    i++;
    while (i < end && isWs(b[i])) i++;
    if (i >= end || b[i] !== COLON) return undefined;
    i++;
    while (i < end && isWs(b[i])) i++;
    if (i >= end) return undefined;
    if (field === TEMPERATURE || field === METRIC_VALUE || field === ANOMALY_SCORE) {
      i = scanNumber(b, i, end);
      if (i < 0) return undefined;
      const v = scannedNumber;
      if (field === TEMPERATURE) {
        if (!(v >= TEMPERATURE_MIN && v <= TEMPERATURE_MAX)) return undefined;
        temperature = v;
      } else if (field === METRIC_VALUE) {
        if (!(v >= METRIC_MIN && v <= METRIC_MAX)) return undefined;
        metricValue = v;
      } else {
        if (!(v >= SCORE_MIN && v <= SCORE_MAX)) return undefined;
        anomalyScore = v;
      }
    } else {
      if (b[i] !== QUOTE) return undefined;
      const start = i + 1;
      switch (field) {
        case EVENT_ID:
          if (!isUuidAt(b, start, end) || b[start + 36] !== QUOTE) return undefined;
          eventId = latin1(b, start, start + 36);
          i = start + 37;
          break;
        case EVENT_TIME: {
          // Only the characters of UTC_INSTANT_PATTERN; parseUtcInstant judges the rest.
          let stop = start;
          while (stop < end && (CLASS[b[stop]] & TIME_CHAR) !== 0) stop++;
          if (stop >= end || b[stop] !== QUOTE) return undefined;
          eventTime = latin1(b, start, stop);
          i = stop + 1;
          break;
        }
        case DEVICE_ID:
        case USER_ID: {
          const stop = scanId(b, start, end);
          if (stop < 0) return undefined;
          if (field === DEVICE_ID) deviceId = intern(b, start, stop, idHash);
          else userId = intern(b, start, stop, idHash);
          i = stop + 1;
          break;
        }
        default:
          status = statusAt(b, start, end);
          if (status === undefined) return undefined;
          i = start + status.length + 1;
      }
    }
    while (i < end && isWs(b[i])) i++;
    if (i >= end) return undefined;
    if (b[i] === COMMA) {
      i++;
      continue;
    }
    if (b[i] !== CLOSE) return undefined;
    i++;
    break;
  }
  while (i < end && isWs(b[i])) i++;
  if (i !== end || seen !== ALL_FIELDS) return undefined;
  const eventTimeMs = parseUtcInstant(eventTime);
  if (Number.isNaN(eventTimeMs)) return undefined;
  return {
    ok: true,
    event: {
      event_id: eventId,
      event_time: eventTime,
      device_id: deviceId,
      user_id: userId,
      temperature,
      metric_value: metricValue,
      status: status as EventStatus,
      anomaly_score: anomalyScore,
    },
    eventTimeMs,
  };
}
