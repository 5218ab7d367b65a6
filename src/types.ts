/**
 * Public types of wasm-attention. Everything here is re-exported from `src/index.ts`.
 */
import type { BackendName } from './plan.js';
import type { PinnedTensor } from './cache/types.js';
import type { RotaryOptions } from './positions/types.js';

export type { BackendName };

/** Element type of a tensor: `float32`, or `float16` (IEEE half, computed in f32). */
export type Dtype = 'float32' | 'float16';

/**
 * Typed arrays accepted as tensor data: `Float32Array` for float32; `Uint16Array` holding
 * IEEE half bits (or `Float16Array`, where the runtime has it) for float16.
 */
export type TensorData = Float32Array | Uint16Array;

/** A dense, row-major tensor. `data.length` must equal the product of `shape`. */
export interface Tensor<D extends TensorData = TensorData> {
  /** The elements, row-major (last axis fastest): float32, or float16 half bits; see {@link TensorData}. */
  readonly data: D;
  /** Dimensions, outermost first (e.g. `[batch, heads, seq, dim]` for `bhsd`); non-negative integers. */
  readonly shape: readonly number[];
}

/**
 * Attention mask, broadcast (NumPy rules, from any suffix shape) to `[batch, qHeads, seqLenQ, seqLenK]`,
 * in that logical order whatever the layout of q, k and v.
 * - `Uint8Array`: boolean, 1 = may attend, 0 = masked.
 * - `Float32Array`: additive bias added to the (soft-capped) scores; `-Infinity` masks.
 * - `Uint16Array` / `Float16Array`: the same additive bias as float16 half bits.
 */
export interface MaskTensor {
  /** Boolean (`Uint8Array`, 1 = attend) or additive bias (`Float32Array`, or float16 bits), row-major. */
  readonly data: Uint8Array | Float32Array | Uint16Array;
  /** Any suffix of `[batch, qHeads, seqLenQ, seqLenK]` with axes of 1 where broadcast, e.g. `[seqLenQ, seqLenK]`. */
  readonly shape: readonly number[];
}

/**
 * Layout of 4-D q, k, v (and of the output):
 * - `bhsd`: `[batch, heads, seq, dim]` (PyTorch `scaled_dot_product_attention`, ONNX 4-D);
 * - `bshd`: `[batch, seq, heads, dim]` (FlashAttention, most KV caches).
 * 3-D inputs are always packed `[batch, seq, heads·dim]` (ONNX 3-D) and need `numHeads`/`kvHeads`.
 */
export type Layout = 'bhsd' | 'bshd';

/**
 * Causal masking. `'top-left'`: query i sees keys j <= i (PyTorch `is_causal=True`).
 * `'bottom-right'`: the last query is aligned with the last key, query i sees
 * j <= i + (seqLenK − seqLenQ) (FlashAttention ≥ 2.1, ONNX `is_causal`); with `keyLengths`
 * the alignment is per batch item, j <= i + (keyLengths[b] − seqLenQ).
 * `true` means `'bottom-right'`: it is the only alignment that stays right when the queries
 * are the newest tokens of a longer sequence (decode, chunked prefill, KV caches); both agree
 * when seqLenQ = seqLenK.
 */
export type CausalOption = boolean | 'top-left' | 'bottom-right';

/**
 * Options of {@link attention}, {@link attentionAsync} and {@link AttentionInstance.attention};
 * `decode` takes the same ones ({@link DecodeOptions}). Every option is optional; an unknown
 * key throws a TypeError.
 */
