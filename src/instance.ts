/**
 * Instances: a backend plus its grow-only host workspace. `createAttention()` makes
 * independent ones; `init()` configures the default instance used by the top-level
 * `attention()` and `onnxAttention()`.
 */
import { prepareAttention, runAttention } from './attention.js';
import { checkInteger, typeError } from './errors.js';
import { checkBytes } from './limits.js';
import { checkBackendChoice, selectBackend } from './backends/select.js';
import { runOnnxAttention, type OnnxAttributes, type OnnxOutputs, type OnnxRunOptions, type OnnxTensor } from './onnx/index.js';
import type { Backend, BackendName } from './plan.js';
import { callOptions } from './tensor-input.js';
import type { AttentionOptions, AttentionResult, CreateAttentionOptions, Tensor, TensorData } from './types.js';
import { Workspace } from './workspace.js';
import type { CacheEngine } from './cache/engine.js';
import { prepareDecode, runDecode } from './cache/decode.js';
import { createJsCacheEngine } from './cache/js-engine.js';
import { checkTensorShape, KVCacheImpl } from './cache/kv-cache.js';
import { PinnedTensorImpl } from './cache/pinned.js';
import type { DecodeOptions, KVCache, KVCacheOptions, PinnedTensor } from './cache/types.js';
import type { ThreadedBackend } from './threads/index.js';

/**
 * An attention instance: one backend, its memory (WASM linear memory on the WASM backends,
 * reused and grown only when a call needs more), its KV caches and pinned tensors, and,
 * when created with `threads`, its workers. Made by {@link createAttention}; the top-level
 * functions use the default one ({@link init}). Instances share nothing but the compiled
 * kernel modules.
 */
