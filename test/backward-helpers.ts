/**
 * Cases of the backward tests: a forward case (test/helpers.ts `buildCase`), a random dout,
 * and the float64 reference gradients (test/reference.ts `referenceBackward`) in the public
 * layouts, with tolerances derived from the reference's magnitudes.
 */
import type { RotaryOptions } from '../src/index.js';
import { float32ArrayToHalf, halfArrayToFloat32 } from '../src/float16.js';
import type { MaskTensor } from '../src/types.js';
import { alibiSlopesOf, buildCase, expandMask, fromBhsd, gamma, SAFETY, EXP_REL, toBhsd, U32, valuesOf, type BuiltCase, type CaseSpec, type TestLayout } from './helpers.js';
import { makePlan, mulberry32, referenceBackward, stridesOf } from './reference.js';
import { rotaryPositions, rotate64 } from './rotary-reference.js';

export interface GradCase {
  readonly forward: BuiltCase;
  readonly dout: { data: Float32Array; shape: readonly number[] };
  /** Reference gradients in the public layouts of q, k, v; dmask in the mask's shape. */
  readonly want: { dq: Float64Array; dk: Float64Array; dv: Float64Array; dmask: Float64Array | null; lse: Float64Array };
  /** Per-element bounds for dq, dk, dv; one bound for dmask. */
  readonly bound: { dq: Float64Array; dk: Float64Array; dv: Float64Array; dmask: number };
  /** ε of the bounds: an lse is within SAFETY·ε·max(1, |lse|) (its score's rounding, the exp, the sum). */
  readonly epsilon: number;
}

/** Sums a contiguous `[B, H, Lq, Lk]` array over the axes `shape` broadcasts along. */
export function sumToShape(full: ArrayLike<number>, target: readonly number[], shape: readonly number[]): Float64Array {
  const padded = [1, 1, 1, 1];
  shape.forEach((dim, i) => (padded[4 - shape.length + i] = dim));
  const out = new Float64Array(padded.reduce((a, b) => a * b, 1));
  const [B, H, Q, K] = target as [number, number, number, number];
  let n = 0;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Q; i++)
        for (let j = 0; j < K; j++) {
          const index = (((padded[0] === 1 ? 0 : b) * padded[1]! + (padded[1] === 1 ? 0 : h)) * padded[2]! + (padded[2] === 1 ? 0 : i)) * padded[3]! + (padded[3] === 1 ? 0 : j);
          out[index] = out[index]! + full[n++]!;
        }
  return out;
}

/**
 * The error bound of an f32 backward, per element: |got − want| ≤ ε · magnitude, where the
 * magnitude is the element's sum over absolute values of its terms (the reference's) and
 * ε covers the f32 sums (γ over headDim, valueDim, and the keys or query rows summed), the
 * exp (EXP_REL), and the score's own rounding (γ_headDim times the largest |score|, which
 * enters p = exp(s − lse) as a relative error), doubled (SAFETY).
 */
function bounds(magnitude: Float64Array, epsilon: number): Float64Array {
  return magnitude.map((m) => SAFETY * epsilon * m + 1e-30);
}

