/**
 * Numeric semantics under adversarial values (issue #10 items 3, 5, 10), on every path
 * that computes attention: `attention` on each backend (fused kernel), with
 * `returnWeights` (the WASM weights path), the thread pool (`attentionAsync`), the KV
 * cache (`decode`, one query row: the decode kernel; and `decodeAsync` on the pool),
 * and `onnxAttention`. Each case is checked against the float64 reference
 * (test/reference.ts), which writes out the contract of src/plan.ts:
 *
 * - a dot product past the float32 range is ±Infinity, and an allowed score is clamped to
 *   ±2^127 before and after the bias: an overflowing logit or a +Infinity bias acts as the
 *   largest finite score (ties share the weight), never NaN;
 * - NaN in an allowed score (q, k, or the bias at an unmasked key) makes the row NaN, on
 *   every backend; NaN in V at an attended key makes that output column NaN;
 * - a masked key never contributes, however it is masked (causal, keyLengths, a boolean
 *   mask, an additive -Infinity): NaN/Inf in its K or V row does not reach the output;
 *   a fully masked row is exactly 0;
 * - `scale`/`softcap` that are not finite in float32 (1e39), or nonzero but not normal
 *   in float32 (1e-39, 1e-46), throw a RangeError on every entry point.
 *
 * Tolerances: NaN and ±Infinity must match exactly (compareClose). Cases built from
 * moderate data use `toleranceFor` (test/helpers.ts, first-order f32 bounds). The
 * overflow cases are one-hot or tied rows: their weights are exactly 1 or 0 in every
 * backend (2^0 = 1 exactly, and the other scores are ≥ 1e18 below the max, so their
 * exp is 0), so the output is an f32 average of at most Lk value rows: within
 * 2·Lk·2^-24·max|v| (the sum and the division, with a factor 2 of safety).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKEND_NAMES,
  createAttention,
  isBackendAvailable,
  type AttentionInstance,
  type AttentionOptions,
  type BackendName,
} from '../../src/index.js';
import { floatToHalf, halfToFloat } from '../../src/index.js';
import { setMinMacsPerThread } from '../../src/threads/backend.js';
import { compareClose, makePlan, mulberry32, randomFloat32, referenceAttention, type Tolerance } from '../reference.js';
import { toleranceFor } from '../helpers.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);
const WASM_BACKENDS = BACKENDS.filter((name) => name !== 'js');

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

interface NumericCase {
  readonly name: string;
  readonly heads: number;
  readonly seqLenQ: number;
  readonly seqLenK: number;
  readonly headDim: number;
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly scale?: number;
  readonly softcap?: number;
  /** Bottom-right causal (equal lengths here, so also top-left). */
  readonly causal?: boolean;
  /** `[1, heads, seqLenQ, seqLenK]`: additive (Float32Array) or boolean (Uint8Array, 1 = attend). */
  readonly mask?: Float32Array | Uint8Array;
  readonly keyLength?: number;
  /** Output tolerance; default toleranceFor over the finite data. */
  readonly tolerance?: Tolerance;
}

const U = 2 ** -24;

/** Random data in [-1, 1) for a case of the given sizes (batch 1, one KV head per query head). */
function data(heads: number, seqLenQ: number, seqLenK: number, headDim: number, seed: number) {
  const random = mulberry32(seed);
  return {
    q: randomFloat32(heads * seqLenQ * headDim, random),
    k: randomFloat32(heads * seqLenK * headDim, random),
    v: randomFloat32(heads * seqLenK * headDim, random),
  };
}

/** Element index of [h, row, d] in a contiguous [1, heads, rows, dim] tensor. */
const idx = (rows: number, dim: number, h: number, row: number, d: number) => (h * rows + row) * dim + d;

/** Tolerance of a one-hot or tied row over `seqLenK` keys of values bounded by `maxAbsV` (see the header). */
const tiedRows = (seqLenK: number, maxAbsV = 1): Tolerance => ({ atol: 2 * seqLenK * U * maxAbsV * 2, rtol: 0 });

