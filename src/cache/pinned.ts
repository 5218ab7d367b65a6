/**
 * `PinnedTensor`: a float32 tensor in a backend's tensor storage (WASM linear memory on the
 * WASM backends), so `decode` reads q from it and writes out into it with no copy. See the
 * view rule in src/cache/types.ts.
 */
import { InFlight } from './in-flight.js';
import type { TensorStorage } from './engine.js';
import type { PinnedTensor } from './types.js';

export class PinnedTensorImpl implements PinnedTensor {
  /** `decodeAsync` calls reading or writing this tensor (src/cache/in-flight.ts). */
  readonly inFlight = new InFlight();

  constructor(
    private storage: TensorStorage | null,
    readonly shape: readonly number[],
    /** The instance's engine that owns the block (a pinned tensor is zero-copy only there). */
    readonly owner: object,
  ) {}

  get data(): Float32Array {
    if (!this.storage) throw new TypeError('tensor: expected a live PinnedTensor, got a disposed PinnedTensor');
    return this.storage.view();
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  /** The storage, or null once disposed. */
  get block(): TensorStorage | null {
    return this.storage;
  }

  dispose(): void {
    if (!this.storage) return;
    this.inFlight.checkIdle('tensor.dispose', 'tensor');
    this.storage.free();
    this.storage = null;
  }
}

/**
 * Throws a clear TypeError for a view detached by WASM memory growth (or any detached
 * buffer), which the runtime shows as an empty array: without this check it would surface
 * as a confusing length mismatch.
 */
export function checkNotDetached(name: string, tensor: unknown): void {
  if (typeof tensor !== 'object' || tensor === null || !('data' in tensor) || !('shape' in tensor)) return;
  if (tensor instanceof PinnedTensorImpl) return; // its `data` getter is always live
  const data = (tensor as { data: unknown }).data;
  if (!ArrayBuffer.isView(data) || data.byteLength !== 0 || data.buffer.byteLength !== 0) return;
  const shape = (tensor as { shape: unknown }).shape;
  if (!Array.isArray(shape) || shape.length === 0 || shape.every((dim) => dim !== 0)) throw detachedError(`${name}.data`);
}

/**
 * {@link checkNotDetached} for an output array expected to hold `length` elements (no
 * tensor object to build: nothing is allocated on the per-call path).
 */
export function checkViewNotDetached(name: string, data: unknown, length: number): void {
  if (length === 0 || !ArrayBuffer.isView(data) || data.byteLength !== 0 || data.buffer.byteLength !== 0) return;
  throw detachedError(name);
}

function detachedError(name: string): TypeError {
  return new TypeError(
    `${name}: expected a live typed array, got a detached view (WASM memory grew since: read PinnedTensor.data again)`,
  );
}
