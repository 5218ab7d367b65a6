/**
 * Flash-decoding (src/threads/decode.ts keySplitsFor, mergeKeySplits): when a
 * decode plan has fewer row blocks than threads (MQA, GQA with 1–2 KV heads, batch 1–2),
 * each block's keys are cut into ranges run by different threads, whose partial softmax
 * states the host merges by log-sum-exp. The result must equal the single-thread `decode`
 * (the same plan run by the cache engine) within `splitTolerance` below, rows with no
 * allowed key must be exact zeros, and the split must actually have happened
 * (`lastCachedSplit`, checked on every case, so a silent fallback to one thread fails).
 *
 * The split hooks (setMinMacsPerThread, setMinKeysPerSplit) force splits on small shapes:
 * Lk = 1 on 5 threads makes 4 empty ranges of 5.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAttention, type AttentionInstance, type BackendName } from '../src/index.js';
import type { CachedPlan, CacheEngine } from '../src/cache/engine.js';
import { setMinMacsPerThread } from '../src/threads/backend.js';
import { keySplitsFor, MIN_KEYS_PER_SPLIT, setMinKeysPerSplit } from '../src/threads/decode.js';
import { compareClose, mulberry32, type Tolerance } from './reference.js';
import { decodeHalf, encodeExactHalf } from './helpers.js';
import { WASM_BACKENDS, threadedOf } from './threads-helpers.js';

/** Threads of the instances: 2 (the common desktop split) and 5 (more ranges than chunks for short caches; GQA batch 2's 4 blocks split too). */
const THREADS = [2, 5] as const;
const CHUNK_KEYS = 64; // assembly/decode/scratch.ts
const ROWS = 16; // assembly/decode/scratch.ts

const U = 2 ** -24; // unit roundoff of f32
/** Max relative error of the kernel's exp, in units of U (assembly/inline/exp.ts: 1.79e-7 measured, < 1.5·2^-23). */
const EXP_ULPS = 3;

/**
 * Bound on |split − one pass| for an output element (a first-order bound, like
 * test/helpers.ts toleranceFor). Both are f32 evaluations of y = Σ_j p_j·v_j / Σ_j p_j from
 * the *same* f32 scores s_j (a range scores its keys with the same kernel, packed queries
 * and chunks as the one pass), so per result the weights p_j carry a relative error ε of
 * - the exp: p_j = e^(s_j − m), EXP_ULPS·U, plus U·|s_j − m| ≤ 2U·scoreBound from the
 *   rounded argument (each result subtracts a different reference max m);
 * - the rescale factors, each with that same error: e^(m_old − m_new) per running-max
 *   increase in a pass (√chunks of them: at most one per chunk, far fewer for real scores,
 *   and their errors do not all add up) and one e^(m_c − M) per range in the merge;
 * - the reordered sums of Lk positive terms: U·√Lk (random-walk growth; the worst case
 *   Lk·U needs every rounding in one direction).
 * y is a convex combination of the v_j, so relative errors ε of the weights move it by at
 * most 2ε·maxAbsV; two results: 4ε·maxAbsV. A range lost, counted twice or not rescaled is
 * off by 1e-3 to 1e-1 on this data (checked by breaking the merge: dropping the last range
 * or the rescale makes most cases fail, 90 of 144 without the rescale); measured errors are
 * ≤ 1e-7 (about 2 ulps of maxAbsV), under 1% of the bound: it is a worst case, not a fit.
 */
function splitTolerance(seqLenK: number, scoreBound: number, maxAbsV: number): { out: Tolerance; weights: Tolerance } {
  const chunks = Math.max(1, Math.ceil(seqLenK / CHUNK_KEYS));
  const relative = U * ((EXP_ULPS + 2 * scoreBound) * (2 + Math.sqrt(chunks)) + Math.sqrt(seqLenK));
  return {
    out: { atol: 4 * relative * maxAbsV, rtol: 0 },
    // w_j = e^(s_j − M) / L: the same M (a max is exact) and exp; only L differs, by the above.
    weights: { atol: 1e-30, rtol: 2 * relative },
  };
}

