/**
 * The layer's own instance of the backward kernel build (relaxed or plain SIMD), which also
 * carries the forward's `attention`, `decode` and `rotary` exports (assembly/backward.ts):
 * the GEMM and the attention run on one memory. The projections write Q, K, V into
 * PinnedTensors of that memory, the attention kernel reads them in place (packed 3-D
 * `[B, L, H·D]`) and writes its output into another, which the output projection reads in
 * place: a forward copies x in and the output out, nothing else (before: 12 tensors of
 * B·L·E floats for self-attention; test/layer-zero-copy.test.ts counts them).
 *
 *   heapBase → [packed weights + biases][x][q][k][v][a][o]…[GEMM scratch] ← top → [each attention call's params]
 */
import { rangeError } from '../errors.js';
import { MAX_BYTES } from '../limits.js';
import { growTo } from '../backends/wasm/grow.js';
import type { AttentionPlan, Backend } from '../plan.js';
import type { CacheEngine } from '../cache/engine.js';
import { PARAM_BYTES, type DecodeExports, type KernelExports } from '../backends/wasm/abi.js';
import { BlockAllocator } from '../backends/wasm/blocks.js';
import { createWasmCacheEngine } from '../backends/wasm/cache-engine.js';
import { copyInputs, copyOutputs, layoutCall } from '../backends/wasm/memory-plan.js';
import { setScratchBytes, writeParams } from '../backends/wasm/params.js';
import { rotateInputs, type RotaryExport } from '../backends/wasm/rotary.js';
import { backwardModule } from '../backward/modules.js';
import { PinnedTensorImpl } from '../cache/pinned.js';
import type { PinnedTensor } from '../cache/types.js';
import { Instance } from '../instance.js';

export interface GemmExports {
  readonly memory: WebAssembly.Memory;
  /** Columns of panels [first, end) of C = A·B (+ bias; biasPtr 0: none), assembly/gemm/f32-gemm-3x12.ts. */
  gemmPanels(aPtr: number, bPtr: number, biasPtr: number, cPtr: number, M: number, N: number, K: number, firstPanel: number, endPanel: number): void;
  /** As gemmPanels with A given as Aᵀ, row-major [K][M] at aPtr: C = A·B; blockPtr: 16·K bytes of scratch (16-aligned). */
  gemmPanelsTransA(aPtr: number, bPtr: number, biasPtr: number, cPtr: number, M: number, N: number, K: number, firstPanel: number, endPanel: number, blockPtr: number): void;
}

export interface LayerKernel {
  readonly exports: GemmExports;
  /** An attention instance on the same memory: its PinnedTensors are where the GEMM reads and writes. */
  readonly instance: Instance;
  /**
   * The tensor kept under `name`, of `shape`: the same block while its length is unchanged
   * (a call of the same shape allocates nothing), else a new one (the old freed).
   */
  slot(name: string, shape: readonly number[]): PinnedTensor;
  /** Byte address of a scratch block of at least `bytes`, grown (never shrunk) as needed. */
  scratch(bytes: number): number;
  /** First byte above every kept block: where a call's own region may start (./backward.ts). */
  top(): number;
  /** Grows memory to at least `bytes` (RangeError naming `what` when it cannot). */
  ensure(bytes: number, what: string): void;
  dispose(): void;
}

/**
 * A new instance of the backward build of `name`, with its attention instance.
 * @param name the ISA of the layer's attention instance
 * @returns the kernel; `dispose()` frees its blocks
 */
export function createLayerKernel(name: 'wasm-relaxed-simd' | 'wasm-simd'): LayerKernel {
  const exports = new WebAssembly.Instance(backwardModule(name), {}).exports;
  const backend = layerBackend(name, exports as unknown as KernelExports & DecodeExports & { rotary: RotaryExport });
  const instance = new Instance(backend);
  const slots = new Map<string, PinnedTensor>();
  let scratch: PinnedTensor | null = null;
  return {
    exports: exports as unknown as GemmExports,
    instance,
    top: () => backend.blocks.top,
    ensure: (bytes, what) => backend.ensureCapacity(bytes, what),
    slot(key, shape) {
      const held = slots.get(key);
      let length = 1;
      for (const dim of shape) length *= dim;
      if (held && held.data.length === length) {
        if (held.shape.length === shape.length && held.shape.every((dim, i) => dim === shape[i])) return held;
        const reshaped = new PinnedTensorImpl((held as PinnedTensorImpl).block, shape, (held as PinnedTensorImpl).owner);
        slots.set(key, reshaped);
        return reshaped;
      }
      held?.dispose();
      slots.delete(key);
      const tensor = instance.createTensor(shape);
      slots.set(key, tensor);
      return tensor;
    },
    scratch(bytes) {
      const floats = Math.ceil(bytes / 4);
      if (!scratch || scratch.data.length < floats) {
        scratch?.dispose();
        scratch = null; // a failed allocation below leaves none, not a disposed one
        scratch = instance.createTensor([Math.max(floats, 4)]);
      }
      return scratch.data.byteOffset;
    },
    dispose() {
      for (const tensor of slots.values()) tensor.dispose();
      slots.clear();
      scratch?.dispose();
      scratch = null;
    },
  };
}

/**
 * The default entry's WASM backend (src/backends/wasm/backend.ts, the same steps) on an
 * instance made here, whose `gemmPanels` the layer calls on the same memory. Not that
 * backend itself: an `exports` parameter there costs the default entry 16 B gzipped, which
 * its size budget (test/runtimes/size.test.ts) had not left.
 */
function layerBackend(name: Backend['name'], kernel: KernelExports & DecodeExports & { rotary: RotaryExport }): Backend & { memoryBytes(): number; cacheEngine(): CacheEngine; readonly blocks: BlockAllocator; ensureCapacity(bytes: number, what: string): void } {
  const memory = kernel.memory;
  const blocks = new BlockAllocator(kernel.heapBase());
  let cacheEngine: CacheEngine | undefined;
  let f32 = new Float32Array(memory.buffer);
  let i32 = new Int32Array(memory.buffer);

  function ensureCapacity(bytes: number, what: string): void {
    if (bytes > MAX_BYTES) throw rangeError(what, `a call that fits in WASM memory (at most ${MAX_BYTES} bytes)`, `one that needs ${bytes} bytes`);
    growTo(memory, bytes, what);
    if (f32.buffer !== memory.buffer) {
      f32 = new Float32Array(memory.buffer);
      i32 = new Int32Array(memory.buffer);
    }
  }

  function run(plan: AttentionPlan): void {
    const layout = layoutCall(plan, blocks.top, memory, true);
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
    blocks,
    ensureCapacity,
    memoryBytes: () => memory.buffer.byteLength,
    cacheEngine: () => (cacheEngine ??= createWasmCacheEngine({ kernel, memory, blocks, ensureCapacity })),
  };
}
