/**
 * Start-up work (issue #15), counted rather than timed (wall time on shared cores is no test;
 * `npm run startup` and the bench measure it): importing the library compiles nothing, the
 * first call of the default instance compiles exactly the one build `auto` chose, and the
 * kernel's hex text (src/gen/kernels.ts) goes through the runtime's native decoder
 * (`Uint8Array.fromHex` or `Buffer`), not a JavaScript loop (in Node 20, `atob` and a loop
 * over the base64 took 5.7 ms of the 20 ms budget, measured in scripts/runtimes/startup.mjs's
 * probe). Each test imports a fresh copy of the library (`vi.resetModules`), so nothing
 * compiled by another test is reused.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { simdKernel } from '../src/gen/kernels.js';
import { buildCase, expectResult, type CaseSpec } from './helpers.js';

const CASE: CaseSpec = { batch: 1, qHeads: 2, seqLenQ: 9, seqLenK: 13, headDim: 8, causal: true, seed: 15 };

/** Counts `new WebAssembly.Module(...)` and `WebAssembly.compile(...)` until restored. */
function countCompiles(): { count: () => number; restore: () => void } {
  const original = WebAssembly.Module;
  const originalCompile = WebAssembly.compile;
  let count = 0;
  WebAssembly.Module = new Proxy(original, {
    construct(target, args) {
      count++;
      return Reflect.construct(target, args) as object;
    },
  });
  WebAssembly.compile = (bytes) => {
    count++;
    return originalCompile(bytes);
  };
  return {
    count: () => count,
    restore: () => {
      WebAssembly.Module = original;
      WebAssembly.compile = originalCompile;
    },
  };
}

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  vi.resetModules();
});

async function freshLibrary(): Promise<typeof import('../src/index.js')> {
  vi.resetModules();
  return import('../src/index.js');
}

describe('startup', () => {
  it('import_compiles_and_validates_nothing', async () => {
    const compiles = countCompiles();
    restore = compiles.restore;
    const validate = vi.spyOn(WebAssembly, 'validate');
    await freshLibrary();
    expect(compiles.count()).toBe(0);
    expect(validate).not.toHaveBeenCalled();
  });

  it('first_call_compiles_only_the_build_auto_chose', async () => {
    const compiles = countCompiles();
    restore = compiles.restore;
    const lib = await freshLibrary();
    const c = buildCase(CASE);
    expectResult(lib.attention(c.q, c.k, c.v, c.options), c, 'default instance');
    expect((await lib.init()).backend).not.toBe('js'); // vitest runs Node with SIMD (and relaxed SIMD)
    expect(compiles.count()).toBe(1);
  });

  it('kernel_hex_decoded_natively_not_by_a_javascript_loop', async () => {
    const parse = vi.spyOn(globalThis, 'parseInt');
    const lib = await freshLibrary();
    const attn = await lib.createAttention({ backend: 'wasm-simd' });
    const c = buildCase(CASE);
    expectResult(attn.attention(c.q, c.k, c.v, c.options), c, 'wasm-simd');
    expect(parse).not.toHaveBeenCalled();
  });

  it('loop_fallback_without_native_decoders_gives_the_same_kernel', async () => {
    // A runtime with neither Uint8Array.fromHex nor Buffer (older browsers, Deno < 2.5).
    vi.stubGlobal('Buffer', undefined);
    const fromHex = Object.getOwnPropertyDescriptor(Uint8Array, 'fromHex');
    if (fromHex) Reflect.deleteProperty(Uint8Array, 'fromHex');
    try {
      const parse = vi.spyOn(globalThis, 'parseInt');
      const lib = await freshLibrary();
      const attn = await lib.createAttention({ backend: 'wasm-simd' });
      const c = buildCase(CASE);
      expectResult(attn.attention(c.q, c.k, c.v, c.options), c, 'wasm-simd');
      expect(attn.backend).toBe('wasm-simd');
      expect(parse).toHaveBeenCalledTimes(simdKernel.length / 2); // one call per byte of the build
    } finally {
      if (fromHex) Object.defineProperty(Uint8Array, 'fromHex', fromHex);
    }
  });
});
