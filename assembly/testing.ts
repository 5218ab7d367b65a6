// The testing builds' exports (asconfig.json `testing-simd`, `testing-relaxed`): every
// export of the threads builds, in an unshared memory, plus hooks that only tests and
// benchmarks call. Used by test/kernel/, test/gemm.test.ts and bench/; never in dist/.
export * from './threads';
export { vexp, vexp2 } from './vexp'; // the vectorized exp and 2^x alone (test/kernel/vexp.test.ts)
export { readSum } from './cache/read-bound'; // memory read bound (bench/decode-cases.ts)
export { gemm, gemmPanels, gemmPanelsTransA } from './gemm/f32-gemm-3x12'; // plain GEMM, the fusion-overhead reference (bench/gemm-case.ts)
export { simdPeak } from './gemm/f32-peak-12'; // the 128-bit SIMD multiply-add peak (bench/layer.ts)
