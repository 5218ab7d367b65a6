// The backward kernel build's exports (asconfig.json targets `backward-simd` and
// `backward-relaxed`): what src/backward/ and src/layer/ call and nothing else. A build of its own, so
// the default entry neither carries nor compiles it (src/gen/backward-kernels.ts is loaded
// by the `wasm-attention/backward` entry only). Re-exports and the unit loops only.
import { callOf } from './backward/layout';
import { backwardUnit } from './backward/unit';
import { lseUnit } from './backward/lse';
export { heapBase } from './heap';
export { kernelIsa } from './isa';
export { backwardScratchBytes } from './backward/layout';
// The layer's projections and weight gradients (src/layer/gemm.ts): the library's GEMM on
// packed weights (+ bias), 3x12 tiles in the relaxed build and 4x8 in the simd build; fewer rows
// than a tile (a decode step's GEMV) take its 1x32/1x8 tiles.
export { gemm, gemmPanels, gemmPanelsTransA } from './gemm/f32-gemm-3x12';
// The default build's forward exports (assembly/index.ts), so the layer runs its attention
// and decode on the instance whose memory holds its GEMMs' outputs: Q, K, V are read and
// the attention output written in place, never copied between two memories (src/layer/kernel.ts).
export { scratchBytes } from './scratch';
export { attention } from './attention';
export { decode } from './decode/decode';
export { decodeScratchBytes } from './decode/scratch';
export { rotary } from './rotary/f32-rope-f64x2';

/**
 * dQ, dK, dV (and dbias) of units [first, end), unit = b·kvHeads + kvHead. The outputs must
 * be zero on entry. Returns 0.
 */
export function attentionBackward(params: usize, first: i32, end: i32): i32 {
  const c = callOf(params);
  for (let unit = first; unit < end; unit++) backwardUnit(c, unit / c.kvHeads, unit % c.kvHeads);
  return 0;
}

/** The log-sum-exp of the rows of units [first, end) into LSE_PTR. Returns 0. */
export function attentionLse(params: usize, first: i32, end: i32): i32 {
  const c = callOf(params);
  for (let unit = first; unit < end; unit++) lseUnit(c, unit / c.kvHeads, unit % c.kvHeads);
  return 0;
}