function overflowCases(): NumericCase[] {
  const cases: NumericCase[] = [];
  // logits_beyond_f32_max: q·k = 4·3e19·2e19 = 2.4e39 overflows f32. Row 0: keys 1 and 4
  // overflow to +Infinity (a tie at 2^127: the mean of their V rows), key 2 to -Infinity;
  // row 1 is ordinary; row 2 (q = -3e19) makes key 2 the one +Infinity.
  {
    const heads = 1, seqLenQ = 3, seqLenK = 6, headDim = 4;
    const { q, k, v } = data(heads, seqLenQ, seqLenK, headDim, 11);
    q.fill(3e19, 0, headDim);
    q.fill(-3e19, 2 * headDim, 3 * headDim);
    k.fill(2e19, 1 * headDim, 2 * headDim);
    k.fill(2e19, 4 * headDim, 5 * headDim);
    k.fill(-2e19, 2 * headDim, 3 * headDim);
    cases.push({ name: 'logits_beyond_f32_max', heads, seqLenQ, seqLenK, headDim, q, k, v, scale: 0.5, tolerance: tiedRows(seqLenK) });
  }
  // logits_all_overflow_negative: every logit of row 0 is -Infinity in f32: all tie at
  // -2^127, so the row is the mean of V (not 0: no key is masked).
  {
    const heads = 1, seqLenQ = 2, seqLenK = 5, headDim = 3;
    const { q, k, v } = data(heads, seqLenQ, seqLenK, headDim, 16);
    q.fill(3e19, 0, headDim);
    k.fill(-2e19);
    cases.push({ name: 'logits_all_overflow_negative', heads, seqLenQ, seqLenK, headDim, q, k, v, tolerance: tiedRows(seqLenK) });
  }
  // scale_overflows_log2: scale 3e38 is finite in f32 but scale·log2e is not (the fused
  // kernel's log2 units); scores 3e38·dot tie at 2^127 for dot 1 and 0.9.
  {
    const heads = 1, seqLenQ = 2, seqLenK = 5, headDim = 2;
    const q = Float32Array.from([1, 0, 0.5, 0]);
    const k = Float32Array.from([1, 0, 0.9, 0, -1, 0, 0.1, 0, 0, 0]);
    const { v } = data(heads, seqLenQ, seqLenK, headDim, 12);
    cases.push({ name: 'scale_overflows_log2', heads, seqLenQ, seqLenK, headDim, q, k, v, scale: 3e38, tolerance: tiedRows(seqLenK) });
  }
  // softcap_overflows_log2: softcap 3e38 (softcap·log2e overflows f32): capped ≈ logit.
  {
    const heads = 2, seqLenQ = 9, seqLenK = 11, headDim = 8;
    const d = data(heads, seqLenQ, seqLenK, headDim, 13);
    cases.push({ name: 'softcap_overflows_log2', heads, seqLenQ, seqLenK, headDim, ...d, softcap: 3e38 });
  }
  // bias_plus_infinity: a +Infinity bias wins its row (two of them tie); -FLT_MAX ("finfo.min"
  // masking) is a finite bias: a row biased by it everywhere is uniform, not 0.
  {
    const heads = 1, seqLenQ = 4, seqLenK = 7, headDim = 3;
    const d = data(heads, seqLenQ, seqLenK, headDim, 14);
    const mask = new Float32Array(heads * seqLenQ * seqLenK);
    mask[2] = Infinity;
    mask[seqLenK + 1] = Infinity;
    mask[seqLenK + 5] = Infinity;
    mask.fill(-3.4028234663852886e38, 2 * seqLenK, 3 * seqLenK);
    mask.fill(-3.4028234663852886e38, 3 * seqLenK, 3 * seqLenK + 4);
    cases.push({ name: 'bias_plus_infinity_and_finfo_min', heads, seqLenQ, seqLenK, headDim, ...d, mask, tolerance: tiedRows(seqLenK) });
  }
  // bias_sum_overflows: a logit near 2^127 plus a bias of FLT_MAX overflows the sum.
  {
    const heads = 1, seqLenQ = 2, seqLenK = 5, headDim = 1;
    const q = Float32Array.from([1e19, 1]);
    const k = Float32Array.from([1.5e19, 1e19, -1e19, 0.5, 1]);
    const { v } = data(heads, seqLenQ, seqLenK, headDim, 15);
    const mask = new Float32Array(seqLenQ * seqLenK);
    mask[1] = 3.4028234663852886e38;
    mask[2] = 3.4028234663852886e38;
    cases.push({ name: 'bias_sum_overflows', heads, seqLenQ, seqLenK, headDim, q, k, v, scale: 1, mask, tolerance: tiedRows(seqLenK) });
  }
  return cases;
}

