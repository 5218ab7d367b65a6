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

/** Largest |q16| of the WASM int8 kernel for rows of headDim (assembly/decode/i8-qk-dot-1x4.ts qMaxOf). */
export function int8QueryMax(headDim: number): number {
  const dim16 = Math.ceil(headDim / 16) * 16;
  return Math.min(32767, Math.max(1, Math.floor((2 ** 31 - 1) / (127 * dim16))));
}

/**
 * The WASM int8 kernel's own roundings (integer dot products, assembly/decode/i8-*.ts), on top
 * of the float32 bound over the dequantised cache; 0 for the JS backend, which computes in f32
 * over the dequantised values:
 * - each query row to i16, step qs = max|q| / qMax (int8QueryMax): a score moves by at most
 *   Δq = |scale|·qs·(1/2 + 2^-17)·max_j ‖k̂_j‖₁, the output by (e^2Δq − 1)·max|v̂| (int8Bound's step);
 * - w_j = p_j·s^V_j to i16 per row and chunk of 64 keys, step ws ≤ max_chunk w / 32767: at most
 *   ws/2·127 per key, so 64·ws/2·127 ≤ 64·127/65534·max s^V·Σ_chunk p per chunk, and
 *   64·127/65534·max s^V (≈ 0.124 of one V quantisation step) once divided by l = Σ p.
 * The (1 + 2^-15) covers the f32 roundings of the steps and their inverses.
 */
export function int8KernelBound(
  backend: string, q: ArrayLike<number>, headDim: number, kHat: ArrayLike<number>, vScaleMax: number, maxAbsVHat: number, scale: number,
): number {
  if (!backend.startsWith('wasm')) return 0;
  let kL1 = 0;
  for (let r = 0; r < kHat.length; r += headDim) {
    let s = 0;
    for (let d = 0; d < headDim; d++) s += Math.abs(kHat[r + d]!);
    kL1 = Math.max(kL1, s);
  }
  const qs = maxAbs(q) / int8QueryMax(headDim);
  const deltaQ = Math.abs(scale) * qs * (0.5 + 2 ** -17) * kL1;
  return (Math.expm1(2 * deltaQ) * maxAbsVHat + ((64 * 127) / 65534) * vScaleMax) * (1 + 2 ** -15);
}
