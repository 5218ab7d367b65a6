/**
 * Conformance entry of Vercel's edge-runtime, bundled with the `edge-light` condition as
 * one script. Code generation from bytes is disabled in its VM: the package's
 * `.wasm?module` imports read the Modules the host compiled and put in
 * `globalThis.wasmModules` (scripts/runtimes/edge-runtime-host.mjs), and the SIMD build is
 * also passed in explicitly as `createAttention({ module })`.
 * Sets `globalThis.conformanceReport` to a promise of the report.
 */
import { runConformance, type AttentionLibrary } from '../conformance.js';
import { describeRuntime } from '../runtime-info.js';

export function main(lib: AttentionLibrary): void {
  const g = globalThis as { wasmModules?: Record<string, WebAssembly.Module>; conformanceReport?: Promise<unknown> };
  g.conformanceReport = (async () => {
    try {
      const modules = { 'wasm-simd': g.wasmModules!['attention-simd.wasm']! };
      return { runtime: describeRuntime(), ...(await runConformance(lib, { modules })) };
    } catch (error) {
      return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
  })();
}
