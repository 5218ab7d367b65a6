/** Public types of the backward pass (`wasm-attention/backward`). */
import type { AttentionOptions, Tensor, TensorData } from '../types.js';

/**
 * The tensors of one backward call. `q`, `k`, `v` and `options` are those of the forward
 * call; `dout` (dL/doutput) has the output's shape, layout and dtype.
 */
export interface BackwardInputs<D extends TensorData = TensorData> {
  readonly q: Tensor<D>;
  readonly k: Tensor<D>;
  readonly v: Tensor<D>;
  readonly dout: Tensor<D>;
  /** The forward's output; recomputed by a forward call when absent (4·B·Hq·Lq·Lk·D FLOPs more). */
  readonly output?: Tensor<D>;
  /**
   * The forward's natural log-sum-exp of each row's allowed scores, `[B, Hq, Lq]` float32
   * (a tensor or a bare Float32Array), -Infinity for a row with no allowed key. Recomputed
   * when absent: one more Q·Kᵀ pass, 2·B·Hq·Lq·Lk·D FLOPs (a fifth of the backward's).
   */
  readonly lse?: Tensor<Float32Array> | Float32Array;
}

/** The options of the backward: the forward's, except `returnWeights` and `out` (`returnLse` is ignored; with `rotary`, dq and dk are the gradients of the unrotated q and k: the inverse rotation of those of the rotated ones). */
export type BackwardOptions = Omit<AttentionOptions, 'returnWeights' | 'out'>;

/**
 * The gradients, float32 whatever the inputs' dtype (float16 inputs are computed in
 * float32 and the gradients returned in float32: a training loop keeps them in float32),
 * each in the shape and layout of its input.
 */
export interface BackwardResult {
  readonly dq: Tensor<Float32Array>;
  readonly dk: Tensor<Float32Array>;
  readonly dv: Tensor<Float32Array>;
  /** dL/dmask in the mask's own shape (summed over the axes it broadcasts along); only for an additive mask. */
  readonly dmask?: Tensor<Float32Array>;
}
