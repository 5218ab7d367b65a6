/**
 * ALiBi (`alibi`, with causal, windows, keyLengths, GQA, masks), the log-sum-exp (`returnLse`) and `mergeAttention` (issue #12), on every
 * backend ('wasm-relaxed-simd', 'wasm-simd', 'js'), the thread pool (2 threads, prefill and a
 * key-split decode) and KV-cache decode, against the float64 reference (test/reference.ts).
 *
 * Tolerances: `toleranceFor` (test/helpers.ts), with the largest |ALiBi term| of a case counted
 * as bias in the score bound (the f32 term is off by a few ulps of it); lse: the score error δ
 * plus the relative error of the softmax sum (exp, γ_Lk) plus the f32 rounding of m and of the
 * result. A merge of parts within their bounds: the output moves by each part's own bound
 * plus 2·(lse bound)·max|v| (the parts' weights e^(lse_c − lse) carry the lse errors), the
 * lse by the lse bound; the merge itself rounds once (float64 inside).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, attention, createAttention, isBackendAvailable, type AttentionInstance, type BackendName, type Tensor } from '../src/index.js';
import { mergeAttention } from '../src/merge.js';
import { standardSlopes } from '../src/alibi.js';
import { setMinMacsPerThread } from '../src/threads/backend.js';
import { setMinKeysPerSplit } from '../src/threads/decode.js';
import { alibiSlopesOf, buildCase, expectClose, expectResult, valuesOf, type CaseSpec, type Tolerance } from './helpers.js';
import { expectSameBits, threadedOf, WASM_BACKENDS } from './threads-helpers.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);

describe('alibi_standard_slopes', () => {
  // Computed with the ALiBi paper's reference code `get_slopes` (ofirpress/attention_with_linear_biases,
  // fairseq/models/transformer.py) in Python 3 float64, printed with repr: an independent oracle.
  const PYTHON: Record<number, number[]> = {
    8: [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625],
    12: [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625, 0.7071067811865476, 0.35355339059327384, 0.17677669529663692, 0.08838834764831849],
    6: [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125],
    1: [0.00390625],
    20: [0.7071067811865476, 0.5000000000000001, 0.35355339059327384, 0.25000000000000006, 0.17677669529663692, 0.12500000000000006, 0.08838834764831849, 0.06250000000000004, 0.044194173824159244, 0.03125000000000002, 0.022097086912079626, 0.01562500000000001, 0.011048543456039816, 0.007812500000000007, 0.005524271728019908, 0.003906250000000004, 0.8408964152537145, 0.5946035575013604, 0.42044820762685714, 0.2973017787506802],
  };
  it.each(Object.keys(PYTHON).map(Number))('heads_%i_match_get_slopes', (heads) => {
    // Float32 slopes: the Python values rounded to f32 (its 0.5000000000000001 is 0.5 there).
    expect(Array.from(standardSlopes(heads))).toEqual(PYTHON[heads]!.map(Math.fround));
    expect(Array.from(alibiSlopesOf(true, heads)!)).toEqual(PYTHON[heads]!.map(Math.fround)); // the tests' own copy
  });
});

describe('alibi_and_lse_options_validated', () => {
  const q = { data: new Float32Array(2 * 3 * 4), shape: [1, 2, 3, 4] };
  it.each([
    ['a string', 'yes', TypeError],
    ['an Array', [0.5, 0.25], TypeError],
    ['a Float64Array', new Float64Array(2), TypeError],
    ['a Float32Array of the wrong length', new Float32Array(3), RangeError],
    ['a NaN slope', Float32Array.of(0.5, NaN), RangeError],
    ['an infinite slope', Float32Array.of(Infinity, 0.5), RangeError],
    ['a slope above 2^64', Float32Array.of(0.5, 2 ** 65), RangeError],
  ])('alibi_%s', (_name, alibi, error) => {
    expect(() => attention(q, q, q, { alibi: alibi as never })).toThrow(error as typeof TypeError);
  });
  it('returnLse_not_boolean', () => {
    expect(() => attention(q, q, q, { returnLse: 1 as never })).toThrow(TypeError);
  });
  it('slopes_are_read_when_the_call_is_made', () => {
    const slopes = Float32Array.of(0.5, 0.25);
    const a = attention(q, q, q, { alibi: slopes, returnLse: true });
    slopes.fill(7);
    expect(Array.from(a.lse!.data).every(Number.isFinite)).toBe(true);
  });
});

/** The grid: ALiBi × causal alignment × keyLengths × GQA × weights, Lq ≠ Lk and Lq = Lk, sizes off the tiles. */
const GRID: CaseSpec[] = [];
for (const [seqLenQ, seqLenK] of [[5, 5], [17, 70], [70, 17], [1, 130], [9, 9]] as const) {
  for (const causal of [false, true, 'top-left'] as const) {
    for (const [qHeads, kvHeads] of [[4, 4], [6, 2], [3, 1]] as const) {
      const n = GRID.length;
      GRID.push({
        batch: 2, qHeads, kvHeads, seqLenQ, seqLenK, headDim: n % 2 ? 16 : 7,
        causal,
        keyLengths: n % 3 === 0 ? [seqLenK, Math.max(1, seqLenK - 7)] : n % 3 === 1 ? [0, seqLenK] : undefined,
        alibi: n % 4 === 3 ? Float32Array.from({ length: qHeads }, (_, h) => (h % 2 ? -0.3 : 1.7) / (h + 1)) : true,
        returnWeights: n % 2 === 1,
        returnLse: true,
        seed: n + 1,
      });
    }
  }
}
// ALiBi with sliding windows (src/key-range.ts): causal and not, a window of 0, rows left empty.
for (const [window, causal] of [[3, true], [[2, 5], false], [[0, 0], false], [[1, 40], 'top-left']] as const) {
  GRID.push({ batch: 2, qHeads: 6, kvHeads: 3, seqLenQ: 20, seqLenK: 45, headDim: 8, causal, window, keyLengths: [45, 12], alibi: true, returnLse: true, returnWeights: GRID.length % 2 === 0, seed: GRID.length + 1 });
}
// With a mask (a row fully masked by it), a softcap, and lse alone without ALiBi.
GRID.push({ batch: 1, qHeads: 2, seqLenQ: 12, seqLenK: 40, headDim: 8, causal: true, alibi: true, returnLse: true, softcap: 3, mask: { kind: 'bool', shape: [12, 40], maskedFraction: 0.4 }, seed: 91 });
GRID.push({ batch: 1, qHeads: 2, seqLenQ: 12, seqLenK: 40, headDim: 8, alibi: true, returnLse: true, mask: { kind: 'additive', shape: [1, 2, 12, 40], maskedFraction: 1 }, seed: 92 });
GRID.push({ batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 33, seqLenK: 65, headDim: 64, causal: true, returnLse: true, returnWeights: true, seed: 93 });
GRID.push({ batch: 1, qHeads: 8, seqLenQ: 64, seqLenK: 200, headDim: 64, alibi: true, seed: 94 });

