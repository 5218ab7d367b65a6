/**
 * The int8 KV cache (`dtype: 'int8'`) on every backend:
 * - the stored values are the quantisation rule's, bit for bit, on every backend (read()
 *   against the rule written here from its definition, not from src/cache/int8.ts);
 * - decode, chunked prefill and decodeAsync over an int8 cache compute attention over those
 *   dequantised values within the float32 bound (`toleranceFor`, as a float16 cache is
 *   checked over its half-rounded values) plus, on WASM, the bound of the integer kernels'
 *   own i16 roundings of q and of p·s^V (int8KernelBound, test/int8-reference.ts);
 * - against the float32 path (the float64 oracle over the *original* K/V), the output error
 *   stays within the derived bound `int8Bound` below, on random data and on keys/values
 *   with outlier channels (3 head dims 20× larger), for decode and a causal chunk of 5
 *   queries, on every backend and build and on 2 threads (decodeAsync, kernel-quantised);
 * - memory: ≤ 0.27× the float32 cache's, scales included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance, type BackendName } from '../src/index.js';
import { setMinMacsPerThread } from '../src/threads/backend.js';
import { setMinKeysPerSplit } from '../src/threads/decode.js';
import { expectClose, toleranceFor } from './helpers.js';
import { makePlan, mulberry32, referenceAttention } from './reference.js';
import { WASM_BACKENDS, threadedOf } from './threads-helpers.js';
import { int8Kernel } from '../src/int8/index.js';
import { int8KernelBound, maxAbs, nearestEven, norm, quantise } from './int8-reference.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);
/** Every backend, and each WASM one again with the int8 builds (wasm-attention/int8: integer dot products). */
const INSTANCES = [
  ...BACKENDS.map((name) => ({ label: name as string, options: { backend: name } })),
  ...BACKENDS.filter((name) => name !== 'js').map((name) => ({ label: `${name} int8 build`, options: { backend: name, module: int8Kernel(name as 'wasm-simd') } })),
];

// ---------------------------------------------------------------------------------------
// The quantisation rule, from its definition (KVCacheOptions.dtype, README "int8 KV cache")
// ---------------------------------------------------------------------------------------

/** Uniform [-1, 1) values, with `outliers` head dims (the first ones) 20× larger. */
function data(length: number, dim: number, seed: number, outliers = 0): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length }, (_, i) => (next() * 2 - 1) * (i % dim < outliers ? 20 : 1));
}


// ---------------------------------------------------------------------------------------
// The error bound against float32
// ---------------------------------------------------------------------------------------

/**
 * Bound on |out_int8 − out| for every output element of query row `q` (one head), where out
 * is attention over the original keys k_j and values v_j and out_int8 over their quantised
 * k̂_j, v̂_j, both exact (the f32 evaluation error is added separately):
 *
 *   |k̂_jd − k_jd| ≤ s^K_j / 2, so each score moves by |δ_j| ≤ Δ = |scale|·‖q‖₁·max_j s^K_j / 2;
 *   p̂_j = p_j·e^δ_j / Σ_i p_i·e^δ_i, so p̂_j / p_j ∈ [e^−2Δ, e^2Δ] and ‖p̂ − p‖₁ ≤ e^2Δ − 1;
 *   out_int8 − out = Σ_j (p̂_j − p_j)·v̂_j + Σ_j p_j·(v̂_j − v_j)
 *   ⇒ |out_int8 − out| ≤ (e^2Δ − 1)·max_j |v̂_j| + max_j s^V_j / 2.
 *
 * s_j = f32(max|x_j| / 127), and the rounded scale moves q·s by ≤ 127·s·2^-24 more: the
 * half-steps are taken as s·(1/2 + 2^-17). With outlier channels the row scales are set by
 * the outliers, so Δ and the V term grow ~20×: the bound says so, and the test checks it.
 */
function int8Bound(q: Float32Array, scale: number, kScaleMax: number, vScaleMax: number, maxAbsVHat: number): number {
  const half = 0.5 + 2 ** -17;
  const delta = Math.abs(scale) * q.reduce((s, x) => s + Math.abs(x), 0) * kScaleMax * half;
  return Math.expm1(2 * delta) * maxAbsVHat + vScaleMax * half;
}

