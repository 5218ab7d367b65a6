// Which instruction set this build uses, so a host handed a precompiled module (edge
// runtimes) can report the backend truthfully: 1 = relaxed SIMD (FMA), 0 = SIMD.
export function kernelIsa(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}