/** max |scale·q_i·k_j| (in float64) over the rows and keys, capped by the softcap: the largest score. */
function maxScore(q: Float32Array, k: Float32Array, dim: number, scale: number, softcap: number): number {
  let max = 0;
  for (let i = 0; i < q.length; i += dim) {
    for (let j = 0; j < k.length; j += dim) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += q[i + d]! * k[j + d]!;
      max = Math.max(max, Math.abs(dot));
    }
  }
  return Math.min(max * Math.abs(scale), softcap > 0 ? softcap : Infinity);
}

/** Values in [-1, 1) that are exactly halves (so a float16 cache holds them unrounded). */
function randomHalves(length: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length }, () => decodeHalf(encodeExactHalf(Math.round((next() * 2 - 1) * 1024) / 1024)));
}

interface FlashCase {
  readonly name: string;
  readonly batch: number;
  readonly qHeads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly seqLenQ: number;
  /** Keys cached per sequence (the longest). */
  readonly cached: number;
  readonly dtype: 'float32' | 'float16';
  readonly causal?: boolean;
  /** Per-sequence cache lengths (default all `cached`); 0 makes every row of that sequence fully masked. */
  readonly lengths?: readonly number[];
  /** Bool mask: keys j >= maskFrom masked for every row (a whole range of the split masked). */
  readonly maskFrom?: number;
  readonly softcap?: number;
  readonly returnWeights?: boolean;
  readonly pinned?: boolean;
  /**
   * float16 only: the last 2 keys of every sequence hold Inf (K) and NaN (V), masked by the
   * keyLengths option, so the cache is flagged non-finite and the exact conversion (kvDtype
   * 2) runs while the result stays finite.
   */
  readonly nonFiniteTail?: boolean;
  /** q and output in `bshd` layout: the merge writes through the output strides. */
  readonly bshd?: boolean;
}

const LENGTHS = [1, 63, 64, 65, 1000, 4097];
const GROUPS = [
  { kind: 'mqa', qHeads: 4, kvHeads: 1 },
  { kind: 'gqa', qHeads: 8, kvHeads: 2 },
] as const;

const GRID: FlashCase[] = [];
for (const cached of LENGTHS) {
  for (const dtype of ['float32', 'float16'] as const) {
    for (const group of GROUPS) {
      for (const batch of [1, 2]) {
        GRID.push({ name: `${group.kind}_batch_${batch}_kv_len_${cached}_${dtype}`, batch, qHeads: group.qHeads, kvHeads: group.kvHeads, headDim: 20, seqLenQ: 1, cached, dtype });
      }
    }
  }
}

