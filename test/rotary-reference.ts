/**
 * The float64 oracle of the `rotary` option: q and k rotated in float64 (written from the
 * RoFormer / ONNX `RotaryEmbedding` formulas, independently of src/positions/), then the
 * float64 attention of test/reference.ts over the rotated values.
 */
import type { AttentionOptions, CausalOption, RotaryOptions, Tensor } from '../src/index.js';
import type { HeadStrides } from '../src/plan.js';
import { addTolerances, SAFETY, toleranceFor, U32, type Tolerance } from './helpers.js';
import { gatherBhsd, makePlan, mulberry32, referenceAttention, stridesOf } from './reference.js';

export type RotaryLayout = 'bhsd' | 'bshd' | 'packed';

export interface RotaryCase {
  readonly batch: number;
  readonly qHeads: number;
  readonly kvHeads: number;
  readonly seqLenQ: number;
  readonly seqLenK: number;
  readonly headDim: number;
  readonly layout: RotaryLayout;
  readonly causal?: CausalOption;
  readonly keyLengths?: readonly number[];
  /** Sliding window `[left, right]` (src/key-range.ts), with rotary. */
  readonly window?: readonly [number, number];
  readonly rotary: RotaryOptions;
  readonly seed?: number;
}

/** The angle table of a case: cos/sin of (b, row) for pair i, in float64. */
function angle(rotary: RotaryOptions, dim: number, position: number, i: number): [number, number] {
  if (rotary.cos) return [rotary.cos[position * (dim / 2) + i]!, rotary.sin![position * (dim / 2) + i]!];
  const factor = rotary.scaling?.factor ?? 1;
  const theta = (position / factor) / (rotary.base ?? 10000) ** ((2 * i) / dim);
  return [Math.cos(theta), Math.sin(theta)];
}

/**
 * Rotates a strided [batch, heads, seq, headDim] tensor in float64; same strides out.
 * `transpose`: by Rᵀ instead (the angle negated), the backward's dq = Rᵀ·dq'.
 */
export function rotate64(x: ArrayLike<number>, strides: HeadStrides, batch: number, heads: number, seqLen: number, headDim: number, rotary: RotaryOptions, position: (b: number, s: number) => number, transpose = false): Float64Array {
  const out = Float64Array.from(x);
  const dim = rotary.dim ?? headDim;
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let s = 0; s < seqLen; s++) {
        const at = b * strides.batch + h * strides.head + s * strides.seq;
        for (let i = 0; i < dim / 2; i++) {
          const [c, sine] = angle(rotary, dim, position(b, s), i);
          const sn = transpose ? -sine : sine;
          const [a1, a2] = rotary.interleaved ? [at + 2 * i, at + 2 * i + 1] : [at + i, at + i + dim / 2];
          const x1 = x[a1]!;
          const x2 = x[a2]!;
          out[a1] = x1 * c - x2 * sn;
          out[a2] = x1 * sn + x2 * c;
        }
      }
  return out;
}

/** What fixes the rows' positions: the rotary option and the causal alignment. */
export interface PositionSpec {
  readonly batch: number;
  readonly seqLenQ: number;
  readonly seqLenK: number;
  readonly causal?: CausalOption;
  readonly keyLengths?: readonly number[];
  readonly rotary: RotaryOptions;
}

/**
 * The position of query (b, i) and key (b, j), from the option's docs: query i of item b sits
 * at i + off_b, off_b = 0 for top-left, else (keyLengths[b] or Lk) − Lq (issue #12's rule);
 * key j at j; a number offsets the row index, an Int32Array gives every position.
 */
export function rotaryPositions(spec: PositionSpec): { qPos: (b: number, i: number) => number; kPos: (b: number, j: number) => number } {
  const { seqLenQ, seqLenK, keyLengths } = spec;
  const causal = spec.causal ?? false;
  const off = (b: number) => (causal === 'top-left' ? 0 : (keyLengths ? keyLengths[b]! : seqLenK) - seqLenQ);
  const { queryPositions: qp, keyPositions: kp } = spec.rotary;
  return {
    qPos: (b, i) => (typeof qp === 'number' ? i + qp : qp ? qp[b * seqLenQ + i]! : i + off(b)),
    kPos: (b, j) => (typeof kp === 'number' ? j + kp : kp ? kp[b * seqLenK + j]! : j),
  };
}

export interface BuiltRotaryCase {
  readonly q: Tensor<Float32Array>;
  readonly k: Tensor<Float32Array>;
  readonly v: Tensor<Float32Array>;
  readonly options: AttentionOptions;
  /** Expected output, bhsd float64. */
  readonly want: Float64Array;
  readonly outStrides: HeadStrides;
  readonly tolerance: Tolerance;
  readonly label: string;
}