export interface AttentionInstance {
  /** The backend that runs this instance's calls. */
  readonly backend: BackendName;
  /**
   * Scaled dot-product attention on this instance: the same contract as the top-level
   * {@link attention} (shapes, options, errors), computed on this instance's backend.
   * @param q queries (Float32Array or float16 data, or a PinnedTensor of any instance)
   * @param k keys, same dtype as q
   * @param v values, same dtype as q
   * @param options see {@link AttentionOptions}
   * @returns `{ output }`, plus `weights` when `returnWeights`
   * @throws TypeError for a wrong kind of argument, RangeError for a wrong size or shape
   * @example
   * const attn = await createAttention();
   * const { output } = attn.attention(q, k, v, { causal: true });
   */
  attention<D extends TensorData>(q: Tensor<D>, k: Tensor<D>, v: Tensor<D>, options?: AttentionOptions): AttentionResult<D>;
  /**
   * The ONNX `Attention` operator on this instance: the same contract as the top-level
   * {@link onnxAttention}.
   * @param inputs `[Q, K, V, attn_mask, past_key, past_value, nonpad_kv_seqlen]`, `null` where absent
   * @param attrs the node's attributes ({@link OnnxAttributes}); absent ones take ONNX defaults
   * @param options `outputs`: how many outputs the node has ({@link OnnxRunOptions})
   * @returns `[Y, present_key, present_value, qk_matmul_output]`, `null` where not produced
   * @throws TypeError / RangeError for bad inputs, naming the input
   * @example
   * const [Y] = attn.onnxAttention([Q, K, V], { is_causal: 1 });
   */
  onnxAttention(inputs: readonly (OnnxTensor | null | undefined)[], attrs?: OnnxAttributes, options?: OnnxRunOptions): OnnxOutputs;
  /** Bytes of WASM linear memory this instance holds (0 for the JS backend). Grows only when a call needs more. */
  readonly memoryBytes: number;
  /**
   * Threads that {@link AttentionInstance.attentionAsync} splits a call over (the calling
   * thread included): 1 unless created with `threads`, and where threads can run.
   */
  readonly threads: number;
  /**
   * {@link attention}, split over the instance's threads (`createAttention({ threads })`):
   * batch × query heads × 8-query blocks are dealt out to the threads, the calling thread
   * included (it computes its share before the promise is returned), and the result is
   * bit-identical to `attention()`'s. Calls are queued and run one at a time, in call order;
   * small calls run on the calling thread alone. Inputs are read when the call starts (after
   * earlier queued calls): leave them unchanged until the promise settles; PinnedTensors
   * among q, k, v, `out` cannot be disposed until then (their `dispose` throws an Error). On
   * an instance with one thread it is `attention()` wrapped in a promise.
   * @param q queries, as {@link attention}
   * @param k keys, as {@link attention}
   * @param v values, as {@link attention}
   * @param options as {@link attention} ({@link AttentionOptions})
   * @returns a promise of `attention()`'s result; it rejects with the same TypeError /
   *   RangeError for bad input, and with an Error if a worker dies during the call (the
   *   pool replaces the worker; the next call runs normally) or when `dispose()` is called
   *   before it completes (see {@link AttentionInstance.dispose}); it never resolves with a
   *   partial output. `out` may share memory with q, k or v (computed apart, then copied in)
   * @throws nothing synchronously: every error rejects the promise
   * @example
   * const attn = await createAttention({ threads: 'auto' });
   * const { output } = await attn.attentionAsync(q, k, v, { causal: true });
   * attn.dispose(); // ends the workers
   */
  attentionAsync<D extends TensorData>(q: Tensor<D>, k: Tensor<D>, v: Tensor<D>, options?: AttentionOptions): Promise<AttentionResult<D>>;
  /**
   * Ends the instance's workers; afterwards `attentionAsync` and `decodeAsync` reject, on
   * every instance, threaded or not (so code behaves the same whether or not threads could
   * start, e.g. on a page that is not cross-origin isolated), and in Node nothing of the
   * instance keeps the process alive. Calls queued behind a running one reject; the running
   * call either completes with its whole result or rejects with an Error ("the instance was
   * disposed … during the call", once its workers have stopped), never resolves with part of
   * its output (a PinnedTensor `out` may then hold a partial output). The synchronous calls
   * keep working. Idempotent.
   * @example
   * const attn = await createAttention({ threads: 2 });
   * attn.dispose(); // workers ended; attn.attention() still works
   */
  dispose(): void;
  /**
   * Creates a KV cache in this instance's memory (WASM linear memory on the WASM backends),
   * read in place by {@link AttentionInstance.decode}. See {@link KVCache}.
   * @param options `batch`, `kvHeads`, `headDim`, `valueDim` (default headDim), `maxSeqLen`,
   *   `dtype` ('float32' default, 'float16': half the memory, or 'int8': 0.26×), `initialSeqLen`
   *   (default maxSeqLen: allocated once; smaller: doubles as needed)
   * @returns an empty cache (length 0) of this instance
   * @throws TypeError for a wrong kind of option, RangeError for sizes out of range or a
   *   cache larger than WASM memory can hold
   * @example
   * const cache = attn.createKVCache({ batch: 1, kvHeads: 8, headDim: 128, maxSeqLen: 4096 });
   * cache.append(k, v);                       // [1, 8, L, 128] each: the prompt
   * const { output } = attn.decode(q, cache, { causal: true });
   */
  createKVCache(options: KVCacheOptions): KVCache;
  /**
   * Attention of `q` over the first `cache.length` rows of `cache`: the same result as
   * `attention(q, K, V, { ...options, keyLengths: cache.lengths })` over the cached rows,
   * without copying them. Any Lq: 1 for a decode step, more for chunked prefill (append the
   * chunk's K/V first; `causal: true` aligns each sequence's last query with its last key).
   * @param q `[B, Hq, Lq, D]` (bhsd), `[B, Lq, Hq, D]` (bshd) or `[B, Lq, Hq·D]` (numHeads
   *   optional: D is the cache's); float32 or float16 data, or a {@link PinnedTensor} (zero copy)
   * @param cache a {@link KVCache} of this instance; Hq must be a multiple of its kvHeads (GQA)
   * @param options as {@link attention} (`layout`, `numHeads`, `kvHeads`, `dtype`, `scale`,
   *   `causal`, `mask` broadcast to `[B, Hq, Lq, cache.length]`, `keyLengths` (each ≤ the
   *   sequence's length; default the lengths), `softcap`, `returnWeights`), and `out`: a typed
   *   array or a float32 PinnedTensor written in place
   * @returns `{ output }` in q's layout and dtype, plus `weights` `[B, Hq, Lq, cache.length]`
   *   when `returnWeights`; fully masked rows (e.g. an empty sequence) are 0
   * @throws TypeError for a wrong kind (not a cache of this instance, disposed cache or
   *   tensor, detached view, unknown option), RangeError for a wrong size or shape
   * @example
   * cache.append(kStep, vStep);               // [1, 8, 1, 128]
   * const { output } = attn.decode(qStep, cache, { causal: true }); // qStep [1, 32, 1, 128]
   */
  decode<D extends TensorData>(q: Tensor<D>, cache: KVCache, options?: DecodeOptions): AttentionResult<D>;
  /**
   * {@link AttentionInstance.decode}, split over the instance's threads
   * (`createAttention({ threads })`), on the cache where it lives: the units are the
   * (sequence, KV head) row blocks of the decode kernel (src/threads/README.md), so a decode
   * step with at least as many row blocks as threads is bit-identical to `decode()`'s; with
   * fewer (MQA, GQA with 1–2 KV heads), each head's keys are split over the threads and the
   * partial softmaxes merged by log-sum-exp, equal to `decode()`'s within rounding. Queued with
   * `attentionAsync` calls, one at a time in call order; small calls run on the calling
   * thread alone. On an instance with one thread it is `decode()` wrapped in a promise.
   *
   * From the call until the promise settles the cache, and `q`/`out` when they are
   * {@link PinnedTensor}s, belong to the call (workers read and write them in place): the
   * cache's `append`, `truncate`, `reset` and `dispose`, and the tensors' `dispose`, throw an
   * Error. Inputs are read when the queued call starts: leave them unchanged until it settles.
   * @param q as {@link AttentionInstance.decode}
   * @param cache a {@link KVCache} of this instance
   * @param options as {@link AttentionInstance.decode}
   * @returns a promise of `decode()`'s result; it rejects with the same TypeError /
   *   RangeError for bad input, and with an Error if a worker dies during the call or after
   *   `dispose()`
   * @throws nothing synchronously: every error rejects the promise
   * @example
   * const attn = await createAttention({ threads: 'auto' });
   * const cache = attn.createKVCache({ batch: 1, kvHeads: 32, headDim: 128, maxSeqLen: 4096 });
   * cache.append(kPrompt, vPrompt);
   * const { output } = await attn.decodeAsync(qStep, cache, { causal: true });
   */
  decodeAsync<D extends TensorData>(q: Tensor<D>, cache: KVCache, options?: DecodeOptions): Promise<AttentionResult<D>>;
  /**
   * Allocates a float32 tensor in this instance's memory, for zero-copy input and output:
   * `q`, `k`, `v` and `options.out` of `attention`/`attentionAsync`, `q` and `options.out`
   * of `decode`/`decodeAsync`. Re-read `data` after memory grows (see the view rule of
   * {@link PinnedTensor}). Another instance's PinnedTensor works too, copied like an array.
   * @param shape dimensions (positive integers, at most 2^30 elements in all)
   * @returns a float32 tensor of zeros in this instance's memory
   * @throws TypeError / RangeError for a bad shape
   * @example
   * const q = attn.createTensor([1, 32, 1, 128]);
   * q.data.set(projectedQuery);
   * attn.decode(q, cache, { out: attn.createTensor([1, 32, 1, 128]) });
   */
  createTensor(shape: readonly number[]): PinnedTensor;
}

