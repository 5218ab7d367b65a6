/**
 * Positional encodings: rotary embeddings (RoPE, used inside attention through the
 * `rotary` option, or standalone), ONNX `RotaryEmbedding`, and sinusoidal encodings.
 */
export { rotaryEmbedding } from './rotary-embedding.js';
export { onnxRotaryEmbedding, type OnnxRotaryAttributes } from './onnx-rotary.js';
export { sinusoidalPositionalEncoding } from './sinusoidal.js';
export type { DecodeRotaryOptions, RotaryEmbeddingOptions, RotaryOptions, RotaryRotationOptions } from './types.js';