export function buildGradCase(spec: CaseSpec & { seedDout?: number }): GradCase {
  const forward = buildCase(spec);
  const { batch, qHeads, seqLenQ, seqLenK, headDim } = spec;
  const kvHeads = spec.kvHeads ?? qHeads;
  const valueDim = spec.valueDim ?? headDim;
  const layout: TestLayout = spec.layout ?? 'bhsd';
  const random = mulberry32(spec.seedDout ?? 7);
  const drawn = Float32Array.from({ length: batch * qHeads * seqLenQ * valueDim }, () => random() * 2 - 1);
  // float16 cases take dout as halves too: the reference sees the halves' exact values.
  const dout = spec.dtype === 'float16' ? halfArrayToFloat32(float32ArrayToHalf(drawn)) : drawn;
  const bhsd = (data: ArrayLike<number> & { length: number }, heads: number, seq: number, dim: number) =>
    toBhsd(Float32Array.from(valuesOf(data)), layout, [batch, heads, seq, dim]);
  const mask = forward.options.mask as MaskTensor | undefined;
  const causal = spec.causal ?? false;
  // RoPE: the reference attends with q' = R q, k' = R k rotated in float64 (the cast only
  // satisfies the plan's type), and the gradients are rotated back: dq = Rᵀ dq', dk = Rᵀ dk'.
  const qStrides = stridesOf('bhsd', qHeads, seqLenQ, headDim);
  const kStrides = stridesOf('bhsd', kvHeads, seqLenK, headDim);
  const rotary = spec.rotary ? { rotary: spec.rotary, ...rotaryPositions({ ...spec, rotary: spec.rotary }) } : null;
  const rotate = (data: ArrayLike<number>, which: 'q' | 'k', transpose: boolean): Float64Array => {
    const [strides, heads, seq, position] = which === 'q' ? [qStrides, qHeads, seqLenQ, rotary!.qPos] : [kStrides, kvHeads, seqLenK, rotary!.kPos];
    return rotate64(data, strides, batch, heads, seq, headDim, rotary!.rotary, position, transpose);
  };
  const qBhsd = bhsd(forward.q.data, qHeads, seqLenQ, headDim);
  const kBhsd = bhsd(forward.k.data, kvHeads, seqLenK, headDim);
  const plan = makePlan({
    batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim, valueDim,
    q: rotary ? (rotate(qBhsd, 'q', false) as unknown as Float32Array) : qBhsd,
    k: rotary ? (rotate(kBhsd, 'k', false) as unknown as Float32Array) : kBhsd,
    v: bhsd(forward.v.data, kvHeads, seqLenK, valueDim),
    scale: spec.scale ?? 1 / Math.sqrt(headDim),
    softcap: spec.softcap ?? 0,
    causal: causal !== false,
    positionOffsets: Array.from({ length: batch }, (_, b) => (causal === 'top-left' ? 0 : (spec.keyLengths ? spec.keyLengths[b]! : seqLenK) - seqLenQ)),
    ...(spec.window !== undefined ? { window: typeof spec.window === 'number' ? ([spec.window, 0] as const) : spec.window } : {}),
    alibiSlopes: alibiSlopesOf(spec.alibi, qHeads),
    keyLengths: spec.keyLengths ?? null,
    bias: mask ? expandMask(mask, [batch, qHeads, seqLenQ, seqLenK]) : null,
  });
  const rotated = referenceBackward(plan, dout); // dout is drawn in bhsd order
  const ref = rotary ? { ...rotated, dq: rotate(rotated.dq, 'q', true), dk: rotate(rotated.dk, 'k', true) } : rotated;
  // Rᵀ mixes each rotated pair: an element's error is at most |c|·e1 + |s|·e2 ≤ e1 + e2 of its
  // pair's errors in the rotated frame, so its magnitude is the sum of the pair's.
  const magnitude = rotary ? { ...rotated.magnitude, dq: pairSums(rotated.magnitude.dq, headDim, spec.rotary!), dk: pairSums(rotated.magnitude.dk, headDim, spec.rotary!) } : rotated.magnitude;
  let maxScore = 0;
  for (let n = 0; n < plan.q.length; n++) maxScore = Math.max(maxScore, Math.abs(plan.q[n]!));
  for (let n = 0; n < plan.k.length; n++) maxScore = Math.max(maxScore, Math.abs(plan.k[n]!));
  maxScore = maxScore * maxScore * headDim * plan.scale + (plan.bias ? 0 : 0);
  const group = qHeads / kvHeads;
  // With RoPE, q' and k' are rounded to f32 once (relative u per element): below the score's
  // γ_headDim term already, plus u in dq' = Σ dl·k' (and dk'), and u for rounding dq = Rᵀ dq'.
  const epsilon = gamma(headDim + valueDim + Math.max(seqLenK, seqLenQ * group) + 4) + 4 * EXP_REL + gamma(headDim) * maxScore + (rotary ? 4 * U32 : 0);
  const pub = (data: Float64Array, heads: number, seq: number, dim: number) => fromBhsd(data, layout, [batch, heads, seq, dim]);
  const additive = mask !== undefined && !(mask.data instanceof Uint8Array);
  const dbiasMag = ref.dbias.reduce((max, x) => Math.max(max, Math.abs(x)), 0);
  return {
    forward,
    dout: { data: fromBhsd(dout, layout, [batch, qHeads, seqLenQ, valueDim]), shape: forward.outShape },
    want: {
      dq: pub(ref.dq, qHeads, seqLenQ, headDim),
      dk: pub(ref.dk, kvHeads, seqLenK, headDim),
      dv: pub(ref.dv, kvHeads, seqLenK, valueDim),
      dmask: additive ? sumToShape(ref.dbias, [batch, qHeads, seqLenQ, seqLenK], mask.shape) : null,
      lse: ref.lse,
    },
    epsilon,
    bound: {
      dq: bounds(pub(magnitude.dq, qHeads, seqLenQ, headDim), epsilon),
      dk: bounds(pub(magnitude.dk, kvHeads, seqLenK, headDim), epsilon),
      dv: bounds(pub(magnitude.dv, kvHeads, seqLenK, valueDim), epsilon),
      // dmask sums dS over the broadcast axes: every summand bounded like one dq term.
      dmask: SAFETY * epsilon * Math.max(1, dbiasMag) * batch * qHeads * seqLenQ,
    },
  };
}

/** Each rotated pair's two magnitudes replaced by their sum (contiguous rows of `headDim`). */
function pairSums(magnitude: Float64Array, headDim: number, rotary: RotaryOptions): Float64Array {
  const out = Float64Array.from(magnitude);
  const half = (rotary.dim ?? headDim) / 2;
  for (let row = 0; row < magnitude.length; row += headDim) {
    for (let i = 0; i < half; i++) {
      const [a, b] = rotary.interleaved ? [row + 2 * i, row + 2 * i + 1] : [row + i, row + i + half];
      out[a] = out[b] = magnitude[a]! + magnitude[b]!;
    }
  }
  return out;
}

/** Fails with the worst element: index, expected, got, bound. */
export function expectWithin(got: ArrayLike<number>, want: ArrayLike<number>, bound: ArrayLike<number> | number, context: string): void {
  if (got.length !== want.length) throw new Error(`${context}: length ${got.length}, expected ${want.length}`);
  let worst = -1;
  let worstRatio = 0;
  for (let n = 0; n < want.length; n++) {
    const limit = typeof bound === 'number' ? bound : bound[n]!;
    const error = Math.abs(got[n]! - want[n]!);
    const ratio = Number.isNaN(error) ? Infinity : error / limit;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = n;
    }
  }
  if (worstRatio > 1) {
    const limit = typeof bound === 'number' ? bound : bound[worst]!;
    throw new Error(`${context}: element ${worst}: expected ${want[worst]}, got ${got[worst]}, |error| ${Math.abs(got[worst]! - want[worst]!)} > bound ${limit}`);
  }
}