/** Exported for the layer (src/layer/kernel.ts), which makes one over its own backend. */
export class Instance implements AttentionInstance {
  private readonly workspace = new Workspace();
  /** Host arrays of async calls (run one at a time), apart from synchronous calls' own. */
  private readonly asyncWorkspace = new Workspace();
  private threaded: ThreadedBackend | null = null;
  private disposed = false;
  private caches: CacheEngine | undefined;
  constructor(private readonly engine: Backend & { memoryBytes?: () => number; cacheEngine?: () => CacheEngine }) {}

  /** The cache engine of this instance's backend (the JS one runs plans on the JS backend). */
  private get cacheEngine(): CacheEngine {
    return (this.caches ??= this.engine.cacheEngine?.() ?? createJsCacheEngine(this.engine));
  }

  createKVCache(options: KVCacheOptions): KVCache {
    return new KVCacheImpl(this.cacheEngine, options);
  }

  decode<D extends TensorData>(q: Tensor<D>, cache: KVCache, options?: DecodeOptions): AttentionResult<D> {
    return runDecode(this.cacheEngine, this.workspace, q, cache, options) as AttentionResult<D>;
  }

  decodeAsync<D extends TensorData>(q: Tensor<D>, cache: KVCache, options?: DecodeOptions): Promise<AttentionResult<D>> {
    const threaded = this.threaded;
    if (!threaded) return new Promise((resolve) => resolve(this.liveForAsync().decode(q, cache, options)));
    const release = holdInFlight(cache, q, outOption(options));
    return threaded
      .enqueue(async () => {
        const call = prepareDecode(this.cacheEngine, this.asyncWorkspace, q, cache, options);
        await threaded.runThreadedCached(call.plan);
        return call.finish() as AttentionResult<D>;
      })
      .finally(release);
  }

