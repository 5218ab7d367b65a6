/**
 * KV caches and pinned tensors in the kernel's linear memory (src/cache/engine.ts for the
 * contract). Caches and tensors are persistent blocks (blocks.ts); a plan over a cache
 * places only its small per-call inputs (parameters, q unless pinned, mask, output unless
 * pinned) above the blocks, and the kernel reads K/V where they are: a decode step copies
 * O(heads·dim) bytes, not the cache.
 *
 * Cache rows are padded to whole vectors (4 f32 or 8 halves, zero-filled) so the decode
 * kernel reads every row as v128s with no leftover loop; an int8 row is 16-byte padded data
 * followed by its f32 scale (src/cache/int8.ts, assembly/cache/i8.ts).
 *
 * Kernel choice per plan: the decode kernel (assembly/decode/) for float16 and int8 caches and for
 * float32 plans of at most DECODE_MAX_QUERIES queries; otherwise the tiled prefill kernel
 * `attention`, which reads the float32 cache in place through strides (chunked prefill of
 * many queries is compute-bound, where its 8-query tiles win).
 */
import { cacheTensors, setScratchBytes, writeParamBlock, type ParamPlacement } from './params.js';
import type { CacheEngine, CacheShape, CacheStorage, CachedPlan, TensorStorage } from '../../cache/engine.js';
import { KV_DTYPE, PARAM_BYTES, type DecodeExports, type KernelExports, type QuantizeExports } from './abi.js';
import type { BlockAllocator } from './blocks.js';
import { lseFromStates } from './memory-plan.js';
import { int8DataBytes } from '../../cache/int8.js';

const ALIGN = 16;
const align = (bytes: number) => Math.ceil(bytes / ALIGN) * ALIGN;

/**
 * Largest Lq of the float32 plans sent to the decode kernel. Measured (H32, 2048 cached,
 * D128, simd build, ms per step, decode kernel vs prefill kernel): MHA Lq 1: 2.5 vs 15;
 * Lq 4: 6.9 vs 10.6; GQA 32/8 Lq 4: 5.8 vs 7.4, Lq 8: 11.6 vs 7.4; GQA 32/4 Lq 6: 8.6 vs
 * 7.1. The prefill kernel costs the same for any Lq up to its 8-query block, the decode
 * kernel grows with Lq (it shares each K/V row across a group, not across queries' tiles).
 */
export const DECODE_MAX_QUERIES = 4;

/** Query rows of one decode-kernel row block (assembly/decode/scratch.ts ROWS). */
export const DECODE_BLOCK_ROWS = 16;

/** True when a cached plan runs on the decode kernel, false for the tiled prefill kernel (float32 only). */
export function usesDecodeKernel(plan: { readonly dtype: string; readonly seqLenQ: number }): boolean {
  return plan.dtype !== 'float32' || plan.seqLenQ <= DECODE_MAX_QUERIES;
}

/** What the engine needs of the backend that owns the memory. */
export interface WasmHeap {
  readonly kernel: KernelExports & Partial<DecodeExports & QuantizeExports>;
  readonly memory: WebAssembly.Memory;
  readonly blocks: BlockAllocator;
  /** Grows memory to at least `bytes` (RangeError naming `what` when it cannot). */
  ensureCapacity(bytes: number, what: string): void;
}

/**
 * Allocates a zero-filled persistent block, growing memory first (nothing changes if that
 * throws). Only the part below the memory's size before growing is cleared: pages added by
 * `memory.grow` are zero already, and left untouched they cost no RAM (a 2 GiB cache
 * allocated and never filled adds ≈ 0 to the process's RSS).
 */
function allocateBlock(heap: WasmHeap, bytes: number, what: string): number {
  const clean = heap.memory.buffer.byteLength; // first byte of the pages a grow would add
  heap.ensureCapacity(heap.blocks.wouldEndAt(bytes), what);
  const ptr = heap.blocks.allocate(bytes);
  const dirtyEnd = Math.min(ptr + align(bytes), clean);
  if (dirtyEnd > ptr) new Uint8Array(heap.memory.buffer, ptr, dirtyEnd - ptr).fill(0);
  return ptr;
}

