/**
 * The threads builds of the kernel (asconfig.json `threads`, `threads-relaxed`: the same
 * kernels as `simd`/`relaxed`, importing a shared memory), compiled once per process.
 * src/backends/select.ts decides the backend; a threaded instance runs the threads build of
 * that same backend, so `attn.backend` stays true.
 *
 * They live in their own generated module (src/gen/threads-kernels.ts), which only
 * dist/threads/index.js bundles: the default entry neither holds nor loads them.
 */
import { threadsBase64, threadsRelaxedBase64 } from '../gen/threads-kernels.js';
import type { BackendName } from '../plan.js';

const compiled = new Map<BackendName, WebAssembly.Module | null>();

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The threads build of backend `name`, or null where there is none or the runtime cannot compile it. */
export function threadsModule(name: BackendName): WebAssembly.Module | null {
  if (!compiled.has(name)) {
    const source = name === 'wasm-relaxed-simd' ? threadsRelaxedBase64 : name === 'wasm-simd' ? threadsBase64 : null;
    let module: WebAssembly.Module | null = null;
    try {
      if (typeof source === 'string') module = new WebAssembly.Module(decodeBase64(source));
    } catch {
      module = null; // no WebAssembly threads (shared memory) or SIMD in this runtime
    }
    compiled.set(name, module);
  }
  return compiled.get(name)!;
}
