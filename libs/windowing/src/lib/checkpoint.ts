/**
 * Per-partition checkpoint stored as Kafka commit metadata next to the
 * committed offset. It carries only what cannot be read back from the store:
 * the window rows in ClickHouse are the durable window state, so a restarted
 * consumer needs the watermark inputs and nothing per window. Constant size
 * (about 70 bytes), whatever the lateness horizon.
 */
export interface PartitionCheckpoint {
  /** The offset committed with this metadata: replay starts here. */
  readonly commitOffset: number;
  /** Window size the engine ran with; stored rows are meaningless under another size. */
  readonly windowSizeMs: number;
  /**
   * Max event time over the accepted records with offset < commitOffset
   * (-Infinity if none). Every window with an event before commitOffset starts
   * at or before windowStartOf(this), so a later window is known to be new.
   */
  readonly maxEventTimeBefore: number;
  /** Watermark floor set by idle advances (-Infinity if none). */
  readonly watermarkFloor: number;
}

export const CHECKPOINT_FORMAT_VERSION = 2;

/** Thrown for metadata that cannot be trusted; the message says why. */
export class CheckpointError extends Error {
  constructor(reason: string) {
    super(`invalid windowing checkpoint metadata: ${reason}`);
    this.name = 'CheckpointError';
  }
}

/*
 * Wire format (compact JSON; Kafka caps commit metadata, 4096 bytes by default):
 *   {"v":2,"o":<commitOffset>,"s":<windowSizeMs>,"m":<maxEventTimeBefore|null>,"w":<watermarkFloor|null>}
 * null stands for -Infinity (JSON has no infinities). Format 1 (which also
 * listed recently finalised windows under "f") is still read: its "f" is
 * implied by the stored rows now and ignored.
 */
export function encodeCheckpoint(cp: PartitionCheckpoint): string {
  validateCheckpoint(cp);
  return JSON.stringify({
    v: CHECKPOINT_FORMAT_VERSION,
    o: cp.commitOffset,
    s: cp.windowSizeMs,
    m: finiteOrNull(cp.maxEventTimeBefore),
    w: finiteOrNull(cp.watermarkFloor),
  });
}

export function decodeCheckpoint(metadata: string): PartitionCheckpoint {
  if (typeof metadata !== 'string') throw new CheckpointError(`expected a string, got ${typeof metadata}`);
  if (metadata.length === 0) throw new CheckpointError('empty string (offset committed without windowing metadata)');
  let raw: unknown;
  try {
    raw = JSON.parse(metadata);
  } catch (e) {
    throw new CheckpointError(`not JSON (${(e as Error).message}): ${preview(metadata)}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CheckpointError(`expected a JSON object: ${preview(metadata)}`);
  }
  const o = raw as Record<string, unknown>;
  if (o['v'] !== CHECKPOINT_FORMAT_VERSION && o['v'] !== 1) {
    throw new CheckpointError(`unsupported format version ${JSON.stringify(o['v'])} (this build reads 1 and ${CHECKPOINT_FORMAT_VERSION})`);
  }
  const commitOffset = o['o'];
  if (!isNonNegInt(commitOffset)) throw new CheckpointError(`"o" (commit offset) must be an integer >= 0, got ${JSON.stringify(commitOffset)}`);
  const s = o['s'];
  if (!isNonNegInt(s) || s === 0) throw new CheckpointError(`"s" (window size) must be a positive integer, got ${JSON.stringify(s)}`);
  const m = nullableFinite(o['m'], 'm (max event time before commit offset)');
  const w = nullableFinite(o['w'], 'w (watermark floor)');
  const cp: PartitionCheckpoint = { commitOffset, windowSizeMs: s, maxEventTimeBefore: m, watermarkFloor: w };
  validateCheckpoint(cp);
  return cp;
}

/** Shared by encode and decode so neither side can produce what the other rejects. */
export function validateCheckpoint(cp: PartitionCheckpoint): void {
  if (!isNonNegInt(cp.commitOffset)) throw new CheckpointError(`commit offset must be an integer >= 0, got ${cp.commitOffset}`);
  if (!isNonNegInt(cp.windowSizeMs) || cp.windowSizeMs === 0) throw new CheckpointError(`window size must be a positive integer, got ${cp.windowSizeMs}`);
  if (!(Number.isFinite(cp.maxEventTimeBefore) || cp.maxEventTimeBefore === -Infinity)) {
    throw new CheckpointError(`maxEventTimeBefore must be finite or -Infinity, got ${cp.maxEventTimeBefore}`);
  }
  if (!(Number.isFinite(cp.watermarkFloor) || cp.watermarkFloor === -Infinity)) {
    throw new CheckpointError(`watermarkFloor must be finite or -Infinity, got ${cp.watermarkFloor}`);
  }
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function nullableFinite(x: unknown, what: string): number {
  if (x === null) return -Infinity;
  if (typeof x === 'number' && Number.isFinite(x)) return x;
  throw new CheckpointError(`"${what}" must be a finite number or null, got ${JSON.stringify(x)}`);
}

function finiteOrNull(x: number): number | null {
  return x === -Infinity ? null : x;
}

function preview(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
}
