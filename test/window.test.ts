/**
 * Sliding windows (issue #12, FlashAttention's `window_size`): query i of item b sees keys
 * j with i + off − left ≤ j ≤ i + off + right (off = keyLength_b − Lq, or 0 for causal
 * 'top-left'), combined with causal (right = min(right, 0)), masks and keyLengths; a row
 * left with no key gives 0. Every backend, single-thread and threads: 2, against the
 * float64 reference (test/reference.ts, whose key-range rule test/key-range.test.ts checks
 * key by key against this definition); the KV cache decode against the same reference and
 * against prefill over the same tokens; and rows outside the window poisoned with NaN.
 *
 * Tolerances: `toleranceFor` (test/helpers.ts), the first-order f32 bound of each case
 * from its sizes and data, ×2 safety; float16 adds the final rounding (2^-11 relative).
 * Decode vs prefill: the sum of both bounds (each is within its bound of the same value).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, floatToHalf, halfToFloat, isBackendAvailable, type AttentionInstance, type BackendName } from '../src/index.js';
import { setMinMacsPerThread } from '../src/threads/backend.js';
import { setMinKeysPerSplit } from '../src/threads/decode.js';
import { addTolerances, buildCase, expectClose, expectFinite, expectResult, toleranceFor, valuesOf, type BuiltCase, type CaseSpec, type TestLayout } from './helpers.js';
import { makePlan, mulberry32, referenceAttention } from './reference.js';
import { WASM_BACKENDS } from './threads-helpers.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);

type WindowOption = number | readonly [number, number];
/** Windows inside, across and past the tiles (8 queries × 64 keys; decode chunks of 64), of 0, and larger than L. */
const WINDOWS: WindowOption[] = [[3, 0], [2, 5], 0, [0, 0], 4, [1000, 1000], [Infinity, 2], [5, Infinity], [70, 1]];
const CAUSALS = [undefined, 'top-left', 'bottom-right'] as const;
/** [Lq, Lk]: square, Lq < Lk (offsets > 0), Lq > Lk (negative offsets: rows left empty). */
const SHAPES: [number, number][] = [[70, 70], [9, 130], [130, 40]];
const LAYOUTS: TestLayout[] = ['bhsd', 'bshd', 'packed'];
const GROUPS: [number, number][] = [[4, 2], [3, 3], [6, 1]];
const HEAD_DIMS = [16, 7, 64];

/** window × causal × shape, each with a layout, GQA group, head dim, keyLengths and weights in rotation. */
function prefillCases(): [string, CaseSpec][] {
  const cases: [string, CaseSpec][] = [];
  let n = 0;
  for (const window of WINDOWS) {
    for (const causal of CAUSALS) {
      for (const [seqLenQ, seqLenK] of SHAPES) {
        const [qHeads, kvHeads] = GROUPS[n % GROUPS.length]!;
        const spec: CaseSpec = {
          batch: 2, qHeads, kvHeads, seqLenQ, seqLenK,
          headDim: HEAD_DIMS[(n >> 1) % HEAD_DIMS.length]!,
          layout: LAYOUTS[n % LAYOUTS.length]!,
          window,
          ...(causal ? { causal } : {}),
          ...(n % 4 < 2 ? { keyLengths: [seqLenK, Math.floor(seqLenK / 3)] } : {}),
          ...(n % 3 === 0 ? { returnWeights: true } : {}),
          ...(n % 5 === 0 ? { mask: { kind: 'bool' as const, shape: [seqLenQ, seqLenK], maskedFraction: 0.2 } } : {}),
          seed: 500 + n,
        };
        cases.push([`window=[${[window].flat().join(',')}] causal=${causal ?? 'none'} Lq${seqLenQ} Lk${seqLenK}`, spec]);
        n++;
      }
    }
  }
  return cases;
}

const built = new Map<string, BuiltCase>();
function cached(spec: CaseSpec): BuiltCase {
  const key = JSON.stringify(spec);
  let c = built.get(key);
  if (!c) built.set(key, (c = buildCase(spec)));
  return c;
}