interface BoundCase {
  readonly name: string;
  readonly qHeads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly seqLenQ: number;
  readonly cached: number;
  /** Head dims (the first ones) 20× larger in q, k and v. */
  readonly outliers: number;
  readonly causal?: boolean;
}

/** Random data and outlier channels, decode and a causal chunk (issue #15's accuracy bound). */
const BOUND_CASES: readonly BoundCase[] = [
  { name: 'random', qHeads: 4, kvHeads: 2, headDim: 64, seqLenQ: 1, cached: 500, outliers: 0 },
  { name: 'outlier_channels_20x', qHeads: 4, kvHeads: 2, headDim: 64, seqLenQ: 1, cached: 500, outliers: 3 },
  { name: 'outlier_channels_20x_head_dim_128', qHeads: 4, kvHeads: 2, headDim: 128, seqLenQ: 1, cached: 500, outliers: 3 },
  { name: 'random_chunked_prefill_lq_5_causal', qHeads: 4, kvHeads: 2, headDim: 64, seqLenQ: 5, cached: 300, outliers: 0, causal: true },
  { name: 'outlier_channels_20x_chunked_prefill_lq_5_causal', qHeads: 4, kvHeads: 2, headDim: 64, seqLenQ: 5, cached: 300, outliers: 3, causal: true },
];

function boundData(c: BoundCase): { q: Float32Array; k: Float32Array; v: Float32Array } {
  return {
    q: data(c.qHeads * c.seqLenQ * c.headDim, c.headDim, 13, c.outliers),
    k: data(c.kvHeads * c.cached * c.headDim, c.headDim, 11, c.outliers),
    v: data(c.kvHeads * c.cached * c.headDim, c.headDim, 12, c.outliers),
  };
}

/**
 * `got`, attention over an int8 cache of k and v (batch 1, the queries at the cache's end),
 * against the float32 path: the float64 oracle over the original k and v. Every element
 * within int8Bound (its query row, the row scales of its KV head) + the float32 evaluation
 * bound + the integer kernels' own (int8KernelBound; 0 for js). Returns the worst err/bound.
 */
function expectWithinInt8Bound(label: string, got: Float32Array, c: BoundCase, q: Float32Array, k: Float32Array, v: Float32Array): number {
  const { qHeads, kvHeads, headDim, seqLenQ, cached } = c;
  const plan = makePlan({ batch: 1, qHeads, kvHeads, seqLenQ, seqLenK: cached, headDim, q, k, v, causal: c.causal, positionOffsets: [cached - seqLenQ] });
  const want = referenceAttention(plan).out;
  const kQ = quantise(k, headDim), vQ = quantise(v, headDim);
  const scale = 1 / Math.sqrt(headDim);
  const f32 = toleranceFor({ seqLenK: cached, headDim }, { qNorm: norm(q, headDim), kNorm: norm(kQ.values, headDim), maxAbsV: maxAbs(vQ.values), maxAbsBias: 0 }, scale, 0, false).out.atol;
  const kernel = int8KernelBound(label, q, headDim, kQ.values, maxAbs(vQ.scales), maxAbs(vQ.values), scale);
  let worst = 0;
  for (let h = 0; h < qHeads; h++) {
    const kvHead = Math.floor(h / (qHeads / kvHeads));
    const rows = (x: Float64Array) => x.subarray(kvHead * cached, (kvHead + 1) * cached);
    const vHatMax = maxAbs(vQ.values.subarray(kvHead * cached * headDim, (kvHead + 1) * cached * headDim));
    for (let i = 0; i < seqLenQ; i++) {
      const row = (h * seqLenQ + i) * headDim;
      const bound = int8Bound(q.subarray(row, row + headDim), scale, maxAbs(rows(kQ.scales)), maxAbs(rows(vQ.scales)), vHatMax) + f32 + kernel;
      for (let d = 0; d < headDim; d++) {
        const err = Math.abs(got[row + d]! - want[row + d]!);
        if (!(err <= bound)) throw new Error(`${label} ${c.name} head ${h} row ${i} dim ${d}: |int8 − float32| = ${err}, bound ${bound}`);
        worst = Math.max(worst, err / bound);
      }
    }
  }
  return worst;
}

