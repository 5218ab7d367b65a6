/**
 * `wasm-attention/int8`: the kernel builds whose decode over an int8 KV cache runs on
 * integer dot products (assembly/decode/i8-qk-dot-1x4.ts, i8-pv-dot-2x16.ts; asconfig.json
 * `int8-simd`, `int8-relaxed`). Every other kernel is the default build's. They live here,
 * outside the default entry's size budget (2.1 KB more code per build): the default builds
 * decode an int8 cache too, through an f32 tile, 2–3× slower per step (README "int8 KV cache").
 * They also quantise int8 rows at append in the kernel (3.1× faster than JS for 512 rows;
 * src/backends/wasm/int8-append.ts), the glue set on the modules returned here. The thread
 * pool's builds (`wasm-attention/threads`) have the integer kernels and the quantiser already.
 *
 * @example
 *   import { createAttention } from 'wasm-attention';
 *   import { int8Kernel } from 'wasm-attention/int8';
 *   const attn = await createAttention({ module: int8Kernel() });
 *   const cache = attn.createKVCache({ batch: 1, kvHeads: 8, headDim: 128, maxSeqLen: 8192, dtype: 'int8' });
 */
import { int8RelaxedBase64, int8SimdBase64 } from '../gen/int8-kernels.js';
import { typeError } from '../errors.js';
import { int8AppendCacheEngine } from '../backends/wasm/int8-append.js';

const compiled = new Map<string, WebAssembly.Module | null>();

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The build of `name` compiled once per process, or null where the runtime cannot compile it. */
function compiledBuild(name: 'wasm-relaxed-simd' | 'wasm-simd'): WebAssembly.Module | null {
  if (!compiled.has(name)) {
    let module: WebAssembly.Module | null = null;
    try {
      module = new WebAssembly.Module(decodeBase64(name === 'wasm-relaxed-simd' ? int8RelaxedBase64 : int8SimdBase64));
      // The default entry builds this module's cache engine with it (backend.ts CacheEngineHook):
      // int8 rows quantised at append in the kernel, the glue kept out of the default entry.
      Object.defineProperty(module, 'cacheEngine', { value: int8AppendCacheEngine });
    } catch {
      module = null; // no WebAssembly, SIMD or relaxed SIMD here
    }
    compiled.set(name, module);
  }
  return compiled.get(name)!;
}

/**
 * The int8 kernel build of a WASM backend, compiled once per process, for
 * `createAttention({ module })`.
 * @param backend `'wasm-relaxed-simd'`, `'wasm-simd'`, or `'auto'` (default: relaxed SIMD
 *   where the runtime compiles it, else SIMD)
 * @returns the compiled module
 * @throws TypeError for another backend name; Error where the runtime cannot compile the build
 */
export function int8Kernel(backend: 'auto' | 'wasm-relaxed-simd' | 'wasm-simd' = 'auto'): WebAssembly.Module {
  if (backend !== 'auto' && backend !== 'wasm-relaxed-simd' && backend !== 'wasm-simd') {
    throw typeError('backend', "'auto' | 'wasm-relaxed-simd' | 'wasm-simd'", backend);
  }
  const module = backend === 'auto' ? compiledBuild('wasm-relaxed-simd') ?? compiledBuild('wasm-simd') : compiledBuild(backend);
  if (!module) throw new Error(`int8Kernel: expected a runtime that compiles the '${backend}' int8 build, got a refusal (WebAssembly SIMD missing?)`);
  return module;
}