describe.each(BACKENDS)('window prefill on %s', (backendName: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend: backendName });
  });
  it.each(prefillCases())('%s', (_name, spec) => {
    const c = cached(spec);
    expectResult(attn.attention(c.q, c.k, c.v, c.options), c, backendName);
  });

  it('window_0_sees_only_the_diagonal_key', () => {
    // [0, 0] with Lq = Lk: each row's only key is its own, so the output is v's row.
    const c = cached({ batch: 1, qHeads: 2, seqLenQ: 20, seqLenK: 20, headDim: 8, window: [0, 0], returnWeights: true });
    const result = attn.attention(c.q, c.k, c.v, c.options);
    expectResult(result, c, backendName);
    const weights = valuesOf(result.weights!.data);
    for (let row = 0; row < 40; row++) expect(weights[row * 20 + (row % 20)], `row ${row}`).toBe(1);
  });

  it('rows_left_empty_give_0', () => {
    // Lq > Lk, bottom-right: rows i < Lq − Lk − right have i + off + right < 0, no key.
    const c = cached({ batch: 1, qHeads: 1, seqLenQ: 30, seqLenK: 10, headDim: 4, window: [2, 1], returnWeights: true });
    expect(c.fullyMasked.filter(Boolean).length).toBeGreaterThan(10);
    expectResult(attn.attention(c.q, c.k, c.v, c.options), c, backendName);
  });

  it('keys_outside_every_window_poisoned_nan_stay_out', () => {
    // The last 8 of 300 positions query with a window of 20: keys below 272 are outside every
    // row's window; NaN there must not reach the output (tiles there are never visited).
    const spec: CaseSpec = { batch: 1, qHeads: 2, seqLenQ: 8, seqLenK: 300, headDim: 16, window: 20, seed: 9 };
    const clean = cached(spec);
    const k = Float32Array.from(clean.k.data as Float32Array);
    const v = Float32Array.from(clean.v.data as Float32Array);
    for (let h = 0; h < 2; h++) for (let j = 0; j < 272; j++) {
      k.fill(NaN, (h * 300 + j) * 16, (h * 300 + j + 1) * 16);
      v.fill(NaN, (h * 300 + j) * 16, (h * 300 + j + 1) * 16);
    }
    const result = attn.attention(clean.q, { data: k, shape: clean.k.shape }, { data: v, shape: clean.v.shape }, clean.options);
    expectFinite(valuesOf(result.output.data), `${backendName} poisoned`, result.output.shape);
    expectClose(valuesOf(result.output.data), clean.wantOut, clean.tolerance.out, `${backendName} poisoned`, result.output.shape);
  });
});

describe.each(WASM_BACKENDS)('window prefill, threads: 2, on %s', (backendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    setMinMacsPerThread(0); // split even these small shapes between the threads
    attn = await createAttention({ backend: backendName, threads: 2 });
  });
  afterAll(() => setMinMacsPerThread(undefined));
  it.each(prefillCases().filter((_, n) => n % 3 === 0))('%s', async (_name, spec) => {
    const c = cached(spec);
    expectResult(await attn.attentionAsync(c.q, c.k, c.v, c.options), c, `${backendName} threads=2`);
  });
});

interface DecodeCase {
  readonly name: string;
  readonly window: WindowOption;
  readonly causal?: 'top-left' | 'bottom-right';
  readonly seqLenQ: number;
  readonly qHeads: number;
  readonly kvHeads: number;
  readonly lengths: [number, number];
  readonly dtype: 'float32' | 'float16';
  readonly returnWeights?: boolean;
}

