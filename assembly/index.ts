// The kernel module's exports (src/backends/wasm/abi.ts, KernelExports). Re-exports only;
// `memory` is exported by default. Built twice from this source (asconfig.json targets):
// `simd` (f32x4 mul+add) and `relaxed` (f32x4.relaxed_madd), see inline/madd.ts.
export { heapBase } from './heap';
export { scratchBytes } from './scratch';
export { attention } from './attention';
export { vexp } from './vexp';
export { kernelIsa } from './isa';
