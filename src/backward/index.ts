/**
 * `wasm-attention/backward`: the backward pass of attention, for training (issue #13).
 * A separate entry with its own kernel builds (assembly/backward.ts, src/gen/backward-kernels.ts),
 * so the default entry neither carries nor compiles them.
 *
 * @example
 * import { createAttention } from 'wasm-attention';
 * import { withBackward } from 'wasm-attention/backward';
 * const attn = withBackward(await createAttention());
 * const { dq, dk, dv } = attn.attentionBackward({ q, k, v, dout }, { causal: true });
 */
import { typeError } from '../errors.js';
import type { AttentionInstance } from '../instance.js';
import type { Tensor } from '../types.js';
import { Workspace } from '../workspace.js';
import { backwardModule } from './modules.js';
import { jsBackward } from './js.js';
import type { BackwardBackend } from './plan.js';
import { prepareBackward, prepareLse, runPrepared } from './prepare.js';
import type { BackwardInputs, BackwardOptions, BackwardResult } from './types.js';
import { startBackwardThreads, type ThreadedBackward } from './threads.js';
import { createWasmBackward } from './wasm.js';

export type { BackwardInputs, BackwardOptions, BackwardResult } from './types.js';
// The multi-head attention layer lives in this training entry (issue #14): its backward is
// this entry's, and its GEMM is an export of this entry's kernel builds, so neither the
// default entry nor a second build carries it.
export { createMultiHeadAttention } from '../layer/mha.js';
export { torchMask } from '../layer/masks.js';
export { createGemm, type GemmEngine, type PackedMatrix } from '../layer/gemm.js';
export { packB, packedLength } from '../layer/pack.js';
export type { LayerForwardOptions, LayerForwardResult, LayerGradients, LayerWeights, MultiHeadAttention, MultiHeadAttentionOptions } from '../layer/types.js';
import { createMultiHeadAttention } from '../layer/mha.js';
import type { MultiHeadAttention, MultiHeadAttentionOptions } from '../layer/types.js';

interface Engine {
  readonly backend: BackwardBackend;
  readonly workspace: Workspace;
}

const engines = new WeakMap<AttentionInstance, Engine>();

function engineOf(instance: AttentionInstance): Engine {
  let engine = engines.get(instance);
  if (!engine) {
    const name = instance.backend;
    const backend = name === 'js' ? jsBackward : createWasmBackward(backwardModule(name));
    engine = { backend, workspace: new Workspace() };
    engines.set(instance, engine);
  }
  return engine;
}

/** The async side of an instance: its threaded backward (started on first use), queue and lifetime. */
interface AsyncState {
  threaded: Promise<ThreadedBackward | null> | null;
  /** Host arrays of async calls (run one at a time), apart from synchronous calls' own. */
  readonly workspace: Workspace;
  tail: Promise<unknown>;
  disposed: boolean;
}

const asyncStates = new WeakMap<AttentionInstance, AsyncState>();

/** The Error of an async call on a disposed instance: the forward's (src/instance.ts). */
const DISPOSED = 'threads: expected a live instance, got a disposed one (dispose() was called)';

/**
 * The async state of `instance`, made on first use. The instance's `dispose()` is wrapped
 * (an own property, as {@link withBackward} adds its methods) so that it also ends the
 * backward's workers; a call in flight then rejects (src/threads/pool.ts), never resolves
 * with part of its gradients.
 */
function asyncStateOf(instance: AttentionInstance): AsyncState {
  let state = asyncStates.get(instance);
  if (!state) {
    const created: AsyncState = { threaded: null, workspace: new Workspace(), tail: Promise.resolve(), disposed: false };
    const dispose = instance.dispose;
    instance.dispose = function (this: AttentionInstance) {
      created.disposed = true;
      void created.threaded?.then((threaded) => threaded?.dispose());
      return dispose.call(this);
    };
    asyncStates.set(instance, (state = created));
  }
  return state;
}

/** The threaded backward of `instance` (tests, benchmarks): null before its first async call on threads, or where threads cannot run. */
export function threadedBackwardOf(instance: AttentionInstance): Promise<ThreadedBackward | null> | null {
  return asyncStates.get(instance)?.threaded ?? null;
}