const MODES: FlashCase[] = [
  ...[1, 2, 3, 4].flatMap((seqLenQ) => (['float32', 'float16'] as const).map((dtype): FlashCase => (
    { name: `causal_chunk_lq_${seqLenQ}_${dtype}`, batch: 1, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ, cached: 1000, dtype, causal: true }
  ))),
  { name: 'causal_lq_4_gqa_batch_2_ragged', batch: 2, qHeads: 8, kvHeads: 2, headDim: 16, seqLenQ: 4, cached: 700, dtype: 'float32', causal: true, lengths: [700, 130] },
  { name: 'rows_gt_16_two_blocks_lq_4', batch: 1, qHeads: 8, kvHeads: 1, headDim: 8, seqLenQ: 4, cached: 1000, dtype: 'float32', causal: true },
  { name: 'key_lengths_0_and_short_f32', batch: 2, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ: 1, cached: 1000, dtype: 'float32', lengths: [0, 130] },
  { name: 'key_lengths_0_and_short_f16', batch: 2, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ: 1, cached: 1000, dtype: 'float16', lengths: [300, 0] },
  { name: 'fully_masked_row_all_lengths_0', batch: 1, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ: 1, cached: 1000, dtype: 'float32', lengths: [0] },
  { name: 'bool_mask_masks_later_ranges_f32', batch: 1, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ: 1, cached: 1000, dtype: 'float32', maskFrom: 8 * CHUNK_KEYS },
  { name: 'bool_mask_masks_later_ranges_f16', batch: 1, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ: 1, cached: 1000, dtype: 'float16', maskFrom: 3 * CHUNK_KEYS },
  { name: 'bool_mask_masks_everything', batch: 1, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ: 1, cached: 1000, dtype: 'float32', maskFrom: 0 },
  { name: 'softcap_f32', batch: 1, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ: 1, cached: 1000, dtype: 'float32', softcap: 0.5 },
  { name: 'softcap_f16', batch: 1, qHeads: 8, kvHeads: 2, headDim: 20, seqLenQ: 1, cached: 4097, dtype: 'float16', softcap: 2 },
  { name: 'return_weights_f32', batch: 1, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ: 2, cached: 1000, dtype: 'float32', causal: true, returnWeights: true },
  { name: 'return_weights_f16_ragged_mask', batch: 2, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ: 1, cached: 1000, dtype: 'float16', returnWeights: true, lengths: [1000, 0], maskFrom: 5 * CHUNK_KEYS },
  { name: 'pinned_out_f32', batch: 1, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ: 1, cached: 1000, dtype: 'float32', pinned: true },
  { name: 'pinned_out_f16_gqa', batch: 1, qHeads: 8, kvHeads: 2, headDim: 20, seqLenQ: 1, cached: 4097, dtype: 'float16', pinned: true },
  { name: 'f16_non_finite_cache_exact_conversion', batch: 1, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ: 1, cached: 1000, dtype: 'float16', nonFiniteTail: true },
  { name: 'f16_non_finite_cache_gqa_batch_2_causal_lq_3', batch: 2, qHeads: 8, kvHeads: 2, headDim: 20, seqLenQ: 3, cached: 600, dtype: 'float16', causal: true, nonFiniteTail: true },
  { name: 'bshd_layout_out_strides_lq_2', batch: 1, qHeads: 4, kvHeads: 1, headDim: 20, seqLenQ: 2, cached: 1000, dtype: 'float32', causal: true, bshd: true },
  { name: 'bshd_layout_pinned_f16_gqa_batch_2', batch: 2, qHeads: 8, kvHeads: 2, headDim: 20, seqLenQ: 3, cached: 700, dtype: 'float16', causal: true, bshd: true, pinned: true },
  { name: 'head_dim_128', batch: 1, qHeads: 8, kvHeads: 1, headDim: 128, seqLenQ: 1, cached: 1000, dtype: 'float32' },
  { name: 'head_dim_128_f16', batch: 1, qHeads: 8, kvHeads: 1, headDim: 128, seqLenQ: 1, cached: 1000, dtype: 'float16' },
];

beforeAll(() => {
  setMinMacsPerThread(0);
  setMinKeysPerSplit(0);
});
afterAll(() => {
  setMinMacsPerThread(undefined);
  setMinKeysPerSplit(undefined);
});

/** Row blocks of the decode kernel: the units before any key split. */
function rowBlocks(c: FlashCase): number {
  return c.batch * c.kvHeads * Math.ceil(((c.qHeads / c.kvHeads) * c.seqLenQ) / ROWS);
}

