/**
 * The int8 KV cache's quantisation rule (KVCacheOptions.dtype, README "int8 KV cache"),
 * written from its definition apart from src/cache/int8.ts, and the norms the int8 tests'
 * bounds take: shared by test/cache-int8.test.ts and test/cache-int8-positions.test.ts.
 */

/** Nearest integer to y, halves to even (written apart from src/: floor and the fraction). */
export function nearestEven(y: number): number {
  const f = Math.floor(y);
  const frac = y - f;
  if (frac > 0.5) return f + 1;
  if (frac < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export interface Quantised {
  /** f32(q·scale) per element, `[rows, dim]`. */
  readonly values: Float32Array;
  /** f32(max|x| / 127) per row. */
  readonly scales: Float64Array;
}

/** Quantises `[rows, dim]` row by row: q = nearestEven(x·127 / max|x|), scale = f32(max|x| / 127). */
export function quantise(x: ArrayLike<number>, dim: number): Quantised {
  const rows = x.length / dim;
  const values = new Float32Array(x.length);
  const scales = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let d = 0; d < dim; d++) max = Math.max(max, Math.abs(x[r * dim + d]!));
    const scale = Math.fround(max / 127);
    scales[r] = scale;
    for (let d = 0; d < dim; d++) {
      const q = max === 0 ? 0 : nearestEven((x[r * dim + d]! * 127) / max);
      if (Math.abs(q) > 127) throw new Error(`quantise: ${q} out of range`);
      values[r * dim + d] = Math.fround(q * scale);
    }
  }
  return { values, scales };
}

/** Largest |x|. */
export function maxAbs(x: ArrayLike<number>): number {
  let max = 0;
  for (let n = 0; n < x.length; n++) max = Math.max(max, Math.abs(x[n]!));
  return max;
}

/** Largest L2 norm of the `dim`-long rows of x. */
export function norm(x: ArrayLike<number>, dim: number): number {
  let max = 0;
  for (let r = 0; r < x.length; r += dim) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[r + d]! ** 2;
    max = Math.max(max, Math.sqrt(s));
  }
  return max;
}