/**
 * Runs `task` in the instance's queue of async backward-entry calls (after the calls before
 * it, as {@link attentionBackwardAsync}'s), with the instance's threaded backward: started on
 * first use when the instance has threads on a WASM backend, else (or where threads cannot
 * run) null. The multi-head attention layer's async forward (src/layer/threads.ts) runs its
 * GEMMs on that pool and memory through this.
 * @returns the task's result; rejects with an Error when the instance is disposed first
 */
export function queueOnBackwardThreads<T>(instance: AttentionInstance, task: (threaded: ThreadedBackward | null) => Promise<T> | T): Promise<T> {
  const state = asyncStateOf(instance);
  if (state.disposed) return Promise.reject(new Error(DISPOSED));
  if (instance.threads > 1 && instance.backend !== 'js') state.threaded ??= startBackwardThreads(instance.backend, instance.threads);
  const result = state.tail.then(async () => {
    const threaded = state.threaded ? await state.threaded : null;
    if (state.disposed) throw new Error(DISPOSED);
    return task(threaded);
  });
  state.tail = result.catch(() => {});
  return result;
}

function checkInstance(instance: unknown): AttentionInstance {
  const candidate = instance as Partial<AttentionInstance> | null;
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.attention !== 'function' || typeof candidate.backend !== 'string') {
    throw typeError('instance', 'an attention instance (createAttention())', instance);
  }
  return candidate as AttentionInstance;
}

/**
 * The gradients of `attention(q, k, v, options)` with respect to q, k, v (and an additive
 * mask) given dL/doutput, on the backend of `instance` (its WASM ISA, or JS). FlashAttention-2's
 * backward: P is recomputed tile by tile from Q, K and the log-sum-exp, nothing of size
 * Lq × Lk is stored (but `dmask` itself).
 * @param instance the attention instance whose backend runs the call (and whose forward
 *   recomputes `output` when absent)
 * @param inputs `{ q, k, v, dout, output?, lse? }` ({@link BackwardInputs})
 * @param options the forward's options ({@link BackwardOptions})
 * @returns `{ dq, dk, dv }` float32 in the shapes and layouts of q, k, v, plus `dmask` for an
 *   additive mask; dK and dV of a KV head shared by several query heads (GQA) are summed over them
 * @throws TypeError / RangeError for bad inputs, as the forward
 * @example
 * const { dq, dk, dv } = attentionBackward(attn, { q, k, v, output, lse, dout }, { causal: true });
 */
export function attentionBackward(instance: AttentionInstance, inputs: BackwardInputs, options?: BackwardOptions): BackwardResult {
  const engine = engineOf(checkInstance(instance));
  return runPrepared(engine.backend, prepareBackward(instance, engine.workspace, inputs, options));
}

/**
 * {@link attentionBackward} split over the instance's threads (`createAttention({ threads })`):
 * the units (batch item, KV head) are dealt out to the threads, each writing only its
 * units' gradients, so the result is bit-identical to {@link attentionBackward}'s at every
 * thread count (src/backward/threads.ts). A call with one unit (MQA at batch 1) runs on
 * one thread. The first call starts the backward's own `threads − 1` workers and shared
 * memory; async calls of one instance run one at a time, in call order. On an instance
 * without threads it runs {@link attentionBackward} at once, in a promise.
 * @param instance as {@link attentionBackward}
 * @param inputs as {@link attentionBackward} (read when the call starts to run, after the queued calls before it)
 * @param options as {@link attentionBackward}
 * @returns a promise of the gradients, bit-identical to {@link attentionBackward}'s
 * @throws nothing synchronously: errors reject the promise (the same TypeError / RangeError);
 *   it rejects with an Error when the instance is disposed before or during the call, never
 *   resolving with part of the gradients
 * @example
 * const attn = withBackward(await createAttention({ threads: 2 }));
 * const grads = await attn.attentionBackwardAsync({ q, k, v, dout });
 */
