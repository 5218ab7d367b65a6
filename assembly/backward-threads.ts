// The backward kernels' threads builds (asconfig.json `backward-threads-simd`,
// `backward-threads-relaxed`: shared imported memory, loaded by src/backward/threads.ts
// only for `attentionBackwardAsync` on an instance with threads). The same unit code as
// assembly/backward.ts; a thread runs the units u ≡ first (mod stride) on its own parameter
// block and scratch (the Call struct lives in the scratch, assembly/backward/layout.ts: the
// build has no static state a thread writes). Units own disjoint outputs
// (assembly/backward/unit.ts), so every thread count gives the same bits.
import { callOf } from './backward/layout';
import { backwardUnit } from './backward/unit';
import { lseUnit } from './backward/lse';
import { gemmPanels } from './gemm/f32-gemm-3x12';
export { heapBase } from './heap';
export { kernelIsa } from './isa';
export { backwardScratchBytes } from './backward/layout';

/**
 * dQ, dK, dV (and dbias) of units first, first + stride, … (unit = b·kvHeads + kvHead). The
 * outputs must be zero on entry. Interleaved, not contiguous: with key lengths, batch items
 * differ in work, and dealing units round-robin spreads them. Returns 0.
 */
export function backwardRange(params: usize, first: i32, stride: i32): i32 {
  const c = callOf(params);
  const units = c.batch * c.kvHeads;
  for (let unit = first; unit < units; unit += stride) backwardUnit(c, unit / c.kvHeads, unit % c.kvHeads);
  return 0;
}

/** The log-sum-exp of the rows of units first, first + stride, … into ROW_LSE_PTR. Returns 0. */
export function lseRange(params: usize, first: i32, stride: i32): i32 {
  const c = callOf(params);
  const units = c.batch * c.kvHeads;
  for (let unit = first; unit < units; unit += stride) lseUnit(c, unit / c.kvHeads, unit % c.kvHeads);
  return 0;
}

/** Bytes of one GEMM's record in a gemmRange block: aPtr, bPtr, biasPtr, cPtr, M, N, K (i32). */
const GEMM_RECORD_BYTES: usize = 28;

/**
 * The multi-head attention layer's projections split over threads (src/layer/threads.ts):
 * `params` holds a count, then that many GEMM records (GEMM_RECORD_BYTES each). Thread
 * `first` of `stride` computes the contiguous panel range [P·first/stride,
 * P·(first+1)/stride) of each GEMM's P = ceil(N/8) column panels: disjoint columns of C, its
 * own share of the packed weights (half of B per thread at 2: a smaller working set than a
 * split over rows, where each thread streams all of B), and the last, partial panel on
 * one thread only. Every entry is computed as by `gemm` (gemmPanels), so the result has
 * the bits of one thread's. Returns 0.
 */
export function gemmRange(params: usize, first: i32, stride: i32): i32 {
  const count = load<i32>(params);
  for (let g = 0; g < count; g++) {
    const r = params + 4 + <usize>g * GEMM_RECORD_BYTES;
    const N = load<i32>(r, 20);
    const panels = (N + 7) >> 3;
    const from = <i32>(<i64>panels * first / stride);
    const to = <i32>(<i64>panels * (first + 1) / stride);
    gemmPanels(load<u32>(r), load<u32>(r, 4), load<u32>(r, 8), load<u32>(r, 12), load<i32>(r, 16), N, load<i32>(r, 24), from, to);
  }
  return 0;
}
