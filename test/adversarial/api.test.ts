/**
 * Adversarial suite, API boundary (issue #10), on every backend and on a threads: 2 instance:
 *
 * - `out` sharing memory with an input (item 4): computed as if it did not (same bits as a
 *   call with separate arrays), written into the caller's `out`, on every backend;
 * - options read from OWN keys only (item 9): inherited keys are neither applied nor
 *   validated, own typos are TypeErrors;
 * - typed arrays identified by brand (item 9): a spoofed `Symbol.toStringTag`, a swapped
 *   prototype or an own `length` is refused; nothing is read outside a view;
 * - `createTensor` dimensions are positive integers (item 9);
 * - malformed shapes and options: the documented class and message, and afterwards the next
 *   call gives the same bits and WASM memory has not grown;
 * - concurrent async calls: bit-identical to the synchronous results.
 *
 * Every expected value is the same instance's answer to the ordinary call (api-helpers.ts).
 */
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttentionInstance, AttentionResult, KVCache, Tensor } from '../../src/index.js';
import { setMinMacsPerThread } from '../../src/threads/backend.js';
import { expectSameBits, INSTANCE_KINDS, random, run, tensor } from './api-helpers.js';

beforeAll(() => setMinMacsPerThread(0)); // every threaded call really goes to the pool
afterAll(() => setMinMacsPerThread(undefined));

const SHAPE = [1, 2, 16, 8]; // B 1, H 2, L 16, D 8: 256 elements
const N = 256;