  createTensor(shape: readonly number[]): PinnedTensor {
    const dims = checkTensorShape(shape);
    let length = 1;
    for (const dim of dims) length *= dim;
    checkBytes('shape', 'a float32 tensor', 4 * length, `shape [${dims.join(', ')}]`); // src/limits.ts: every backend
    const engine = this.cacheEngine;
    return new PinnedTensorImpl(engine.createTensor(length), dims, engine);
  }

  get backend(): BackendName {
    return this.engine.name;
  }

  get memoryBytes(): number {
    return this.engine.memoryBytes?.() ?? 0;
  }

  attention<D extends TensorData>(q: Tensor<D>, k: Tensor<D>, v: Tensor<D>, options?: AttentionOptions): AttentionResult<D> {
    return runAttention(this.engine, this.workspace, q, k, v, options) as AttentionResult<D>;
  }

  /** Makes this instance's async calls run on `backend` (its `engine`). */
  useThreads(backend: ThreadedBackend): this {
    this.threaded = backend;
    return this;
  }

  get threads(): number {
    return this.threaded && !this.disposed ? this.threaded.threads : 1;
  }

  attentionAsync<D extends TensorData>(q: Tensor<D>, k: Tensor<D>, v: Tensor<D>, options?: AttentionOptions): Promise<AttentionResult<D>> {
    const threaded = this.threaded;
    if (!threaded) return new Promise((resolve) => resolve(this.liveForAsync().attention(q, k, v, options)));
    const release = holdInFlight(q, k, v, outOption(options));
    return threaded
      .enqueue(async () => {
        const call = prepareAttention(this.asyncWorkspace, q, k, v, options);
        await threaded.runThreaded(call.plan);
        return call.finish() as AttentionResult<D>;
      })
      .finally(release);
  }

  /** This instance, or the Error of the pool's (src/threads/pool.ts) once disposed. */
  private liveForAsync(): this {
    if (this.disposed) throw new Error('threads: expected a live instance, got a disposed one (dispose() was called)');
    return this;
  }

  dispose(): void {
    this.disposed = true;
    this.threaded?.dispose();
  }

  onnxAttention(inputs: readonly (OnnxTensor | null | undefined)[], attrs?: OnnxAttributes, options?: OnnxRunOptions): OnnxOutputs {
    return runOnnxAttention(this.engine, inputs, attrs, options);
  }
}

/**
 * Marks the caches and pinned tensors among `things` as used by an async call, from now until
 * it settles (src/cache/in-flight.ts): taken when the call is made, not when the queued call
 * starts, so what the caller may do meanwhile does not depend on what else is queued.
 * @returns the release of them all
 */
function holdInFlight(...things: unknown[]): () => void {
  const releases = things
    .filter((held): held is KVCacheImpl | PinnedTensorImpl => held instanceof KVCacheImpl || held instanceof PinnedTensorImpl)
    .map((held) => held.inFlight.hold());
  return () => releases.forEach((release) => release());
}

