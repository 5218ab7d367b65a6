/**
 * int8 rows quantised at append in the kernel (issue #15: "quantised once at append, in the
 * kernel"): a cache engine whose int8 storages carry `appendInt8` (src/cache/engine.ts),
 * which stages the appended f32 rows in the kernel's memory and calls `quantizeI8Rows`
 * (assembly/cache/f32-i8-quantize-4.ts), the same bytes as the JS path (src/cache/int8.ts,
 * test/cache-int8-append.test.ts). 3.1× faster than JS for a 512-row chunk at H8 D128
 * (bench/int8-threads.ts).
 *
 * Only the int8 builds (`wasm-attention/int8`, which sets this on its modules: backend.ts
 * `CacheEngineHook`) and the threads builds (src/threads/backend.ts) export the kernel; this
 * file is bundled by those entries only, so the default entry pays one lookup for it.
 */
import type { CacheEngine, CacheShape, CacheStorage, AppendRows } from '../../cache/engine.js';
import type { CheckedTensor } from '../../tensor-input.js';
import { halfArrayToFloat32 } from '../../float16.js';
import type { QuantizeExports } from './abi.js';
import type { WasmHeap } from './cache-engine.js';

/** What the engine's WASM storages expose (cache-engine.ts WasmCacheStorage). */
interface WasmRows extends CacheStorage {
  readonly keyPtr: number;
  readonly valuePtr: number;
}

const align = (bytes: number) => Math.ceil(bytes / 16) * 16;

/**
 * `base`'s engine over `heap`, its int8 caches quantised at append in the kernel when the
 * build exports `quantizeI8Rows` (else `base`'s engine as it is).
 * @param heap the backend's kernel, memory and blocks
 * @param base the entry's own engine factory (createWasmCacheEngine), whose storage classes
 *   the rest of that entry recognises
 */
export function int8AppendCacheEngine(heap: WasmHeap, base: (heap: WasmHeap) => CacheEngine): CacheEngine {
  const engine = base(heap);
  const quantize = heap.kernel.quantizeI8Rows;
  if (!quantize) return engine;
  return {
    ...engine,
    createCache(shape, capacity) {
      const storage = engine.createCache(shape, capacity) as WasmRows;
      if (shape.dtype === 'int8') {
        storage.appendInt8 = (key, value, kRows, vRows, newRows, lengths) => appendInt8(heap, quantize, storage, shape, key, value, kRows, vRows, newRows, lengths);
      }
      return storage;
    },
  };
}

/** The rows of `t` as f32 outside the kernel's memory (a growth would detach a view of it). */
function hostF32(t: CheckedTensor, memory: WebAssembly.Memory): Float32Array {
  if (t.dtype === 'float16') return halfArrayToFloat32(t.data as Uint16Array);
  return t.data.buffer === memory.buffer ? (t.data as Float32Array).slice() : (t.data as Float32Array);
}

function appendInt8(
  heap: WasmHeap, quantize: QuantizeExports['quantizeI8Rows'], storage: WasmRows, shape: CacheShape,
  key: CheckedTensor, value: CheckedTensor, kRows: AppendRows, vRows: AppendRows, newRows: Int32Array, lengths: Int32Array,
): true {
  const k = hostF32(key, heap.memory);
  const v = hostF32(value, heap.memory);
  // k and v go above every block, where a call's inputs go: no call runs during an append
  // (a threaded call in flight reserves its region as a block, src/threads/backend.ts).
  const kAt = align(heap.blocks.top);
  const vAt = align(kAt + k.byteLength);
  heap.ensureCapacity(vAt + v.byteLength, 'append'); // may grow memory: nothing is written yet
  new Float32Array(heap.memory.buffer, kAt, k.length).set(k);
  new Float32Array(heap.memory.buffer, vAt, v.length).set(v);
  const { capacity, keyRowStride, valueRowStride } = storage;
  for (let b = 0; b < shape.batch; b++) {
    for (let h = 0; h < shape.kvHeads; h++) {
      const row = (b * shape.kvHeads + h) * capacity + lengths[b]!;
      const k0 = kAt + (b * kRows.strides.batch + h * kRows.strides.head) * 4;
      const v0 = vAt + (b * vRows.strides.batch + h * vRows.strides.head) * 4;
      quantize(storage.keyPtr + row * keyRowStride, keyRowStride, keyRowStride - 4, k0, kRows.strides.seq, newRows[b]!, kRows.dim);
      quantize(storage.valuePtr + row * valueRowStride, valueRowStride, valueRowStride - 4, v0, vRows.strides.seq, newRows[b]!, vRows.dim);
    }
  }
  return true;
}