export function attentionBackwardAsync(instance: AttentionInstance, inputs: BackwardInputs, options?: BackwardOptions): Promise<BackwardResult> {
  let state: AsyncState;
  try {
    state = asyncStateOf(checkInstance(instance));
  } catch (error) {
    return Promise.reject(error);
  }
  if (state.disposed) return Promise.reject(new Error(DISPOSED));
  if (instance.threads <= 1 || instance.backend === 'js') {
    return new Promise((resolve) => resolve(attentionBackward(instance, inputs, options)));
  }
  state.threaded ??= startBackwardThreads(instance.backend, instance.threads);
  const task = async (): Promise<BackwardResult> => {
    const threaded = await state.threaded;
    if (state.disposed) throw new Error(DISPOSED);
    if (!threaded) return attentionBackward(instance, inputs, options); // warned: one thread
    const call = prepareBackward(instance, state.workspace, inputs, options);
    await threaded.run(call.plan, call.needsLse);
    return call.finish();
  };
  const result = state.tail.then(task);
  state.tail = result.catch(() => {});
  return result;
}

/**
 * The natural log-sum-exp of each row's allowed scores of `attention(q, k, v, options)`,
 * what the backward takes as `lse` (until the forward returns it): one Q·Kᵀ pass on the
 * backend of `instance`, 2·B·Hq·Lq·Lk·D FLOPs, half a forward.
 * @param instance the attention instance whose backend runs the pass
 * @param q queries, as the forward's
 * @param k keys, as the forward's
 * @param v values (their shape is checked; not read), as the forward's
 * @param options the forward's options ({@link BackwardOptions})
 * @returns `{ data, shape: [B, Hq, Lq] }`, -Infinity for a row with no allowed key
 * @throws TypeError / RangeError as the forward
 * @example
 * const lse = attentionLse(attn, q, k, v, { causal: true });
 * const grads = attentionBackward(attn, { q, k, v, output, lse, dout }, { causal: true });
 */
export function attentionLse(instance: AttentionInstance, q: Tensor, k: Tensor, v: Tensor, options?: BackwardOptions): Tensor<Float32Array> {
  const engine = engineOf(checkInstance(instance));
  const plan = prepareLse(engine.workspace, q, k, v, options);
  engine.backend.lse(plan);
  return { data: plan.lse, shape: [plan.batch, plan.qHeads, plan.seqLenQ] };
}

/** The methods {@link withBackward} adds to an instance. */
export interface BackwardMethods {
  /** {@link attentionBackward} on this instance. */
  attentionBackward(inputs: BackwardInputs, options?: BackwardOptions): BackwardResult;
  /** {@link attentionBackwardAsync} on this instance. */
  attentionBackwardAsync(inputs: BackwardInputs, options?: BackwardOptions): Promise<BackwardResult>;
  /** {@link attentionLse} on this instance. */
  attentionLse(q: Tensor, k: Tensor, v: Tensor, options?: BackwardOptions): Tensor<Float32Array>;
  /** {@link createMultiHeadAttention} on this instance. */
  createMultiHeadAttention(options: MultiHeadAttentionOptions): MultiHeadAttention;
}

/**
 * Adds `attentionBackward`, `attentionBackwardAsync`, `attentionLse` and `createMultiHeadAttention` to an instance (the instance itself,
 * returned with the methods attached).
 * @param instance from `createAttention()`
 * @returns the same instance, with the backward methods
 * @throws TypeError when `instance` is not an attention instance
 * @example
 * const attn = withBackward(await createAttention());
 * const { dq, dk, dv } = attn.attentionBackward({ q, k, v, dout });
 */
export function withBackward<T extends AttentionInstance>(instance: T): T & BackwardMethods {
  asyncStateOf(checkInstance(instance)); // from now on, dispose() also ends the backward's workers
  return Object.assign(instance, {
    attentionBackward: (inputs: BackwardInputs, options?: BackwardOptions) => attentionBackward(instance, inputs, options),
    attentionBackwardAsync: (inputs: BackwardInputs, options?: BackwardOptions) => attentionBackwardAsync(instance, inputs, options),
    attentionLse: (q: Tensor, k: Tensor, v: Tensor, options?: BackwardOptions) => attentionLse(instance, q, k, v, options),
    createMultiHeadAttention: (options: MultiHeadAttentionOptions) => createMultiHeadAttention(instance, options),
  });
}
