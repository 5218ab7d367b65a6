/**
 * Conformance entry of Node, Deno and Bun. The bundle (scripts/runtimes/bundle.mjs) keeps
 * `wasm-attention` a bare import and passes it to `main`, so each runtime resolves the
 * installed package with its own `exports` condition (node, deno, bun). The SIMD kernel is
 * also read from the package's `wasm-attention/attention-simd.wasm` export, compiled here
 * and passed in as `createAttention({ module })`.
 * Prints one `REPORT {json}` line; sets exit code 1 when a case failed.
 */
import { runConformance, type AttentionLibrary } from '../conformance.js';
import { describeRuntime } from '../runtime-info.js';

async function precompiledSimdKernel(): Promise<WebAssembly.Module> {
  const { readFileSync } = await import('node:fs'); // Node, Deno and Bun all have it
  return new WebAssembly.Module(readFileSync(new URL(import.meta.resolve('wasm-attention/attention-simd.wasm'))));
}

export async function main(lib: AttentionLibrary): Promise<void> {
  const report = await runConformance(lib, { modules: { 'wasm-simd': await precompiledSimdKernel() } });
  console.log(`REPORT ${JSON.stringify({ runtime: describeRuntime(), ...report })}`);
  const process = (globalThis as { process?: { exitCode?: number } }).process;
  if (report.failed > 0 && process) process.exitCode = 1;
}
