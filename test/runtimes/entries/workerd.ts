/**
 * Conformance entry of Cloudflare workerd (run by miniflare), bundled with the `workerd`
 * condition as wrangler does, so the package's `.wasm` imports arrive as `CompiledWasm`
 * modules. The worker also imports the SIMD kernel itself and passes it in as
 * `createAttention({ module })`. It answers every request with the report as JSON.
 */
import simd from './attention-simd.wasm';
import { runConformance, type AttentionLibrary } from '../conformance.js';
import { describeRuntime } from '../runtime-info.js';

export function main(lib: AttentionLibrary): { fetch(): Promise<Response> } {
  return {
    async fetch() {
      try {
        return Response.json({ runtime: describeRuntime(), ...(await runConformance(lib, { modules: { 'wasm-simd': simd } })) });
      } catch (error) {
        return Response.json({ error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      }
    },
  };
}
