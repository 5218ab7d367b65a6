// The kernel module's exports (src/backends/wasm/abi.ts, KernelExports). Re-exports only;
// `memory` is exported by default. Built twice from this source (asconfig.json targets):
// `simd` (f32x4 mul+add) and `relaxed` (f32x4.relaxed_madd), see inline/madd.ts.
export { heapBase } from './heap';
export { scratchBytes } from './scratch';
export { attention } from './attention';
export { vexp, vexp2 } from './vexp';
export { kernelIsa } from './isa';
// KV caches and decode (assembly/decode/, assembly/cache/).
export { decode } from './decode/decode';
export { decodeScratchBytes } from './decode/scratch';
export { readSum } from './cache/read-bound';
// Threads (src/threads/): one thread's share of a plan.
export { attentionRange } from './attention';
export { decodeRange } from './threads/decode-range';
export { decodeMerge } from './decode/merge';
export { decodePartialsBytes } from './decode/partials';
export { gemm } from './gemm/f32-gemm-4x8'; // plain GEMM, the fusion-overhead reference (bench/gemm-case.ts)
