/** Public types of the multi-head attention layer (`wasm-attention/backward`). */
import type { KVCache } from '../cache/types.js';
import type { RotaryRotationOptions } from '../positions/types.js';
import type { AttentionOptions, MaskTensor, Tensor } from '../types.js';

/**
 * The layer's parameters, float32, PyTorch's layout (`y = x·Wᵀ + b`, W `[out, in]`): either
 * `inProj` `[3E, E]` (rows 0..E−1 = Wq, then Wk, Wv; `torch.nn.MultiheadAttention.in_proj_weight`)
 * or separate `qProj` `[E, E]`, `kProj` and `vProj` `[kvHeads·E/H, E]` (needed for GQA).
 * Biases only when the layer has `bias: true`.
 */
export interface LayerWeights {
  readonly inProj?: Float32Array;
  readonly inProjBias?: Float32Array;
  readonly qProj?: Float32Array;
  readonly kProj?: Float32Array;
  readonly vProj?: Float32Array;
  readonly qBias?: Float32Array;
  readonly kBias?: Float32Array;
  readonly vBias?: Float32Array;
  readonly outProj: Float32Array;
  readonly outProjBias?: Float32Array;
}

/** Options of `createMultiHeadAttention`. */
export interface MultiHeadAttentionOptions {
  /** E, the model width of x and of the output. */
  readonly embedDim: number;
  /** H, query heads; E/H is the head width. */
  readonly numHeads: number;
  /** Key/value heads (GQA), dividing numHeads. Default numHeads. */
  readonly kvHeads?: number;
  /** Whether the projections have biases. Default true (as PyTorch). */
  readonly bias?: boolean;
  /** Causal masking of the attention, as {@link AttentionOptions.causal}. Default false. */
  readonly causal?: AttentionOptions['causal'];
  /** Sliding window of the attention, as {@link AttentionOptions.window} (forward, backward, step). Default none. */
  readonly window?: AttentionOptions['window'];
  /** ALiBi, as {@link AttentionOptions.alibi} (forward, backward, step). Default none. */
  readonly alibi?: AttentionOptions['alibi'];
  /**
   * RoPE on the projected q and k, as attention()'s `rotary` at its default positions (keys
   * at j, queries bottom-right at i + S − L, or keyLengths[b] − L; i with causal 'top-left'):
   * `{ base }` or `{ cos, sin }`, `dim`, `interleaved`, `scaling`. In `step`, the layer's
   * `createCache` rotates the keys on append and the queries at their cache positions.
   * Forward, backward and step. Default none.
   */
  readonly rotary?: RotaryRotationOptions;
  /** The parameters, copied and packed into the layer's memory once. */
  readonly weights: LayerWeights;
}

/** Options of `forward`. */
export interface LayerForwardOptions {
  /** Keys source `[B, S, E]` (cross-attention). Default: x (self-attention). */
  readonly key?: Tensor<Float32Array>;
  /** Values source `[B, S, E]`. Default: `key`. */
  readonly value?: Tensor<Float32Array>;
  /**
   * The library's mask convention (1 = MAY attend; additive float: added to the scores),
   * broadcast to `[B, H, L, S]`. The opposite of PyTorch's boolean masks, where 1 = ignore:
   * `torchMask` converts `key_padding_mask` / `attn_mask`.
   */
  readonly mask?: MaskTensor;
  /** Valid keys per batch item. */
  readonly keyLengths?: ArrayLike<number>;
  /** Also return the attention probabilities. Default false. */
  readonly needWeights?: boolean;
  /** Average the probabilities over heads (`[B, L, S]`) rather than per head (`[B, H, L, S]`). Default true. */
  readonly averageWeights?: boolean;
  /** Keep the activations `backward` needs (until the next forward). Default false: inference keeps nothing. */
  readonly train?: boolean;
}

export interface LayerForwardResult {
  /** `[B, L, E]`. */
  readonly output: Tensor<Float32Array>;
  /** Present when `needWeights`. */
  readonly weights?: Tensor<Float32Array>;
}

/** Gradients of the last `forward(…, { train: true })` for an upstream gradient `dout`. */
export interface LayerGradients {
  /** dL/dx `[B, L, E]` (self-attention: the sum over the query, key and value paths). */
  readonly dx: Tensor<Float32Array>;
  /** dL/dkey, dL/dvalue `[B, S, E]` for cross-attention (absent for self-attention). */
  readonly dKey?: Tensor<Float32Array>;
  readonly dValue?: Tensor<Float32Array>;
  /** One gradient per parameter, under the keys (and in the layout) the weights were given in. */
  readonly weights: LayerWeights;
}

/** The layer. */
export interface MultiHeadAttention {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  forward(x: Tensor<Float32Array>, options?: LayerForwardOptions): LayerForwardResult;
  /**
   * {@link forward} with its four projection GEMMs split over the instance's threads
   * (`createAttention({ threads })`) and its attention on `attentionAsync`: bit-identical to
   * `forward`. The GEMMs run on the backward entry's pool and shared memory, into which the
   * weights are packed once (on the first call; again after `setWeights`); each GEMM's column
   * panels are cut into one range per thread (src/layer/threads.ts). Calls queue with the
   * instance's `attentionBackwardAsync` calls; inputs are read when the call runs: leave them
   * unchanged until the promise settles. Without threads (or on `js`) it runs `forward`'s code.
   * @returns a promise of `forward`'s result; errors reject it (the same TypeError / RangeError)
   * @example
   * const attn = withBackward(await createAttention({ threads: 2 }));
   * const mha = attn.createMultiHeadAttention({ embedDim: 768, numHeads: 12, weights });
   * const { output } = await mha.forwardAsync(x);
   */
  forwardAsync(x: Tensor<Float32Array>, options?: LayerForwardOptions): Promise<LayerForwardResult>;
  /** Threads the last {@link forwardAsync}'s GEMMs ran on (0 before one ran on threads). */
  readonly lastGemmThreads: number;
  backward(dout: Tensor<Float32Array>): LayerGradients;
  /** A KV cache for {@link step} on the layer's attention instance. */
  createCache(batch: number, maxSeqLen: number): KVCache;
  /** One decode step: x `[B, T, E]` (T ≥ 1 new tokens), projected, appended to `cache`, attended over it, projected out. */
  step(x: Tensor<Float32Array>, cache: KVCache): Tensor<Float32Array>;
  /** Replaces the parameters (same keys and sizes as at creation), repacking them in place. */
  setWeights(weights: LayerWeights): void;
  dispose(): void;
}
