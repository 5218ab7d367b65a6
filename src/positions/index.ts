/**
 * Positional encodings: rotary embeddings (RoPE, used inside attention through the
 * `rotary` option, or standalone), ONNX `RotaryEmbedding`, and sinusoidal encodings.
 */
export { rotaryEmbedding } from './rotary-embedding.js';
export { onnxRotaryEmbedding, type OnnxRotaryAttributes } from './onnx-rotary.js';
export { sinusoidalPositionalEncoding, type PositionalEncoding } from './sinusoidal.js';
export type { DecodeRotaryOptions, RotaryEmbeddingOptions, RotaryOptions, RotaryRotationOptions, RotaryScaling } from './types.js';