describe('keySplitsFor: key ranges per row block', () => {
  const plan = (over: Partial<CachedPlan>): CachedPlan => ({
    batch: 1, qHeads: 8, kvHeads: 1, seqLenQ: 1, seqLenK: 8192, headDim: 128, valueDim: 128, dtype: 'float32',
    window: { left: Infinity, right: Infinity }, positionOffsets: new Int32Array([8191]), keyLengths: new Int32Array([8192]), ...over,
  } as CachedPlan);
  beforeAll(() => setMinKeysPerSplit(undefined));
  afterAll(() => setMinKeysPerSplit(0));

  it('splits_only_when_row_blocks_lt_threads', () => {
    expect(keySplitsFor(plan({}), 1, 1)).toBe(1);
    expect(keySplitsFor(plan({}), 2, 2)).toBe(1);
    expect(keySplitsFor(plan({}), 1, 2)).toBe(2);
  });
  it('ranges_times_blocks_multiple_of_threads', () => {
    expect(keySplitsFor(plan({}), 3, 4)).toBe(4); // 12 ranges, 3 per thread
    expect(keySplitsFor(plan({}), 2, 3)).toBe(3); // 6 ranges, 2 per thread
    expect(keySplitsFor(plan({}), 2, 4)).toBe(2);
  });
  it('at_least_min_keys_per_range', () => {
    const keys = (n: number) => plan({ seqLenK: n, keyLengths: new Int32Array([n]) });
    expect(keySplitsFor(keys(2 * MIN_KEYS_PER_SPLIT - 1), 1, 2)).toBe(1);
    expect(keySplitsFor(keys(2 * MIN_KEYS_PER_SPLIT), 1, 2)).toBe(2);
    expect(keySplitsFor(keys(3 * MIN_KEYS_PER_SPLIT), 1, 4)).toBe(3);
    // The longest sequence counts: key lengths [0, n].
    expect(keySplitsFor(plan({ batch: 2, keyLengths: new Int32Array([0, 8192]), positionOffsets: new Int32Array(2) }), 2, 4)).toBe(2);
  });
  it('causal_top_left_sees_few_keys_no_split', () => {
    // Top-left at decode: the query sees key 0 only (offset 0), whatever the cache length.
    expect(keySplitsFor(plan({ window: { left: Infinity, right: 0 }, positionOffsets: new Int32Array([0]) }), 1, 2)).toBe(1);
    expect(keySplitsFor(plan({ window: { left: Infinity, right: 0 }, positionOffsets: new Int32Array([8191]) }), 1, 2)).toBe(2);
  });
  it('prefill_kernel_plans_not_split', () => {
    expect(keySplitsFor(plan({ seqLenQ: 5 }), 1, 2)).toBe(1); // float32 Lq > 4: the prefill kernel
    expect(keySplitsFor(plan({ seqLenQ: 5, dtype: 'float16' }), 1, 2)).toBe(2);
  });
});

