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

/** cos and sin of every row's angles, `[rows, dim/2]` row-major (float64). */
export interface Angles {
  readonly cos: Float64Array;
  readonly sin: Float64Array;
}

/**
 * The angles of `positions` (one row each): table rows, or cos/sin of position·freq_i
 * computed in float64. Gathered once per call and shared by every head, and by every
 * backend (the WASM rotation reads the same f64 values: bit-identical results).
 */
export function gatherAngles(rotation: Rotation, positions: Int32Array): Angles {
  const half = rotation.dim / 2;
  const cos = new Float64Array(positions.length * half);
  const sin = new Float64Array(positions.length * half);
  for (let n = 0; n < positions.length; n++) {
    const p = positions[n]!;
    for (let i = 0; i < half; i++) {
      if (rotation.cos) {
        cos[n * half + i] = rotation.cos[p * half + i]!;
        sin[n * half + i] = rotation.sin![p * half + i]!;
      } else {
        const theta = p * rotation.invFreq[i]!;
        cos[n * half + i] = Math.cos(theta);
        sin[n * half + i] = Math.sin(theta);
      }
    }
  }
  return { cos, sin };
}

/** Which dims rotate, and how they pair. */
export interface Pairing {
  readonly dim: number;
  readonly interleaved: boolean;
}

type Row = Float32Array | Float64Array;

/**
 * Rotates one head row of `headDim` elements from `src[srcAt…]` into `dst[dstAt…]` (may be
 * the same array and offset: each pair is read before it is written), with the angles at
 * `angles.cos/sin[angleAt…]`. assembly/rotary/f32-rope-f64x2.ts does the same operations.
 */
export function rotateRow(dst: Row, dstAt: number, src: ArrayLike<number>, srcAt: number, headDim: number, pairing: Pairing, angles: Angles, angleAt: number): void {
  const { dim, interleaved } = pairing;
  const { cos, sin } = angles;
  const half = dim / 2;
  // Pair i is (first + i·step, first + i·step + gap).
  const step = interleaved ? 2 : 1;
  const gap = interleaved ? 1 : half;
  for (let i = 0; i < half; i++) {
    const a = i * step;
    const x1 = src[srcAt + a]!;
    const x2 = src[srcAt + a + gap]!;
    const c = cos[angleAt + i]!;
    const s = sin[angleAt + i]!;
    dst[dstAt + a] = x1 * c - x2 * s;
    dst[dstAt + a + gap] = x1 * s + x2 * c;
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
 * Rotates every row of a `[batch, heads, seqLen, headDim]` strided view; row (b, ·, s) uses
 * angle row b·seqLen + s. `dst` has the same strides as `src` (it may be `src` itself).
 */
export function rotateHeads(
  dst: Row,
  src: ArrayLike<number>,
  dims: { batch: number; heads: number; seqLen: number; headDim: number },
  strides: RowStrides,
  pairing: Pairing,
  angles: Angles,
): void {
  const half = pairing.dim / 2;
  for (let b = 0; b < dims.batch; b++) {
    for (let s = 0; s < dims.seqLen; s++) {
      for (let h = 0; h < dims.heads; h++) {
        const at = b * strides.batch + h * strides.head + s * strides.seq;
        rotateRow(dst, at, src, at, dims.headDim, pairing, angles, (b * dims.seqLen + s) * half);
      }
    }
  }
}
