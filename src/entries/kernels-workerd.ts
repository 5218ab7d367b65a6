/**
 * The kernel builds of `dist/workerd.js`, in place of src/gen/kernels.ts (swapped by
 * scripts/build-dist.mjs; the export names are src/gen/kernels.ts's, so select.ts needs no
 * second code path). Cloudflare Workers refuse to compile WebAssembly from bytes ("Wasm
 * code generation disallowed by embedder"): wrangler, and workerd's `CompiledWasm` module
 * type, hand a `.wasm` import over as a `WebAssembly.Module` compiled at deploy time. The
 * paths are relative to `dist/workerd.js`, next to which the build copies both files.
 */
import relaxed from './attention-relaxed.wasm';
import simd from './attention-simd.wasm';

/** The relaxed-SIMD build, compiled by the runtime. */
export const relaxedKernel: WebAssembly.Module = relaxed;
/** The SIMD build, compiled by the runtime. */
export const simdKernel: WebAssembly.Module = simd;
