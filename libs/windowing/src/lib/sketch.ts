/**
 * Quantile sketch of a window's values: a DDSketch (Masson, Rim, Lee, VLDB
 * 2019) with logarithmic bins for positive values, mirrored bins for negative
 * ones and a zero bin. Chosen because it is
 *  - accurate in relative terms for values of either sign: the value it
 *    returns for a quantile is within SKETCH_RELATIVE_ACCURACY of the exact
 *    value of that rank, whatever the distribution (temperatures below zero
 *    included);
 *  - deterministic and mergeable exactly: a sketch is a map bin -> count, two
 *    sketches merge by adding counts, in any order, so the fleet's sketch of a
 *    window is the same whichever partitions or devices it is merged from,
 *    and ClickHouse merges stored sketches with sumMap;
 *  - small: one bin per 2 % of magnitude that actually occurs (a minute of a
 *    device is a handful of bins, a minute of the fleet a few hundred).
 *
 * The bins are encoded as one signed integer key per bin so that key order is
 * value order: 0 is the zero bin (|v| < SKETCH_MIN_MAGNITUDE), a positive v
 * has key  SKETCH_KEY_BIAS + ceil(log_gamma(v)), a negative v the negation of
 * its magnitude's key. The SQL that reads quantiles from stored bins is
 * generated from the constants below (clickhouse-sink's sketchQuantileSql),
 * so there is one definition of the mapping.
 */

/** The accuracy the sketch promises: |returned - exact| <= 1 % of |exact| (for |exact| >= SKETCH_MIN_MAGNITUDE). */
export const SKETCH_RELATIVE_ACCURACY = 0.01;

/**
 * The bins are built for a slightly tighter accuracy than promised, so that
 * the floating-point rounding of log() at a bin boundary (a value placed one
 * bin off) stays inside the promise.
 */
const BIN_ACCURACY = SKETCH_RELATIVE_ACCURACY * 0.99;

/** gamma = (1 + a) / (1 - a): bin i holds magnitudes in (gamma^(i-1), gamma^i]. */
export const SKETCH_GAMMA = (1 + BIN_ACCURACY) / (1 - BIN_ACCURACY);

/** Magnitudes below this fall into the zero bin (their quantile reads as 0). */
export const SKETCH_MIN_MAGNITUDE = 1e-9;

/** Added to the bin index so that every non-zero magnitude's key is >= 1 (index of 1e-9 is about -1047). */
export const SKETCH_KEY_BIAS = 2000;

const LN_GAMMA = Math.log(SKETCH_GAMMA);

/** Bin key -> count. Keys are integers, ordered as the values they hold. */
export type QuantileSketch = Map<number, number>;

/** The key of the bin holding `value` (finite). */
export function sketchKeyOf(value: number): number {
  const magnitude = Math.abs(value);
  if (!(magnitude >= SKETCH_MIN_MAGNITUDE)) return 0;
  const key = Math.ceil(Math.log(magnitude) / LN_GAMMA) + SKETCH_KEY_BIAS;
  return value < 0 ? -key : key;
}

/** The value a bin stands for: the point of its range within the accuracy of both ends. */
export function sketchValueOf(key: number): number {
  if (key === 0) return 0;
  const magnitude = (2 * Math.pow(SKETCH_GAMMA, Math.abs(key) - SKETCH_KEY_BIAS)) / (SKETCH_GAMMA + 1);
  return key < 0 ? -magnitude : magnitude;
}

export function createSketch(): QuantileSketch {
  return new Map();
}

export function addToSketch(sketch: QuantileSketch, value: number): void {
  const key = sketchKeyOf(value);
  sketch.set(key, (sketch.get(key) ?? 0) + 1);
}

/** Adds `from`'s counts into `into`. */
export function mergeSketchInto(into: QuantileSketch, from: QuantileSketch): void {
  for (const [k, c] of from) into.set(k, (into.get(k) ?? 0) + c);
}

/** Keys ascending with their counts, the form the store keeps (two parallel arrays). */
export function sketchBins(sketch: QuantileSketch): { keys: number[]; counts: number[] } {
  const keys = [...sketch.keys()].sort((a, b) => a - b);
  return { keys, counts: keys.map((k) => sketch.get(k) as number) };
}

export function sketchFromBins(keys: readonly number[], counts: readonly number[]): QuantileSketch {
  if (keys.length !== counts.length) throw new RangeError(`sketch keys and counts differ in length (${keys.length} vs ${counts.length})`);
  const s = createSketch();
  for (let i = 0; i < keys.length; i++) {
    if (!Number.isSafeInteger(keys[i]) || !Number.isSafeInteger(counts[i]) || counts[i] < 0) throw new RangeError(`sketch bin ${keys[i]}: ${counts[i]} is not a bin`);
    if (counts[i] > 0) s.set(keys[i], (s.get(keys[i]) ?? 0) + counts[i]);
  }
  return s;
}

/**
 * The 0-based rank a quantile reads: floor(q * (n - 1)), the lower of the two
 * ranks around q. The exact quantile the sketch approximates is the value of
 * this rank among the sorted values; the SQL uses the same rank.
 */
export function quantileRank(q: number, count: number): number {
  return Math.floor(q * (count - 1));
}

/**
 * The q-quantile (0 <= q <= 1) of the values added, within
 * SKETCH_RELATIVE_ACCURACY; clamped to [min, max] when given (the exact
 * extremes, which only make it closer). NaN for an empty sketch.
 */
export function sketchQuantile(sketch: QuantileSketch, q: number, min = -Infinity, max = Infinity): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
  const { keys, counts } = sketchBins(sketch);
  let n = 0;
  for (const c of counts) n += c;
  if (n === 0) return NaN;
  const rank = quantileRank(q, n);
  let seen = 0;
  for (let i = 0; i < keys.length; i++) {
    seen += counts[i];
    if (seen > rank) return Math.min(Math.max(sketchValueOf(keys[i]), min), max);
  }
  /* istanbul ignore next: seen reaches n > rank */
  return NaN;
}
