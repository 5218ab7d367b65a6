// The int8 builds' exports (asconfig.json `int8-simd`, `int8-relaxed`; src/int8/,
// `wasm-attention/int8`): the default build's, plus int8 quantisation at append
// (cache/f32-i8-quantize-4.ts), which the default builds leave to JS for the size budget.
export * from './index';
export { quantizeI8Rows } from './cache/f32-i8-quantize-4';
