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
 * {@link attentionBackward} as a promise.
 * @param instance as {@link attentionBackward}
 * @param inputs as {@link attentionBackward}
 * @param options as {@link attentionBackward}
 * @returns a promise of the gradients, bit-identical to {@link attentionBackward}'s
 * @throws nothing synchronously: errors reject the promise
 * @example
 * const grads = await attentionBackwardAsync(attn, { q, k, v, dout });
 */
export function attentionBackwardAsync(instance: AttentionInstance, inputs: BackwardInputs, options?: BackwardOptions): Promise<BackwardResult> {
  return new Promise((resolve) => resolve(attentionBackward(instance, inputs, options)));
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
  checkInstance(instance);
  return Object.assign(instance, {
    attentionBackward: (inputs: BackwardInputs, options?: BackwardOptions) => attentionBackward(instance, inputs, options),
    attentionBackwardAsync: (inputs: BackwardInputs, options?: BackwardOptions) => attentionBackwardAsync(instance, inputs, options),
    attentionLse: (q: Tensor, k: Tensor, v: Tensor, options?: BackwardOptions) => attentionLse(instance, q, k, v, options),
    createMultiHeadAttention: (options: MultiHeadAttentionOptions) => createMultiHeadAttention(instance, options),
  });
}