describe.each(INSTANCE_KINDS)('api boundary on $label', (kind) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await kind.make();
  });
  afterAll(() => attn.dispose());

  const fresh = () => ({ q: tensor(SHAPE, 1), k: tensor(SHAPE, 2), v: tensor(SHAPE, 3) });
  const want = async (options = {}) => {
    const { q, k, v } = fresh();
    return (await run(kind, attn, q, k, v, options)).output.data as Float32Array;
  };

  describe('out overlapping an input (issue #10 item 4)', () => {
    it.each(['q', 'k', 'v'] as const)('out_is_%s_data', async (which) => {
      const expected = await want({ causal: true });
      const inputs = fresh();
      const out = inputs[which].data;
      const result = await run(kind, attn, inputs.q, inputs.k, inputs.v, { causal: true, out });
      expect(result.output.data).toBe(out);
      expectSameBits(out, expected, `out = ${which}.data`, ['aliased', 'separate']);
    });

    it('out_partially_overlaps_k_and_v_in_one_buffer', async () => {
      const expected = await want();
      // One ArrayBuffer: q [0, N), k [N, 2N), v [2N, 3N); out starts in the middle of k.
      const buffer = new Float32Array(4 * N);
      const { q, k, v } = fresh();
      buffer.set(q.data, 0);
      buffer.set(k.data, N);
      buffer.set(v.data, 2 * N);
      const view = (at: number) => ({ data: buffer.subarray(at, at + N), shape: SHAPE });
      const out = buffer.subarray(N + N / 2 + 3, 2 * N + N / 2 + 3);
      await run(kind, attn, view(0), view(N), view(2 * N), { out });
      expectSameBits(out, expected, 'out overlapping the end of k and the start of v', ['aliased', 'separate']);
    });

    it('out_is_a_different_view_of_the_same_bytes_as_v', async () => {
      const expected = await want();
      const { q, k, v } = fresh();
      const out = new Float32Array(v.data.buffer, v.data.byteOffset, N); // another object, same memory
      await run(kind, attn, q, k, v, { out });
      expectSameBits(out, expected, 'out = a second view of v', ['aliased', 'separate']);
    });

    it('out_is_the_same_pinned_tensor_as_q_k_and_v', async () => {
      // One PinnedTensor as q, k, v and out: the kernel reads it in place where it lives.
      const { q } = fresh();
      const expected = (await run(kind, attn, q, { data: q.data.slice(), shape: SHAPE }, { data: q.data.slice(), shape: SHAPE })).output.data as Float32Array;
      const pinned = attn.createTensor(SHAPE);
      try {
        pinned.data.set(q.data);
        const result = await run(kind, attn, pinned, pinned, pinned, { out: pinned });
        expect(result.output.data).toBe(pinned.data);
        expectSameBits(pinned.data, expected, 'out = q = k = v (one PinnedTensor)', ['aliased', 'separate']);
      } finally {
        pinned.dispose();
      }
    });

    it('float16_out_is_q_bits', async () => {
      const half = (seed: number) => ({ data: Uint16Array.from(random(N, seed), (x) => (x < 0 ? 0xb800 : 0x3800) | Math.floor(Math.abs(x) * 512)), shape: SHAPE });
      const expected = (await run(kind, attn, half(1), half(2), half(3))).output.data as Uint16Array;
      const q = half(1);
      await run(kind, attn, q, half(2), half(3), { out: q.data });
      expectSameBits(q.data, expected, 'float16 out = q.data', ['aliased', 'separate']);
    });

    it('decode_out_is_q', async () => {
      const cache = attn.createKVCache({ batch: 1, kvHeads: 2, headDim: 8, maxSeqLen: 32 });
      try {
        cache.append(tensor([1, 2, 20, 8], 5), tensor([1, 2, 20, 8], 6));
        const decode = (q: Tensor, options = {}) => (kind.threaded ? attn.decodeAsync(q, cache, options) : Promise.resolve(attn.decode(q, cache, options)));
        const expected = (await decode(tensor([1, 2, 4, 8], 7), { causal: true })).output.data as Float32Array;
        const q = tensor([1, 2, 4, 8], 7);
        await decode(q, { causal: true, out: q.data });
        expectSameBits(q.data, expected, 'decode out = q.data', ['aliased', 'separate']);
        const pinned = attn.createTensor([1, 2, 4, 8]);
        pinned.data.set(tensor([1, 2, 4, 8], 7).data);
        await decode(pinned, { causal: true, out: pinned });
        expectSameBits(pinned.data, expected, 'decode out = q (one PinnedTensor)', ['aliased', 'separate']);
        pinned.dispose();
      } finally {
        cache.dispose();
      }
    });
  });

  describe('options: own keys only (issue #10 item 9)', () => {
    it('inherited_keys_are_neither_applied_nor_validated', async () => {
      const expected = await want(); // not causal
      const { q, k, v } = fresh();
      const options = Object.create({ causal: true, casual: 1, scale: 'x' }) as object;
      expectSameBits((await run(kind, attn, q, k, v, options)).output.data as Float32Array, expected, 'inherited causal', ['inherited', 'none']);
      // An own typo is still caught, and an own key applies.
      expect(() => attn.attention(q, k, v, { casual: true } as never)).toThrow(TypeError);
      expect(() => attn.attention(q, k, v, { casual: true } as never)).toThrow(/^options\.casual: expected one of layout, .*got an unknown option \(boolean\)$/);
      expectSameBits((await run(kind, attn, q, k, v, Object.assign(Object.create({ causal: false }), { causal: true }))).output.data as Float32Array, await want({ causal: true }), 'own causal', ['own', 'causal']);
    });

    it('decode_cache_append_and_onnx_options_read_own_keys', async () => {
      const cache = attn.createKVCache(Object.create({ batch: 'x' }, { batch: { value: 1, enumerable: true }, kvHeads: { value: 2, enumerable: true }, headDim: { value: 8, enumerable: true }, maxSeqLen: { value: 16, enumerable: true } }));
      try {
        // An inherited layout: 'bshd' would read k/v with the wrong axes.
        cache.append(tensor([1, 2, 16, 8], 5), tensor([1, 2, 16, 8], 6), Object.create({ layout: 'bshd', lenghts: 1 }));
        const q = tensor([1, 2, 3, 8], 7);
        const plain = attn.decode(q, cache).output.data as Float32Array;
        expectSameBits(attn.decode(q, cache, Object.create({ causal: 'top-left', numHeads: 'x' })).output.data as Float32Array, plain, 'decode with inherited options', ['inherited', 'none']);
      } finally {
        cache.dispose();
      }
      const { q, k, v } = fresh();
      const plain = attn.onnxAttention([q, k, v]);
      const inherited = attn.onnxAttention([q, k, v], Object.create({ is_causal: 1, scael: 2 }), Object.create({ outputs: 9 }));
      expectSameBits(inherited[0]!.data as Float32Array, plain[0]!.data as Float32Array, 'onnx attrs inherited', ['inherited', 'none']);
    });
  });

  describe('typed arrays by brand (issue #10 item 9)', () => {
    it('a_spoofed_toStringTag_is_refused', () => {
      const { k, v } = fresh();
      const int8 = new Int8Array(N); // 256 bytes: read as float16 it would be 512, 256 past the view
      Object.defineProperty(int8, Symbol.toStringTag, { value: 'Float16Array' });
      expect(() => attn.attention({ data: int8 as never, shape: SHAPE }, k, v)).toThrow(new TypeError('q.data: expected Float32Array (float32), or Uint16Array/Float16Array of IEEE half bits (float16), got Int8Array of length 256'));
      expect(() => attn.attention(fresh().q, k, v, { mask: { data: int8 as never, shape: [16, 16] } })).toThrow(TypeError);
      expect(() => attn.onnxAttention([{ data: int8 as never, shape: SHAPE }, k, v])).toThrow(/^Q\.data: expected a typed array/);
    });

    it('a_swapped_prototype_is_refused', () => {
      const { k, v } = fresh();
      const int8 = Object.setPrototypeOf(new Int8Array(4 * N), Float32Array.prototype) as Float32Array; // instanceof Float32Array
      expect(() => attn.attention({ data: int8, shape: SHAPE }, k, v)).toThrow(TypeError);
    });

    it('an_own_length_cannot_stretch_a_view', () => {
      const { q, k, v } = fresh();
      const short = new Float32Array(k.data.buffer, 0, 16);
      Object.defineProperty(short, 'length', { value: N });
      expect(() => attn.attention(q, { data: short, shape: SHAPE }, v)).toThrow(new RangeError('k.data: expected length 256 (the product of shape [1, 2, 16, 8]), got length 16'));
      const out = new Float32Array(16);
      Object.defineProperty(out, 'length', { value: N });
      expect(() => attn.attention(q, k, v, { out })).toThrow(/^options\.out: expected length 256 .*got length 16$/);
    });

    it('typed_arrays_of_another_realm_are_accepted', async () => {
      const expected = await want();
      const { q, k, v } = fresh();
      const foreign = runInNewContext('(source) => new Float32Array(source)') as (source: Float32Array) => Float32Array;
      const kForeign = foreign(k.data);
      expect(kForeign instanceof Float32Array).toBe(false); // another realm's constructor
      expectSameBits((await run(kind, attn, q, { data: kForeign, shape: SHAPE }, v)).output.data as Float32Array, expected, 'k from node:vm', ['foreign', 'local']);
    });

    it('a_subarray_is_read_within_its_view_only', async () => {
      // Neighbours of the view hold NaN: any read outside it would show in the output.
      const expected = await want();
      const { q, k, v } = fresh();
      const padded = (data: Float32Array) => {
        const buffer = new Float32Array(N + 64).fill(NaN);
        buffer.set(data, 32);
        return { data: buffer.subarray(32, 32 + N), shape: SHAPE };
      };
      const out = new Float32Array(N + 64).fill(NaN).subarray(32, 32 + N);
      await run(kind, attn, padded(q.data), padded(k.data), padded(v.data), { out });
      expectSameBits(out, expected, 'subarray inputs and out', ['subarrays', 'arrays']);
      expect(Number.isNaN(new Float32Array(out.buffer)[31]) && Number.isNaN(new Float32Array(out.buffer)[32 + N])).toBe(true);
    });
  });

  it('createTensor_dims_are_positive_integers', () => {
    expect(() => attn.createTensor([0, 3])).toThrow(new RangeError('shape[0]: expected a positive integer, got 0'));
    expect(() => attn.createTensor([3, 0])).toThrow(new RangeError('shape[1]: expected a positive integer, got 0'));
    expect(() => attn.createTensor([2, -1])).toThrow(RangeError);
    expect(() => attn.createTensor([])).toThrow(RangeError);
    const made = attn.createTensor([1, 3]);
    expect(made.data.length).toBe(3);
    made.dispose();
  });

  it('malformed_calls_throw_the_documented_error_and_change_nothing', async () => {
    const expected = await want({ causal: true });
    const bytes = attn.memoryBytes;
    const { q, k, v } = fresh();
    const cases: [string, () => unknown, typeof TypeError | typeof RangeError, RegExp][] = [
      ['q not a tensor', () => attn.attention(null as never, k, v), TypeError, /^q: expected a tensor \{ data, shape \}, got null$/],
      ['k data Float64Array', () => attn.attention(q, { data: new Float64Array(N) as never, shape: SHAPE }, v), TypeError, /^k\.data: expected Float32Array/],
      ['v length', () => attn.attention(q, k, { data: new Float32Array(N - 1), shape: SHAPE }), RangeError, /^v\.data: expected length 256 .*got length 255$/],
      ['rank 2', () => attn.attention({ data: q.data, shape: [16, 16] }, k, v), RangeError, /^q\.shape: expected rank/],
      ['negative dim', () => attn.attention({ data: q.data, shape: [1, -2, 16, 8] }, k, v), RangeError, /^q\.shape\[1\]: expected a non-negative integer, got -2$/],
      ['head dim mismatch', () => attn.attention(q, { data: new Float32Array(2 * 16 * 4), shape: [1, 2, 16, 4] }, v), RangeError, /^k\.shape\[3\]: expected 8/],
      ['unknown option', () => attn.attention(q, k, v, { casual: true } as never), TypeError, /^options\.casual: expected one of/],
      ['causal kind', () => attn.attention(q, k, v, { causal: 'yes' as never }), TypeError, /^options\.causal: expected true \| false/],
      ['scale NaN', () => attn.attention(q, k, v, { scale: NaN }), RangeError, /^options\.scale: expected a finite number, got NaN$/],
      ['keyLengths length', () => attn.attention(q, k, v, { keyLengths: [1, 2] }), RangeError, /^options\.keyLengths: expected length 1/],
      ['mask shape', () => attn.attention(q, k, v, { mask: { data: new Uint8Array(15), shape: [15] } }), RangeError, /^options\.mask\.shape: expected a shape broadcastable/],
      ['out length', () => attn.attention(q, k, v, { out: new Float32Array(N + 1) }), RangeError, /^options\.out: expected length 256 .*got length 257$/],
      ['createKVCache', () => attn.createKVCache({ batch: 1, kvHeads: 2, headDim: 0, maxSeqLen: 4 }), RangeError, /^options\.headDim: expected an integer >= 1, got 0$/],
      ['threads', () => attn.attentionAsync(q, k, v, { layout: 'bhds' as never }), TypeError, /^options\.layout: expected 'bhsd' \| 'bshd'/],
    ];
    for (const [name, call, error, message] of cases) {
      let thrown: unknown;
      try {
        await call();
      } catch (caught) {
        thrown = caught;
      }
      expect(thrown, name).toBeInstanceOf(error);
      expect((thrown as Error).message, name).toMatch(message);
    }
    expect(attn.memoryBytes, 'memory after the errors').toBe(bytes);
    expectSameBits((await run(kind, attn, q, k, v, { causal: true })).output.data as Float32Array, expected, 'the call after the errors', ['after', 'before']);
  });

  it('concurrent_async_calls_are_bit_identical_to_sync_calls', async () => {
    const shapes = [[1, 2, 16, 8], [2, 4, 33, 16], [1, 8, 64, 64], [1, 1, 1, 4], [3, 2, 9, 7]];
    const calls = shapes.map((shape, i) => ({ q: tensor(shape, 10 + i), k: tensor(shape, 20 + i), v: tensor(shape, 30 + i), options: { causal: i % 2 === 0, returnWeights: i === 1 } }));
    const sync = calls.map(({ q, k, v, options }) => attn.attention(q, k, v, options));
    const cache: KVCache = attn.createKVCache({ batch: 1, kvHeads: 4, headDim: 16, maxSeqLen: 64 });
    try {
      cache.append(tensor([1, 4, 40, 16], 40), tensor([1, 4, 40, 16], 41));
      const qd = tensor([1, 8, 1, 16], 42);
      const syncDecode = attn.decode(qd, cache);
      const all: Promise<AttentionResult>[] = [];
      for (const { q, k, v, options } of calls) {
        all.push(attn.attentionAsync(q, k, v, options));
        all.push(attn.decodeAsync(qd, cache));
      }
      const results = await Promise.all(all);
      results.forEach((result, i) => {
        const want = i % 2 === 0 ? sync[i / 2]! : syncDecode;
        expectSameBits(result.output.data as Float32Array, want.output.data as Float32Array, `async call ${i}`, ['async', 'sync']);
        if (want.weights) expectSameBits(result.weights!.data as Float32Array, want.weights.data as Float32Array, `async call ${i} weights`, ['async', 'sync']);
      });
    } finally {
      cache.dispose();
    }
  });
});
