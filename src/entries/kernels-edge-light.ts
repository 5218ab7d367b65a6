/**
 * The kernel builds of `dist/edge-light.js` (Vercel Edge Functions, Next.js `runtime:
 * 'edge'`), in place of src/gen/kernels.ts (swapped by scripts/build-dist.mjs). Vercel's
 * edge runtime forbids compiling WebAssembly from bytes; its bundlers turn a
 * `.wasm?module` import into a precompiled `WebAssembly.Module`. The paths are relative to
 * `dist/edge-light.js`, next to which the build copies both files.
 */
import relaxed from './attention-relaxed.wasm?module';
import simd from './attention-simd.wasm?module';

/** The relaxed-SIMD build, compiled by the runtime. */
export const relaxedKernel: WebAssembly.Module = relaxed;
/** The SIMD build, compiled by the runtime. */
export const simdKernel: WebAssembly.Module = simd;
