/**
 * The WASM backend: copies a plan's tensors into the kernel's linear memory, runs the
 * fused kernel, copies the results out.
 *
 * Instantiation is a plain `new WebAssembly.Instance(module, {})`: the kernel is built with
 * `--runtime stub`, imports nothing and exchanges only numbers and raw linear memory, so
 * `@assemblyscript/loader`'s bindings had nothing to marshal, and its 5.3 KB of the default
 * entry (minified; 8% of dist/index.js) were parsed at every import (issue #15's start-up).
 * A Module compiled in another realm (edge-runtime's VM context, Next.js's edge sandbox)
 * instantiates the same way.
 */
import { rangeError } from '../../errors.js';
import { MAX_BYTES } from '../../limits.js';
import type { AttentionPlan, Backend, BackendName } from '../../plan.js';
import type { CacheEngine } from '../../cache/engine.js';
import { PARAM_BYTES, type DecodeExports, type KernelExports } from './abi.js';
import { BlockAllocator } from './blocks.js';
import { growTo } from './grow.js';
import { createWasmCacheEngine, type WasmHeap } from './cache-engine.js';
import { copyInputs, copyOutputs, layoutCall } from './memory-plan.js';
import { setScratchBytes, writeParams } from './params.js';
import { rotateInputs, type RotaryExport } from './rotary.js';


export interface WasmBackend extends Backend {
  /** Current size of the kernel's linear memory in bytes (grows only, never per call). */
  memoryBytes(): number;
  /** KV caches and pinned tensors in this backend's memory (src/cache/). */
  cacheEngine(): CacheEngine;
}

/**
 * What a kernel module may carry besides its code: `wasm-attention/int8` sets `cacheEngine`
 * on its builds (src/int8/index.ts), an engine that quantises int8 rows at append in the
 * kernel (src/backends/wasm/int8-append.ts), built on this entry's own `base` engine so that
 * its caches and pinned tensors are this entry's (memory-plan.ts finds pinned tensors by class).
 * The glue stays out of the default entry: here it costs this one lookup.
 */
interface CacheEngineHook {
  cacheEngine?: (heap: WasmHeap, base: typeof createWasmCacheEngine) => CacheEngine;
}

/**
 * Instantiates a compiled kernel module as a backend. Each backend owns one instance and
 * memory; its name comes from the build itself (`kernelIsa`), so a precompiled module
 * handed in by the caller is reported truthfully.
 */
export function createWasmBackend(module: WebAssembly.Module): WasmBackend {
  const kernel = new WebAssembly.Instance(module, {}).exports as unknown as KernelExports & Partial<DecodeExports> & { rotary?: RotaryExport };
  const name: BackendName = kernel.kernelIsa() === 1 ? 'wasm-relaxed-simd' : 'wasm-simd';
  const memory = kernel.memory;
  const heapBase = kernel.heapBase();
  // Persistent blocks (KV caches, pinned tensors) from heapBase; each call's regions above them.
  const blocks = new BlockAllocator(heapBase);
  let cacheEngine: CacheEngine | undefined;
  let buffer = memory.buffer;
  let f32 = new Float32Array(buffer);
  let i32 = new Int32Array(buffer);

  /** Grows memory to hold `bytes`, in one step; refreshes the views after a growth. */
  function ensureCapacity(bytes: number, what: string): void {
    if (bytes > MAX_BYTES) {
      throw rangeError(what, `a call that fits in WASM memory (at most ${MAX_BYTES} bytes)`, `one that needs ${bytes} bytes`);
    }
    growTo(memory, bytes, what);
    if (memory.buffer !== buffer) {
      buffer = memory.buffer;
      f32 = new Float32Array(buffer);
      i32 = new Int32Array(buffer);
    }
  }


  function run(plan: AttentionPlan): void {
    const layout = layoutCall(plan, blocks.top, memory, true);
    // The kernel sizes its scratch from the parameter block alone, which comes first in the
    // call's region: make room for the block only (a no-op after the first call), ask for the
    // scratch size, then grow once for the whole call. Growing for the tensors first and for
    // the scratch after grew twice whenever the scratch crossed a page boundary.
    ensureCapacity(layout.params + PARAM_BYTES, 'attention');
    writeParams(i32, f32, plan, layout.params, layout, layout.scratch, 0);
    const scratchBytes = kernel.scratchBytes(layout.params);
    ensureCapacity(layout.end + scratchBytes, 'attention');
    setScratchBytes(i32, layout.params, scratchBytes);

    copyInputs(i32, f32, plan, layout);
    rotateInputs(kernel.rotary, f32, plan, layout);
    const status = kernel.attention(layout.params);
    if (status !== 0) throw new Error(`wasm-attention: internal error, kernel returned status ${status}`);
    copyOutputs(f32, plan, layout);
  }

  return {
    name,
    run,
    memoryBytes: () => memory.buffer.byteLength,
    cacheEngine: () => (cacheEngine ??= ((module as CacheEngineHook).cacheEngine ?? createWasmCacheEngine)({ kernel, memory, blocks, ensureCapacity }, createWasmCacheEngine)),
  };
}