function nanCases(): NumericCase[] {
  const cases: NumericCase[] = [];
  const heads = 2, seqLenQ = 11, seqLenK = 11, headDim = 5;
  const at = (rows: number, h: number, row: number, d = 0) => idx(rows, headDim, h, row, d);
  {
    const d = data(heads, seqLenQ, seqLenK, headDim, 21);
    d.q.fill(NaN, at(seqLenQ, 0, 3), at(seqLenQ, 0, 3) + headDim);
    d.q[at(seqLenQ, 1, 9, 2)] = NaN;
    cases.push({ name: 'nan_query_rows', heads, seqLenQ, seqLenK, headDim, ...d });
  }
  {
    const d = data(heads, seqLenQ, seqLenK, headDim, 22);
    d.q.fill(NaN, at(seqLenQ, 0, 3), at(seqLenQ, 0, 3) + headDim);
    const mask = new Uint8Array(heads * seqLenQ * seqLenK).fill(1);
    mask.fill(0, 3 * seqLenK, 4 * seqLenK); // row 3 of head 0: fully masked, so exactly 0
    cases.push({ name: 'nan_query_row_fully_masked', heads, seqLenQ, seqLenK, headDim, ...d, mask });
  }
  {
    const d = data(heads, seqLenQ, seqLenK, headDim, 23);
    d.k[at(seqLenK, 0, 6, 1)] = NaN; // causal: rows 6.. of head 0 are NaN, rows 0..5 clean
    d.k[at(seqLenK, 1, 10, 0)] = Infinity; // row ≥ 10 of head 1 sees an infinite logit: clamped
    cases.push({ name: 'nan_inf_key_causal', heads, seqLenQ, seqLenK, headDim, ...d, causal: true });
  }
  {
    const d = data(heads, seqLenQ, seqLenK, headDim, 24);
    d.v[at(seqLenK, 0, 4, 2)] = NaN; // column 2 of every row of head 0 that sees key 4
    d.v[at(seqLenK, 1, 7, 0)] = Infinity;
    d.v[at(seqLenK, 1, 7, 1)] = -Infinity;
    cases.push({ name: 'nan_inf_value_attended', heads, seqLenQ, seqLenK, headDim, ...d, causal: true });
  }
  {
    const d = data(heads, seqLenQ, seqLenK, headDim, 25);
    const mask = new Float32Array(heads * seqLenQ * seqLenK);
    mask[5 * seqLenK + 2] = NaN; // row 5 of head 0: a NaN bias at an unmasked key
    mask[seqLenQ * seqLenK + 7 * seqLenK + 3] = -Infinity;
    d.k[at(seqLenK, 1, 3, 0)] = NaN; // key 3 of head 1 is NaN but masked for row 7 only
    cases.push({ name: 'nan_bias_and_masked_nan_key', heads, seqLenQ, seqLenK, headDim, ...d, mask });
  }
  {
    const d = data(heads, seqLenQ, seqLenK, headDim, 26);
    d.k.fill(NaN, at(seqLenK, 0, 8), at(seqLenK, 0, 8) + headDim); // past keyLength 8: never read
    d.v.fill(NaN, at(seqLenK, 0, 9), at(seqLenK, 0, 9) + headDim);
    d.k.fill(NaN, at(seqLenK, 1, 10), at(seqLenK, 1, 10) + headDim);
    cases.push({ name: 'nan_past_key_length', heads, seqLenQ, seqLenK, headDim, ...d, keyLength: 8 });
  }
  // nan_value_allowed_underflow: key 1 is allowed but its weight e^-1800 underflows to 0;
  // 0 · NaN is still NaN in column 0 of row 0 (the weights path used to skip p = 0 keys).
  {
    const h = 1, lq = 2, lk = 3, dim = 1;
    const q = Float32Array.from([30, 0.5]);
    const k = Float32Array.from([30, -30, 1]);
    const v = Float32Array.from([0.25, NaN, -0.5]);
    cases.push({ name: 'nan_value_allowed_underflow', heads: h, seqLenQ: lq, seqLenK: lk, headDim: dim, q, k, v, scale: 1 });
  }
  return cases;
}