export interface AttentionOptions {
  /** Layout of 4-D q, k, v and of the output. Default `'bhsd'`. */
  readonly layout?: Layout;
  /** Query heads of packed 3-D inputs `[batch, seq, heads·dim]` (required for 3-D). */
  readonly numHeads?: number;
  /** Key/value heads of packed 3-D inputs (default `numHeads`). */
  readonly kvHeads?: number;
  /** Element type of q, k, v (and the output). Default: inferred from the data (`Uint16Array` → float16). */
  readonly dtype?: Dtype;
  /** Multiplier of q·k. Default `1 / sqrt(headDim)`. */
  readonly scale?: number;
  /** Causal masking; see {@link CausalOption}. Default false. */
  readonly causal?: CausalOption;
  /** Boolean or additive mask; see {@link MaskTensor}. Default: none. */
  readonly mask?: MaskTensor;
  /** Valid keys per batch item (length `batch`, each in [0, seqLenK]): keys at j >= keyLengths[b] are masked. Default: all keys. */
  readonly keyLengths?: ArrayLike<number>;
  /** Soft-capping of the scores, `softcap · tanh(s / softcap)` before the mask (Gemma 2). Default 0 (off). */
  readonly softcap?: number;
  /**
   * Sliding window (FlashAttention's `window_size`): `[left, right]` lets query i of item b
   * see keys j with i + off − left ≤ j ≤ i + off + right, where off = seqLenK − seqLenQ
   * (keyLengths[b] − seqLenQ; 0 with causal 'top-left'); a number n means `[n, 0]`. Each
   * bound is a non-negative integer or Infinity. Combines with causal, mask and
   * keyLengths; a row left with no key gives 0. Keys outside are never read. Default: none.
   */
  readonly window?: number | readonly [number, number];
  /** Also return the post-softmax probabilities `[batch, qHeads, seqLenQ, seqLenK]`. Default false. */
  readonly returnWeights?: boolean;
  /**
   * ALiBi: adds `−slope_h · |i + off − j|` to the score of query i and key j in head h (after
   * the softcap, before the mask), where `off` aligns the queries as causal does (0 for
   * `'top-left'`, else `keyLengths[b]` or `seqLenK` − `seqLenQ`). `true`: the ALiBi paper's
   * slopes for the query head count; or a Float32Array of one slope per query head (finite,
   * magnitude ≤ 2^64). Computed inside the kernel, never materialised. Default: none.
   */
  readonly alibi?: boolean | Float32Array;
  /**
   * Also return `lse` `[batch, qHeads, seqLenQ]` (float32, natural log): `ln Σ_j exp(s_j)` over
   * the row's allowed scores (after scale, softcap, ALiBi and mask), `-Infinity` for a row
   * with no allowed key; with `output`, what `mergeAttention` (`wasm-attention/merge`) combines. Default false.
   */
  readonly returnLse?: boolean;
  /**
   * Caller-owned output: a typed array of the output's dtype and exact element count, or a
   * float32 PinnedTensor (`createTensor`) that the kernel writes in place; returned as
   * `output.data`. Default: a new array per call. It may share memory with q, k or v (even
   * be the same PinnedTensor): the call is then computed into a workspace and copied in,
   * with the same result.
   */
  readonly out?: TensorData | PinnedTensor;
  /**
   * Rotary position embeddings (RoPE): q and k are rotated by their positions before the
   * scores (into scratch; the caller's arrays are never written). `{ base }` (default 10000)
   * or `{ cos, sin }` tables, `dim`, `interleaved`, `scaling`, `queryPositions` (default
   * bottom-right: `i + seqLenK − seqLenQ`, or `keyLengths[b] − seqLenQ`), `keyPositions`
   * (default j); see {@link RotaryOptions}. Default: none.
   */
  readonly rotary?: RotaryOptions;
}

/** What {@link attention} (and `decode`) returns; `D` is the kind of the input data. */
export interface AttentionResult<D extends TensorData = TensorData> {
  /** `[batch, qHeads, seqLenQ, valueDim]` for `bhsd`, `[batch, seqLenQ, qHeads, valueDim]` for `bshd`, `[batch, seqLenQ, qHeads·valueDim]` for 3-D. */
  readonly output: Tensor<D>;
  /** Post-softmax probabilities `[batch, qHeads, seqLenQ, seqLenK]`, present when `returnWeights`. Fully masked rows are 0. */
  readonly weights?: Tensor<D>;
  /** Log-sum-exp of each row's scores `[batch, qHeads, seqLenQ]` (float32, natural log), present when `returnLse`. */
  readonly lse?: Tensor<Float32Array>;
}

/** Backend request: `auto` picks the fastest one the runtime supports. */
export type BackendChoice = 'auto' | BackendName;

/** Options of {@link createAttention} and {@link init}. Every option is optional. */
export interface CreateAttentionOptions {
  /** Default `'auto'`: WASM SIMD where the runtime validates it, otherwise the pure-JS fallback. */
  readonly backend?: BackendChoice;
  /**
   * The kernel as a precompiled `WebAssembly.Module` or its bytes, for runtimes that forbid
   * compiling from embedded bytes (Cloudflare Workers, Vercel Edge). Default: the embedded build.
   */
  readonly module?: WebAssembly.Module | BufferSource;
  /**
   * Threads for {@link AttentionInstance.attentionAsync}, the calling thread included:
   * a count (1 to 256), or `'auto'` (the logical cores, at most 16). Default 1. Above 1, the
   * instance starts `threads − 1` workers (`worker_threads` in Node and Deno, Web Workers in
   * browsers and Bun) on one shared WebAssembly.Memory; call `dispose()` to end them. Where they
   * cannot run (a page that is not cross-origin isolated, no SharedArrayBuffer, the `js`
   * backend, a user `module`), the instance runs on one thread and warns once, saying why.
   * Only `createAttention` and `init` accept it (they are async: workers start before they resolve).
   */
  readonly threads?: number | 'auto';
  /**
   * How to load the threads module (`wasm-attention/threads`) when `threads` is above 1, for
   * an application that bundles the library. By default the library imports
   * `./threads/index.js` next to its own file, a path a bundler neither sees nor copies (so
   * a bundled app runs on one thread, with a warning); a literal `import()` here is one the
   * bundler follows.
   * @example
   * const attn = await createAttention({ threads: 2, threadsModule: () => import('wasm-attention/threads') });
   */
  readonly threadsModule?: () => Promise<unknown>;
}
