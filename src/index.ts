/**
 * wasm-attention: transformer attention, `softmax(Q·Kᵀ·scale + mask)·V`, as one fused,
 * tiled WebAssembly SIMD kernel, with a pure-JS fallback of identical semantics.
 *
 * @example
 * import { init, attention } from 'wasm-attention';
 * await init();
 * const { output, weights } = attention(q, k, v, { causal: true, returnWeights: true });
 */
import { defaultAttention } from './instance.js';
import type { OnnxAttributes, OnnxOutputs, OnnxRunOptions, OnnxTensor } from './onnx/index.js';
import type { AttentionOptions, AttentionResult, Tensor, TensorData } from './types.js';

export { createAttention, init, type AttentionInstance } from './instance.js';
export { BACKEND_NAMES, isBackendAvailable } from './backends/select.js';
export { floatToHalf, halfToFloat, float32ArrayToHalf, halfArrayToFloat32 } from './float16.js';
export type { OnnxAttributes, OnnxOutputs, OnnxRunOptions, OnnxTensor, OnnxTensorData, OnnxDtype } from './onnx/index.js';
export type * from './types.js';
export type { AppendOptions, CacheDtype, DecodeOptions, KVCache, KVCacheOptions, PinnedTensor } from './cache/types.js';
// Standalone helpers live in subpaths, outside the default entry's size budget
// (test/runtimes/size.test.ts): `wasm-attention/positions` (rotaryEmbedding, onnxRotaryEmbedding,
// sinusoidalPositionalEncoding: 1.3 KB gzipped) and `wasm-attention/merge` (mergeAttention: 0.8 KB).
export type { DecodeRotaryOptions, RotaryOptions, RotaryRotationOptions, RotaryScaling } from './positions/types.js';

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
