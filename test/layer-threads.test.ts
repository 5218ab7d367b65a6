// The multi-head attention layer's forwardAsync on threads (src/layer/threads.ts): the
// projection GEMMs split over column panels on the backward entry's pool, bit-identical to
// the single-thread forward (the kernel runs the same chain per entry whichever thread
// owns its panel), weights packed once into the shared memory and repacked after setWeights.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAttention, type AttentionInstance } from '../src/index.js';
import { createGemm, withBackward, type BackwardMethods, type LayerWeights, type MultiHeadAttention } from '../src/backward/index.js';
import { setLayerMinMacsPerThread } from '../src/layer/threads.js';
import { expectSameBits, random, WASM_BACKENDS } from './threads-helpers.js';

type Attn = AttentionInstance & BackwardMethods;

function weightsOf(E: number, seed: number): LayerWeights {
  return { inProj: random(3 * E * E, seed).map((w) => w / 4), inProjBias: random(3 * E, seed + 1), outProj: random(E * E, seed + 2).map((w) => w / 4), outProjBias: random(E, seed + 3) };
}

describe.each(WASM_BACKENDS)('layer forwardAsync on threads, %s', (backend) => {
  let single: Attn;
  let threaded: Attn;
  beforeAll(async () => {
    single = withBackward(await createAttention({ backend }));
    threaded = withBackward(await createAttention({ backend, threads: 2 }));
    setLayerMinMacsPerThread(0); // split these small GEMMs, as a BERT-sized one is
  });
  afterAll(() => {
    setLayerMinMacsPerThread(undefined);
    single?.dispose();
    threaded?.dispose();
  });

  // E 60: 8 panels of which the last is partial (N % 8 = 4), L 9: a 4-row-block leftover.
  it.each([
    ['E64_H4_L33', 64, 4, 33, {}],
    ['E60_H3_L9_causal_needWeights', 60, 3, 9, { needWeights: true }],
    ['E96_H4_L70_rotary', 96, 4, 70, {}],
  ] as const)('%s: bit-identical to forward on one thread', async (_name, E, H, L, opts) => {
    const weights = weightsOf(E, E + L);
    const layer1 = single.createMultiHeadAttention({ embedDim: E, numHeads: H, causal: true, weights, ...(E === 96 ? { rotary: { base: 10000 } } : {}) });
    const layer2 = threaded.createMultiHeadAttention({ embedDim: E, numHeads: H, causal: true, weights, ...(E === 96 ? { rotary: { base: 10000 } } : {}) });
    const x = { data: random(2 * L * E, L), shape: [2, L, E] };
    const want = layer1.forward(x, opts);
    const got = await layer2.forwardAsync(x, opts);
    expect(layer2.lastGemmThreads).toBe(2);
    expectSameBits(got.output.data, want.output.data, `${backend} ${_name} output`);
    if (want.weights) expectSameBits(got.weights!.data, want.weights.data, `${backend} ${_name} weights`);
    // The sync forward of the threaded instance agrees too (same packed weights, own memory).
    expectSameBits(layer2.forward(x, opts).output.data, want.output.data, `${backend} ${_name} sync`);
    layer1.dispose();
    layer2.dispose();
  });

  it('cross-attention (key, value of other lengths) and train: backward after forwardAsync equals backward after forward', async () => {
    const E = 32;
    const weights = weightsOf(E, 5);
    const a = single.createMultiHeadAttention({ embedDim: E, numHeads: 4, weights });
    const b = threaded.createMultiHeadAttention({ embedDim: E, numHeads: 4, weights });
    const x = { data: random(40 * E, 1), shape: [1, 40, E] };
    const key = { data: random(50 * E, 2), shape: [1, 50, E] };
    const value = { data: random(50 * E, 3), shape: [1, 50, E] };
    const want = a.forward(x, { key, value, train: true });
    const got = await b.forwardAsync(x, { key, value, train: true });
    expectSameBits(got.output.data, want.output.data, 'cross output');
    const dout = { data: random(40 * E, 4), shape: [1, 40, E] };
    expectSameBits(b.backward(dout).dKey!.data, a.backward(dout).dKey!.data, 'cross dKey');
    a.dispose();
    b.dispose();
  });

  it('setWeights reaches the shared copy (repacked by the next call); two layers keep their own weights', async () => {
    const E = 48;
    const first = weightsOf(E, 11);
    const second = weightsOf(E, 21);
    const ref = single.createMultiHeadAttention({ embedDim: E, numHeads: 4, weights: second });
    const layer = threaded.createMultiHeadAttention({ embedDim: E, numHeads: 4, weights: first });
    const other = threaded.createMultiHeadAttention({ embedDim: E, numHeads: 4, weights: first });
    const x = { data: random(64 * E, 7), shape: [1, 64, E] };
    const before = await layer.forwardAsync(x);
    const otherBefore = await other.forwardAsync(x);
    layer.setWeights(second);
    const after = await layer.forwardAsync(x);
    expectSameBits(after.output.data, ref.forward(x).output.data, 'after setWeights');
    expect(after.output.data).not.toEqual(before.output.data);
    expectSameBits((await other.forwardAsync(x)).output.data, otherBefore.output.data, 'other layer unchanged');
    // The layers' kept regions sit below the backward's call area: a backward call in between leaves them intact.
    await threaded.attentionBackwardAsync({ q: { data: random(64 * E, 8), shape: [1, 64, E] }, k: { data: random(64 * E, 9), shape: [1, 64, E] }, v: { data: random(64 * E, 10), shape: [1, 64, E] }, dout: { data: random(64 * E, 12), shape: [1, 64, E] } }, { numHeads: 4 });
    expectSameBits((await other.forwardAsync(x)).output.data, otherBefore.output.data, 'after a backward call');
    for (const l of [ref, layer, other]) l.dispose();
    await expect(layer.forwardAsync(x)).rejects.toThrow(/disposed/);
  });

  it('the kernel adds the bias with the rounding of a JS f32 add (matmul + bias === matmul, then c += b)', () => {
    const g = createGemm(backend);
    const K = 37;
    const N = 29;
    const M = 6;
    const w = g.pack(random(K * N, 31), K, N, true);
    const a = random(M * K, 32);
    const bias = random(N, 33).map((v) => v * 1000); // large: a different order would round differently
    const want = g.matmul(a, M, w);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) want[m * N + n]! += bias[n]!;
    expectSameBits(g.matmul(a, M, w, bias), want, 'bias');
  });
});

describe('layer forwardAsync without threads', () => {
  it('runs forward on an instance with one thread and on js', async () => {
    for (const backend of ['js', ...WASM_BACKENDS] as const) {
      const attn = withBackward(await createAttention({ backend }));
      const E = 16;
      const layer: MultiHeadAttention = attn.createMultiHeadAttention({ embedDim: E, numHeads: 2, weights: weightsOf(E, 3) });
      const x = { data: random(5 * E, 4), shape: [1, 5, E] };
      expectSameBits((await layer.forwardAsync(x)).output.data, layer.forward(x).output.data, backend);
      expect(layer.lastGemmThreads).toBe(0);
      await expect(layer.forwardAsync({ data: new Float32Array(3), shape: [1, 1, 3] })).rejects.toThrow(RangeError);
      attn.dispose();
    }
  });
});
