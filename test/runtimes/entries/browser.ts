/**
 * Conformance entry of the Chromium pages, bundled with the `browser` condition. Where the
 * page has WebAssembly, the SIMD kernel is also fetched (`attention-simd.wasm`, copied next
 * to the page from the package), compiled and passed in as `createAttention({ module })`.
 * Sets `window.conformanceReport` (or `{ error }`) and shows it on the page.
 */
import { runConformance, type AttentionLibrary } from '../conformance.js';
import { describeRuntime } from '../runtime-info.js';

export async function main(lib: AttentionLibrary): Promise<void> {
  const w = window as unknown as { conformanceReport?: unknown };
  try {
    const modules = typeof WebAssembly === 'object' ? { 'wasm-simd': await WebAssembly.compileStreaming(fetch('attention-simd.wasm')) } : {};
    w.conformanceReport = { runtime: describeRuntime(), ...(await runConformance(lib, { modules })) };
  } catch (error) {
    w.conformanceReport = { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
  document.body.textContent = JSON.stringify(w.conformanceReport, null, 2);
}
