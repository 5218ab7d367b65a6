/**
 * Cache storage for the pure-JS backend: plain Float32Arrays, read in place by the JS
 * backend through strides. A float16 cache stores the half-rounded values as f32 (its
 * results are those of the WASM float16 cache; its memory is that of a float32 cache).
 */
import type { AttentionPlan, Backend } from '../plan.js';
import type { CacheEngine, CacheShape, CacheStorage, CachedPlan, PlanBuffer, TensorStorage } from './engine.js';

/**
 * A zeroed Float32Array of `length`, or a RangeError naming `what` when the runtime refuses
 * the allocation (sizes are within src/limits.ts already; a float16 cache is stored as f32
 * here, twice its WASM size, and RAM may run out first).
 */
function allocateF32(length: number, what: string): Float32Array {
  try {
    return new Float32Array(length);
  } catch (cause) {
    throw new RangeError(`${what}: expected ${length * 4} bytes the runtime can allocate, got ${String(cause)}`);
  }
}

class JsCacheStorage implements CacheStorage {
  private k: Float32Array;
  private v: Float32Array;
  readonly keyRowStride: number;
  readonly valueRowStride: number;

  constructor(private readonly shape: CacheShape, public capacity: number) {
    this.keyRowStride = shape.headDim;
    this.valueRowStride = shape.valueDim;
    const heads = shape.batch * shape.kvHeads;
    this.k = allocateF32(heads * capacity * this.keyRowStride, 'createKVCache');
    this.v = allocateF32(heads * capacity * this.valueRowStride, 'createKVCache');
  }

  get byteLength(): number {
    return this.k.byteLength + this.v.byteLength;
  }

  keys(): Float32Array {
    return this.k;
  }

  values(): Float32Array {
    return this.v;
  }

  resize(capacity: number, lengths: Int32Array): void {
    const { batch, kvHeads } = this.shape;
    const copy = (from: Float32Array, stride: number) => {
      const to = allocateF32(batch * kvHeads * capacity * stride, 'append');
      for (let b = 0; b < batch; b++) {
        const rows = Math.min(lengths[b]!, capacity);
        for (let h = 0; h < kvHeads; h++) {
          const head = b * kvHeads + h;
          to.set(from.subarray(head * this.capacity * stride, (head * this.capacity + rows) * stride), head * capacity * stride);
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

/** A cache engine running plans on `backend` (the JS backend) with K/V read in place. */
export function createJsCacheEngine(backend: Backend): CacheEngine {
  return {
    createCache: (shape, capacity) => new JsCacheStorage(shape, capacity),
    createTensor: (length) => new JsTensorStorage(length),
    run(plan: CachedPlan): void {
      const { storage, kvHeads } = plan;
      const capacity = storage.capacity;
      const kStride = storage.keyRowStride;
      const vStride = storage.valueRowStride;
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
        k: storage.keys() as Float32Array,
        kStrides: { batch: kvHeads * capacity * kStride, head: capacity * kStride, seq: kStride },
        v: storage.values() as Float32Array,
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