class WasmCacheStorage implements CacheStorage {
  readonly keyRowStride: number;
  readonly valueRowStride: number;
  private readonly half: boolean;
  private readonly int8: boolean;
  ptr = 0;
  keyBytes = 0;
  capacity = 0;
  private viewBuffer: ArrayBuffer | null = null;
  private keyView: Float32Array | Uint16Array | Int8Array = new Float32Array(0);
  private valueView: Float32Array | Uint16Array | Int8Array = new Float32Array(0);

  constructor(private readonly heap: WasmHeap, private readonly shape: CacheShape, capacity: number) {
    this.half = shape.dtype === 'float16';
    this.int8 = shape.dtype === 'int8';
    const pad = this.half ? 8 : 4;
    const stride = (dim: number) => (this.int8 ? int8DataBytes(dim, 16) + 4 : Math.ceil(dim / pad) * pad);
    this.keyRowStride = stride(shape.headDim);
    this.valueRowStride = stride(shape.valueDim);
    this.allocate(capacity, 'createKVCache');
  }

  private get elementBytes(): number {
    return this.half ? 2 : this.int8 ? 1 : 4;
  }

  private bytesFor(capacity: number): { keyBytes: number; total: number } {
    const heads = this.shape.batch * this.shape.kvHeads;
    const keyBytes = align(heads * capacity * this.keyRowStride * this.elementBytes);
    return { keyBytes, total: keyBytes + heads * capacity * this.valueRowStride * this.elementBytes };
  }

  private allocate(capacity: number, what: string): void {
    const { keyBytes, total } = this.bytesFor(capacity);
    this.ptr = allocateBlock(this.heap, total, what);
    this.keyBytes = keyBytes;
    this.capacity = capacity;
    this.viewBuffer = null;
  }

  get byteLength(): number {
    return this.bytesFor(this.capacity).total;
  }

  get keyPtr(): number {
    return this.ptr;
  }

  get valuePtr(): number {
    return this.ptr + this.keyBytes;
  }

  private refresh(): void {
    const buffer = this.heap.memory.buffer;
    if (buffer === this.viewBuffer) return;
    const heads = this.shape.batch * this.shape.kvHeads;
    const kLength = heads * this.capacity * this.keyRowStride;
    const vLength = heads * this.capacity * this.valueRowStride;
    const Kind = this.half ? Uint16Array : this.int8 ? Int8Array : Float32Array;
    this.keyView = new Kind(buffer, this.keyPtr, kLength);
    this.valueView = new Kind(buffer, this.valuePtr, vLength);
    this.viewBuffer = buffer;
  }

  keys(): Float32Array | Uint16Array | Int8Array {
    this.refresh();
    return this.keyView;
  }

  values(): Float32Array | Uint16Array | Int8Array {
    this.refresh();
    return this.valueView;
  }

  resize(capacity: number, lengths: Int32Array): void {
    const old = { ptr: this.ptr, keyPtr: this.keyPtr, valuePtr: this.valuePtr, capacity: this.capacity };
    this.allocate(capacity, 'append'); // throws before anything changes when memory cannot grow
    const bytes = new Uint8Array(this.heap.memory.buffer);
    const { batch, kvHeads } = this.shape;
    for (let b = 0; b < batch; b++) {
      const rows = Math.min(lengths[b]!, capacity);
      for (let h = 0; h < kvHeads; h++) {
        const head = b * kvHeads + h;
        const k = this.keyRowStride * this.elementBytes;
        const v = this.valueRowStride * this.elementBytes;
        bytes.copyWithin(this.keyPtr + head * capacity * k, old.keyPtr + head * old.capacity * k, old.keyPtr + (head * old.capacity + rows) * k);
        bytes.copyWithin(this.valuePtr + head * capacity * v, old.valuePtr + head * old.capacity * v, old.valuePtr + (head * old.capacity + rows) * v);
      }
    }
    this.heap.blocks.free(old.ptr);
  }

