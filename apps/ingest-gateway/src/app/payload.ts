/**
 * Splits one MQTT payload or HTTP body into the byte ranges of its events,
 * without decoding or re-encoding them: each event reaches the raw topic (or
 * the DLQ) with exactly the bytes the device sent.
 *
 * Accepted shapes:
 *   - one JSON value (an event; pretty-printed over several lines is fine);
 *   - a JSON array of events: each element is one event;
 *   - NDJSON: one event per line (blank lines and a trailing newline ignored).
 *
 * A multi-line body is NDJSON when its first line is a complete JSON value by
 * itself, else it is one value. A body that is malformed as a whole (an
 * unterminated array, bytes after the closing bracket) is one item, which the
 * validator then rejects as invalid_json with the original bytes.
 *
 * The scan is structural only (brackets, braces, strings and escapes); the
 * validator parses each element.
 */

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;
const NEWLINE = 0x0a;

export type PayloadShape = 'single' | 'array' | 'ndjson';

export interface SplitPayload {
  shape: PayloadShape;
  /** The events' bytes, views into the input (no copies). */
  items: Buffer[];
}

function skipWs(buf: Buffer, i: number, end: number): number {
  while (i < end && WS.has(buf[i])) i++;
  return i;
}

function trimEnd(buf: Buffer, start: number, end: number): number {
  while (end > start && WS.has(buf[end - 1])) end--;
  return end;
}

/**
 * End (exclusive) of the JSON value starting at `i`, or -1 when it is not
 * terminated before `end`. Scalars end at whitespace, a comma or a closing bracket.
 */
export function scanValue(buf: Buffer, i: number, end: number): number {
  const first = buf[i];
  if (first === QUOTE) return scanString(buf, i, end);
  if (first !== OPEN_ARRAY && first !== OPEN_OBJECT) {
    while (i < end && !WS.has(buf[i]) && buf[i] !== COMMA && buf[i] !== CLOSE_ARRAY && buf[i] !== CLOSE_OBJECT) i++;
    return i;
  }
  let depth = 0;
  while (i < end) {
    const c = buf[i];
    if (c === QUOTE) {
      i = scanString(buf, i, end);
      if (i < 0) return -1;
      continue;
    }
    if (c === OPEN_ARRAY || c === OPEN_OBJECT) depth++;
    else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return -1;
}

function scanString(buf: Buffer, i: number, end: number): number {
  i++;
  while (i < end) {
    const c = buf[i];
    if (c === BACKSLASH) i += 2;
    else if (c === QUOTE) return i + 1;
    else i++;
  }
  return -1;
}

/** Array elements, or undefined when the array is malformed at the structural level. */
function splitArray(buf: Buffer, start: number, end: number): Buffer[] | undefined {
  const items: Buffer[] = [];
  let i = skipWs(buf, start + 1, end);
  if (i < end && buf[i] === CLOSE_ARRAY) return skipWs(buf, i + 1, end) === end ? items : undefined;
  for (;;) {
    if (i >= end) return undefined;
    const valueEnd = scanValue(buf, i, end);
    if (valueEnd < 0 || valueEnd === i) return undefined;
    items.push(buf.subarray(i, valueEnd));
    i = skipWs(buf, valueEnd, end);
    if (i >= end) return undefined;
    if (buf[i] === COMMA) {
      i = skipWs(buf, i + 1, end);
      continue;
    }
    if (buf[i] === CLOSE_ARRAY) return skipWs(buf, i + 1, end) === end ? items : undefined;
    return undefined;
  }
}

export function splitPayload(buf: Buffer): SplitPayload {
  const start = skipWs(buf, 0, buf.length);
  const end = trimEnd(buf, start, buf.length);
  if (start === end) return { shape: 'single', items: [buf] };
  if (buf[start] === OPEN_ARRAY) {
    const items = splitArray(buf, start, end);
    return items ? { shape: 'array', items } : { shape: 'single', items: [buf] };
  }
  const firstNewline = buf.indexOf(NEWLINE, start);
  if (firstNewline < 0 || firstNewline >= end) return { shape: 'single', items: [buf.subarray(start, end)] };
  const firstLineEnd = trimEnd(buf, start, firstNewline);
  const firstValueEnd = scanValue(buf, start, firstLineEnd);
  // The first line is not a whole value by itself: one value spread over lines.
  if (firstValueEnd < 0 || firstValueEnd < firstLineEnd) return { shape: 'single', items: [buf.subarray(start, end)] };
  const items: Buffer[] = [];
  let lineStart = start;
  while (lineStart < end) {
    let lineEnd = buf.indexOf(NEWLINE, lineStart);
    if (lineEnd < 0 || lineEnd > end) lineEnd = end;
    const s = skipWs(buf, lineStart, lineEnd);
    const e = trimEnd(buf, s, lineEnd);
    if (e > s) items.push(buf.subarray(s, e));
    lineStart = lineEnd + 1;
  }
  return { shape: items.length === 1 ? 'single' : 'ndjson', items };
}