// ---------------------------------------------------------------------------------------

describe.each(INSTANCES)('backend $label', ({ label: backendName, options }) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention(options);
  });
  afterAll(() => attn.dispose());

  it('read_gives_the_quantised_values_bit_for_bit', () => {
    // headDim 20: not a multiple of 16 (WASM row padding) nor of 8; ragged batch, two
    // appends, one of them bshd, one from half bits; a row of exact ties (x·127/max = k + 1/2).
    const batch = 2, kvHeads = 2, headDim = 20, valueDim = 12;
    const cache = attn.createKVCache({ batch, kvHeads, headDim, valueDim, maxSeqLen: 9, dtype: 'int8' });
    const k1 = data(batch * kvHeads * 5 * headDim, headDim, 1);
    const v1 = data(batch * kvHeads * 5 * valueDim, valueDim, 2, 2);
    const ties = [127, 2.5, -2.5, 3.5, -3.5, 0.5, -0.5, 1.5, 126.5, -126.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    k1.set(ties, 0); // row (b0, h0, s0)
    cache.append({ data: k1, shape: [batch, kvHeads, 5, headDim] }, { data: v1, shape: [batch, kvHeads, 5, valueDim] }, { lengths: [5, 3] });
    // Second append: bshd, half bits (exact halves of data()).
    const k2 = data(batch * 4 * kvHeads * headDim, headDim, 3);
    const v2 = data(batch * 4 * kvHeads * valueDim, valueDim, 4);
    const toHalf = (x: Float32Array) => Uint16Array.from(x, (value) => halfBits(value));
    const k2h = toHalf(k2), v2h = toHalf(v2);
    cache.append({ data: k2h, shape: [batch, 4, kvHeads, headDim] }, { data: v2h, shape: [batch, 4, kvHeads, valueDim] }, { layout: 'bshd' });
    expect(Array.from(cache.lengths)).toEqual([9, 7]);

    const { k, v } = cache.read();
    expect(k.data).toBeInstanceOf(Float32Array);
    for (const [name, got, first, second, dim] of [['k', k.data, k1, k2, headDim], ['v', v.data, v1, v2, valueDim]] as const) {
      for (let b = 0; b < batch; b++) {
        for (let h = 0; h < kvHeads; h++) {
          const rows: number[][] = [];
          for (let s = 0; s < (b === 0 ? 5 : 3); s++) rows.push(Array.from(first.subarray(((b * kvHeads + h) * 5 + s) * dim, ((b * kvHeads + h) * 5 + s + 1) * dim)));
          for (let s = 0; s < 4; s++) {
            const at = ((b * 4 + s) * kvHeads + h) * dim;
            rows.push(Array.from(second.subarray(at, at + dim), (x) => halfValue(halfBits(x))));
          }
          const want = quantise(Float32Array.from(rows.flat()), dim).values;
          for (let s = 0; s < 9; s++) {
            for (let d = 0; d < dim; d++) {
              const g = got[((b * kvHeads + h) * 9 + s) * dim + d]!;
              const w = s < rows.length ? want[s * dim + d]! : 0; // past a shorter sequence: 0
              if (!Object.is(g, w) && !(g === 0 && w === 0)) throw new Error(`${name}[${b},${h},${s},${d}]: expected ${w}, got ${g}`);
            }
          }
        }
      }
    }
    // The ties, by hand: 2.5 → 2, −2.5 → −2, 3.5 → 4, 0.5 → 0, 1.5 → 2, 126.5 → 126 (scale 1).
    expect(Array.from(k.data.subarray(0, 10))).toEqual([127, 2, -2, 4, -4, 0, 0, 2, 126, -126]);
    cache.dispose();
  });

  const CASES = [
    { name: 'mha_decode_head_dim_64', qHeads: 4, kvHeads: 4, headDim: 64, seqLenQ: 1, cached: 300 },
    { name: 'gqa_decode_head_dim_20_value_dim_12', qHeads: 8, kvHeads: 2, headDim: 20, valueDim: 12, seqLenQ: 1, cached: 129 },
    { name: 'gqa_chunked_prefill_lq_7_causal', qHeads: 8, kvHeads: 2, headDim: 32, seqLenQ: 7, cached: 200, causal: true },
    { name: 'mqa_rows_gt_16_head_dim_128', qHeads: 20, kvHeads: 1, headDim: 128, seqLenQ: 1, cached: 65 },
  ];

  it.each(CASES)('$name: attention over the dequantised cache within the float32 bound', (c) => {
    const batch = 2;
    const valueDim = c.valueDim ?? c.headDim;
    const k = data(batch * c.kvHeads * c.cached * c.headDim, c.headDim, 5);
    const v = data(batch * c.kvHeads * c.cached * valueDim, valueDim, 6);
    const q = data(batch * c.qHeads * c.seqLenQ * c.headDim, c.headDim, 7);
    const cache = attn.createKVCache({ batch, kvHeads: c.kvHeads, headDim: c.headDim, valueDim, maxSeqLen: c.cached, dtype: 'int8' });
    const lengths = [c.cached, c.cached - 17];
    cache.append({ data: k, shape: [batch, c.kvHeads, c.cached, c.headDim] }, { data: v, shape: [batch, c.kvHeads, c.cached, valueDim] }, { lengths });
    const result = attn.decode({ data: q, shape: [batch, c.qHeads, c.seqLenQ, c.headDim] }, cache, { causal: c.causal });
    const kHat = quantise(k, c.headDim).values;
    const vHat = quantise(v, valueDim).values;
    const plan = makePlan({
      batch, qHeads: c.qHeads, kvHeads: c.kvHeads, seqLenQ: c.seqLenQ, seqLenK: c.cached, headDim: c.headDim, valueDim,
      q, k: kHat, v: vHat, causal: c.causal, keyLengths: lengths,
      positionOffsets: lengths.map((l) => l - c.seqLenQ),
    });
    const want = referenceAttention(plan).out;
    const tolerance = toleranceFor({ seqLenK: c.cached, headDim: c.headDim }, { qNorm: norm(q, c.headDim), kNorm: norm(kHat, c.headDim), maxAbsV: maxAbs(vHat), maxAbsBias: 0 }, 1 / Math.sqrt(c.headDim), 0, false);
    const kernel = int8KernelBound(backendName, q, c.headDim, kHat, maxAbs(quantise(v, valueDim).scales), maxAbs(vHat), 1 / Math.sqrt(c.headDim));
    expectClose(result.output.data as Float32Array, want, { atol: tolerance.out.atol + kernel, rtol: 0 }, `${backendName} ${c.name}`);
    cache.dispose();
  });

  it('integer_sums_near_2_pow_31_head_dim_1040', () => {
    // All-positive q and k: every product adds, so the WASM kernel's i32 dot products reach
    // dim16·qMax·127 ≈ 2^31 (int8QueryMax(1040) = 16259; with 32767 they would wrap).
    const headDim = 1040, cached = 67;
    const next = mulberry32(41);
    const k = Float32Array.from({ length: cached * headDim }, () => 0.5 + next() / 2);
    const v = data(cached * headDim, headDim, 42);
    const q = Float32Array.from({ length: 2 * headDim }, () => 0.9 + next() / 10);
    const cache = attn.createKVCache({ batch: 1, kvHeads: 1, headDim, maxSeqLen: cached, dtype: 'int8' });
    cache.append({ data: k, shape: [1, 1, cached, headDim] }, { data: v, shape: [1, 1, cached, headDim] });
    const scale = 8 / Math.sqrt(headDim); // scores spread over ≈ 100: a wrapped sum changes the output
    const got = attn.decode({ data: q, shape: [1, 2, 1, headDim] }, cache, { scale }).output.data as Float32Array;
    const kQ = quantise(k, headDim), vQ = quantise(v, headDim);
    const want = referenceAttention(makePlan({ batch: 1, qHeads: 2, kvHeads: 1, seqLenQ: 1, seqLenK: cached, headDim, q, k: kQ.values, v: vQ.values, scale })).out;
    const tolerance = toleranceFor({ seqLenK: cached, headDim }, { qNorm: norm(q, headDim), kNorm: norm(kQ.values, headDim), maxAbsV: maxAbs(vQ.values), maxAbsBias: 0 }, scale, 0, false);
    const kernel = int8KernelBound(backendName, q, headDim, kQ.values, maxAbs(vQ.scales), maxAbs(vQ.values), scale);
    expectClose(got, want, { atol: tolerance.out.atol + kernel, rtol: 0 }, `${backendName} head_dim_1040`);
    cache.dispose();
  });

  it.each(BOUND_CASES)('error_vs_float32_within_the_derived_bound_$name', (c) => {
    const { q, k, v } = boundData(c);
    const cache = attn.createKVCache({ batch: 1, kvHeads: c.kvHeads, headDim: c.headDim, maxSeqLen: c.cached, dtype: 'int8' });
    cache.append({ data: k, shape: [1, c.kvHeads, c.cached, c.headDim] }, { data: v, shape: [1, c.kvHeads, c.cached, c.headDim] });
    const got = attn.decode({ data: q, shape: [1, c.qHeads, c.seqLenQ, c.headDim] }, cache, { causal: c.causal }).output.data as Float32Array;
    // The bound is a worst case; the quantisation error is real (not 0) and below it.
    expect(expectWithinInt8Bound(backendName, got, c, q, k, v)).toBeGreaterThan(0);
    cache.dispose();
  });

  it.each([64, 128])('memory_le_0_27_of_float32_head_dim_%i', (headDim) => {
    const shape = { batch: 2, kvHeads: 4, headDim, maxSeqLen: 256 };
    const f32 = attn.createKVCache(shape);
    const int8 = attn.createKVCache({ ...shape, dtype: 'int8' });
    expect(int8.dtype).toBe('int8');
    expect(int8.byteLength / f32.byteLength).toBeLessThanOrEqual(0.27);
    f32.dispose();
    int8.dispose();
  });

  it('growth_from_initial_seq_len_keeps_rows_and_scales', () => {
    // Rows and their trailing scales move together when the storage doubles (2 → 4 → 8).
    const headDim = 24;
    const cache = attn.createKVCache({ batch: 2, kvHeads: 3, headDim, maxSeqLen: 8, initialSeqLen: 2, dtype: 'int8' });
    const k = data(2 * 3 * 7 * headDim, headDim, 31, 2);
    const v = data(2 * 3 * 7 * headDim, headDim, 32);
    const rows = (x: Float32Array, s: number) => {
      const out = new Float32Array(2 * 3 * headDim);
      for (let head = 0; head < 6; head++) out.set(x.subarray((head * 7 + s) * headDim, (head * 7 + s + 1) * headDim), head * headDim);
      return { data: out, shape: [2, 3, 1, headDim] };
    };
    for (let s = 0; s < 7; s++) cache.append(rows(k, s), rows(v, s));
    expect(cache.capacity).toBe(8);
    const got = cache.read();
    expect(Array.from(got.k.data as Float32Array)).toEqual(Array.from(quantise(k, headDim).values));
    expect(Array.from(got.v.data as Float32Array)).toEqual(Array.from(quantise(v, headDim).values));
    cache.dispose();
  });

  it('non_finite_append_throws_range_error_cache_intact', () => {
    const cache = attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 4, maxSeqLen: 4, dtype: 'int8' });
    const ok = { data: Float32Array.of(1, 2, 3, 4), shape: [1, 1, 1, 4] };
    cache.append(ok, ok);
    const before = cache.read();
    expect(() => cache.append({ data: Float32Array.of(1, NaN, 3, 4), shape: [1, 1, 1, 4] }, ok)).toThrow(RangeError);
    expect(() => cache.append(ok, { data: Float32Array.of(1, 2, Infinity, 4), shape: [1, 1, 1, 4] })).toThrow(/v\.data\[2\]: expected a finite value/);
    expect(cache.length).toBe(1);
    expect(cache.read()).toEqual(before);
    cache.dispose();
  });
});

