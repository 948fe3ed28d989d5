/**
 * Small, fast, seedable PRNG (sfc32 seeded through splitmix32). Independent
 * streams are derived from one seed and a stream number, so that e.g. the
 * fault stream can change without changing the simulated readings.
 */
function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = NaN;

  constructor(seed: number, stream = 0) {
    const mix = splitmix32((seed >>> 0) ^ Math.imul(stream + 1, 0x27d4eb2d));
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix() | 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform in [min, max). */
  range(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Standard normal (Box-Muller, second value cached). */
  gaussian(): number {
    if (!Number.isNaN(this.spare)) {
      const v = this.spare;
      this.spare = NaN;
      return v;
    }
    let u = this.next();
    while (u === 0) u = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}

const HEX_CODES = Uint8Array.from('0123456789abcdef', (ch) => ch.charCodeAt(0));

function hex8(out: Uint8Array, pos: number, x: number): number {
  out[pos] = HEX_CODES[(x >>> 4) & 15];
  out[pos + 1] = HEX_CODES[x & 15];
  return pos + 2;
}

function hex32(out: Uint8Array, pos: number, x: number): number {
  return hex8(out, hex8(out, hex8(out, hex8(out, pos, x >>> 24), (x >>> 16) & 255), (x >>> 8) & 255), x & 255);
}

/**
 * Writes the version-4 UUID text of four 32-bit words (version and variant
 * bits forced) as ASCII at out[pos..pos + 36) and returns pos + 36. The one
 * definition of a generated event_id; the producer writes it straight into
 * its payload buffer.
 */
export function writeUuid(out: Uint8Array, pos: number, a: number, b: number, c: number, d: number): number {
  let p = hex32(out, pos, a);
  out[p++] = 45;
  p = hex8(out, hex8(out, p, b >>> 24), (b >>> 16) & 255);
  out[p++] = 45;
  p = hex8(out, hex8(out, p, ((b >>> 8) & 0x0f) | 0x40), b & 255);
  out[p++] = 45;
  p = hex8(out, hex8(out, p, ((c >>> 24) & 0x3f) | 0x80), (c >>> 16) & 255);
  out[p++] = 45;
  p = hex8(out, hex8(out, p, (c >>> 8) & 255), c & 255);
  return hex32(out, p, d);
}

const uuidScratch = Buffer.allocUnsafe(36);

/** The version-4 UUID text of four 32-bit words (see writeUuid). */
export function uuidFromWords(a: number, b: number, c: number, d: number): string {
  writeUuid(uuidScratch, 0, a, b, c, d);
  return uuidScratch.toString('latin1', 0, 36);
}
