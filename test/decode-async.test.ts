/**
 * `decodeAsync` (src/instance.ts): `decode()` split over an instance's threads, queued with
 * `attentionAsync`, and the rule that a cache (and pinned `q`/`out`) belongs to a call
 * until it settles (src/cache/in-flight.ts).
 *
 * Every case here has at least as many row blocks (sequence × KV head) as threads, so the
 * split deals whole row blocks and changes no summation order: results must be
 * bit-identical to the synchronous `decode()` of the same instance.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAttention, type AttentionInstance, type BackendName, type KVCache } from '../src/index.js';
import { setMinMacsPerThread } from '../src/threads/backend.js';
import { float32ArrayToHalf } from '../src/float16.js';
import { WASM_BACKENDS, threadedOf, random, expectSameBits } from './threads-helpers.js';

function filledCache(attn: AttentionInstance, batch: number, kvHeads: number, headDim: number, rows: number, dtype: 'float32' | 'float16' = 'float32'): KVCache {
  const cache = attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen: rows + 8, dtype });
  const shape = [batch, kvHeads, rows, headDim];
  const length = batch * kvHeads * rows * headDim;
  cache.append({ data: random(length, 11), shape }, { data: random(length, 12), shape });
  return cache;
}

beforeAll(() => setMinMacsPerThread(0)); // split calls of any size
afterAll(() => setMinMacsPerThread(undefined));

describe.each(WASM_BACKENDS)('decodeAsync on %s with 2 threads', (backendName: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend: backendName, threads: 2 });
  });
  afterAll(() => attn.dispose());

  it('runs on 2 threads and equals decode() bit for bit (f32 cache, MHA, causal, weights)', async () => {
    expect(attn.threads).toBe(2);
    const cache = filledCache(attn, 1, 8, 64, 300);
    const q = { data: random(8 * 64, 3), shape: [1, 8, 1, 64] };
    const options = { causal: true, returnWeights: true };
    const want = attn.decode(q, cache, options);
    const dispatch = vi.spyOn(threadedOf(attn).pool, 'dispatch');
    try {
      const got = await attn.decodeAsync(q, cache, options);
      expect(dispatch).toHaveBeenCalledTimes(1); // the worker got a share
      expect(dispatch.mock.calls[0]![0].length).toBe(1);
      expect(got.output.shape).toEqual([1, 8, 1, 64]);
      expectSameBits(got.output.data, want.output.data, 'output', ['decodeAsync', 'decode']);
      expectSameBits(got.weights!.data, want.weights!.data, 'weights', ['decodeAsync', 'decode']);
      expect(got.weights!.shape).toEqual([1, 8, 1, 300]);
    } finally {
      dispatch.mockRestore();
      cache.dispose();
    }
  });

  it('equals decode() on a float16 GQA cache with float16 bshd queries, keyLengths and a mask', async () => {
    const cache = filledCache(attn, 2, 4, 32, 130, 'float16');
    const q = { data: float32ArrayToHalf(random(2 * 16 * 32, 4)), shape: [2, 1, 16, 32] };
    const mask = { data: Uint8Array.from({ length: 2 * 130 }, (_, n) => (n % 7 === 3 ? 0 : 1)), shape: [2, 1, 1, 130] };
    const options = { layout: 'bshd' as const, keyLengths: [130, 101], mask, dtype: 'float16' as const };
    const want = attn.decode(q, cache, options);
    const got = await attn.decodeAsync(q, cache, options);
    expect(got.output.data).toBeInstanceOf(Uint16Array);
    expect(got.output.shape).toEqual([2, 1, 16, 32]);
    expectSameBits(got.output.data, want.output.data, 'float16 output', ['decodeAsync', 'decode']);
    cache.dispose();
  });

  it('reads a pinned q and writes a pinned out in place', async () => {
    const cache = filledCache(attn, 1, 4, 64, 200);
    const q = attn.createTensor([1, 4, 1, 64]);
    q.data.set(random(4 * 64, 5));
    const want = attn.decode({ data: q.data.slice(), shape: q.shape }, cache).output.data;
    const out = attn.createTensor([1, 4, 1, 64]);
    const got = await attn.decodeAsync(q, cache, { out });
    expect(got.output.data.buffer).toBe(out.data.buffer);
    expectSameBits(out.data, want, 'pinned out', ['decodeAsync', 'decode']);
    q.dispose();
    out.dispose();
    cache.dispose();
  });

  it('rejects bad input with the same TypeError / RangeError as decode(), without throwing synchronously', async () => {
    const cache = filledCache(attn, 1, 2, 16, 10);
    const good = { data: random(2 * 16, 6), shape: [1, 2, 1, 16] };
    const wrongDim = { data: random(2 * 8, 6), shape: [1, 2, 1, 8] };
    expect(() => attn.decode(wrongDim, cache)).toThrow(RangeError);
    let pending: Promise<unknown> | undefined;
    expect(() => {
      pending = attn.decodeAsync(wrongDim, cache);
    }).not.toThrow();
    await expect(pending).rejects.toThrow(/q\.shape\[3\]: expected the cache's headDim = 16, got 8/);
    await expect(attn.decodeAsync(good, cache, { causal: 'yes' as never })).rejects.toThrow(TypeError);
    await expect(attn.decodeAsync(good, {} as KVCache)).rejects.toThrow(/cache: expected a KVCache created by this instance/);
    // A rejected call releases the cache: it can change again.
    cache.append({ data: random(32, 7), shape: [1, 2, 1, 16] }, { data: random(32, 8), shape: [1, 2, 1, 16] });
    expect(cache.length).toBe(11);
    cache.dispose();
  });

  it('keeps the cache unchanged while a call is in flight, and frees a disposed one when it settles', async () => {
    const cache = filledCache(attn, 1, 4, 64, 256);
    const q = { data: random(4 * 64, 9), shape: [1, 4, 1, 64] };
    const want = attn.decode(q, cache).output.data;
    const row = { data: random(4 * 64, 10), shape: [1, 4, 1, 64] };

    const call = attn.decodeAsync(q, cache);
    expect(() => cache.append(row, row)).toThrow(/cache\.append: expected no attentionAsync or decodeAsync call using this cache, got 1 in flight/);
    expect(() => cache.truncate(10)).toThrow(/cache\.truncate: expected no attentionAsync or decodeAsync call/);
    expect(() => cache.reset()).toThrow(/cache\.reset: expected no attentionAsync or decodeAsync call/);
    expect(cache.length).toBe(256);
    expectSameBits((await call).output.data, want, 'output of the guarded call', ['decodeAsync', 'decode']);
    cache.append(row, row); // settled: the cache is the caller's again
    expect(cache.length).toBe(257);

    const again = attn.decodeAsync(q, cache, { keyLengths: [256] });
    expect(() => cache.dispose()).toThrow(/cache\.dispose: expected no attentionAsync or decodeAsync call using this cache, got 1 in flight/);
    expect(cache.disposed).toBe(false);
    expectSameBits((await again).output.data, want, 'output of a call whose cache could not be disposed meanwhile', ['decodeAsync', 'decode']);
    cache.dispose();
    expect(cache.disposed).toBe(true);
  });

  it('keeps a pinned q and out alive until the call settles', async () => {
    const cache = filledCache(attn, 1, 4, 64, 128);
    const q = attn.createTensor([1, 4, 1, 64]);
    q.data.set(random(4 * 64, 13));
    const want = attn.decode(q, cache).output.data;
    const out = attn.createTensor([1, 4, 1, 64]);
    const call = attn.decodeAsync(q, cache, { out });
    expect(() => out.dispose()).toThrow(/tensor\.dispose: expected no attentionAsync or decodeAsync call using this tensor, got 1 in flight/);
    expect(() => q.dispose()).toThrow(/tensor\.dispose: expected no attentionAsync or decodeAsync call/);
    await call;
    expectSameBits(out.data, want, 'pinned out', ['decodeAsync', 'decode']);
    out.dispose();
    q.dispose();
    expect(out.disposed && q.disposed).toBe(true);
    cache.dispose();
  });

  it('queues with attentionAsync: calls settle in call order and each gets its own result', async () => {
    const cache = filledCache(attn, 1, 4, 32, 64);
    const q = { data: random(4 * 32, 14), shape: [1, 4, 1, 32] };
    const want = attn.decode(q, cache).output.data;
    const qkv = { data: random(4 * 64 * 32, 15), shape: [1, 4, 64, 32] };
    const wantAttention = attn.attention(qkv, qkv, qkv).output.data;
    const order: string[] = [];
    const [first, middle, last] = await Promise.all([
      attn.decodeAsync(q, cache).then((r) => (order.push('decode 1'), r)),
      attn.attentionAsync(qkv, qkv, qkv).then((r) => (order.push('attention'), r)),
      attn.decodeAsync(q, cache).then((r) => (order.push('decode 2'), r)),
    ] as const);
    expect(order).toEqual(['decode 1', 'attention', 'decode 2']);
    expectSameBits(first.output.data, want, 'decode 1', ['decodeAsync', 'decode']);
    expectSameBits(middle.output.data, wantAttention, 'attention', ['decodeAsync', 'decode']);
    expectSameBits(last.output.data, want, 'decode 2', ['decodeAsync', 'decode']);
    expect(first.output.data).not.toBe(last.output.data);
    cache.dispose();
  });
});

describe('decodeAsync without threads', () => {
  it('is decode() in a promise, with the same errors as rejections', async () => {
    const attn = await createAttention();
    expect(attn.threads).toBe(1);
    const cache = filledCache(attn, 1, 2, 16, 40);
    const q = { data: random(2 * 16, 16), shape: [1, 2, 1, 16] };
    const pending = attn.decodeAsync(q, cache, { causal: true });
    expect(pending).toBeInstanceOf(Promise);
    expectSameBits((await pending).output.data, attn.decode(q, cache, { causal: true }).output.data, 'one-thread output', ['decodeAsync', 'decode']);
    await expect(attn.decodeAsync(q, cache, { scale: Number.NaN })).rejects.toThrow(RangeError);
    cache.dispose();
  });

  it('rejects after dispose() of a one-thread instance too, like a threaded one', async () => {
    const attn = await createAttention();
    const cache = filledCache(attn, 1, 2, 16, 40);
    const q = { data: random(2 * 16, 18), shape: [1, 2, 1, 16] };
    attn.dispose();
    await expect(attn.decodeAsync(q, cache)).rejects.toThrow(/got a disposed one \(dispose\(\) was called\)/);
    const qkv = { data: random(2 * 8 * 16, 19), shape: [1, 2, 8, 16] };
    await expect(attn.attentionAsync(qkv, qkv, qkv)).rejects.toThrow(/got a disposed one/);
    expect(attn.decode(q, cache).output.shape).toEqual([1, 2, 1, 16]); // synchronous calls keep working
  });

  it('rejects after dispose() of a threaded instance', async () => {
    const attn = await createAttention({ threads: 2 });
    const cache = filledCache(attn, 1, 2, 16, 40);
    const q = { data: random(2 * 16, 17), shape: [1, 2, 1, 16] };
    attn.dispose();
    await expect(attn.decodeAsync(q, cache)).rejects.toThrow(/dispose/);
  });
});
