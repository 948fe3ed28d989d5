/**
 * The Confluent wire format, as pure functions: magic byte 0, the schema id
 * as a 4-byte big-endian integer, then (Protobuf only) the message-index list,
 * then the payload. And the one format dispatch: what a message says it is.
 *
 * Message indexes (Protobuf): the path of the message type within the .proto
 * file, as a count followed by the indexes, each a zigzag varint; the common
 * path [0] (the first message) is written as the single byte 0.
 */

export const MAGIC_BYTE = 0;
/** Magic byte + schema id. */
export const CONFLUENT_HEADER_BYTES = 5;

/**
 * What the first byte of a message says it is: `confluent` (byte 0),
 * `unknown_magic` (another control byte no JSON document starts with), or
 * `json` (everything else, including empty payloads: the JSON path judges
 * them as it always did).
 */
export type PayloadKind = 'json' | 'confluent' | 'unknown_magic';

export function payloadKind(value: Uint8Array | null | undefined): PayloadKind {
  if (value === null || value === undefined || value.length === 0) return 'json';
  const b = value[0];
  if (b === MAGIC_BYTE) return 'confluent';
  // JSON may start with whitespace (tab, LF, CR, space) but never with another control byte.
  if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return 'unknown_magic';
  return 'json';
}

export type FrameResult = { ok: true; schemaId: number; payloadOffset: number } | { ok: false; message: string };

/** Reads magic byte and schema id. */
export function readConfluentFrame(value: Uint8Array): FrameResult {
  if (value.length < CONFLUENT_HEADER_BYTES) return { ok: false, message: `Confluent wire format needs at least ${CONFLUENT_HEADER_BYTES} bytes (magic byte, schema id); got ${value.length}` };
  if (value[0] !== MAGIC_BYTE) return { ok: false, message: `unknown magic byte 0x${value[0].toString(16).padStart(2, '0')}` };
  const schemaId = ((value[1] << 24) >>> 0) + (value[2] << 16) + (value[3] << 8) + value[4];
  return { ok: true, schemaId, payloadOffset: CONFLUENT_HEADER_BYTES };
}

/** Magic byte and schema id. */
export function confluentHeader(schemaId: number): Buffer {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > 0xffffffff) throw new RangeError(`schema id must be an unsigned 32-bit integer (got ${schemaId})`);
  const b = Buffer.alloc(CONFLUENT_HEADER_BYTES);
  b[0] = MAGIC_BYTE;
  b.writeUInt32BE(schemaId, 1);
  return b;
}

const zigzag = (n: number): number => (n << 1) ^ (n >> 31);
const unzigzag = (n: number): number => (n >>> 1) ^ -(n & 1);

function writeVarint(out: number[], value: number): void {
  let v = zigzag(value) >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

/** Reads one zigzag varint (at most 5 bytes); undefined when truncated or too long. */
function readVarint(buf: Uint8Array, offset: number): { value: number; offset: number } | undefined {
  let result = 0;
  for (let shift = 0, i = offset; shift < 35; shift += 7, i++) {
    if (i >= buf.length) return undefined;
    const b = buf[i];
    result |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value: unzigzag(result), offset: i + 1 };
  }
  return undefined;
}

/** The message-index list of a Protobuf message type ([0] is the first message of the file). */
export function encodeMessageIndexes(indexes: readonly number[]): Buffer {
  if (indexes.length === 1 && indexes[0] === 0) return Buffer.from([0]);
  const out: number[] = [];
  writeVarint(out, indexes.length);
  for (const i of indexes) writeVarint(out, i);
  return Buffer.from(out);
}

/** Largest message-index list accepted (nesting depth); longer ones are malformed. */
const MAX_INDEXES = 32;

export type IndexesResult = { ok: true; indexes: number[]; offset: number } | { ok: false; message: string };

export function decodeMessageIndexes(buf: Uint8Array, offset: number): IndexesResult {
  const count = readVarint(buf, offset);
  if (!count) return { ok: false, message: 'truncated Protobuf message-index list' };
  if (count.value === 0) return { ok: true, indexes: [0], offset: count.offset };
  if (count.value < 0 || count.value > MAX_INDEXES) return { ok: false, message: `Protobuf message-index count ${count.value} is out of range` };
  const indexes: number[] = [];
  let at = count.offset;
  for (let i = 0; i < count.value; i++) {
    const v = readVarint(buf, at);
    if (!v) return { ok: false, message: 'truncated Protobuf message-index list' };
    if (v.value < 0) return { ok: false, message: `negative Protobuf message index ${v.value}` };
    indexes.push(v.value);
    at = v.offset;
  }
  return { ok: true, indexes, offset: at };
}
