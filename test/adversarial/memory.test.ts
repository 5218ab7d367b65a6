/**
 * Memory rules under misuse, on every backend: a rejected `append`/`truncate` leaves the
 * cache exactly as it was; an `append` of this instance's PinnedTensors works the first
 * time even when it grows WASM memory (which detaches their old views); a stale view
 * passed to `attention`/`onnxAttention`/`attentionAsync` throws the TypeError that says so;
 * one size limit (src/limits.ts) on every backend, with named RangeErrors.
 * (Addresses above 2 GiB and the 4 GiB edge: memory-4g.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance, type BackendName, type KVCache } from '../../src/index.js';
import { MAX_BYTES } from '../../src/limits.js';
import { buildCase, expectResult } from '../helpers.js';
import { random } from '../threads-helpers.js';

const BACKENDS = BACKEND_NAMES.filter((name) => isBackendAvailable(name));
const WASM = BACKENDS.filter((name) => name !== 'js');

const instances: AttentionInstance[] = [];
async function instance(backend: BackendName): Promise<AttentionInstance> {
  const attn = await createAttention({ backend });
  instances.push(attn);
  return attn;
}
afterEach(() => {
  for (const attn of instances.splice(0)) attn.dispose();
});

/** Everything observable of a cache, to compare before and after a rejected call. */
function snapshot(cache: KVCache) {
  const { k, v } = cache.read();
  return {
    length: cache.length,
    lengths: Array.from(cache.lengths),
    capacity: cache.capacity,
    byteLength: cache.byteLength,
    k: Array.from(k.data as Float32Array),
    v: Array.from(v.data as Float32Array),
  };
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe.each(BACKENDS)('adversarial memory %s', (backend) => {
  it('append_of_pinned_k_v_that_grows_memory_works_the_first_time', async () => {
    const attn = await instance(backend);
    const cache = attn.createKVCache({ batch: 1, kvHeads: 4, headDim: 32, maxSeqLen: 8192, initialSeqLen: 4 });
    cache.append({ data: random(4 * 2 * 32, 1), shape: [1, 4, 2, 32] }, { data: random(4 * 2 * 32, 2), shape: [1, 4, 2, 32] });
    const before = cache.read();
    const k = attn.createTensor([1, 4, 1500, 32]);
    const v = attn.createTensor([1, 4, 1500, 32]);
    k.data.set(random(k.data.length, 3));
    v.data.set(random(v.data.length, 4));
    const kWant = k.data.slice(), vWant = v.data.slice();
    const memoryBefore = attn.memoryBytes;
    cache.append(k, v); // grows the cache (a new block) and, on WASM, the memory
    if (backend !== 'js') expect(attn.memoryBytes, 'the append grew WASM memory').toBeGreaterThan(memoryBefore);
    expect(cache.length).toBe(1502);
    const after = cache.read(0, 2);
    expect(Array.from(after.k.data as Float32Array)).toEqual(Array.from(before.k.data as Float32Array));
    const { k: kRead, v: vRead } = cache.read(2, 1502);
    expect(Array.from(kRead.data as Float32Array)).toEqual(Array.from(kWant));
    expect(Array.from(vRead.data as Float32Array)).toEqual(Array.from(vWant));

    // A plain tensor whose data is a view of WASM memory (a PinnedTensor's `data`), too.
    const k2 = attn.createTensor([1, 4, 3000, 32]);
    k2.data.set(random(k2.data.length, 5));
    const k2Want = k2.data.slice();
    const memoryBeforeView = attn.memoryBytes;
    cache.append({ data: k2.data, shape: k2.shape }, { data: k2.data, shape: k2.shape });
    if (backend !== 'js') expect(attn.memoryBytes, 'the append grew WASM memory').toBeGreaterThan(memoryBeforeView);
    expect(cache.length).toBe(4502);
    expect(Array.from(cache.read(1502, 4502).v.data as Float32Array)).toEqual(Array.from(k2Want));
  });

  it('rejected_append_and_truncate_leave_the_cache_exactly_as_it_was', async () => {
    const attn = await instance(backend);
    for (const dtype of ['float32', 'float16'] as const) {
      const cache = attn.createKVCache({ batch: 2, kvHeads: 2, headDim: 8, maxSeqLen: 40, initialSeqLen: 4, dtype });
      const rows = (n: number, seed: number) => ({ data: random(2 * 2 * n * 8, seed).map((x) => Math.round(x * 64) / 64), shape: [2, 2, n, 8] });
      cache.append(rows(3, 1), rows(3, 2), { lengths: [3, 1] });
      const before = snapshot(cache);
      const bad: [string, () => unknown, ErrorConstructor][] = [
        ['too_many_rows', () => cache.append(rows(38, 3), rows(38, 4)), RangeError],
        ['v_rows_differ', () => cache.append(rows(5, 3), rows(6, 4)), RangeError],
        ['wrong_kv_heads', () => cache.append({ data: new Float32Array(3 * 5 * 8 * 2), shape: [2, 3, 5, 8] }, rows(5, 4)), RangeError],
        ['lengths_out_of_range', () => cache.append(rows(5, 3), rows(5, 4), { lengths: [6, 0] }), RangeError],
        ['lengths_wrong_count', () => cache.append(rows(5, 3), rows(5, 4), { lengths: [1] }), RangeError],
        ['unknown_option', () => cache.append(rows(5, 3), rows(5, 4), { lenghts: [1, 1] } as never), TypeError],
        ['mixed_dtypes', () => cache.append(rows(5, 3), { data: new Uint16Array(2 * 2 * 5 * 8), shape: [2, 2, 5, 8] }), TypeError],
        ['not_a_tensor', () => cache.append(rows(5, 3), null as never), TypeError],
        ['truncate_negative', () => cache.truncate(-1), RangeError],
        ['truncate_past_max', () => cache.truncate(41), RangeError],
        ['truncate_fraction', () => cache.truncate(1.5), RangeError],
      ];
      for (const [name, call, kind] of bad) {
        const error = thrownBy(call);
        expect(error, `${backend} ${dtype} ${name}`).toBeInstanceOf(kind);
        expect(snapshot(cache), `${backend} ${dtype} ${name}: cache unchanged`).toEqual(before);
      }
      // Still works: a growing append, then decode against the reference.
      cache.append(rows(20, 5), rows(20, 6));
      expect(cache.lengths).toEqual(Int32Array.of(23, 21));
      cache.dispose();
    }
  });

  it('size_limit_is_the_same_on_every_backend', async () => {
    const attn = await instance(backend);
    // 2^30 f32 = 4 GiB: over the limit (JS once accepted it; WASM could never hold it).
    const tensorError = thrownBy(() => attn.createTensor([2 ** 30]));
    expect(tensorError).toBeInstanceOf(RangeError);
    expect((tensorError as Error).message).toMatch(/^shape: expected a float32 tensor of at most 4294901760 bytes, got 4294967296 bytes \(shape \[1073741824\]\)$/);
    // K and V of 4 GiB each (JS once accepted this 8 GiB cache).
    const cacheError = thrownBy(() => attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 1024, maxSeqLen: 2 ** 20 }));
    expect(cacheError).toBeInstanceOf(RangeError);
    expect((cacheError as Error).message).toMatch(/^options\.maxSeqLen: expected a cache \(K and V\) of at most 4294901760 bytes, got 8589934592 bytes/);
    // float16 counts 2 bytes an element, rows padded to 16 bytes: headDim 1 takes 16 bytes a row.
    expect(() => attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 1, maxSeqLen: MAX_BYTES / 32 + 1, dtype: 'float16' })).toThrow(/options\.maxSeqLen: expected a cache/);
    // onnxAttention: Y of 65536 × 65537 f32 (> 2^32 elements) from inputs of a few hundred KB.
    const q = { data: new Float32Array(65536), shape: [1, 1, 65536, 1] };
    const k = { data: new Float32Array(1), shape: [1, 1, 1, 1] };
    const v = { data: new Float32Array(65537), shape: [1, 1, 1, 65537] };
    const yError = thrownBy(() => attn.onnxAttention([q, k, v]));
    expect(yError).toBeInstanceOf(RangeError);
    expect((yError as Error).message).toMatch(/^Y: expected an f32 output of at most 4294901760 bytes, got 17180131328 bytes \(Y \[1, 1, 65536, 65537\]\)$/);
    // decode: an output over the limit.
    const cache = attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 1, valueDim: 65537, maxSeqLen: 1 });
    const dError = thrownBy(() => attn.decode({ data: new Float32Array(65536), shape: [1, 1, 65536, 1] }, cache));
    expect(dError).toBeInstanceOf(RangeError);
    expect((dError as Error).message).toMatch(/^q: expected a call \(f32 q, mask, output\) of at most 4294901760 bytes/);
    // The instance works afterwards.
    const c = buildCase({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 9, headDim: 8, seed: 7 });
    expectResult(attn.attention(c.q, c.k, c.v, c.options), c, `${backend} after refusals`);
  });
});