function maskedValueCases(): NumericCase[] {
  const cases: NumericCase[] = [];
  const heads = 2, seqLenQ = 10, seqLenK = 70, headDim = 6;
  const vRow = (h: number, j: number) => idx(seqLenK, headDim, h, j, 0);
  // NaN/Inf in V rows of keys masked by an additive -Infinity for every row of the head.
  {
    const d = data(heads, seqLenQ, seqLenK, headDim, 31);
    const mask = new Float32Array(heads * seqLenQ * seqLenK);
    for (let i = 0; i < heads * seqLenQ; i++) {
      mask[i * seqLenK + 5] = -Infinity;
      mask[i * seqLenK + 66] = -Infinity;
    }
    d.v.fill(NaN, vRow(0, 5), vRow(0, 5) + headDim);
    d.v.fill(Infinity, vRow(1, 66), vRow(1, 66) + headDim);
    cases.push({ name: 'nan_value_under_additive_mask', heads, seqLenQ, seqLenK, headDim, ...d, mask });
  }
  // The same through a boolean mask, masked for some query rows only (others see the NaN).
  {
    const d = data(heads, seqLenQ, seqLenK, headDim, 32);
    const mask = new Uint8Array(heads * seqLenQ * seqLenK).fill(1);
    for (let i = 0; i < seqLenQ; i++) if (i !== 4) mask[i * seqLenK + 40] = 0;
    for (let i = 0; i < seqLenQ; i++) mask[(seqLenQ + i) * seqLenK + 0] = 0;
    d.v.fill(NaN, vRow(0, 40), vRow(0, 40) + headDim);
    d.v[vRow(1, 0) + 3] = -Infinity;
    cases.push({ name: 'nan_value_under_boolean_mask', heads, seqLenQ, seqLenK, headDim, ...d, mask });
  }
  // Causal, inside the diagonal tile: query i sees keys j <= i; V at key 7 is NaN, so rows
  // 0..6 must stay clean though the kernel's 8-query block reads that row for row 7.
  {
    const h = 1, l = 9, dim = 4;
    const d = data(h, l, l, dim, 33);
    d.v.fill(NaN, 7 * dim, 8 * dim);
    d.v[5 * dim + 1] = Infinity;
    cases.push({ name: 'nan_value_causal_diagonal', heads: h, seqLenQ: l, seqLenK: l, headDim: dim, ...d, causal: true });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// Expected values and comparison
// ---------------------------------------------------------------------------------------

function biasOf(c: NumericCase): Float32Array | null {
  if (!c.mask) return null;
  if (c.mask instanceof Float32Array) return c.mask;
  return Float32Array.from(c.mask, (m) => (m ? 0 : -Infinity));
}

function expected(c: NumericCase, withWeights = false) {
  const plan = makePlan({
    batch: 1, qHeads: c.heads, seqLenQ: c.seqLenQ, seqLenK: c.seqLenK, headDim: c.headDim,
    q: c.q, k: c.k, v: c.v, scale: c.scale, softcap: c.softcap ?? 0,
    causal: c.causal ?? false, positionOffsets: [c.seqLenK - c.seqLenQ],
    keyLengths: c.keyLength === undefined ? null : [c.keyLength],
    bias: biasOf(c), withWeights, weightsStage: 'probs',
  });
  return referenceAttention(plan);
}

function finiteMax(values: Float32Array): number {
  let m = 0;
  for (const x of values) if (Number.isFinite(x)) m = Math.max(m, Math.abs(x));
  return m;
}

function toleranceOf(c: NumericCase): { out: Tolerance; weights: Tolerance } {
  if (c.tolerance) return { out: c.tolerance, weights: { atol: c.tolerance.atol, rtol: 0 } };
  const norm = (x: Float32Array) => Math.sqrt(c.headDim) * finiteMax(x);
  const scale = c.scale ?? 1 / Math.sqrt(c.headDim);
  const maxBias = c.mask instanceof Float32Array ? finiteMax(c.mask) : 0;
  // softcap 3e38 is far above every logit here (|logit| < 3): the kernels' tanh is then its
  // Taylor series (relative error of a few ulp), so the capped logit is the logit within
  // 4u more: doubling the uncapped bound covers it (and softcap·TANH_ABS would be 3e32).
  const t = toleranceFor({ seqLenK: c.seqLenK, headDim: c.headDim }, { qNorm: norm(c.q), kNorm: norm(c.k), maxAbsV: finiteMax(c.v), maxAbsBias: maxBias }, scale, 0, false);
  const factor = c.softcap ? 2 : 1;
  return { out: { atol: t.out.atol * factor, rtol: 0 }, weights: { atol: t.weights.atol, rtol: t.weights.rtol * factor } };
}

function expectMatches(got: ArrayLike<number>, want: ArrayLike<number>, tolerance: Tolerance, context: string, shape: number[]): void {
  const comparison = compareClose(got, want, tolerance, shape);
  if (!comparison.ok) expect.fail(`${context}: ${comparison.message}`);
}

/** The weights of rows that have allowed keys; NaN rows compare NaN at every allowed key only. */
function maskNaNRowsWeights(got: Float32Array, want: Float64Array, seqLenK: number): Float64Array {
  const fixed = Float64Array.from(got);
  for (let r = 0; r < want.length / seqLenK; r++) {
    let nanRow = false;
    for (let j = 0; j < seqLenK; j++) if (Number.isNaN(want[r * seqLenK + j]!)) nanRow = true;
    if (!nanRow) continue;
    // A NaN row's weights at masked keys are not pinned (0 or NaN by path): take the reference's.
    for (let j = 0; j < seqLenK; j++) if (!Number.isNaN(want[r * seqLenK + j]!)) fixed[r * seqLenK + j] = want[r * seqLenK + j]!;
  }
  return fixed;
}

// ---------------------------------------------------------------------------------------
// The paths
// ---------------------------------------------------------------------------------------

function tensors(c: NumericCase) {
  return {
    q: { data: c.q, shape: [1, c.heads, c.seqLenQ, c.headDim] },
    k: { data: c.k, shape: [1, c.heads, c.seqLenK, c.headDim] },
    v: { data: c.v, shape: [1, c.heads, c.seqLenK, c.headDim] },
  };
}

function optionsOf(c: NumericCase): AttentionOptions {
  const options: Record<string, unknown> = {};
  if (c.scale !== undefined) options.scale = c.scale;
  if (c.softcap !== undefined) options.softcap = c.softcap;
  if (c.causal) options.causal = true;
  if (c.mask) options.mask = { data: c.mask, shape: [1, c.heads, c.seqLenQ, c.seqLenK] };
  if (c.keyLength !== undefined) options.keyLengths = [c.keyLength];
  return options as AttentionOptions;
}

const ALL_CASES = [...overflowCases(), ...nanCases(), ...maskedValueCases()];
/** The cases whose data fit float16 (the overflow cases hold 1e19). */
const HALF_CASES = [...nanCases(), ...maskedValueCases()];

describe.each(BACKENDS)('numerics on %s', (backend: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend });
  });

  it.each(ALL_CASES.map((c) => [c.name, c] as const))('attention: %s', (_name, c) => {
    const { q, k, v } = tensors(c);
    const want = expected(c);
    const { output } = attn.attention(q, k, v, optionsOf(c));
    expectMatches(output.data, want.out, toleranceOf(c).out, `${backend} attention ${c.name}: output`, output.shape as number[]);
  });

  it.each(ALL_CASES.map((c) => [c.name, c] as const))('attention with weights: %s', (_name, c) => {
    const { q, k, v } = tensors(c);
    const want = expected(c, true);
    const { output, weights } = attn.attention(q, k, v, { ...optionsOf(c), returnWeights: true });
    const tolerance = toleranceOf(c);
    expectMatches(output.data, want.out, tolerance.out, `${backend} attention+weights ${c.name}: output`, output.shape as number[]);
    const got = maskNaNRowsWeights(weights!.data, want.weights, c.seqLenK);
    expectMatches(got, want.weights, tolerance.weights, `${backend} attention+weights ${c.name}: weights`, weights!.shape as number[]);
  });

  it.each(ALL_CASES.map((c) => [c.name, c] as const))('decode through a KV cache: %s', (_name, c) => {
    decodeCase(c, 'float32');
  });

  // A float16 cache holding Inf/NaN takes the exact-conversion path (kvDtype 2) of the
  // decode kernel; data are rounded to half first, so the reference sees what the cache holds.
  it.each(HALF_CASES.map((c) => [c.name, c] as const))('decode through a float16 KV cache: %s', (_name, c) => {
    const round = (x: Float32Array) => Float32Array.from(x, (value) => halfToFloat(floatToHalf(value)));
    decodeCase({ ...c, k: round(c.k), v: round(c.v) }, 'float16');
  });

  function decodeCase(c: NumericCase, dtype: 'float32' | 'float16'): void {
    // decode has no keyLengths option: the cache holds the first keyLength keys instead.
    const length = c.keyLength ?? c.seqLenK;
    const { heads, seqLenQ, headDim } = c;
    const keep = (t: Float32Array) => {
      const out = new Float32Array(heads * length * headDim);
      for (let h = 0; h < heads; h++) out.set(t.subarray(h * c.seqLenK * headDim, (h * c.seqLenK + length) * headDim), h * length * headDim);
      return out;
    };
    /** The case's mask (or causal limit, as a boolean mask) of query rows `rows`, over the cached keys. */
    const maskRows = (rows: number[]): Float32Array | Uint8Array | null => {
      if (!c.mask && !c.causal) return null;
      const mask = c.mask instanceof Float32Array ? new Float32Array(heads * rows.length * length) : new Uint8Array(heads * rows.length * length);
      for (let h = 0; h < heads; h++)
        rows.forEach((i, r) => {
          for (let j = 0; j < length; j++) {
            const at = (h * rows.length + r) * length + j;
            mask[at] = c.mask ? c.mask[(h * seqLenQ + i) * c.seqLenK + j]! : j <= i + c.seqLenK - seqLenQ ? 1 : 0;
          }
        });
      return mask;
    };
    const cache = attn.createKVCache({ batch: 1, kvHeads: heads, headDim, maxSeqLen: c.seqLenK, dtype });
    try {
      cache.append({ data: keep(c.k), shape: [1, heads, length, headDim] }, { data: keep(c.v), shape: [1, heads, length, headDim] });
      const base: Record<string, unknown> = {};
      if (c.scale !== undefined) base.scale = c.scale;
      if (c.softcap !== undefined) base.softcap = c.softcap;
      const want = expected(c);
      const tolerance = toleranceOf(c).out;
      // Each query row alone (Lq = 1: the decode kernel proper), causal as a mask.
      for (let i = 0; i < seqLenQ; i++) {
        const qi = new Float32Array(heads * headDim);
        const wantRow = new Float64Array(heads * headDim);
        for (let h = 0; h < heads; h++) {
          qi.set(c.q.subarray((h * seqLenQ + i) * headDim, (h * seqLenQ + i + 1) * headDim), h * headDim);
          wantRow.set(want.out.subarray((h * seqLenQ + i) * headDim, (h * seqLenQ + i + 1) * headDim), h * headDim);
        }
        const mask = maskRows([i]);
        const options = mask ? { ...base, mask: { data: mask, shape: [1, heads, 1, length] } } : base;
        const { output } = attn.decode({ data: qi, shape: [1, heads, 1, headDim] }, cache, options as AttentionOptions);
        expectMatches(output.data, wantRow, tolerance, `${backend} decode ${dtype} ${c.name} row ${i}`, [1, heads, 1, headDim]);
      }
      // Every row at once: the decode kernel's multi-row blocks.
      const mask = maskRows(Array.from({ length: seqLenQ }, (_, i) => i));
      const options = mask ? { ...base, mask: { data: mask, shape: [1, heads, seqLenQ, length] } } : base;
      const { output } = attn.decode({ data: c.q, shape: [1, heads, seqLenQ, headDim] }, cache, options as AttentionOptions);
      expectMatches(output.data, want.out, tolerance, `${backend} decode ${dtype} ${c.name} all rows`, output.shape as number[]);
    } finally {
      cache.dispose();
    }
  }

  it.each(ALL_CASES.map((c) => [c.name, c] as const))('onnxAttention: %s', (_name, c) => {
    const { q, k, v } = tensors(c);
    const attrs: Record<string, unknown> = { qk_matmul_output_mode: 3 };
    if (c.scale !== undefined) attrs.scale = c.scale;
    if (c.softcap !== undefined) attrs.softcap = c.softcap;
    if (c.causal) attrs.is_causal = 1;
    const mask = c.mask ? { data: c.mask, shape: [1, c.heads, c.seqLenQ, c.seqLenK] } : null;
    const lengths = c.keyLength === undefined ? null : { data: BigInt64Array.from([BigInt(c.keyLength)]), shape: [1] };
    const [y] = attn.onnxAttention([q, k, v, mask, null, null, lengths], attrs);
    const want = expected(c);
    expectMatches(y!.data as Float32Array, want.out, toleranceOf(c).out, `${backend} onnxAttention ${c.name}`, y!.shape as number[]);
  });
});

