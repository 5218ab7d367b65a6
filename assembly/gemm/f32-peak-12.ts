// f32-peak-12: the machine's 128-bit SIMD multiply-add peak, the ceiling the GEMM is measured
// against (issue #14: GEMM at ≥ 85% of it; bench/layer.ts prints both). 12 independent
// f32x4 chains acc_i = acc_i·m + c: with an FMA latency of 4–5 cycles and 2 FMA ports,
// ≥ 10 chains keep both ports busy; 12 accumulators + 2 constants fit x64's 16 xmm
// registers (V8 keeps one as scratch), so nothing spills. The same madd as the kernels
// (inline/madd.ts): fused relaxed_madd in the relaxed build, mul + add in the simd build.
// Unrolled 4× so the loop counter is 1 op per 48 multiply-adds.
import { madd } from '../inline/madd';

/** m = 0.999 and c = 0.001 in every lane, 16-byte aligned. */
const PEAK_CONSTANTS = memory.data<f32>([0.999, 0.999, 0.999, 0.999, 0.001, 0.001, 0.001, 0.001], 16);

/**
 * Runs `iterations` × 4 × 12 f32x4 multiply-adds: 384·iterations flops.
 * @param iterations loop trips (> 0)
 * @returns a sum of the accumulators (keeps the chains alive; ≈ 12·4·c/(1 − m))
 */
export function simdPeak(iterations: i32): f32 {
  // m and c loaded from a data segment, not f32x4.splat: binaryen folds a splat of a constant
  // into a v128.const, which V8 13+ (Node 24, 26) rebuilds before every use in the loop (three
  // instructions per operand, seen in --print-wasm-code): the "peak" read 13.3 GFLOP/s there
  // against 55 on Node 20 and 22 (Intel Xeon, 2026-12-06). Loaded once, they stay in registers.
  const m = v128.load(PEAK_CONSTANTS);
  const c = v128.load(PEAK_CONSTANTS, 16);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  let a8 = f32x4.splat(0), a9 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  for (let i = 0; i < iterations; i++) {
    for (let u = 0; u < 4; u++) {
      a0 = madd(a0, m, c); a1 = madd(a1, m, c); a2 = madd(a2, m, c); a3 = madd(a3, m, c);
      a4 = madd(a4, m, c); a5 = madd(a5, m, c); a6 = madd(a6, m, c); a7 = madd(a7, m, c);
      a8 = madd(a8, m, c); a9 = madd(a9, m, c); a10 = madd(a10, m, c); a11 = madd(a11, m, c);
    }
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)), f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11))));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}