const DECODE_CASES: DecodeCase[] = [
  { name: 'step_window_64_f32', window: 64, seqLenQ: 1, qHeads: 4, kvHeads: 2, lengths: [300, 170], dtype: 'float32' },
  { name: 'step_window_64_f16_causal', window: 64, causal: 'bottom-right', seqLenQ: 1, qHeads: 4, kvHeads: 1, lengths: [300, 170], dtype: 'float16' },
  { name: 'chunk_lq_5_window_2_3_weights', window: [2, 3], seqLenQ: 5, qHeads: 2, kvHeads: 2, lengths: [150, 90], dtype: 'float32', returnWeights: true },
  { name: 'chunk_lq_3_window_100_top_left', window: 100, causal: 'top-left', seqLenQ: 3, qHeads: 8, kvHeads: 2, lengths: [300, 40], dtype: 'float32' },
  { name: 'step_window_0_f16_weights', window: [0, 0], seqLenQ: 1, qHeads: 2, kvHeads: 1, lengths: [77, 5], dtype: 'float16', returnWeights: true },
  { name: 'step_window_larger_than_cache', window: [5000, 5000], seqLenQ: 1, qHeads: 4, kvHeads: 4, lengths: [200, 3], dtype: 'float32' },
  { name: 'chunk_lq_20_tiled_window_30', window: 30, causal: 'bottom-right', seqLenQ: 20, qHeads: 2, kvHeads: 1, lengths: [260, 100], dtype: 'float32' },
];

/** The prefill case over the cache's tokens: the oracle of decode with the same options. */
function decodeSpec(c: DecodeCase): CaseSpec {
  const seqLenK = Math.max(...c.lengths);
  return {
    batch: 2, qHeads: c.qHeads, kvHeads: c.kvHeads, seqLenQ: c.seqLenQ, seqLenK, headDim: 24,
    dtype: c.dtype, window: c.window, keyLengths: c.lengths,
    ...(c.causal ? { causal: c.causal } : {}),
    ...(c.returnWeights ? { returnWeights: true } : {}),
    seed: seqLenK + c.seqLenQ,
  };
}

describe.each(BACKENDS)('window cache decode on %s', (backendName: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend: backendName });
  });
  it.each(DECODE_CASES.map((c) => [c.name, c] as const))('%s', (_name, dc) => {
    const c = cached(decodeSpec(dc));
    const seqLenK = Math.max(...dc.lengths);
    const cache = attn.createKVCache({ batch: 2, kvHeads: dc.kvHeads, headDim: 24, maxSeqLen: seqLenK, dtype: dc.dtype });
    cache.append(c.k, c.v, { lengths: dc.lengths });
    const decoded = attn.decode(c.q, cache, c.options);
    expectResult(decoded, c, `${backendName} decode`);
    // Prefill over the same tokens, on the same backend: both within their bound of the reference.
    const prefill = attn.attention(c.q, c.k, c.v, c.options);
    expectClose(valuesOf(decoded.output.data), valuesOf(prefill.output.data), addTolerances(c.tolerance.out, c.tolerance.out), `${backendName} decode vs prefill`, c.outShape);
    cache.dispose();
  });
});

/**
 * A decode step over a cache whose rows outside the window hold NaN: keys there are never
 * read (the window's chunks only), so the output is finite and the reference's. With
 * threads: 2 and one KV head, the keys are split between the threads (flash-decoding):
 * the split runs over the window's keys.
 */
