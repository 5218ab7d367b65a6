// The default kernel build's exports: what the default entry (src/backends/wasm/,
// src/backends/wasm/cache-engine.ts) calls and nothing else (src/backends/wasm/abi.ts,
// KernelExports and DecodeExports). Re-exports only; `memory` is exported by default.
// Built twice from this source (asconfig.json targets): `simd` (f32x4 mul+add) and
// `relaxed` (f32x4.relaxed_madd), see inline/madd.ts. The thread-pool exports live in
// threads.ts and the test/bench hooks in testing.ts, each in builds of their own: an
// export keeps its function (and what it alone calls) in the binary, and these builds
// are inlined in the default entry (measured 2026-12-04: the six exports below alone
// make each build 15.7 KB instead of 22.5 KB, −7.5 KB of the entry gzipped).
export { heapBase } from './heap';
export { scratchBytes } from './scratch';
export { attention } from './attention';
export { kernelIsa } from './isa';
// KV caches and decode (assembly/decode/, assembly/cache/).
export { decode } from './decode/decode';
export { decodeScratchBytes } from './decode/scratch';
export { rotary } from './rotary/f32-rope-f64x2';