describe.each(WASM_BACKENDS)('numerics on the thread pool (%s, 2 threads)', (backend: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    setMinMacsPerThread(0);
    attn = await createAttention({ backend, threads: 2 });
  });
  afterAll(() => {
    attn.dispose();
    setMinMacsPerThread(undefined);
  });

  it.each(ALL_CASES.map((c) => [c.name, c] as const))('attentionAsync: %s', async (_name, c) => {
    const { q, k, v } = tensors(c);
    const want = expected(c);
    const { output } = await attn.attentionAsync(q, k, v, optionsOf(c));
    expectMatches(output.data, want.out, toleranceOf(c).out, `${backend} threads ${c.name}`, output.shape as number[]);
  });

  it.each(ALL_CASES.filter((c) => c.keyLength === undefined && !c.causal).map((c) => [c.name, c] as const))('decodeAsync: %s', async (_name, c) => {
    const { q, k, v } = tensors(c);
    const cache = attn.createKVCache({ batch: 1, kvHeads: c.heads, headDim: c.headDim, maxSeqLen: c.seqLenK });
    try {
      cache.append(k, v);
      const options = optionsOf(c);
      const { output } = await attn.decodeAsync(q, cache, options);
      expectMatches(output.data, expected(c).out, toleranceOf(c).out, `${backend} decodeAsync ${c.name}`, output.shape as number[]);
    } finally {
      cache.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------
// Options that are not float32 values
// ---------------------------------------------------------------------------------------

describe('float options are float32 values, checked at the boundary', () => {
  const BAD: [option: 'scale' | 'softcap', value: number][] = [
    ['scale', 1e39], ['scale', -1e39], ['scale', 1e-46], ['scale', 1e-39], ['scale', 3.5e38],
    ['softcap', 1e39], ['softcap', 1e-46], ['softcap', 1e-39], ['softcap', 3.41e38],
  ];
  const GOOD: [option: 'scale' | 'softcap', value: number][] = [
    ['scale', 3.4028234663852886e38], ['scale', 1.1754943508222875e-38], ['scale', 0], ['softcap', 3e38], ['softcap', 1.2e-38], ['softcap', 0],
  ];
  const d = data(1, 2, 3, 4, 41);
  const q = { data: d.q, shape: [1, 1, 2, 4] };
  const k = { data: d.k, shape: [1, 1, 3, 4] };
  const v = { data: d.v, shape: [1, 1, 3, 4] };

  describe.each(BACKENDS)('on %s', (backend: BackendName) => {
    let attn: AttentionInstance;
    beforeAll(async () => {
      attn = await createAttention({ backend });
    });

    it.each(BAD)('rejects %s: %s on attention, decode and onnxAttention', (option, value) => {
      const message = new RegExp(`^options\\.${option}: expected a finite.* number that is 0 or of magnitude in \\[1\\.1754943508222875e-38, 3\\.4028234663852886e\\+?38\\] in float32, got ${String(value).replace('+', '\\+')}$`);
      expect(() => attn.attention(q, k, v, { [option]: value })).toThrow(RangeError);
      expect(() => attn.attention(q, k, v, { [option]: value })).toThrow(message);
      const cache = attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 4, maxSeqLen: 3 });
      cache.append(k, v);
      expect(() => attn.decode(q, cache, { [option]: value })).toThrow(message);
      cache.dispose();
      const attrMessage = new RegExp(`^attrs\\.${option}: expected a finite`);
      expect(() => attn.onnxAttention([q, k, v], { [option]: value })).toThrow(RangeError);
      expect(() => attn.onnxAttention([q, k, v], { [option]: value })).toThrow(attrMessage);
    });

    it.each(GOOD)('accepts %s: %s, giving a finite result', (option, value) => {
      const { output } = attn.attention(q, k, v, { [option]: value });
      for (const x of output.data) expect(Number.isFinite(x)).toBe(true);
    });
  });
});