describe.each(WASM)('adversarial memory %s: stale views and refused growth', (backend) => {
  /** A PinnedTensor's view, then memory grown under it (the view is detached). */
  async function staleSetup() {
    const attn = await instance(backend);
    const c = buildCase({ batch: 1, qHeads: 2, seqLenQ: 4, seqLenK: 6, headDim: 8, seed: 9 });
    const pinnedQ = attn.createTensor(c.q.shape);
    const pinnedOut = attn.createTensor(c.outShape);
    const staleQ = pinnedQ.data, staleOut = pinnedOut.data;
    attn.createTensor([2 ** 22]); // 16 MiB more: WASM memory grows, the old views detach
    expect(staleQ.length).toBe(0);
    return { attn, c, staleQ, staleOut };
  }
  const DETACHED = /expected a live typed array, got a detached view \(WASM memory grew since: read PinnedTensor\.data again\)/;

  it('stale_view_as_q_or_out_throws_the_type_error_that_says_so', async () => {
    const { attn, c, staleQ, staleOut } = await staleSetup();
    const asQ = thrownBy(() => attn.attention({ data: staleQ, shape: c.q.shape }, c.k, c.v));
    expect(asQ).toBeInstanceOf(TypeError);
    expect((asQ as Error).message).toMatch(/^q\.data: /);
    expect((asQ as Error).message).toMatch(DETACHED);
    const asOut = thrownBy(() => attn.attention(c.q, c.k, c.v, { out: staleOut }));
    expect(asOut).toBeInstanceOf(TypeError);
    expect((asOut as Error).message).toMatch(/^options\.out: /);
    expect((asOut as Error).message).toMatch(DETACHED);
    await expect(attn.attentionAsync({ data: staleQ, shape: c.q.shape }, c.k, c.v)).rejects.toThrow(TypeError);
    await expect(attn.attentionAsync(c.q, c.k, c.v, { out: staleOut })).rejects.toThrow(DETACHED);
    const onnx = thrownBy(() => attn.onnxAttention([{ data: staleQ, shape: c.q.shape }, c.k, c.v]));
    expect(onnx).toBeInstanceOf(TypeError);
    expect((onnx as Error).message).toMatch(/^Q\.data: /);
    expect((onnx as Error).message).toMatch(DETACHED);
    const cache = attn.createKVCache({ batch: 1, kvHeads: 2, headDim: 8, maxSeqLen: 4 });
    expect(() => cache.append({ data: staleQ, shape: c.q.shape }, c.v)).toThrow(DETACHED);
    expect(cache.length).toBe(0);
    expectResult(attn.attention(c.q, c.k, c.v, c.options), c, `${backend} after stale views`);
  });

  it('append_refused_by_the_memory_limit_leaves_the_cache_as_it_was', async () => {
    const attn = await instance(backend);
    const cache = attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 1024, maxSeqLen: 2 ** 16, initialSeqLen: 2 });
    const rows = (n: number, seed: number) => ({ data: random(n * 1024, seed), shape: [1, 1, n, 1024] });
    cache.append(rows(2, 1), rows(2, 2));
    // Fill the memory to within 64 MiB of the limit (untouched pages: no RAM).
    attn.createTensor([(MAX_BYTES - attn.memoryBytes - 2 ** 26) / 4]);
    const before = snapshot(cache);
    // 2 + 9000 rows of K and V need ≈ 74 MB: more than is left.
    const big = { data: new Float32Array(9000 * 1024), shape: [1, 1, 9000, 1024] };
    const error = thrownBy(() => cache.append(big, big));
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toMatch(/^append: expected a call that fits in WASM memory/);
    expect(snapshot(cache)).toEqual(before);
    cache.append(rows(3, 5), rows(3, 6)); // fits: the cache grows to 5 rows
    expect(cache.length).toBe(5);
    expect(Array.from(cache.read(0, 2).k.data as Float32Array)).toEqual(before.k);
  }, 60_000);
});
