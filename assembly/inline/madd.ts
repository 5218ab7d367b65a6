// The one multiply-add of every kernel, picked at compile time.
//
// `ASC_FEATURE_RELAXED_SIMD` is a compile-time constant in AssemblyScript (declared in
// std/assembly/index.d.ts); the untaken branch is never compiled, so the `simd` target
// (asconfig.json, no relaxed-simd) contains no relaxed opcode at all (checked in the .wat).
// relaxed_madd lowers to vfmadd on x64 with FMA: a 4x8 tile measured ≈40 GFLOP/s with it
// vs ≈32 with mul+add on this machine. Results may differ in the last bit between builds
// (fused vs two roundings); every consumer is written to tolerate either.

// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}