describe.each(WASM_BACKENDS)('decodeAsync over an int8 cache, %s', (backendName: BackendName) => {
  beforeAll(() => {
    setMinMacsPerThread(0);
    setMinKeysPerSplit(0);
  });
  afterAll(() => {
    setMinMacsPerThread(undefined);
    setMinKeysPerSplit(undefined);
  });

  it.each([
    { name: 'mqa_key_split', qHeads: 4, kvHeads: 1, splits: true },
    { name: 'gqa_row_blocks', qHeads: 8, kvHeads: 4, splits: false },
  ])('$name: the single-thread result within the float32 bound', async (c) => {
    const attn = await createAttention({ backend: backendName, threads: 2 });
    const headDim = 64, cached = 1000;
    const k = data(c.kvHeads * cached * headDim, headDim, 21, 3);
    const v = data(c.kvHeads * cached * headDim, headDim, 22, 3);
    const q = { data: data(c.qHeads * headDim, headDim, 23), shape: [1, c.qHeads, 1, headDim] };
    const cache = attn.createKVCache({ batch: 1, kvHeads: c.kvHeads, headDim, maxSeqLen: cached, dtype: 'int8' });
    cache.append({ data: k, shape: [1, c.kvHeads, cached, headDim] }, { data: v, shape: [1, c.kvHeads, cached, headDim] });
    const one = attn.decode(q, cache).output.data as Float32Array;
    const two = (await attn.decodeAsync(q, cache)).output.data as Float32Array;
    expect(threadedOf(attn).lastCachedSplit.keySplits > 1).toBe(c.splits);
    const kHat = quantise(k, headDim).values, vHat = quantise(v, headDim).values;
    const want = referenceAttention(makePlan({ batch: 1, qHeads: c.qHeads, kvHeads: c.kvHeads, seqLenQ: 1, seqLenK: cached, headDim, q: q.data, k: kHat, v: vHat })).out;
    const tolerance = toleranceFor({ seqLenK: cached, headDim }, { qNorm: norm(q.data, headDim), kNorm: norm(kHat, headDim), maxAbsV: maxAbs(vHat), maxAbsBias: 0 }, 1 / Math.sqrt(headDim), 0, false);
    const kernel = int8KernelBound(backendName, q.data, headDim, kHat, maxAbs(quantise(v, headDim).scales), maxAbs(vHat), 1 / Math.sqrt(headDim));
    const atol = { atol: tolerance.out.atol + kernel, rtol: 0 };
    expectClose(one, want, atol, `${backendName} ${c.name} one thread`);
    expectClose(two, want, atol, `${backendName} ${c.name} two threads`);
    cache.dispose();
    attn.dispose();
  });

  it.each(BOUND_CASES)('error_vs_float32_within_the_derived_bound_two_threads_$name', async (c) => {
    // The pool's builds quantise at append in the kernel and split the keys (MQA-like GQA
    // 4/2 with one row block per head: key ranges merged by log-sum-exp).
    const attn = await createAttention({ backend: backendName, threads: 2 });
    const { q, k, v } = boundData(c);
    const cache = attn.createKVCache({ batch: 1, kvHeads: c.kvHeads, headDim: c.headDim, maxSeqLen: c.cached, dtype: 'int8' });
    cache.append({ data: k, shape: [1, c.kvHeads, c.cached, c.headDim] }, { data: v, shape: [1, c.kvHeads, c.cached, c.headDim] });
    const got = (await attn.decodeAsync({ data: q, shape: [1, c.qHeads, c.seqLenQ, c.headDim] }, cache, { causal: c.causal })).output.data as Float32Array;
    expect(threadedOf(attn).lastCachedSplit.threads).toBe(2);
    expect(expectWithinInt8Bound(`${backendName} threads 2`, got, c, q, k, v)).toBeGreaterThan(0);
    cache.dispose();
    attn.dispose();
  });
});


/** Half bits of x rounded to nearest even (x within the half range): a test-local encoder. */
function halfBits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === 0) return sign;
  if (a < 2 ** -14) return sign | nearestEven(a / 2 ** -24);
  let e = Math.floor(Math.log2(a));
  if (a < 2 ** e) e--;
  if (a >= 2 ** (e + 1)) e++;
  const m = nearestEven((a / 2 ** e - 1) * 1024);
  return sign | (((e + 15) << 10) + m);
}

/** The value of half bits (normals and subnormals). */
function halfValue(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 31;
  const m = bits & 1023;
  return sign * (e === 0 ? m * 2 ** -24 : 2 ** (e - 15) * (1 + m / 1024));
}