/** The own `out` option (inherited keys are ignored, as prepareAttention/prepareDecode ignore them). */
function outOption(options: unknown): unknown {
  return typeof options === 'object' && options !== null && Object.hasOwn(options, 'out') ? (options as { out?: unknown }).out : undefined;
}

type ThreadsModule = typeof import('./threads/index.js');

/**
 * Loads src/threads/ when an instance asks for threads. The specifier goes through a
 * parameter so that bundlers leave the import alone: the pool, the worker source and the
 * threads builds of the kernels (dist/threads/index.js, 25.4 KB gzipped on 2026-12-04)
 * stay out of the default bundle and its size budget (test/runtimes/size.test.ts), and
 * out of instances without threads. The
 * published package must ship src/threads/index.ts built as `threads/index.js` next to each
 * entry (scripts/build-dist.mjs); without it, threads fall back to one thread with a warning.
 * An application that bundles the library passes `threadsModule` (a literal `import()` of
 * `wasm-attention/threads` that its bundler follows) instead.
 */
function importThreads(specifier: string): Promise<ThreadsModule> {
  return import(/* @vite-ignore */ specifier) as Promise<ThreadsModule>;
}

/** Checks what `options.threadsModule()` resolved to: the module of `wasm-attention/threads`. */
function checkThreadsModule(value: unknown): ThreadsModule {
  const module = value as Partial<ThreadsModule> | null;
  if (typeof module !== 'object' || module === null || typeof module.startThreads !== 'function' || typeof module.autoThreadCount !== 'function') {
    throw typeError('options.threadsModule()', "a promise of the module of 'wasm-attention/threads' (startThreads, autoThreadCount)", value);
  }
  return module as ThreadsModule;
}

/** Upper bound of an explicit `threads` count. */
const THREADS_MAX = 256;

function checkCreateOptions(options: unknown): CreateAttentionOptions {
  const own = callOptions<CreateAttentionOptions>(options, ['backend', 'module', 'threads', 'threadsModule']);
  const { threads, threadsModule } = own;
  if (threadsModule !== undefined && typeof threadsModule !== 'function') {
    throw typeError('options.threadsModule', "a function returning import('wasm-attention/threads')", threadsModule);
  }
  if (threads !== undefined && threads !== 'auto') {
    if (typeof threads !== 'number') throw typeError('options.threads', `an integer in [1, ${THREADS_MAX}] or 'auto'`, threads);
    checkInteger('options.threads', threads, 1, THREADS_MAX);
  }
  return own;
}

/** Synchronous creation; see {@link createAttention}. `threads` other than 1 needs the async one. */
export function createAttentionSync(options?: CreateAttentionOptions): AttentionInstance {
  const { backend, module, threads } = checkCreateOptions(options);
  if (threads !== undefined && threads !== 1) {
    throw typeError('options.threads', '1 here (threads start asynchronously: use createAttention or init)', threads);
  }
  return new Instance(selectBackend(checkBackendChoice(backend), module));
}

/**
 * Creates an independent attention instance with its own backend and memory.
 *
 * @param options `backend`: `'auto'` (default: WASM SIMD where the runtime validates it,
 *   relaxed SIMD first, else JS), `'wasm-relaxed-simd'`, `'wasm-simd'` or `'js'`; the
 *   instance's `backend` property reports what runs. `module`: a precompiled kernel
 *   `WebAssembly.Module` (or its bytes), for runtimes that forbid compiling WebAssembly from
 *   embedded bytes (default: the embedded kernels). `threads`: threads for `attentionAsync`
 *   and `decodeAsync` (default 1; a count, or `'auto'`), see
 *   {@link CreateAttentionOptions.threads}; the promise resolves once the workers run.
 *   `threadsModule`: for a bundled application, `() => import('wasm-attention/threads')`,
 *   how to load the threads module (see {@link CreateAttentionOptions.threadsModule}).
 * @returns A promise of the instance (async so that runtimes which compile off-thread can).
 * @throws TypeError for an unknown backend name, a `module` of the wrong kind, or a
 *   `threads` that is neither a number nor `'auto'`, a `threadsModule` that is not a function
 *   or does not resolve to the threads module; RangeError for a count outside [1, 256].
 * @throws Error when an explicitly requested WASM backend cannot run here.
 * @example
 * const attn = await createAttention({ backend: 'js' });
 * const { output } = attn.attention(q, k, v, { causal: true });
 */