const shapeOf = (layout: RotaryLayout, batch: number, heads: number, seq: number, dim: number) =>
  layout === 'bhsd' ? [batch, heads, seq, dim] : layout === 'bshd' ? [batch, seq, heads, dim] : [batch, seq, heads * dim];

function maxRowNorm(x: Float64Array, strides: HeadStrides, batch: number, heads: number, seq: number, dim: number): number {
  let max = 0;
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let s = 0; s < seq; s++) {
        let sum = 0;
        for (let d = 0; d < dim; d++) sum += x[b * strides.batch + h * strides.head + s * strides.seq + d]! ** 2;
        max = Math.max(max, Math.sqrt(sum));
      }
  return max;
}

/** Random inputs of a case, its public options and the float64 expected output. */
export function buildRotaryCase(spec: RotaryCase): BuiltRotaryCase {
  const { batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim, layout } = spec;
  const random = mulberry32(spec.seed ?? 7);
  const values = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
  const q = values(batch * qHeads * seqLenQ * headDim);
  const k = values(batch * kvHeads * seqLenK * headDim);
  const v = values(batch * kvHeads * seqLenK * headDim);
  const memory = layout === 'bhsd' ? 'bhsd' : 'bshd'; // packed has bshd strides
  const qStrides = stridesOf(memory, qHeads, seqLenQ, headDim);
  const kStrides = stridesOf(memory, kvHeads, seqLenK, headDim);
  const causal = spec.causal ?? false;
  const off = (b: number) => (causal === 'top-left' ? 0 : (spec.keyLengths ? spec.keyLengths[b]! : seqLenK) - seqLenQ);
  const { qPos, kPos } = rotaryPositions(spec);
  const q64 = rotate64(q, qStrides, batch, qHeads, seqLenQ, headDim, spec.rotary, qPos);
  const k64 = rotate64(k, kStrides, batch, kvHeads, seqLenK, headDim, spec.rotary, kPos);
  const plan = makePlan({
    batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim, layout: memory,
    q: q64 as unknown as Float32Array, k: k64 as unknown as Float32Array, v,
    causal: causal !== false,
    positionOffsets: Array.from({ length: batch }, (_, b) => off(b)),
    keyLengths: spec.keyLengths ?? null,
    window: spec.window,
  });
  const want = referenceAttention(plan).out;
  const scale = 1 / Math.sqrt(headDim);
  const qNorm = maxRowNorm(q64, qStrides, batch, qHeads, seqLenQ, headDim);
  const kNorm = maxRowNorm(k64, kStrides, batch, kvHeads, seqLenK, headDim);
  const base = toleranceFor({ seqLenK, headDim }, { qNorm, kNorm, maxAbsV: 1, maxAbsBias: 0 }, scale, 0, false).out;
  // The library rounds each rotated element to f32 once (relative u): every logit moves by
  // at most 2u·scale·‖q‖‖k‖, which moves the output by at most twice that times max|v| = 1.
  const rounding: Tolerance = { atol: SAFETY * 2 * (2 * U32 * scale * qNorm * kNorm), rtol: 0 };
  const numHeads = layout === 'packed' ? { numHeads: qHeads, kvHeads } : {};
  return {
    q: { data: q, shape: shapeOf(layout, batch, qHeads, seqLenQ, headDim) },
    k: { data: k, shape: shapeOf(layout, batch, kvHeads, seqLenK, headDim) },
    v: { data: v, shape: shapeOf(layout, batch, kvHeads, seqLenK, headDim) },
    options: { ...(layout === 'bshd' ? { layout: 'bshd' } : {}), ...numHeads, causal, ...(spec.keyLengths ? { keyLengths: spec.keyLengths } : {}), ...(spec.window ? { window: [spec.window[0], spec.window[1]] as [number, number] } : {}), rotary: spec.rotary },
    want,
    outStrides: stridesOf(memory, qHeads, seqLenQ, headDim),
    tolerance: addTolerances(base, rounding),
    label: `B${batch} Hq${qHeads} Hkv${kvHeads} Lq${seqLenQ} Lk${seqLenK} D${headDim} ${layout} causal=${String(causal)} keyLengths=${spec.keyLengths ?? '-'} window=${spec.window ?? '-'} rotary=${JSON.stringify({ ...spec.rotary, cos: undefined, sin: undefined, queryPositions: undefined, keyPositions: undefined })}`,
  };
}

/** The output of a call, gathered to bhsd float64 like `want`. */
export function gatherOutput(c: BuiltRotaryCase, data: Float32Array, dims: readonly [number, number, number, number]): Float64Array {
  return gatherBhsd(data, c.outStrides, dims);
}