const label = (spec: CaseSpec) => buildCase(spec).label + (spec.returnWeights ? ' weights' : '') + (spec.returnLse ? ' lse' : '');

describe.each(BACKENDS)('alibi_lse on %s', (backendName: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend: backendName });
  });
  it.each(GRID.map((spec) => [label(spec), spec] as const))('%s', (_name, spec) => {
    const c = buildCase(spec);
    expectResult(attn.attention(c.q, c.k, c.v, c.options), c, backendName);
  });

  it('empty_rows_lse_is_minus_infinity_output_zero', () => {
    const c = buildCase({ batch: 2, qHeads: 2, seqLenQ: 3, seqLenK: 9, headDim: 4, keyLengths: [0, 9], causal: 'top-left', alibi: true, returnLse: true });
    const result = attn.attention(c.q, c.k, c.v, c.options);
    expectResult(result, c, backendName);
    expect(Array.from(result.lse!.data.subarray(0, 6))).toEqual(new Array(6).fill(-Infinity));
  });

  it.each(['float32', 'float16'] as const)('kv_cache_decode_alibi_lse_%s', (dtype) => {
    // Decode over a cache of the keys, step (Lq 1) and chunk (Lq 3), GQA: the decode kernel; Lq 12: the prefill kernel on the cache.
    for (const seqLenQ of [1, 3, 12]) {
      const spec: CaseSpec = { batch: 2, qHeads: 4, kvHeads: 2, seqLenQ, seqLenK: 70, headDim: 12, dtype, causal: true, keyLengths: [70, 41], alibi: true, returnLse: true, returnWeights: seqLenQ === 3, seed: seqLenQ };
      const c = buildCase(spec);
      const cache = attn.createKVCache({ batch: 2, kvHeads: 2, headDim: 12, maxSeqLen: 70, dtype });
      cache.append(c.k, c.v);
      expectResult(attn.decode(c.q, cache, c.options), c, `${backendName} decode Lq${seqLenQ} ${dtype}`);
      cache.dispose();
    }
  });
});

