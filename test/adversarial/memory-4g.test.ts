/**
 * WASM memory past 2 GiB and up to the 4 GiB limit (src/limits.ts), on every WASM backend
 * and on the thread pool (`threads: 2`, one shared memory).
 *
 * Byte addresses of 2^31 and more once went negative through a signed `>> 2` in the host
 * (src/backends/wasm/memory-plan.ts, params.ts): `attention` threw V8's "offset is out of
 * bounds", `decode` "kernel returned status 2" (a parameter block written at a negative
 * index is not written at all), and a call with weights returned wrong numbers with no error.
 *
 * How the tests reach high addresses cheaply: a PinnedTensor of 2 GiB + 1 MiB is allocated
 * first and never touched, so every later block (caches, pinned tensors) and every call's
 * region lie above 2^31. Pages that `memory.grow` adds are zero and cost no RAM until
 * written (the allocator clears only reused bytes, src/backends/wasm/cache-engine.ts), so
 * this file's peak RSS stays far below the memory's size (measured: see the report in
 * README "Memory"). Each result must be *bit-identical* to the same call on an instance
 * whose memory is small (the same kernel on the same data: addresses must not matter), and
 * close to the float64 reference (test/helpers.ts tolerances).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAttention, type AttentionInstance, type AttentionResult, type BackendName, type KVCache } from '../../src/index.js';
import { MAX_BYTES } from '../../src/limits.js';
import { setMinMacsPerThread } from '../../src/threads/backend.js';
import { setMinKeysPerSplit } from '../../src/threads/decode.js';
import { buildCase, expectResult, type CaseSpec } from '../helpers.js';
import { WASM_BACKENDS, expectSameBits, random, threadedOf } from '../threads-helpers.js';

const TWO_GIB = 2 ** 31;
/** f32 elements of the filler tensor: 2 GiB + 1 MiB. */
const FILLER_ELEMENTS = 2 ** 29 + 2 ** 18;

const VARIANTS = WASM_BACKENDS.flatMap((backend) => [
  { name: `${backend}`, backend, threads: 1 },
  { name: `${backend} threads 2`, backend, threads: 2 },
]);

const ATTENTION_CASES: [string, CaseSpec][] = [
  ['gqa_mask_key_lengths_causal_weights', {
    batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 19, seqLenK: 45, headDim: 12, valueDim: 20,
    causal: true, keyLengths: [45, 31], mask: { kind: 'additive', shape: [2, 1, 19, 45] }, returnWeights: true, seed: 11,
  }],
  ['mha_bshd_no_weights', { batch: 1, qHeads: 3, seqLenQ: 33, seqLenK: 70, headDim: 64, layout: 'bshd', seed: 12 }],
  ['float16_bool_mask_softcap', {
    batch: 1, qHeads: 2, seqLenQ: 9, seqLenK: 17, headDim: 8, dtype: 'float16', softcap: 5, mask: { kind: 'bool', shape: [9, 17] }, seed: 13,
  }],
];

function copyResult(result: AttentionResult): { output: Float32Array | Uint16Array; weights?: Float32Array | Uint16Array } {
  const clone = (data: unknown) => (data instanceof Uint16Array ? data.slice() : Float32Array.from(data as ArrayLike<number>));
  return { output: clone(result.output.data), weights: result.weights ? clone(result.weights.data) : undefined };
}

