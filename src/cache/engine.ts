/**
 * The internal contract between the cache API (src/cache/) and a backend's storage: where
 * K/V rows and pinned tensors live, and how a plan over a cache runs. Like `AttentionPlan`,
 * a `CachedPlan` is validated above this line and trusted below it.
 *
 * Cache storage layout, per K and V: `[batch, kvHeads, capacity, rowStride]` elements,
 * contiguous, where `rowStride` >= dim pads each row to whole SIMD vectors with zeros
 * (4 f32 or 8 halves on the WASM backends; = dim for JS). An int8 row is its data padded
 * (16 bytes on WASM, 4 on JS) then its f32 scale (src/cache/int8.ts); `rowStride` in bytes.
 */
import type { AttentionDims, BiasStrides, HeadStrides } from '../plan.js';
import type { CacheDtype } from './types.js';
import type { KeyWindow } from '../key-range.js';
import type { CheckedTensor } from '../tensor-input.js';

export interface CacheShape {
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly valueDim: number;
  readonly dtype: CacheDtype;
}

/**
 * Elements of a storage: f32, half bits, or the bytes of int8 rows (src/cache/int8.ts: each
 * row's int8 data then its f32 scale; row strides count bytes). A float16 cache may be
 * stored as f32 (the JS backend: values rounded to half).
 */
export type StorageElements = Float32Array | Uint16Array | Int8Array;

export interface CacheStorage {
  /** Rows per (batch, head) allocated. */
  readonly capacity: number;
  /** Elements between consecutive K rows (>= headDim) and V rows (>= valueDim). */
  readonly keyRowStride: number;
  readonly valueRowStride: number;
  readonly byteLength: number;
  /** Live views of K and V (re-made after memory growth), `[batch, kvHeads, capacity, rowStride]`. */
  keys(): StorageElements;
  values(): StorageElements;
  /** Reallocates to `capacity` rows per head, keeping rows [0, lengths[b]) of each head (one copy). */
  resize(capacity: number, lengths: Int32Array): void;
  /** Releases the memory. */
  free(): void;
  /**
   * True when `data` is a view of the memory this storage lives in (WASM linear memory):
   * `resize` may grow that memory, which detaches such views, so `append` copies them first.
   */
  inMemory(data: ArrayBufferView): boolean;
  /**
   * Set on int8 storages of a kernel build that quantises at append (the int8 and threads
   * builds, src/backends/wasm/int8-append.ts; the same bytes as src/cache/int8.ts): writes
   * the new rows, `newRows[b]` of sequence b from row `lengths[b]` on, and returns true.
   * Absent elsewhere: `append` quantises in JS. Kept out of the default entry but for its call.
   */
  appendInt8?(key: CheckedTensor, value: CheckedTensor, kRows: AppendRows, vRows: AppendRows, newRows: Int32Array, lengths: Int32Array): true;
}

/** Where an `append`'s rows are in its source: element strides of [batch, head, seq] (dim stride 1). */
export interface AppendRows {
  readonly dim: number;
  readonly strides: { readonly batch: number; readonly head: number; readonly seq: number };
}

export interface TensorStorage {
  readonly length: number;
  /** A live view (re-made after memory growth). */
  view(): Float32Array;
  free(): void;
}

/** Where a plan's q or out is: a host array, or a pinned tensor of the engine (zero copy). */
export type PlanBuffer = { readonly host: Float32Array } | { readonly pinned: TensorStorage };

/**
 * A plan over a cache: `AttentionPlan` with K/V in cache storage, keys [0, seqLenK);
 * `seqLenK` is the longest cached sequence.
 */
export interface CachedPlan extends AttentionDims {
  readonly dtype: CacheDtype;
  readonly storage: CacheStorage;
  /** The cache may hold an Inf/NaN half (float16 only): the kernel converts exactly, not fast. */
  readonly kvNonFinite: boolean;
  readonly q: PlanBuffer;
  readonly qStrides: HeadStrides;
  readonly out: PlanBuffer;
  readonly outStrides: HeadStrides;
  readonly scale: number;
  readonly softcap: number;
  /** As AttentionPlan's (src/plan.ts, src/key-range.ts). */
  readonly positionOffsets: Int32Array;
  readonly window: KeyWindow;
  /** Always present: keys j >= keyLengths[b] are masked (the sequence lengths by default). */
  readonly keyLengths: Int32Array;
  readonly bias: Float32Array | null;
  readonly biasStrides: BiasStrides;
  /** Contiguous `[batch, qHeads, seqLenQ, seqLenK]` post-softmax probabilities, or null. */
  readonly weights: Float32Array | null;
  /** As AttentionPlan's: ALiBi slopes per query head, and the rows' log-sum-exp `[batch, qHeads, seqLenQ]`. */
  readonly alibiSlopes?: Float32Array | null;
  readonly lse?: Float32Array | null;
}

/** What a backend provides for caches and pinned tensors. */
export interface CacheEngine {
  createCache(shape: CacheShape, capacity: number): CacheStorage;
  createTensor(length: number): TensorStorage;
  run(plan: CachedPlan): void;
}
