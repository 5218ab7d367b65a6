/**
 * PinnedTensors (`createTensor`) as q, k, v and `out` of `attention()` / `attentionAsync()`:
 * the instance that made them reads and writes them in place (src/backends/wasm/memory-plan.ts),
 * any other copies them like arrays. Same kernel, same inputs: results must be
 * bit-identical to the call with plain Float32Arrays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance, type BackendName, type PinnedTensor, type Tensor } from '../src/index.js';
import { setMinMacsPerThread } from '../src/threads/backend.js';
import { random, expectSameBits } from './threads-helpers.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);
const WASM_BACKENDS = BACKENDS.filter((name) => name !== 'js');

function pinned(attn: AttentionInstance, data: Float32Array, shape: number[]): PinnedTensor {
  const tensor = attn.createTensor(shape);
  tensor.data.set(data);
  return tensor;
}

interface Case {
  readonly name: string;
  readonly qShape: number[];
  readonly kvShape: number[];
  readonly options: Record<string, unknown>;
}

const CASES: Case[] = [
  { name: 'bhsd MHA causal', qShape: [2, 4, 37, 64], kvShape: [2, 4, 37, 64], options: { causal: true } },
  { name: 'bshd GQA 8q/2kv, keyLengths', qShape: [2, 19, 8, 32], kvShape: [2, 70, 2, 32], options: { layout: 'bshd', keyLengths: [70, 33] } },
  { name: 'packed 3-D with weights and softcap', qShape: [1, 9, 3 * 16], kvShape: [1, 40, 3 * 16], options: { numHeads: 3, returnWeights: true, softcap: 5 } },
];

describe.each(BACKENDS)('pinned tensors on %s', (backendName: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend: backendName });
  });

  it.each(CASES)('$name: every mix of pinned and plain tensors equals plain arrays bit for bit', ({ qShape, kvShape, options }) => {
    const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    const data = { q: random(size(qShape), 1), k: random(size(kvShape), 2), v: random(size(kvShape), 3) };
    const plain = (name: 'q' | 'k' | 'v'): Tensor<Float32Array> => ({ data: data[name].slice(), shape: name === 'q' ? qShape : kvShape });
    const want = attn.attention(plain('q'), plain('k'), plain('v'), options);
    for (let mask = 1; mask < 16; mask++) {
      const made: PinnedTensor[] = [];
      const input = (name: 'q' | 'k' | 'v', bit: number) => {
        if (!(mask & bit)) return plain(name);
        const tensor = pinned(attn, data[name], name === 'q' ? qShape : kvShape);
        made.push(tensor);
        return tensor;
      };
      const q = input('q', 1);
      const k = input('k', 2);
      const v = input('v', 4);
      const out = mask & 8 ? attn.createTensor(want.output.shape) : undefined;
      if (out) made.push(out);
      const got = attn.attention(q, k, v, { ...options, out });
      const context = `${backendName} pinned ${['q', 'k', 'v', 'out'].filter((_, i) => mask & (1 << i)).join('+')}`;
      if (out) expect(got.output.data, `${context}: output is out's data`).toBe(out.data);
      expectSameBits(got.output.data as Float32Array, want.output.data as Float32Array, `${context} output`, ['pinned', 'arrays']);
      if (want.weights) expectSameBits(got.weights!.data as Float32Array, want.weights.data as Float32Array, `${context} weights`, ['pinned', 'arrays']);
      // Inputs are left as they were (the kernel only reads them).
      if (mask & 1) expectSameBits((q as PinnedTensor).data, data.q, `${context}: q unchanged`, ['pinned', 'arrays']);
      made.forEach((tensor) => tensor.dispose());
    }
  });

  it('checks pinned tensors like arrays, naming the argument', () => {
    const shape = [1, 2, 8, 16];
    const q = pinned(attn, random(256, 4), shape);
    const k = pinned(attn, random(256, 5), shape);
    const gone = attn.createTensor(shape);
    gone.dispose();
    expect(() => attn.attention(gone, k, k)).toThrow(new TypeError('q: expected a live PinnedTensor, got a disposed PinnedTensor'));
    expect(() => attn.attention(q, k, gone)).toThrow(new TypeError('v: expected a live PinnedTensor, got a disposed PinnedTensor'));
    expect(() => attn.attention(q, k, k, { out: gone })).toThrow(new TypeError('options.out: expected a live PinnedTensor, got a disposed PinnedTensor'));
    // { out: q } (out overlapping an input) computes correctly: test/adversarial/api.test.ts.
    expect(() => attn.attention(q, k, k, { out: attn.createTensor([1, 2, 8, 8]) })).toThrow(/options\.out: expected length 256 .*got length 128/);
    const half = { data: new Uint16Array(256), shape };
    expect(() => attn.attention(half, half, half, { out: attn.createTensor(shape) })).toThrow(TypeError);
    // And the next call is right.
    const want = attn.attention({ data: q.data.slice(), shape }, { data: k.data.slice(), shape }, { data: k.data.slice(), shape }).output.data;
    expectSameBits(attn.attention(q, k, k).output.data as Float32Array, want as Float32Array, 'after errors', ['pinned', 'arrays']);
    q.dispose();
    k.dispose();
  });
});

describe.each(WASM_BACKENDS)('pinned tensors in WASM memory on %s', (backendName: BackendName) => {
  it('are used in place: a call on pinned q, k, v, out grows memory by its scratch only', async () => {
    const attn = await createAttention({ backend: backendName });
    const shape = [1, 8, 512, 64]; // 1 MiB per tensor
    const length = 8 * 512 * 64;
    const [q, k, v] = [1, 2, 3].map((seed) => pinned(attn, random(length, seed), shape));
    const out = attn.createTensor(shape);
    const before = attn.memoryBytes;
    attn.attention(q!, k!, v!, { out });
    // Copies would need 4 MiB more; the parameter block and the scratch fit in one page.
    expect(attn.memoryBytes - before).toBeLessThanOrEqual(65536);
    const want = attn.attention({ data: q!.data.slice(), shape }, { data: k!.data.slice(), shape }, { data: v!.data.slice(), shape }).output.data;
    expectSameBits(out.data, want as Float32Array, 'in place', ['pinned', 'arrays']);
  });

  it('survive memory growth during the call (views made before it are detached)', async () => {
    const attn = await createAttention({ backend: backendName });
    const shape = [1, 4, 300, 64];
    const length = 4 * 300 * 64;
    const [q, k, v] = [1, 2, 3].map((seed) => pinned(attn, random(length, seed), shape));
    const before = attn.memoryBytes;
    // Returning weights needs 1.4 MiB of new memory: the call grows it after the plan took its views.
    const got = attn.attention(q!, k!, v!, { returnWeights: true });
    expect(attn.memoryBytes).toBeGreaterThan(before);
    const other = await createAttention({ backend: backendName });
    const want = other.attention({ data: random(length, 1), shape }, { data: random(length, 2), shape }, { data: random(length, 3), shape }, { returnWeights: true });
    expectSameBits(got.output.data as Float32Array, want.output.data as Float32Array, 'output', ['pinned', 'arrays']);
    expectSameBits(got.weights!.data as Float32Array, want.weights!.data as Float32Array, 'weights', ['pinned', 'arrays']);
  });

  it('with rotary, survive memory growth during the call (q and k are rotated copies)', async () => {
    // The first call on a fresh instance grows memory for the copies of q and k it rotates:
    // the plan must re-read the pinned tensors' views, not keep the ones taken before.
    const attn = await createAttention({ backend: backendName });
    const shape = [1, 4, 256, 64];
    const length = 4 * 256 * 64;
    const [q, k, v] = [4, 5, 6].map((seed) => pinned(attn, random(length, seed), shape));
    const before = attn.memoryBytes;
    const options = { causal: true, rotary: { base: 10000 } };
    const got = attn.attention(q!, k!, v!, options);
    expect(attn.memoryBytes).toBeGreaterThan(before);
    const other = await createAttention({ backend: backendName });
    const want = other.attention({ data: random(length, 4), shape }, { data: random(length, 5), shape }, { data: random(length, 6), shape }, options);
    expectSameBits(got.output.data as Float32Array, want.output.data as Float32Array, 'rotary output', ['pinned', 'arrays']);
    // q and k are not rotated in place: the pinned tensors still hold the inputs.
    expectSameBits(q!.data, random(length, 4), 'q after the call', ['pinned', 'input']);
    expectSameBits(k!.data, random(length, 5), 'k after the call', ['pinned', 'input']);
  });

  it("take another instance's pinned tensors (copied) as input and output", async () => {
    const owner = await createAttention({ backend: backendName });
    const attn = await createAttention({ backend: backendName });
    const shape = [1, 2, 33, 16];
    const [q, k, v] = [7, 8, 9].map((seed) => pinned(owner, random(2 * 33 * 16, seed), shape));
    const out = owner.createTensor(shape);
    const got = attn.attention(q!, k!, v!, { out, causal: true });
    expect(got.output.data).toBe(out.data);
    const want = attn.attention({ data: random(2 * 33 * 16, 7), shape }, { data: random(2 * 33 * 16, 8), shape }, { data: random(2 * 33 * 16, 9), shape }, { causal: true }).output.data;
    expectSameBits(out.data, want as Float32Array, 'foreign pinned', ['pinned', 'arrays']);
  });
});

describe.each(WASM_BACKENDS)('attentionAsync with pinned tensors on %s, 2 threads', (backendName: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    setMinMacsPerThread(0);
    attn = await createAttention({ backend: backendName, threads: 2 });
  });
  afterAll(() => {
    attn.dispose();
    setMinMacsPerThread(undefined);
  });

  it('reads and writes them in place, bit-identical, and keeps them alive until it settles', async () => {
    expect(attn.threads).toBe(2);
    const shape = [1, 4, 64, 32];
    const length = 4 * 64 * 32;
    const [q, k, v] = [1, 2, 3].map((seed) => pinned(attn, random(length, seed), shape));
    const out = attn.createTensor(shape);
    const want = attn.attention({ data: q!.data.slice(), shape }, { data: k!.data.slice(), shape }, { data: v!.data.slice(), shape }, { causal: true }).output.data;
    const call = attn.attentionAsync(q!, k!, v!, { out, causal: true });
    for (const tensor of [q, k, v, out]) expect(() => tensor!.dispose()).toThrow(/tensor\.dispose: expected no attentionAsync or decodeAsync call using this tensor, got 1 in flight/);
    const got = await call;
    expect(got.output.data).toBe(out.data);
    expectSameBits(out.data, want as Float32Array, 'threaded in place', ['pinned', 'arrays']);
    for (const tensor of [q, k, v, out]) tensor!.dispose();
  });
});
