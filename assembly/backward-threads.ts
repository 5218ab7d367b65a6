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