describe.each(VARIANTS)('memory above 2 GiB: $name', ({ name, backend, threads }) => {
  let high: AttentionInstance;
  let low: AttentionInstance;

  beforeAll(async () => {
    high = await createAttention({ backend: backend as BackendName, threads });
    low = await createAttention({ backend: backend as BackendName, threads });
    high.createTensor([FILLER_ELEMENTS]); // kept (never disposed): everything after it lies above 2^31
    expect(high.memoryBytes).toBeGreaterThan(TWO_GIB);
    // Threads: split even small calls, and split the keys of single-row-block decodes.
    setMinMacsPerThread(0);
    setMinKeysPerSplit(0);
  }, 60_000); // (seconds when the allocator cleared the filler's 2 GiB; ≈ 0.1 s now)

  afterAll(() => {
    setMinMacsPerThread(undefined);
    setMinKeysPerSplit(undefined);
    high?.dispose();
    low?.dispose();
  });

  it.each(ATTENTION_CASES)('attention_call_region_above_2_gib (%s)', async (caseName, spec) => {
    const c = buildCase(spec);
    const want = copyResult(low.attention(c.q, c.k, c.v, c.options));
    const got = high.attention(c.q, c.k, c.v, c.options);
    expectResult(got, c, `${name} ${caseName}`);
    expectSameBits(got.output.data, want.output, `${name} ${caseName} output`, ['above 2 GiB', 'low memory']);
    if (want.weights) expectSameBits(got.weights!.data, want.weights, `${name} ${caseName} weights`, ['above 2 GiB', 'low memory']);
    const gotAsync = await high.attentionAsync(c.q, c.k, c.v, c.options);
    expectSameBits(gotAsync.output.data, want.output, `${name} ${caseName} attentionAsync output`, ['above 2 GiB', 'low memory']);
    if (want.weights) expectSameBits(gotAsync.weights!.data, want.weights, `${name} ${caseName} attentionAsync weights`, ['above 2 GiB', 'low memory']);
  });

  // The case of the report: keys alternating 1 and 0, so half the keys have weight
  // e/(n/2·(e + 1)) and half 1/(n/2·(e + 1)); with weights, every output came back 1.
  it('alternating_keys_with_weights_above_2_gib', () => {
    const keys = 4000, valueDim = 64;
    const k = Float32Array.from({ length: keys }, (_, j) => (j % 2 === 0 ? 1 : 0));
    const v = new Float32Array(keys * valueDim);
    for (let j = 0; j < keys; j += 2) v.fill(1, j * valueDim, (j + 1) * valueDim);
    const c = buildCase({ batch: 1, qHeads: 1, seqLenQ: 1, seqLenK: keys, headDim: 1, valueDim, q: Float32Array.of(1), k, v, scale: 1, returnWeights: true });
    const got = high.attention(c.q, c.k, c.v, c.options);
    expectResult(got, c, `${name} alternating keys`); // e/(e + 1) = 0.731 within the derived f32 bound
    expectSameBits(got.output.data, low.attention(c.q, c.k, c.v, c.options).output.data, `${name} alternating keys`, ['above 2 GiB', 'low memory']);
  });

  it('pinned_q_k_v_out_above_2_gib', async () => {
    const c = buildCase({ batch: 1, qHeads: 4, kvHeads: 2, seqLenQ: 21, seqLenK: 50, headDim: 16, valueDim: 24, causal: true, seed: 14 });
    const want = copyResult(low.attention(c.q, c.k, c.v, c.options));
    const pin = (t: { data: unknown; shape: readonly number[] }) => {
      const p = high.createTensor(t.shape);
      p.data.set(t.data as Float32Array);
      return p;
    };
    const q = pin(c.q), k = pin(c.k), v = pin(c.v), out = high.createTensor(c.outShape);
    const got = high.attention(q, k, v, { ...c.options, out });
    expect(got.output.data).toBe(out.data);
    expectSameBits(out.data, want.output, `${name} pinned`, ['above 2 GiB', 'low memory']);
    out.data.fill(0);
    await high.attentionAsync(q, k, v, { ...c.options, out });
    expectSameBits(out.data, want.output, `${name} pinned attentionAsync`, ['above 2 GiB', 'low memory']);
    for (const p of [q, k, v, out]) p.dispose();
  });

  it('onnx_attention_above_2_gib', () => {
    const q = { data: random(2 * 6 * 5 * 16, 21), shape: [2, 6, 5, 16] };
    const k = { data: random(2 * 3 * 7 * 16, 22), shape: [2, 3, 7, 16] };
    const v = { data: random(2 * 3 * 7 * 16, 23), shape: [2, 3, 7, 16] };
    const pastK = { data: random(2 * 3 * 11 * 16, 24), shape: [2, 3, 11, 16] };
    const pastV = { data: random(2 * 3 * 11 * 16, 25), shape: [2, 3, 11, 16] };
    const attrs = { is_causal: 1, qk_matmul_output_mode: 3 } as const;
    const want = low.onnxAttention([q, k, v, null, pastK, pastV], attrs, { outputs: 4 });
    const got = high.onnxAttention([q, k, v, null, pastK, pastV], attrs, { outputs: 4 });
    expectSameBits(got[0]!.data as Float32Array, want[0]!.data as Float32Array, `${name} onnx Y`, ['above 2 GiB', 'low memory']);
    expectSameBits(got[3]!.data as Float32Array, want[3]!.data as Float32Array, `${name} onnx qk`, ['above 2 GiB', 'low memory']);
  });

  for (const dtype of ['float32', 'float16'] as const) {
    for (const kvHeads of [2, 1]) {
      it(`decode_${dtype}_cache_above_2_gib (kvHeads ${kvHeads})`, async () => {
        // Small initialSeqLen: the appends grow (move) the cache, above 2 GiB on `high`.
        // One KV head at batch 1 is one row block: the pool splits its keys (partials region).
        const B = kvHeads === 1 ? 1 : 2;
        const run = async (attn: AttentionInstance) => {
          const cache: KVCache = attn.createKVCache({ batch: B, kvHeads, headDim: 24, maxSeqLen: 700, dtype, initialSeqLen: 8 });
          cache.append({ data: random(B * kvHeads * 300 * 24, 31), shape: [B, kvHeads, 300, 24] }, { data: random(B * kvHeads * 300 * 24, 32), shape: [B, kvHeads, 300, 24] });
          cache.append({ data: random(B * kvHeads * 250 * 24, 33), shape: [B, kvHeads, 250, 24] }, { data: random(B * kvHeads * 250 * 24, 34), shape: [B, kvHeads, 250, 24] }, { lengths: B === 2 ? [250, 100] : [250] });
          const q = { data: random(B * 4 * 1 * 24, 35), shape: [B, 4, 1, 24] };
          const sync = copyResult(attn.decode(q, cache, { causal: true, returnWeights: true }));
          const pinnedQ = attn.createTensor(q.shape);
          pinnedQ.data.set(q.data);
          const out = attn.createTensor([B, 4, 1, 24]);
          const async = copyResult(await attn.decodeAsync(pinnedQ, cache, { causal: true, returnWeights: true, out }));
          // The pool really split it: by row blocks, and by key ranges (partials) for one KV head.
          if (threads > 1) expect(threadedOf(attn).lastCachedSplit).toEqual({ threads: 2, keySplits: kvHeads === 1 ? 2 : 1 });
          const chunk = { data: random(B * 4 * 6 * 24, 36), shape: [B, 4, 6, 24] }; // Lq 6: the prefill kernel for float32
          const prefill = copyResult(attn.decode(chunk, cache, { causal: true }));
          const read = cache.read(540, 550);
          cache.dispose();
          pinnedQ.dispose();
          out.dispose();
          return { sync, async, prefill, read };
        };
        const want = await run(low);
        const got = await run(high);
        const labels = ['above 2 GiB', 'low memory'] as const;
        expectSameBits(got.sync.output, want.sync.output, `${name} decode ${dtype} output`, labels);
        expectSameBits(got.sync.weights!, want.sync.weights!, `${name} decode ${dtype} weights`, labels);
        expectSameBits(got.async.output, want.async.output, `${name} decodeAsync ${dtype} pinned out`, labels);
        expectSameBits(got.async.weights!, want.async.weights!, `${name} decodeAsync ${dtype} weights`, labels);
        expectSameBits(got.prefill.output, want.prefill.output, `${name} decode chunk ${dtype}`, labels);
        expectSameBits(got.read.k.data as Float32Array, want.read.k.data as Float32Array, `${name} cache.read ${dtype} k`, labels);
        expectSameBits(got.read.v.data as Float32Array, want.read.v.data as Float32Array, `${name} cache.read ${dtype} v`, labels);
        // Not all zero: the comparison above compares something.
        expect(Array.from(got.sync.output as Float32Array).some((x) => x !== 0)).toBe(true);
      });
    }
  }
});

