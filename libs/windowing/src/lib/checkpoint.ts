/**
 * Per-partition checkpoint stored as Kafka commit metadata next to the
 * committed offset. It carries exactly what a restarted consumer needs to make
 * the same decisions for every record from `commitOffset` on as the run that
 * wrote it (see README "Determinism").
 */
export interface PartitionCheckpoint {
  /** The offset committed with this metadata: replay starts here. */
  readonly commitOffset: number;
  /** Window size the engine ran with; finals are meaningless under another size. */
  readonly windowSizeMs: number;
  /** max event time over valid records with offset < commitOffset (-Infinity if none). */
  readonly maxEventTimeBefore: number;
  /** Watermark floor set by idle advances (-Infinity if none). */
  readonly watermarkFloor: number;
  /**
   * Windows that became final at a position > commitOffset, as
   * [windowStart, finalizedAt]: finalizedAt is the position (next offset) at
   * which the window was finalized, so records of that window with
   * offset < finalizedAt are already inside its final row and records with
   * offset >= finalizedAt were late. Sorted by windowStart.
   */
  readonly finals: ReadonlyArray<readonly [windowStart: number, finalizedAt: number]>;
}

export const CHECKPOINT_FORMAT_VERSION = 1;

/** Thrown for metadata that cannot be trusted; the message says why. */
export class CheckpointError extends Error {
  constructor(reason: string) {
    super(`invalid windowing checkpoint metadata: ${reason}`);
    this.name = 'CheckpointError';
  }
}

/*
 * Wire format (compact JSON, keys kept to one letter because Kafka caps commit
 * metadata, 4096 bytes by default, and we aim far below that):
 *   {"v":1,"o":<commitOffset>,"s":<windowSizeMs>,"m":<maxEventTimeBefore|null>,
 *    "w":<watermarkFloor|null>,"f":[[<windowStart/s>,<finalizedAt-o>],...]}
 * null stands for -Infinity (JSON has no infinities). Finals are stored as
 * window index and offset delta so an entry costs ~12 bytes instead of ~30.
 */
export function encodeCheckpoint(cp: PartitionCheckpoint): string {
  validateCheckpoint(cp);
  const s = cp.windowSizeMs;
  const f = cp.finals.map(([ws, at]) => [ws / s, at - cp.commitOffset]);
  return JSON.stringify({
    v: CHECKPOINT_FORMAT_VERSION,
    o: cp.commitOffset,
    s,
    m: finiteOrNull(cp.maxEventTimeBefore),
    w: finiteOrNull(cp.watermarkFloor),
    f,
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
  if (o['v'] !== CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointError(`unsupported format version ${JSON.stringify(o['v'])} (this build reads ${CHECKPOINT_FORMAT_VERSION})`);
  }
  const commitOffset = o['o'];
  if (!isNonNegInt(commitOffset)) throw new CheckpointError(`"o" (commit offset) must be an integer >= 0, got ${JSON.stringify(commitOffset)}`);
  const s = o['s'];
  if (!isNonNegInt(s) || s === 0) throw new CheckpointError(`"s" (window size) must be a positive integer, got ${JSON.stringify(s)}`);
  const m = nullableFinite(o['m'], 'm (max event time before commit offset)');
  const w = nullableFinite(o['w'], 'w (watermark floor)');
  const fr = o['f'];
  if (!Array.isArray(fr)) throw new CheckpointError(`"f" (finals) must be an array, got ${JSON.stringify(fr)}`);
  const finals: Array<[number, number]> = [];
  for (const e of fr) {
    if (!Array.isArray(e) || e.length !== 2 || !Number.isSafeInteger(e[0]) || !Number.isSafeInteger(e[1])) {
      throw new CheckpointError(`each "f" entry must be [windowIndex, offsetDelta] integers, got ${JSON.stringify(e)}`);
    }
    finals.push([e[0] * s + 0, commitOffset + e[1]]);
  }
  const cp: PartitionCheckpoint = { commitOffset, windowSizeMs: s, maxEventTimeBefore: m, watermarkFloor: w, finals };
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
  let prev = -Infinity;
  for (const [ws, at] of cp.finals) {
    if (!Number.isSafeInteger(ws) || ws % cp.windowSizeMs !== 0) {
      throw new CheckpointError(`final window start ${ws} is not a multiple of window size ${cp.windowSizeMs}`);
    }
    if (!(ws > prev)) throw new CheckpointError(`final window starts must be strictly increasing (${ws} after ${prev})`);
    // finalizedAt <= commitOffset entries carry no information (see engine), so a
    // writer never stores them; seeing one means the metadata was not written by us.
    if (!Number.isSafeInteger(at) || at <= cp.commitOffset) {
      throw new CheckpointError(`final window ${ws} finalizedAt ${at} must be an integer > commit offset ${cp.commitOffset}`);
    }
    prev = ws;
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