describe.each(WASM_BACKENDS)('alibi_lse threads on %s', (backendName) => {
  let threaded: AttentionInstance;
  let single: AttentionInstance;
  beforeAll(async () => {
    threaded = await createAttention({ backend: backendName, threads: 2 });
    single = await createAttention({ backend: backendName });
    expect(threaded.threads).toBe(2);
    setMinMacsPerThread(0);
    setMinKeysPerSplit(0);
  });
  afterAll(() => {
    setMinMacsPerThread(undefined);
    setMinKeysPerSplit(undefined);
    threaded.dispose();
  });

  it.each(GRID.slice(0, 12).map((spec) => [label(spec), spec] as const))('attentionAsync %s', async (_name, spec) => {
    const c = buildCase(spec);
    const got = await threaded.attentionAsync(c.q, c.k, c.v, c.options);
    const want = single.attention(c.q, c.k, c.v, c.options);
    // Whole 8-query blocks per thread, each row's (m, l) written by its block: bit-identical.
    expectSameBits(got.output.data, want.output.data, `${backendName} threads output`);
    expectSameBits(got.lse!.data, want.lse!.data, `${backendName} threads lse`);
    expectResult(got, c, `${backendName} threads=2`);
  });

  it('decodeAsync_key_split_alibi_lse', async () => {
    // MQA at batch 1: one row block for 2 threads, so the keys are split and merged (mergeKeySplits).
    for (const returnWeights of [false, true]) {
      const c = buildCase({ batch: 1, qHeads: 4, kvHeads: 1, seqLenQ: 1, seqLenK: 300, headDim: 16, causal: true, alibi: true, returnLse: true, returnWeights, seed: 5 });
      const cache = threaded.createKVCache({ batch: 1, kvHeads: 1, headDim: 16, maxSeqLen: 300 });
      cache.append(c.k, c.v);
      const got = await threaded.decodeAsync(c.q, cache, c.options);
      expect(threadedOf(threaded).lastCachedSplit.keySplits).toBeGreaterThan(1);
      expectResult(got, c, `${backendName} decodeAsync split weights=${returnWeights}`);
      cache.dispose();
    }
  });
});

/** Boolean masks [Lq, Lk] that split the keys into `cuts.length + 1` disjoint ranges. */
function keyRangeMasks(seqLenQ: number, seqLenK: number, cuts: readonly number[]): Uint8Array[] {
  const bounds = [0, ...cuts, seqLenK];
  return bounds.slice(1).map((end, c) => {
    const mask = new Uint8Array(seqLenQ * seqLenK);
    for (let i = 0; i < seqLenQ; i++) for (let j = bounds[c]!; j < end; j++) mask[i * seqLenK + j] = 1;
    return mask;
  });
}

/** The bound of a merge of parts each within `t` (see the file comment); maxAbsV is 1 in these cases. */
function mergedTolerance(t: { out: Tolerance; lse: Tolerance }): { out: Tolerance; lse: Tolerance } {
  return { out: { atol: t.out.atol + 2 * t.lse.atol, rtol: t.out.rtol }, lse: t.lse };
}