  inMemory(data: ArrayBufferView): boolean {
    return data.buffer === this.heap.memory.buffer;
  }

  free(): void {
    this.heap.blocks.free(this.ptr);
    this.viewBuffer = null;
    this.keyView = new Float32Array(0);
    this.valueView = new Float32Array(0);
  }
}

class WasmTensorStorage implements TensorStorage {
  readonly ptr: number;
  /** The memory the block is in (a plan's pinned tensor is used in place only there). */
  get memory(): WebAssembly.Memory {
    return this.heap.memory;
  }
  private viewBuffer: ArrayBuffer | null = null;
  private current = new Float32Array(0);
  private freed = false;

  constructor(private readonly heap: WasmHeap, readonly length: number) {
    this.ptr = allocateBlock(heap, length * 4, 'createTensor');
  }

  view(): Float32Array {
    if (this.freed) return new Float32Array(0);
    const buffer = this.heap.memory.buffer;
    if (buffer !== this.viewBuffer) {
      this.current = new Float32Array(buffer, this.ptr, this.length);
      this.viewBuffer = buffer;
    }
    return this.current;
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.heap.blocks.free(this.ptr);
  }
}

/**
 * The address of `storage` when it is a live pinned tensor in `memory` (the kernel reads or
 * writes it in place), else 0 (the backend copies through its `view()`).
 */
export function pinnedAddress(storage: TensorStorage | undefined, memory: WebAssembly.Memory): number {
  return storage instanceof WasmTensorStorage && storage.memory === memory ? storage.ptr : 0;
}

/**
 * Byte layout of one call over a cache, from `base`: its small inputs and outputs only
 * (K/V stay in the cache; a pinned q or out is used where it is). One layout for the
 * single-thread engine below and the thread pool (src/threads/decode.ts).
 *
 *   base → [params][position offsets][key lengths][q][bias][out][weights][slopes][lse] end
 */
export interface CachedLayout {
  readonly params: number;
  readonly positionOffsets: number;
  readonly keyLengths: number;
  readonly q: number;
  readonly bias: number;
  readonly out: number;
  readonly weights: number;
  readonly alibiSlopes: number;
  readonly lse: number;
  /** First byte after the call's regions. */
  readonly end: number;
}

export function layoutCachedCall(plan: CachedPlan, base: number): CachedLayout {
  let cursor = align(base);
  const take = (bytes: number) => {
    const at = cursor;
    cursor = align(cursor + bytes);
    return at;
  };
  const params = take(PARAM_BYTES);
  const positionOffsets = take(plan.batch * 4);
  const keyLengths = take(plan.batch * 4);
  const q = 'host' in plan.q ? take(plan.q.host.length * 4) : (plan.q.pinned as WasmTensorStorage).ptr;
  const bias = plan.bias ? take(plan.bias.length * 4) : 0;
  const out = 'host' in plan.out ? take(plan.out.host.length * 4) : (plan.out.pinned as WasmTensorStorage).ptr;
  const weights = plan.weights ? take(plan.weights.length * 4) : 0;
  const alibiSlopes = plan.alibiSlopes ? take(plan.alibiSlopes.length * 4) : 0;
  const lse = plan.lse ? take(plan.lse.length * 8) : 0;
  return { params, positionOffsets, keyLengths, q, bias, out, weights, alibiSlopes, lse, end: cursor };
}

/** The kernel's K/V mode for a plan: float32, float16, or float16 holding Inf/NaN (exact conversion). */
export function kvDtypeOf(plan: CachedPlan): number {
  if (plan.dtype === 'int8') return KV_DTYPE.int8;
  if (plan.dtype !== 'float16') return KV_DTYPE.float32;
  return plan.kvNonFinite ? KV_DTYPE.float16NonFinite : KV_DTYPE.float16;
}

