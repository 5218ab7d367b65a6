/**
 * The rotation of rotary position embeddings (RoPE, Su et al. 2021), in the semantics of
 * ONNX `RotaryEmbedding` (opset 23): the first `dim` elements of a head row are rotated in
 * pairs, the rest pass through. Pair i (i < dim/2) is (x[i], x[i + dim/2]) for rotate-half
 * (GPT-NeoX, Llama) or (x[2i], x[2i+1]) when interleaved (GPT-J), and becomes
 *   (x1·cos θ − x2·sin θ,  x1·sin θ + x2·cos θ),   θ = position · freq_i.
 * Each output is computed in float64 from the f32 inputs and rounded once, so the rotated
 * f32 row is within half an ulp of the float64 rotation (test/positions.test.ts).
 */

/** A resolved rotation: how many dims rotate, which pairs, and where cos/sin come from. */
export interface Rotation {
  /** Rotated dims (even, ≤ the head dim); the rest pass through. */
  readonly dim: number;
  readonly interleaved: boolean;
  /** `[maxPos, dim/2]` tables (ONNX cos_cache/sin_cache), or null: computed from `invFreq`. */
  readonly cos: Float32Array | null;
  readonly sin: Float32Array | null;
  /** freq_i = base^(−2i/dim) / scaling factor, length dim/2 (unused with tables). */
  readonly invFreq: Float64Array;
}

/**
 * The inverse frequencies of `base` for `dim` rotated dims, divided by a linear scaling
 * factor (position interpolation, Chen et al. 2023: θ = (p / factor)·freq_i).
 */
export function inverseFrequencies(base: number, dim: number, factor = 1): Float64Array {
  const half = dim / 2;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = base ** ((-2 * i) / dim) / factor;
  return invFreq;
}

/** Fills `cos`/`sin` (length dim/2) with the angles of `position`. */
export function anglesAt(rotation: Rotation, position: number, cos: Float64Array, sin: Float64Array): void {
  const half = rotation.dim / 2;
  if (rotation.cos) {
    const row = position * half;
    for (let i = 0; i < half; i++) {
      cos[i] = rotation.cos[row + i]!;
      sin[i] = rotation.sin![row + i]!;
    }
    return;
  }
  for (let i = 0; i < half; i++) {
    const theta = position * rotation.invFreq[i]!;
    cos[i] = Math.cos(theta);
    sin[i] = Math.sin(theta);
  }
}

type Row = Float32Array | Float64Array;

/**
 * Rotates one head row of `headDim` elements from `src[srcAt…]` into `dst[dstAt…]` (may be
 * the same array and offset: each pair is read before it is written).
 */
export function rotateRow(dst: Row, dstAt: number, src: ArrayLike<number>, srcAt: number, headDim: number, rotation: Rotation, cos: Float64Array, sin: Float64Array): void {
  const { dim, interleaved } = rotation;
  const half = dim / 2;
  // Pair i is (first + i·step, first + i·step + gap).
  const step = interleaved ? 2 : 1;
  const gap = interleaved ? 1 : half;
  for (let i = 0; i < half; i++) {
    const a = i * step;
    const x1 = src[srcAt + a]!;
    const x2 = src[srcAt + a + gap]!;
    dst[dstAt + a] = x1 * cos[i]! - x2 * sin[i]!;
    dst[dstAt + a + gap] = x1 * sin[i]! + x2 * cos[i]!;
  }
  if (dst !== src || dstAt !== srcAt) for (let d = dim; d < headDim; d++) dst[dstAt + d] = src[srcAt + d]!; // pass-through
}

/** The element strides of a `[batch, heads, seq, dim]` view (dim stride 1). */
export interface RowStrides {
  readonly batch: number;
  readonly head: number;
  readonly seq: number;
}

/**
 * Rotates every row of a `[batch, heads, seqLen, headDim]` strided view; row (b, ·, s) sits
 * at `positions[b·seqLen + s]`. cos/sin are computed once per (b, s), shared by the heads.
 * `dst` has the same strides as `src` (it may be `src` itself).
 */
export function rotateHeads(
  dst: Row,
  src: ArrayLike<number>,
  dims: { batch: number; heads: number; seqLen: number; headDim: number },
  strides: RowStrides,
  rotation: Rotation,
  positions: Int32Array,
): void {
  const half = rotation.dim / 2;
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  for (let b = 0; b < dims.batch; b++) {
    for (let s = 0; s < dims.seqLen; s++) {
      anglesAt(rotation, positions[b * dims.seqLen + s]!, cos, sin);
      for (let h = 0; h < dims.heads; h++) {
        const at = b * strides.batch + h * strides.head + s * strides.seq;
        rotateRow(dst, at, src, at, dims.headDim, rotation, cos, sin);
      }
    }
  }
}