export async function createAttention(options?: CreateAttentionOptions): Promise<AttentionInstance> {
  const { backend, module, threads, threadsModule } = checkCreateOptions(options);
  const single = selectBackend(checkBackendChoice(backend), module);
  if (threads === undefined || threads === 1) return new Instance(single);
  let loaded: unknown;
  try {
    loaded = await (threadsModule ? threadsModule() : importThreads('./threads/index.js'));
  } catch (error) {
    const which = threadsModule ? 'options.threadsModule()' : "./threads/index.js next to this file; a bundled app passes threadsModule: () => import('wasm-attention/threads')";
    console.warn(`wasm-attention: threads: ${threads} requested, running on one thread: the threads module (${which}) could not be loaded (${String(error)}).`);
    return new Instance(single);
  }
  const { autoThreadCount, startThreads } = checkThreadsModule(loaded);
  const count = threads === 'auto' ? await autoThreadCount() : threads;
  const threaded = count > 1 ? await startThreads(single.name, count, module !== undefined) : null;
  return threaded ? new Instance(threaded).useThreads(threaded) : new Instance(single);
}

// The default instance's functions (re-exported by src/index.ts) are here, before init and
// defaultAttention, so that the entry's last minified line does not run them into its export
// clause: ~440 characters against the 400 of test/runtimes/size.test.ts (lineLimit breaks
// within expressions and between statements, never between these one-line functions).
/**
 * Scaled dot-product attention on the default instance (see `init`): for every batch item
 * and query head, `softmax(q·kᵀ·scale + mask)·v`, computed in f32.
 *
 * Shapes (layout `bhsd`, the default): q `[B, Hq, Lq, D]`, k `[B, Hkv, Lk, D]`,
 * v `[B, Hkv, Lk, Dv]` → output `[B, Hq, Lq, Dv]`. `bshd` swaps the head and sequence axes;
 * 3-D inputs are packed `[B, L, H·D]` with `numHeads`/`kvHeads`. `Hq % Hkv == 0`: query head
 * h reads key/value head `floor(h / (Hq / Hkv))` (GQA/MQA, without copying K/V).
 *
 * A query row with no key left to attend to (fully masked) yields zeros, never NaN.
 *
 * @param q Queries: Float32Array, or float16 bits (Uint16Array/Float16Array), or a
 *   PinnedTensor (`AttentionInstance.createTensor`: read in place by its instance, no copy).
 * @param k Keys, same dtype as q (or a PinnedTensor).
 * @param v Values, same dtype as q (or a PinnedTensor).
 * @param options `layout`, `numHeads`, `kvHeads`, `dtype`, `scale` (default 1/√D),
 *   `causal` (`true` = bottom-right aligned, or `'top-left'`), `mask` (boolean Uint8Array
 *   1 = attend, or additive Float32Array; broadcast to `[B, Hq, Lq, Lk]`), `keyLengths`,
 *   `softcap`, `returnWeights`, `out`; see {@link AttentionOptions}.
 * @returns `{ output }`, plus `weights` (post-softmax probabilities `[B, Hq, Lq, Lk]`) when
 *   `returnWeights`; both in the input dtype.
 * @throws TypeError for a wrong kind of argument (not a tensor, not a typed array, mixed
 *   dtypes, unknown option), RangeError for a wrong size or shape (rank, mismatched
 *   dimensions, `Hq % Hkv ≠ 0`, mask not broadcastable, data length ≠ product of shape,
 *   `keyLengths` out of range, more memory than WASM can address). After any error the
 *   next valid call works normally.
 * @example
 * const q = { data: new Float32Array(1 * 8 * 128 * 64), shape: [1, 8, 128, 64] };
 * const { output } = attention(q, k, v, { causal: true });
 */