/** Where a laid-out cached call's tensors are (one thread's scratch; no key split). */
export function cachedPlacement(plan: CachedPlan, layout: CachedLayout, scratchPtr: number, scratchBytes: number, keySplits = 0, partialsPtr = 0): ParamPlacement {
  const { k, v } = cacheTensors(plan.storage as WasmCacheStorage, plan.kvHeads);
  return {
    k,
    v,
    q: { ptr: layout.q, strides: plan.qStrides },
    out: { ptr: layout.out, strides: plan.outStrides },
    positionOffsetsPtr: layout.positionOffsets,
    keyLengthsPtr: layout.keyLengths,
    biasPtr: layout.bias,
    weightsPtr: layout.weights,
    weightsStage: 'probs',
    alibiSlopesPtr: layout.alibiSlopes,
    lsePtr: layout.lse,
    scratchPtr,
    scratchBytes,
    keySplits,
    partialsPtr,
  };
}

/** Copies a laid-out cached call's inputs in (q unless pinned). */
export function copyCachedInputs(buffer: ArrayBufferLike, plan: CachedPlan, layout: CachedLayout): void {
  new Int32Array(buffer, layout.positionOffsets, plan.batch).set(plan.positionOffsets);
  new Int32Array(buffer, layout.keyLengths, plan.batch).set(plan.keyLengths);
  if ('host' in plan.q) new Float32Array(buffer, layout.q, plan.q.host.length).set(plan.q.host);
  if (plan.bias) new Float32Array(buffer, layout.bias, plan.bias.length).set(plan.bias);
  if (plan.alibiSlopes) new Float32Array(buffer, layout.alibiSlopes, plan.alibiSlopes.length).set(plan.alibiSlopes);
}

/** Copies a run cached call's outputs out (out unless pinned, and the weights). */
export function copyCachedOutputs(buffer: ArrayBufferLike, plan: CachedPlan, layout: CachedLayout): void {
  if ('host' in plan.out) plan.out.host.set(new Float32Array(buffer, layout.out, plan.out.host.length));
  if (plan.weights) plan.weights.set(new Float32Array(buffer, layout.weights, plan.weights.length));
  if (plan.lse) lseFromStates(new Float32Array(buffer), layout.lse, plan.lse);
}

/** Creates the cache engine of one WASM backend instance. */
export function createWasmCacheEngine(heap: WasmHeap): CacheEngine {
  const { kernel, memory, blocks } = heap;

  function run(plan: CachedPlan): void {
    const useDecode = kernel.decode !== undefined && usesDecodeKernel(plan);
    if (plan.dtype !== 'float32' && !useDecode) {
      throw new Error(`decode: expected a kernel module with the ${plan.dtype} decode kernel (decode export), got a module without it`);
    }

    // Per-call region, above every persistent block.
    const layout = layoutCachedCall(plan, blocks.top);
    const { params } = layout;
    heap.ensureCapacity(layout.end, 'decode');
    writeParamBlock(new Int32Array(memory.buffer), new Float32Array(memory.buffer), params, plan, cachedPlacement(plan, layout, layout.end, 0));
    const kvDtype = kvDtypeOf(plan);
    const scratchBytes = useDecode ? kernel.decodeScratchBytes!(params, kvDtype) : kernel.scratchBytes(params);
    heap.ensureCapacity(layout.end + scratchBytes, 'decode');
    setScratchBytes(new Int32Array(memory.buffer), params, scratchBytes);
    copyCachedInputs(memory.buffer, plan, layout);

    const status = useDecode ? kernel.decode!(params, kvDtype) : kernel.attention(params);
    if (status !== 0) throw new Error(`wasm-attention: internal error, kernel returned status ${status}`);
    copyCachedOutputs(memory.buffer, plan, layout);
  }

  return {
    createCache: (shape, capacity) => new WasmCacheStorage(heap, shape, capacity),
    createTensor: (length) => new WasmTensorStorage(heap, length),
    run,
  };
}
