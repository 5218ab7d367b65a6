/**
 * The backward kernel builds, compiled once per process on first use (the default entry's
 * src/backends/select.ts does the same for its builds; the feature check is the instance's:
 * an instance on a WASM backend proves the runtime runs that ISA).
 */
import { backwardRelaxedBase64, backwardSimdBase64, backwardThreadsRelaxedBase64, backwardThreadsSimdBase64 } from '../gen/backward-kernels.js';

const compiled = new Map<string, WebAssembly.Module>();

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The compiled backward build of a WASM backend. */
export function backwardModule(name: 'wasm-relaxed-simd' | 'wasm-simd'): WebAssembly.Module {
  let module = compiled.get(name);
  if (!module) {
    module = new WebAssembly.Module(decodeBase64(name === 'wasm-relaxed-simd' ? backwardRelaxedBase64 : backwardSimdBase64));
    compiled.set(name, module);
  }
  return module;
}

const compiledThreads = new Map<string, WebAssembly.Module | null>();

/**
 * The compiled threads build (shared imported memory, assembly/backward-threads.ts) of a
 * WASM backend, or null where the runtime cannot compile it (no WebAssembly threads).
 */
export function backwardThreadsModule(name: 'wasm-relaxed-simd' | 'wasm-simd'): WebAssembly.Module | null {
  if (!compiledThreads.has(name)) {
    let module: WebAssembly.Module | null = null;
    try {
      module = new WebAssembly.Module(decodeBase64(name === 'wasm-relaxed-simd' ? backwardThreadsRelaxedBase64 : backwardThreadsSimdBase64));
    } catch {
      module = null;
    }
    compiledThreads.set(name, module);
  }
  return compiledThreads.get(name)!;
}