export function attention<D extends TensorData>(q: Tensor<D>, k: Tensor<D>, v: Tensor<D>, options?: AttentionOptions): AttentionResult<D> {
  return defaultAttention().attention(q, k, v, options);
}

/**
 * {@link attention} on the default instance, split over its threads when it was configured
 * with `await init({ threads })` (see `AttentionInstance.attentionAsync`); otherwise the
 * same call, wrapped in a promise.
 * @param q queries, as {@link attention}
 * @param k keys, as {@link attention}
 * @param v values, as {@link attention}
 * @param options as {@link attention} ({@link AttentionOptions})
 * @returns a promise of {@link attention}'s result, bit-identical to it
 * @throws nothing synchronously: the promise rejects, with the TypeError / RangeError of
 *   {@link attention} for bad input, or an Error if a worker dies during the call
 * @example
 * await init({ threads: 'auto' });
 * const { output } = await attentionAsync(q, k, v, { causal: true });
 */
export function attentionAsync<D extends TensorData>(q: Tensor<D>, k: Tensor<D>, v: Tensor<D>, options?: AttentionOptions): Promise<AttentionResult<D>> {
  return defaultAttention().attentionAsync(q, k, v, options);
}

/**
 * The ONNX `Attention` operator (opset 23/24 semantics) on the default instance.
 *
 * @param inputs `[Q, K, V, attn_mask, past_key, past_value, nonpad_kv_seqlen]`, `null` where absent.
 * @param attrs `is_causal`, `scale`, `softcap`, `q_num_heads`, `kv_num_heads`,
 *   `qk_matmul_output_mode`, `softmax_precision`.
 * @param options `outputs` (1–4): how many outputs to produce; `qk_matmul_output` is
 *   produced when `attrs.qk_matmul_output_mode` is set or `outputs` is 4.
 * @returns `[Y, present_key, present_value, qk_matmul_output]` (`null` where not produced;
 *   the present K/V only when a past is given).
 * @throws TypeError / RangeError for bad inputs, naming the input.
 * @example
 * const Q = { data: new Float32Array(1 * 4 * 64), shape: [1, 4, 64] }; // [B, L, heads·head_size]
 * const [Y] = onnxAttention([Q, Q, Q], { q_num_heads: 2, kv_num_heads: 2, is_causal: 1 });
 */
export function onnxAttention(inputs: readonly (OnnxTensor | null | undefined)[], attrs?: OnnxAttributes, options?: OnnxRunOptions): OnnxOutputs {
  return defaultAttention().onnxAttention(inputs, attrs, options);
}

let defaultInstance: AttentionInstance | undefined;
let defaultKey: string | undefined;

function optionsKey(options?: CreateAttentionOptions): string {
  return `${options?.backend ?? 'auto'}|${options?.module === undefined ? '' : 'module'}|${options?.threads ?? 1}`;
}

/**
 * Configures the default instance used by {@link attention} and {@link onnxAttention}.
 * Idempotent: calling it again with the same options returns the same instance; other
 * options replace it.
 * @example
 * await init();                      // best backend for this runtime
 * await init({ backend: 'js' });     // force the pure-JS fallback
 * await init({ threads: 'auto' });   // attentionAsync() splits calls over every core
 * @param options as {@link createAttention}; an instance replaced by other options is disposed
 * @returns a promise of the default instance
 * @throws as {@link createAttention} (the promise rejects)
 */
export async function init(options?: CreateAttentionOptions): Promise<AttentionInstance> {
  options = checkCreateOptions(options); // own keys only, as createAttention reads them
  const key = optionsKey(options);
  if (!defaultInstance || key !== defaultKey || options.module !== undefined) {
    const previous = defaultInstance;
    defaultInstance = (options.threads ?? 1) === 1 ? createAttentionSync(options) : await createAttention(options);
    defaultKey = key;
    previous?.dispose(); // its workers, if it had any
  }
  return defaultInstance;
}

/** The default instance, created with `backend: 'auto'` on first use when `init()` was not awaited. */
export function defaultAttention(): AttentionInstance {
  if (!defaultInstance) {
    defaultInstance = createAttentionSync();
    defaultKey = optionsKey();
  }
  return defaultInstance;
}