describe.each(WASM_BACKENDS)('backend %s', (backendName: BackendName) => {
  const instances: Record<number, AttentionInstance> = {};
  beforeAll(async () => {
    for (const threads of THREADS) instances[threads] = await createAttention({ backend: backendName, threads });
  });
  afterAll(() => Object.values(instances).forEach((attn) => attn.dispose()));

  it.each([...GRID, ...MODES])('$name', async (c) => {
    let split = 0;
    for (const threads of THREADS) {
      const attn = instances[threads]!;
      expect(attn.threads).toBe(threads);
      const threaded = threadedOf(attn);
      const cache = attn.createKVCache({ batch: c.batch, kvHeads: c.kvHeads, headDim: c.headDim, maxSeqLen: c.cached, dtype: c.dtype });
      const kvShape = [c.batch, c.kvHeads, c.cached, c.headDim];
      const k = randomHalves(c.batch * c.kvHeads * c.cached * c.headDim, 1);
      const v = randomHalves(k.length, 2);
      if (c.nonFiniteTail) {
        for (let row = 0; row < c.batch * c.kvHeads; row++) {
          for (const j of [c.cached - 2, c.cached - 1]) {
            k[(row * c.cached + j) * c.headDim] = Infinity;
            v[(row * c.cached + j) * c.headDim + 1] = NaN;
          }
        }
      }
      const keyLengths = c.nonFiniteTail ? Array.from({ length: c.batch }, () => c.cached - 2) : undefined;
      cache.append({ data: k, shape: kvShape }, { data: v, shape: kvShape }, { lengths: c.lengths });
      const qShape = c.bshd ? [c.batch, c.seqLenQ, c.qHeads, c.headDim] : [c.batch, c.qHeads, c.seqLenQ, c.headDim];
      const qHost = randomHalves(c.batch * c.qHeads * c.seqLenQ * c.headDim, 3);
      const out = c.pinned ? attn.createTensor(qShape) : undefined;
      const mask = c.maskFrom === undefined ? undefined
        : { data: Uint8Array.from({ length: c.cached }, (_, j) => (j < c.maskFrom! ? 1 : 0)), shape: [1, 1, 1, c.cached] };

      // The single-thread result, and the plan that produced it.
      const engine = threaded.cacheEngine() as CacheEngine & { run(plan: CachedPlan): void };
      const run = engine.run;
      let plan: CachedPlan | undefined;
      engine.run = (p) => {
        plan = p;
        run(p);
      };
      let want: Float32Array;
      let wantWeights: Float32Array | undefined;
      try {
        const result = attn.decode({ data: qHost, shape: qShape }, cache, { causal: c.causal, returnWeights: c.returnWeights, softcap: c.softcap, mask, out, keyLengths, layout: c.bshd ? 'bshd' : undefined });
        want = Float32Array.from(result.output.data as Float32Array);
        wantWeights = result.weights ? Float32Array.from(result.weights.data as Float32Array) : undefined;
      } finally {
        engine.run = run;
      }
      const captured = plan!;
      expect(captured.kvNonFinite, `${c.name}: exact float16 conversion`).toBe(!!c.nonFiniteTail);

      // The same plan, split over the pool; a pinned output is written where it lives.
      let got: Float32Array;
      const weights = captured.weights ? new Float32Array(captured.weights.length).fill(NaN) : null;
      if (out) {
        out.data.fill(NaN);
        await threaded.enqueue(() => threaded.runThreadedCached({ ...captured, weights }));
        got = out.data;
      } else {
        got = new Float32Array(want.length).fill(NaN);
        await threaded.enqueue(() => threaded.runThreadedCached({ ...captured, out: { host: got }, weights }));
      }
      const context = `${backendName} threads=${threads} ${c.name}`;
      const blocks = rowBlocks(c);
      const { keySplits, threads: used } = threaded.lastCachedSplit;
      if (blocks < threads) {
        // Split: every thread has ranges (rowBlocks × keySplits is a multiple of the threads).
        expect(keySplits, `${context}: key ranges per row block`).toBe(threads / gcd(blocks, threads));
        expect(used, `${context}: threads used`).toBe(threads);
        split++;
      } else {
        expect(keySplits, `${context}: key ranges per row block`).toBe(1);
      }

      const keyMax = Math.min(c.cached, ...(c.maskFrom === undefined ? [] : [Math.max(c.maskFrom, 1)]));
      const finite = (data: Float32Array) => data.map((x) => (Number.isFinite(x) ? x : 0)); // the masked tail
      const scoreBound = maxScore(qHost, finite(k), c.headDim, captured.scale, c.softcap ?? 0);
      const tolerance = splitTolerance(keyMax, scoreBound, finite(v).reduce((m, x) => Math.max(m, Math.abs(x)), 0));
      const comparison = compareClose(got, want, tolerance.out, qShape);
      expect(comparison.ok, `${context} output: ${comparison.message}`).toBe(true);
      // Rows with no allowed key: exact zeros (never NaN), as the one pass.
      for (let n = 0; n < want.length; n++) {
        if (want[n] === 0 && got[n] !== 0) throw new Error(`${context}: element ${n}: expected exactly 0 (a row with no allowed key), got ${got[n]}`);
      }
      if (wantWeights) {
        const w = compareClose(weights!, wantWeights, tolerance.weights, [c.batch, c.qHeads, c.seqLenQ, captured.seqLenK]);
        expect(w.ok, `${context} weights: ${w.message}`).toBe(true);
        for (let n = 0; n < wantWeights.length; n++) {
          if (wantWeights[n] === 0 && weights![n] !== 0) throw new Error(`${context}: weight ${n}: expected exactly 0 (masked), got ${weights![n]}`);
        }
      }
      out?.dispose();
      cache.dispose();
    }
    expect(split, `${c.name}: split on at least one instance`).toBeGreaterThan(0);
  });
});

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