/**
 * The 4 GiB edge: with a filler leaving about 1 MiB below the limit, calls of growing size
 * either give the low-memory instance's bits or throw the named RangeError, never anything
 * else; the first that does not fit is followed only by calls that do not fit either; the
 * memory never passes MAX_BYTES (so no region ends at 2^32, where the kernels' u32 end
 * pointers would wrap to 0); and the instance works normally afterwards.
 */
describe.each(VARIANTS)('memory at the 4 GiB edge: $name', ({ name, backend, threads }) => {
  it('calls_just_under_and_over_the_limit', async () => {
    const edge = await createAttention({ backend: backend as BackendName, threads });
    const low = await createAttention({ backend: backend as BackendName, threads });
    try {
      edge.createTensor([(MAX_BYTES - 2 ** 20) / 4 - 4096]);
      // About 136 bytes per key (k and v rows of 16 f32, a weight, a scratch score): the
      // ≈ 1 MiB left fits ≈ 7,800 keys (measured: 7,800 fit, 7,900 do not).
      const dim = 16, most = 8200;
      const kData = random(most * dim, 51), vData = random(most * dim, 52);
      const q = { data: random(dim, 53), shape: [1, 1, 1, dim] };
      let fitted = 0, refused = 0;
      for (let keys = 7400; keys <= most; keys += 8) {
        const k = { data: kData.subarray(0, keys * dim), shape: [1, 1, keys, dim] };
        const v = { data: vData.subarray(0, keys * dim), shape: [1, 1, keys, dim] };
        let got: AttentionResult | undefined;
        try {
          got = edge.attention(q, k, v, { returnWeights: true });
        } catch (error) {
          expect(error, `${name} keys ${keys}`).toBeInstanceOf(RangeError);
          expect((error as Error).message).toMatch(/^attention: expected a call that fits in (the threads' shared )?WASM memory \(at most 4294901760 bytes/);
          refused++;
          continue;
        }
        expect(refused, `${name}: keys ${keys} fitted after a smaller call was refused`).toBe(0);
        fitted++;
        const want = low.attention(q, k, v, { returnWeights: true });
        expectSameBits(got.output.data, want.output.data, `${name} keys ${keys} output`, ['at the edge', 'low memory']);
        expectSameBits(got.weights!.data, want.weights!.data, `${name} keys ${keys} weights`, ['at the edge', 'low memory']);
      }
      expect(fitted, `${name}: calls that fitted`).toBeGreaterThan(0);
      expect(refused, `${name}: calls refused`).toBeGreaterThan(0);
      expect(edge.memoryBytes).toBeLessThanOrEqual(MAX_BYTES);
      expect(edge.memoryBytes).toBeGreaterThan(MAX_BYTES - 2 ** 16 * 2); // the last call that fitted reached the last page
      // Afterwards: a small call works, and a larger allocation is refused cleanly.
      const c = buildCase({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 9, headDim: 8, causal: true, seed: 41 });
      expectResult(edge.attention(c.q, c.k, c.v, c.options), c, `${name} after the edge`);
      expect(() => edge.createTensor([2 ** 20])).toThrow(RangeError);
      expect(() => edge.createKVCache({ batch: 1, kvHeads: 1, headDim: 1024, maxSeqLen: 1024 })).toThrow(RangeError);
      expectResult(edge.attention(c.q, c.k, c.v, c.options), c, `${name} after refused allocations`);
    } finally {
      edge.dispose();
      low.dispose();
    }
  });
});

/**
 * The report's own call, at its own size (runs by default: peak RSS 4.4 GB measured, under
 * the 5 GB above which a case may be opt-in; v alone is 2.2 GB on the host and again in WASM
 * memory; `WASM_ATTENTION_SKIP_LARGE_MEMORY=1` skips it on a smaller machine): q [1,1,1,1],
 * k [1,1,540000,1] with key rows alternating 1 and 0, v [1,1,540000,1024] (rows alternating
 * 0 and 1), `returnWeights`. Once every output came back 1 and the weights summed to 269664.
 * Exact answer: a key of 1 has weight e/(n/2·(e + 1)), a key of 0 1/(n/2·(e + 1)), so every
 * output is 1/(e + 1) and the weights sum to 1. Tolerance 1e-3: the kernel sums 64-key tiles
 * and then the tiles, a relative error of at most (64 + n/64)·2^-24 ≈ 5e-4.
 */
describe.runIf(process.env.WASM_ATTENTION_SKIP_LARGE_MEMORY !== '1' && WASM_BACKENDS.length > 0)('memory: the report\'s 2.2 GB call', () => {
  it('alternating_keys_540000_by_1024_with_weights', async () => {
    const attn = await createAttention({ backend: WASM_BACKENDS[0] });
    const keys = 540000, valueDim = 1024;
    const k = Float32Array.from({ length: keys }, (_, j) => (j % 2 === 0 ? 1 : 0));
    const v = new Float32Array(keys * valueDim);
    for (let j = 1; j < keys; j += 2) v.fill(1, j * valueDim, (j + 1) * valueDim);
    const { output, weights } = attn.attention(
      { data: Float32Array.of(1), shape: [1, 1, 1, 1] }, { data: k, shape: [1, 1, keys, 1] }, { data: v, shape: [1, 1, keys, valueDim] },
      { scale: 1, returnWeights: true },
    );
    expect(attn.memoryBytes).toBeGreaterThan(TWO_GIB);
    const want = 1 / (Math.E + 1);
    for (let c = 0; c < valueDim; c++) {
      if (Math.abs(output.data[c]! - want) > 1e-3) expect.fail(`output ${c}: expected ${want} ± 1e-3, got ${output.data[c]}`);
    }
    let sum = 0;
    for (const w of weights!.data) sum += w;
    expect(Math.abs(sum - 1), `weights sum ${sum}`).toBeLessThan(1e-3);
  }, 300_000);
});
