/**
 * Public types of the generation API: KV caches, attention over a cache (`decode`), and
 * pinned tensors (zero-copy views of the instance's memory). Re-exported from src/index.ts.
 */
import type { AttentionOptions, Dtype, Layout, Tensor, TensorData } from '../types.js';
import type { DecodeRotaryOptions, RotaryRotationOptions } from '../positions/types.js';

/**
 * Options of {@link AttentionInstance.createKVCache}: `batch`, `kvHeads`, `headDim` and
 * `maxSeqLen` are required; an unknown key throws a TypeError.
 */
export interface KVCacheOptions {
  /** Sequences in the batch (each has its own length). Required: a positive integer. */
  readonly batch: number;
  /** Key/value heads (`Hkv`); queries may have any multiple of it (GQA/MQA). Required. */
  readonly kvHeads: number;
  /** Size of each key row (and of each query row). Required. */
  readonly headDim: number;
  /** Size of each value row. Default `headDim`. */
  readonly valueDim?: number;
  /** Rows per sequence the cache can ever hold; `append` past it throws a RangeError. Required. */
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
  /**
   * Rotary position embeddings (RoPE) of the keys, applied ONCE when appended, at their
   * cache positions (row t of sequence b at `lengths[b] + t`); `decode` then rotates its
   * queries with the same settings (default positions: the last Lq of each sequence). The
   * cache stores rotated keys (`read` returns them). `{ base }` (default 10000) or
   * `{ cos, sin }` tables, `dim`, `interleaved`, `scaling`: see {@link RotaryRotationOptions}.
   */
  readonly rotary?: RotaryRotationOptions;
}

/** Options of {@link KVCache.append}. Every option is optional. */
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
  /** Sequences in the batch, as created ({@link KVCacheOptions.batch}). */
  readonly batch: number;
  /** Key/value heads, as created. */
  readonly kvHeads: number;
  /** Size of each key row, as created. */
  readonly headDim: number;
  /** Size of each value row, as created (`headDim` unless given). */
  readonly valueDim: number;
  /** Rows per sequence the cache can ever hold, as created. */
  readonly maxSeqLen: number;
  /** Storage of K and V, as created (`'float32'` unless given). */
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
   * @param options `layout` (default `'bhsd'`), `lengths` (ragged batches; default all L rows)
   * @throws RangeError when a sequence would exceed `maxSeqLen` (the cache is left intact),
   *   or on a shape that does not match the cache; TypeError for a wrong kind; Error while a
   *   `decodeAsync` call using the cache has not settled (so do `reset`, `truncate` and
   *   `dispose`).
   * @example
   * const cache = attn.createKVCache({ batch: 1, kvHeads: 8, headDim: 64, maxSeqLen: 1024 });
   * cache.append(k, v); // k, v: [1, 8, L, 64]; cache.length grows by L
   */
  append(k: Tensor, v: Tensor, options?: AppendOptions): void;
  /**
   * Empties every sequence (length 0), keeping the memory.
   * @throws TypeError after `dispose()`; Error while a `decodeAsync` call using the cache
   *   has not settled
   * @example
   * cache.reset(); // cache.length === 0: the next append starts a new sequence
   */
  reset(): void;
  /**
   * Shortens every sequence longer than `length` to `length` rows (rolls back rejected
   * speculative tokens, or a step's token); the memory is kept.
   * @param length rows to keep per sequence; shorter sequences are left as they are
   * @throws RangeError unless `length` is an integer in [0, maxSeqLen]; TypeError after
   *   `dispose()`; Error while a `decodeAsync` call using the cache has not settled
   * @example
   * cache.truncate(cache.length - 3); // drop the last 3 (rejected) draft tokens
   */
  truncate(length: number): void;
  /**
   * Releases the memory for reuse by the next cache or tensor; the cache is unusable after
   * (every method but `dispose` throws a TypeError). Idempotent.
   * @throws Error while a `decodeAsync` call using the cache has not settled
   * @example
   * cache.dispose(); // cache.disposed === true
   */
  dispose(): void;
  /**
   * Copies rows [start, end) of every sequence out, `[B, Hkv, end − start, D]` (bhsd) in the
   * cache dtype (Float32Array, or Uint16Array of half bits). Rows past a shorter
   * sequence's length are 0.
   * @param start first row, default 0
   * @param end row after the last, default `length`
   * @returns copies of the rows: `k` `[B, Hkv, end − start, headDim]`, `v` `[B, Hkv, end − start, valueDim]`
   * @throws RangeError unless 0 <= start <= end <= length (after `reset()`, length is 0);
   *   TypeError after `dispose()`
   * @example
   * const { k, v } = cache.read(0, 16); // the first 16 rows of every sequence
   */
  read(start?: number, end?: number): {
    /** Keys `[B, Hkv, end − start, headDim]`, in the cache dtype. */
    k: Tensor;
    /** Values `[B, Hkv, end − start, valueDim]`, in the cache dtype. */
    v: Tensor;
  };
}

/**
 * Options of attention over a cache: those of the tensor form, applied to keys
 * `[0, cache.length)` with `keyLengths` defaulting to the per-sequence lengths.
 * `causal: true` aligns each sequence's last query with its last cached key
 * (query i sees keys j <= i + lengths[b] − Lq): right for decode (Lq = 1) and for chunked
 * prefill (append the chunk's K/V first, then attend with its Lq queries).
 */
export interface DecodeOptions extends Omit<AttentionOptions, 'out' | 'rotary'> {
  /**
   * On a cache created with `rotary`, the queries' positions (`{ queryPositions }`, an
   * integer offset or an Int32Array `[B, Lq]`); default `i + lengths[b] − Lq` (bottom-right,
   * with `keyLengths` when given; `i` with `causal: 'top-left'`). The rotation itself is the
   * cache's; on a cache without rotary this option is a TypeError.
   */
  readonly rotary?: DecodeRotaryOptions;
  /**
   * Valid keys per sequence (each <= the sequence's cached length). Default: the cache
   * lengths.
   */
  readonly keyLengths?: ArrayLike<number>;
  /**
   * Caller-owned output: a typed array of the output's dtype and element count, or a
   * float32 {@link PinnedTensor} of this instance (the kernel writes it in place, no copy).
   * Default: a new array per call.
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
  /** Dimensions, as passed to `createTensor`. */
  readonly shape: readonly number[];
  /** True after `dispose()`. */
  readonly disposed: boolean;
  /**
   * Releases the block for reuse; `data` throws after. Idempotent.
   * @throws Error while a `decodeAsync` call using the tensor (as `q` or `out`) has not settled
   * @example
   * const q = attn.createTensor([1, 32, 1, 128]);
   * q.dispose(); // q.disposed === true
   */
  dispose(): void;
}