describe.each(BACKENDS)('mergeAttention on %s', (backendName: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend: backendName });
  });

  it.each([
    ['bhsd', [40], false],
    ['bshd', [13, 51], true],
    ['packed', [1, 64], 'top-left'],
  ] as const)('merge_of_key_ranges_equals_the_whole_%s_cuts_%j_causal_%s', (layout, cuts, causal) => {
    const spec: CaseSpec = { batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 10, seqLenK: 70, headDim: 8, layout, causal, keyLengths: [70, 55], alibi: true, returnLse: true, seed: 7 };
    const c = buildCase(spec);
    const parts = keyRangeMasks(10, 70, cuts).map((mask) => attn.attention(c.q, c.k, c.v, { ...c.options, mask: { data: mask, shape: [10, 70] } }));
    const merged = mergeAttention(parts as { output: Tensor; lse: Tensor<Float32Array> }[], layout === 'bshd' ? { layout } : undefined);
    const tolerance = mergedTolerance(c.tolerance);
    expect(merged.output.shape).toEqual(c.outShape);
    expectClose(valuesOf(merged.output.data), c.wantOut, tolerance.out, `${backendName} merged output`, c.outShape);
    expectClose(merged.lse.data, c.wantLse, tolerance.lse, `${backendName} merged lse`, [2, 4, 10]);
  });

  it('merge_of_sliced_keys_equals_the_whole_float16', () => {
    // Not causal, no ALiBi: positions do not matter, so K and V can be sliced: [0, 30) and [30, 64).
    const c = buildCase({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 64, headDim: 8, dtype: 'float16', returnLse: true, seed: 8 });
    const slice = (t: Tensor, from: number, to: number): Tensor => {
      const [b, h, , d] = t.shape as [number, number, number, number];
      const data = new Uint16Array(b * h * (to - from) * d);
      for (let head = 0; head < b * h; head++) data.set((t.data as Uint16Array).subarray((head * 64 + from) * d, (head * 64 + to) * d), head * (to - from) * d);
      return { data, shape: [b, h, to - from, d] };
    };
    const parts = [[0, 30], [30, 64]].map(([from, to]) => attn.attention(c.q, slice(c.k, from!, to!), slice(c.v, from!, to!), { returnLse: true }));
    const merged = mergeAttention(parts as { output: Tensor; lse: Tensor<Float32Array> }[]);
    expect(merged.output.data).toBeInstanceOf(Uint16Array);
    const t = mergedTolerance(c.tolerance);
    expectClose(valuesOf(merged.output.data), c.wantOut, t.out, `${backendName} merged float16`, c.outShape);
    expectClose(merged.lse.data, c.wantLse, t.lse, `${backendName} merged float16 lse`, [1, 2, 5]);
  });

  it('rows_empty_in_every_part_give_zero_and_minus_infinity', () => {
    const c = buildCase({ batch: 2, qHeads: 1, seqLenQ: 3, seqLenK: 20, headDim: 4, keyLengths: [0, 20], returnLse: true });
    const parts = keyRangeMasks(3, 20, [9]).map((mask) => attn.attention(c.q, c.k, c.v, { ...c.options, mask: { data: mask, shape: [3, 20] } }));
    const merged = mergeAttention(parts as { output: Tensor; lse: Tensor<Float32Array> }[]);
    expect(Array.from(merged.output.data.subarray(0, 12))).toEqual(new Array(12).fill(0));
    expect(Array.from(merged.lse.data.subarray(0, 3))).toEqual([-Infinity, -Infinity, -Infinity]);
    expectClose(valuesOf(merged.output.data), c.wantOut, mergedTolerance(c.tolerance).out, 'merged', c.outShape);
  });
});

describe('mergeAttention_validation', () => {
  const part = { output: { data: new Float32Array(2 * 3 * 4), shape: [1, 2, 3, 4] }, lse: { data: new Float32Array(6), shape: [1, 2, 3] } };
  it.each([
    ['not an array', part, TypeError],
    ['no parts', [], RangeError],
    ['lse not float32', [{ ...part, lse: { data: new Uint16Array(6), shape: [1, 2, 3] } }], TypeError],
    ['output rows not the lse rows', [{ ...part, lse: { data: new Float32Array(8), shape: [1, 2, 4] } }], RangeError],
    ['mismatched parts', [part, { ...part, output: { data: new Float32Array(30), shape: [1, 2, 3, 5] } }], RangeError],
    ['mixed dtypes', [part, { ...part, output: { data: new Uint16Array(24), shape: [1, 2, 3, 4] } }], TypeError],
    ['unknown option', [[part], { layuot: 'bshd' }], TypeError],
  ])('%s', (_name, parts, error) => {
    const [p, options] = _name === 'unknown option' ? (parts as [unknown, unknown]) : [parts, undefined];
    expect(() => mergeAttention(p as never, options as never)).toThrow(error as typeof TypeError);
  });
});
