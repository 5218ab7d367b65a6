/**
 * Public types of the generation API: KV caches, attention over a cache (`decode`), and
 * pinned tensors (zero-copy views of the instance's memory). Re-exported from src/index.ts.
 */
import type { AttentionOptions, Dtype, Layout, Tensor, TensorData } from '../types.js';

export interface KVCacheOptions {
  /** Sequences in the batch (each has its own length). */
  readonly batch: number;
  /** Key/value heads (`Hkv`); queries may have any multiple of it (GQA/MQA). */
  readonly kvHeads: number;
  /** Size of each key row (and of each query row). */
  readonly headDim: number;
  /** Size of each value row. Default `headDim`. */
  readonly valueDim?: number;
  /** Rows per sequence the cache can ever hold; `append` past it throws a RangeError. */
  readonly maxSeqLen: number;
  /**
   * Storage of K and V: `'float32'` (default) or `'float16'` (IEEE half, half the memory;
   * values are rounded to half on `append` and computed in f32).
   */
  readonly dtype?: Dtype;
  /**
   * Rows per sequence allocated up front. Default `maxSeqLen`: the whole cache is allocated
   * once, so generation never grows memory (and never invalidates `PinnedTensor` views). A
   * smaller value starts small and doubles (copying once per doubling) up to `maxSeqLen`.
   */
  readonly initialSeqLen?: number;
}

export interface AppendOptions {
  /** Layout of 4-D `k`/`v`: `'bhsd'` `[B, Hkv, L, D]` (default) or `'bshd'` `[B, L, Hkv, D]`. 3-D is packed `[B, L, Hkv·D]`. */
  readonly layout?: Layout;
  /**
   * Rows to append per sequence (length `batch`, each in [0, L]): sequence b appends the
   * first `lengths[b]` rows of its part of `k`/`v` (ragged batches). Default: L for all.
   */
  readonly lengths?: ArrayLike<number>;
}

/**
 * A KV cache: K and V of `batch` sequences, stored in the instance's memory (WASM linear
 * memory for the WASM backends, so attention reads it in place with no copy per call).
 * Created by {@link AttentionInstance.createKVCache}.
 */
export interface KVCache {
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly valueDim: number;
  readonly maxSeqLen: number;
  readonly dtype: Dtype;
  /** Longest sequence's length (every sequence's when the batch is not ragged). */
  readonly length: number;
  /** Length of each sequence (a copy). */
  readonly lengths: Int32Array;
  /** Rows per sequence currently allocated (≤ maxSeqLen). */
  readonly capacity: number;
  /** Bytes of memory holding K and V. */
  readonly byteLength: number;
  /** True after `dispose()`. */
  readonly disposed: boolean;
  /**
   * Appends rows to every sequence, copying only those rows (converted to the cache dtype).
   * @param k new keys, `[B, Hkv, L, D]` (bhsd), `[B, L, Hkv, D]` (bshd) or `[B, L, Hkv·D]`;
   *   Float32Array, or float16 bits (Uint16Array/Float16Array)
   * @param v new values, same layout and kind, dim `valueDim`
   * @throws RangeError when a sequence would exceed `maxSeqLen` (the cache is left intact),
   *   or on a shape that does not match the cache; TypeError for a wrong kind; Error while a
   *   `decodeAsync` call using the cache has not settled (so do `reset`, `truncate` and
   *   `dispose`).
   */
  append(k: Tensor, v: Tensor, options?: AppendOptions): void;
  /** Empties every sequence (length 0), keeping the memory. */
  reset(): void;
  /**
   * Shortens every sequence longer than `length` to `length` rows (rolls back rejected
   * speculative tokens, or a step's token); the memory is kept.
   * @throws RangeError unless `length` is an integer in [0, maxSeqLen]
   */
  truncate(length: number): void;
  /** Releases the memory for reuse by the next cache or tensor; the cache is unusable after. */
  dispose(): void;
  /**
   * Copies rows [start, end) of every sequence out, `[B, Hkv, end − start, D]` (bhsd) in the
   * cache dtype (Float32Array, or Uint16Array of half bits). Rows past a shorter
   * sequence's length are 0.
   * @throws RangeError unless 0 <= start <= end <= length
   */
  read(start?: number, end?: number): { k: Tensor; v: Tensor };
}

/**
 * Options of attention over a cache: those of the tensor form, applied to keys
 * `[0, cache.length)` with `keyLengths` defaulting to the per-sequence lengths.
 * `causal: true` aligns each sequence's last query with its last cached key
 * (query i sees keys j <= i + lengths[b] − Lq): right for decode (Lq = 1) and for chunked
 * prefill (append the chunk's K/V first, then attend with its Lq queries).
 */
export interface DecodeOptions extends Omit<AttentionOptions, 'out'> {
  /**
   * Valid keys per sequence (each <= the sequence's cached length). Default: the cache
   * lengths.
   */
  readonly keyLengths?: ArrayLike<number>;
  /**
   * Caller-owned output: a typed array of the output's dtype and element count, or a
   * float32 {@link PinnedTensor} of this instance (the kernel writes it in place, no copy).
   */
  readonly out?: TensorData | PinnedTensor;
}

/**
 * A float32 tensor whose data lives in the instance's memory: on the WASM backends, a
 * block of linear memory that `decode` reads (as `q`) or writes (as `out`) in place, with
 * no copy. Created by {@link AttentionInstance.createTensor}.
 *
 * The view rule: `data` returns a Float32Array over the block, valid until the instance's
 * WASM memory grows. Memory grows only inside `createKVCache`, `createTensor`, `append`
 * (when a cache created with a small `initialSeqLen` doubles) and an
 * `attention`/`decode` call that needs more memory than any call before; after one of
 * those, read `data` again. A stale view is detached by the runtime (length 0): it cannot
 * be written to, and passing it to `decode`/`attention` throws a TypeError that says so.
 * The block's contents survive growth.
 */
export interface PinnedTensor extends Tensor<Float32Array> {
  /** A live Float32Array view of the block (see the view rule). */
  readonly data: Float32Array;
  readonly shape: readonly number[];
  /** True after `dispose()`. */
  readonly disposed: boolean;
  /**
   * Releases the block for reuse; `data` throws after.
   * @throws Error while a `decodeAsync` call using the tensor (as `q` or `out`) has not settled
   */
  dispose(): void;
}
