/**
 * wasm-attention: transformer attention, `softmax(Q·Kᵀ·scale + mask)·V`, as one fused,
 * tiled WebAssembly SIMD kernel, with a pure-JS fallback of identical semantics.
 *
 * @example
 * import { init, attention } from 'wasm-attention';
 * await init();
 * const { output, weights } = attention(q, k, v, { causal: true, returnWeights: true });
 */
// attention, attentionAsync and onnxAttention live next to the default instance they call.
export { attention, attentionAsync, createAttention, init, onnxAttention, type AttentionInstance } from './instance.js';
export { BACKEND_NAMES, isBackendAvailable } from './backends/select.js';
export { floatToHalf, halfToFloat, float32ArrayToHalf, halfArrayToFloat32 } from './float16.js';
export type { OnnxAttributes, OnnxOutputs, OnnxRunOptions, OnnxTensor, OnnxTensorData, OnnxDtype } from './onnx/index.js';
export type * from './types.js';
export type { AppendOptions, CacheDtype, DecodeOptions, KVCache, KVCacheOptions, PinnedTensor } from './cache/types.js';
// Standalone helpers live in subpaths, outside the default entry's size budget
// (test/runtimes/size.test.ts): `wasm-attention/positions` (rotaryEmbedding, onnxRotaryEmbedding,
// sinusoidalPositionalEncoding: 1.3 KB gzipped) and `wasm-attention/merge` (mergeAttention: 0.8 KB).
export type { DecodeRotaryOptions, RotaryOptions, RotaryRotationOptions, RotaryScaling } from './positions/types.js';