describe.each([...BACKENDS.map((b): [BackendName, number] => [b, 1]), ...WASM_BACKENDS.map((b): [BackendName, number] => [b, 2])])('window decode reads only the window: %s threads=%i', (backendName, threads) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    setMinMacsPerThread(0);
    setMinKeysPerSplit(0);
    attn = await createAttention({ backend: backendName, ...(threads > 1 ? { threads } : {}) });
  });
  afterAll(() => {
    setMinMacsPerThread(undefined);
    setMinKeysPerSplit(undefined);
  });
  it.each(['float32', 'float16'] as const)('nan_outside_window_%s', async (dtype) => {
    const [length, window, headDim, qHeads] = [2000, 256, 32, 4];
    const random = mulberry32(77);
    const values = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
    const k = values(length * headDim);
    const v = values(length * headDim);
    const q = values(qHeads * headDim);
    const first = length - 1 - window; // the step at position length − 1 sees keys [first, length)
    const kPoisoned = Float32Array.from(k).fill(NaN, 0, first * headDim);
    const vPoisoned = Float32Array.from(v).fill(NaN, 0, first * headDim);
    const cache = attn.createKVCache({ batch: 1, kvHeads: 1, headDim, maxSeqLen: length, dtype });
    cache.append({ data: kPoisoned, shape: [1, 1, length, headDim] }, { data: vPoisoned, shape: [1, 1, length, headDim] });
    const options = { window, returnWeights: true };
    const result = threads > 1
      ? await attn.decodeAsync({ data: q, shape: [1, qHeads, 1, headDim] }, cache, options)
      : attn.decode({ data: q, shape: [1, qHeads, 1, headDim] }, cache, options);
    const out = valuesOf(result.output.data);
    expectFinite(out, `${backendName} ${dtype}`, result.output.shape);

    // The oracle over the clean rows the cache holds (float16: rounded to half by the cache).
    const held = (x: Float32Array) => (dtype === 'float16' ? Float32Array.from(x, (e) => halfToFloat(floatToHalf(e))) : x);
    const plan = makePlan({
      batch: 1, qHeads, kvHeads: 1, seqLenQ: 1, seqLenK: length, headDim,
      q, k: held(k), v: held(v), positionOffsets: [length - 1], window: [window, 0], withWeights: true,
    });
    const want = referenceAttention(plan);
    const tolerance = toleranceFor({ seqLenK: window + 1, headDim }, { qNorm: Math.sqrt(headDim), kNorm: Math.sqrt(headDim), maxAbsV: 1, maxAbsBias: 0 }, 1 / Math.sqrt(headDim), 0, false);
    expectClose(out, want.out, tolerance.out, `${backendName} ${dtype} threads=${threads}: output`, result.output.shape);
    const weights = valuesOf(result.weights!.data);
    for (let h = 0; h < qHeads; h++) for (let j = 0; j < first; j++) expect(weights[h * length + j], `weight outside the window h${h} j${j}`).toBe(0);
    expectClose(weights, want.weights, tolerance.weights, `${backendName} ${dtype} threads=${threads}: weights`, result.weights!.shape);
    cache.dispose();
  });
});

describe('window validation', () => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend: 'js' });
  });
  const q = { data: new Float32Array(8), shape: [1, 1, 2, 4] };
  const bad: [string, unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    ['string', 'wide', TypeError, /^options\.window: expected a non-negative integer or \[left, right\], got "wide"/],
    ['object', { left: 1 }, TypeError, /^options\.window: expected a non-negative integer or \[left, right\]/],
    ['negative', -1, RangeError, /^options\.window: expected a non-negative integer or Infinity, got -1/],
    ['fraction', 1.5, RangeError, /^options\.window: expected a non-negative integer or Infinity, got 1\.5/],
    ['nan', NaN, RangeError, /^options\.window: expected a non-negative integer or Infinity, got NaN/],
    ['one_entry', [3], RangeError, /^options\.window: expected \[left, right\] \(2 entries\), got length 1/],
    ['negative_right', [3, -2], RangeError, /^options\.window\[1\]: expected a non-negative integer or Infinity, got -2/],
    ['string_left', ['3', 0], TypeError, /^options\.window\[0\]: expected a non-negative integer or Infinity, got "3"/],
  ];
  it.each(bad)('attention_%s', (_name, window, error, message) => {
    expect(() => attn.attention(q, q, q, { window: window as never })).toThrow(error);
    expect(() => attn.attention(q, q, q, { window: window as never })).toThrow(message);
  });
  it.each(bad)('decode_%s', (_name, window, error, message) => {
    const cache = attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 4, maxSeqLen: 4 });
    cache.append(q, q);
    expect(() => attn.decode({ data: new Float32Array(4), shape: [1, 1, 1, 4] }, cache, { window: window as never })).toThrow(error);
    expect(() => attn.decode({ data: new Float32Array(4), shape: [1, 1, 1, 4] }, cache, { window: window as never })).toThrow(message);
    cache.dispose();
  });
  it('infinity_and_large_bounds_accepted', () => {
    expect(() => attn.attention(q, q, q, { window: [Infinity, Infinity] })).not.toThrow();
    expect(() => attn.attention(q, q, q, { window: 2 ** 40 })).not.toThrow();
  });
});
