/**
 * Cache storage for the pure-JS backend: plain Float32Arrays, read in place by the JS
 * backend through strides. A float16 cache stores the half-rounded values as f32 (its
 * results are those of the WASM float16 cache; its memory is that of a float32 cache).
 * An int8 cache stores the int8 rows of src/cache/int8.ts (the bytes the WASM backends
 * store, in rows padded to 4 rather than 16 bytes); each call dequantises the keys it
 * attends, f32(q·scale), into temporary f32 K/V and runs the JS backend on them.
 */
import type { AttentionPlan, Backend } from '../plan.js';
import type { CacheEngine, CacheShape, CacheStorage, CachedPlan, PlanBuffer, TensorStorage } from './engine.js';
import { dequantizeRow, int8DataBytes, scaleView } from './int8.js';

/**
 * A zeroed Float32Array (or, for int8 rows, Int8Array) of `length`, or a RangeError naming
 * `what` when the runtime refuses the allocation (sizes are within src/limits.ts already; a
 * float16 cache is stored as f32 here, twice its WASM size, and RAM may run out first).
 */
function allocate(int8: boolean, length: number, what: string): Float32Array | Int8Array {
  try {
    return int8 ? new Int8Array(length) : new Float32Array(length);
  } catch (cause) {
    throw new RangeError(`${what}: expected ${length * (int8 ? 1 : 4)} bytes the runtime can allocate, got ${String(cause)}`);
  }
}
const allocateF32 = (length: number, what: string) => allocate(false, length, what) as Float32Array;

class JsCacheStorage implements CacheStorage {
  private k: Float32Array | Int8Array;
  private v: Float32Array | Int8Array;
  readonly keyRowStride: number;
  readonly valueRowStride: number;
  private readonly int8: boolean;

  constructor(private readonly shape: CacheShape, public capacity: number) {
    this.int8 = shape.dtype === 'int8';
    this.keyRowStride = this.int8 ? int8DataBytes(shape.headDim, 4) + 4 : shape.headDim;
    this.valueRowStride = this.int8 ? int8DataBytes(shape.valueDim, 4) + 4 : shape.valueDim;
    const heads = shape.batch * shape.kvHeads;
    this.k = allocate(this.int8, heads * capacity * this.keyRowStride, 'createKVCache');
    this.v = allocate(this.int8, heads * capacity * this.valueRowStride, 'createKVCache');
  }

  get byteLength(): number {
    return this.k.byteLength + this.v.byteLength;
  }

  keys(): Float32Array | Int8Array {
    return this.k;
  }

  values(): Float32Array | Int8Array {
    return this.v;
  }

  resize(capacity: number, lengths: Int32Array): void {
    const { batch, kvHeads } = this.shape;
    const copy = (from: Float32Array | Int8Array, stride: number) => {
      const to = allocate(this.int8, batch * kvHeads * capacity * stride, 'append');
      for (let b = 0; b < batch; b++) {
        const rows = Math.min(lengths[b]!, capacity);
        for (let h = 0; h < kvHeads; h++) {
          const head = b * kvHeads + h;
          (to as Float32Array).set((from as Float32Array).subarray(head * this.capacity * stride, (head * this.capacity + rows) * stride), head * capacity * stride);
        }
      }
      return to;
    };
    // Both copies before either is kept: a failed allocation leaves the storage as it was.
    const k = copy(this.k, this.keyRowStride);
    const v = copy(this.v, this.valueRowStride);
    this.k = k;
    this.v = v;
    this.capacity = capacity;
  }

  inMemory(): boolean {
    return false; // plain ArrayBuffers: nothing a resize does detaches a caller's view
  }

  free(): void {
    this.k = new Float32Array(0);
    this.v = new Float32Array(0);
  }
}

class JsTensorStorage implements TensorStorage {
  private data: Float32Array;
  constructor(readonly length: number) {
    this.data = allocateF32(length, 'createTensor');
  }
  view(): Float32Array {
    return this.data;
  }
  free(): void {
    this.data = new Float32Array(0);
  }
}

const bufferOf = (buffer: PlanBuffer): Float32Array => ('host' in buffer ? buffer.host : buffer.pinned.view());

/**
 * The f32 values of rows [0, rows) of every head of an int8 storage, `[heads, rows, dim]`,
 * and their strides (the JS backend reads f32).
 */
function dequantized(bytes: Int8Array, rowStride: number, capacity: number, heads: number, rows: number, dim: number): Float32Array {
  const out = allocateF32(heads * rows * dim, 'decode');
  const scales = scaleView(bytes);
  for (let head = 0; head < heads; head++) {
    for (let s = 0; s < rows; s++) dequantizeRow(out, (head * rows + s) * dim, bytes, scales, (head * capacity + s) * rowStride, rowStride - 4, dim);
  }
  return out;
}

/** A cache engine running plans on `backend` (the JS backend) with K/V read in place. */
export function createJsCacheEngine(backend: Backend): CacheEngine {
  return {
    createCache: (shape, capacity) => new JsCacheStorage(shape, capacity),
    createTensor: (length) => new JsTensorStorage(length),
    run(plan: CachedPlan): void {
      const { storage, kvHeads } = plan;
      let capacity = storage.capacity;
      let kStride = storage.keyRowStride;
      let vStride = storage.valueRowStride;
      let k = storage.keys() as Float32Array;
      let v = storage.values() as Float32Array;
      if (plan.dtype === 'int8') {
        const heads = plan.batch * kvHeads;
        k = dequantized(storage.keys() as Int8Array, kStride, capacity, heads, plan.seqLenK, plan.headDim);
        v = dequantized(storage.values() as Int8Array, vStride, capacity, heads, plan.seqLenK, plan.valueDim);
        capacity = plan.seqLenK;
        kStride = plan.headDim;
        vStride = plan.valueDim;
      }
      const attentionPlan: AttentionPlan = {
        batch: plan.batch,
        qHeads: plan.qHeads,
        kvHeads,
        seqLenQ: plan.seqLenQ,
        seqLenK: plan.seqLenK,
        headDim: plan.headDim,
        valueDim: plan.valueDim,
        q: bufferOf(plan.q),
        qStrides: plan.qStrides,
        k,
        kStrides: { batch: kvHeads * capacity * kStride, head: capacity * kStride, seq: kStride },
        v,
        vStrides: { batch: kvHeads * capacity * vStride, head: capacity * vStride, seq: vStride },
        out: bufferOf(plan.out),
        outStrides: plan.outStrides,
        scale: plan.scale,
        softcap: plan.softcap,
        positionOffsets: plan.positionOffsets,
        window: plan.window,
        keyLengths: plan.keyLengths,
        bias: plan.bias,
        biasStrides: plan.biasStrides,
        weights: plan.weights,
        weightsStage: 'probs',
        alibiSlopes: plan.alibiSlopes,
        lse: plan.lse,
      };
      backend.run(attentionPlan);
    },
  };
}
