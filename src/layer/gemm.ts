/**
 * The GEMM of the multi-head attention layer: C[M][N] = A[M][K] · B (+ bias), B packed once
 * (./pack.ts) and kept, on the `gemm` export of the backward kernel builds (relaxed or plain
 * SIMD, the 4x8 micro-kernel of the attention kernels) or in plain JS on the `js` backend.
 * Each engine owns one module instance and memory: packed weights sit at the bottom of it
 * for the engine's life (like a KV cache), each call's A and C above them.
 *
 * Numerics: every backend sums the K products of an entry in order k = 0..K−1, in f32 on
 * WASM (relaxed builds may fuse the multiply-add), in f64 on JS; the error bound of both is
 * K·2⁻²⁴·Σ|a·b| (test/layer-gemm.test.ts checks it against float64).
 */
import { rangeError } from '../errors.js';
import { MAX_BYTES, PAGE_BYTES } from '../limits.js';
import type { BackendName } from '../plan.js';
import { backwardModule } from '../backward/modules.js';
import { packB, packedLength } from './pack.js';

/** A matrix packed for the engine that made it. */
export interface PackedMatrix {
  readonly K: number;
  readonly N: number;
  /** Byte address in the engine's memory (WASM), or the panels themselves (JS). */
  readonly ptr: number;
  readonly data: Float32Array | null;
}

export interface GemmEngine {
  readonly backend: BackendName;
  /** Packs B (or Bᵀ when `transposed`, e.g. a weight [out][in] of x·Wᵀ) to keep; see packB. */
  pack(b: Float32Array, K: number, N: number, transposed: boolean): PackedMatrix;
  /** Packs new values into an existing handle (same K, N). */
  repack(into: PackedMatrix, b: Float32Array, transposed: boolean): void;
  /** C = A·B (+ bias per column), A row-major [M][K]; a new array of M·N. */
  matmul(a: Float32Array, M: number, b: PackedMatrix, bias?: Float32Array | null): Float32Array;
  /** C = A·B with B row-major [K][N] used once (packed per call, not kept). */
  matmulOnce(a: Float32Array, M: number, b: Float32Array, K: number, N: number): Float32Array;
  dispose(): void;
}

interface GemmExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  /** Columns of panels [first, end) of C = A·B (+ bias; biasPtr 0: none), assembly/gemm/f32-gemm-4x8.ts. */
  gemmPanels(aPtr: number, bPtr: number, biasPtr: number, cPtr: number, M: number, N: number, K: number, firstPanel: number, endPanel: number): void;
}

const align = (bytes: number) => Math.ceil(bytes / 16) * 16;

/** Elements the kernel reads of a bias of N: whole 8-column panels. */
export const paddedBiasLength = (N: number) => Math.ceil(N / 8) * 8;

function addBias(c: Float32Array, M: number, N: number, bias: Float32Array | null | undefined): Float32Array {
  if (bias) for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) c[m * N + n]! += bias[n]!;
  return c;
}

/** The JS fallback: the kernel's loop over the same packed panels, summed in f64. */
export function jsGemm(a: Float32Array, packed: Float32Array, c: Float32Array, M: number, N: number, K: number): void {
  const acc = new Float64Array(8);
  for (let m = 0; m < M; m++) {
    const row = m * K;
    for (let n0 = 0; n0 < N; n0 += 8) {
      acc.fill(0);
      const panel = (n0 >> 3) * K * 8;
      for (let k = 0; k < K; k++) {
        const x = a[row + k]!;
        const b = panel + k * 8;
        for (let j = 0; j < 8; j++) acc[j]! += x * packed[b + j]!;
      }
      const cols = Math.min(8, N - n0);
      for (let j = 0; j < cols; j++) c[m * N + n0 + j] = acc[j]!;
    }
  }
}

function createJsGemm(): GemmEngine {
  const pack = (b: Float32Array, K: number, N: number, transposed: boolean): PackedMatrix => ({ K, N, ptr: 0, data: packB(b, K, N, transposed) });
  const matmul = (a: Float32Array, M: number, b: PackedMatrix, bias?: Float32Array | null) => {
    const c = new Float32Array(M * b.N);
    jsGemm(a, b.data!, c, M, b.N, b.K);
    return addBias(c, M, b.N, bias);
  };
  return {
    backend: 'js',
    pack,
    repack: (into, b, transposed) => void packB(b, into.K, into.N, transposed, into.data!),
    matmul,
    matmulOnce: (a, M, b, K, N) => matmul(a, M, pack(b, K, N, false)),
    dispose: () => undefined,
  };
}

function createWasmGemm(backend: 'wasm-relaxed-simd' | 'wasm-simd'): GemmEngine {
  const kernel = new WebAssembly.Instance(backwardModule(backend), {}).exports as unknown as GemmExports;
  const memory = kernel.memory;
  let f32 = new Float32Array(memory.buffer);
  /** End of the kept (packed weight) region; each call's scratch starts here. */
  let top = align(kernel.heapBase());
  let disposed = false;

  function ensure(bytes: number): void {
    if (disposed) throw new TypeError('createMultiHeadAttention: the layer is disposed');
    if (bytes > MAX_BYTES) throw rangeError('createMultiHeadAttention', `a GEMM that fits in WASM memory (at most ${MAX_BYTES} bytes)`, `one that needs ${bytes} bytes`);
    if (bytes > memory.buffer.byteLength) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE_BYTES));
    if (f32.buffer !== memory.buffer) f32 = new Float32Array(memory.buffer);
  }

  /** The bias goes in with the call (padded to whole panels, as the kernel reads them) and is added by the kernel. */
  function run(a: Float32Array, M: number, bPtr: number, K: number, N: number, scratch: number, bias?: Float32Array | null): Float32Array {
    const aPtr = align(scratch);
    const biasPtr = bias ? align(aPtr + a.length * 4) : 0;
    const cPtr = align(bias ? biasPtr + paddedBiasLength(N) * 4 : aPtr + a.length * 4);
    ensure(cPtr + M * N * 4);
    f32.set(a, aPtr >>> 2);
    if (bias) f32.set(bias, biasPtr >>> 2);
    kernel.gemmPanels(aPtr, bPtr, biasPtr, cPtr, M, N, K, 0, Math.ceil(N / 8));
    return f32.slice(cPtr >>> 2, (cPtr >>> 2) + M * N);
  }

  return {
    backend,
    pack(b, K, N, transposed) {
      const ptr = top;
      const length = packedLength(K, N);
      ensure(ptr + length * 4);
      top = align(ptr + length * 4);
      packB(b, K, N, transposed, f32.subarray(ptr >>> 2, (ptr >>> 2) + length));
      return { K, N, ptr, data: null };
    },
    repack(into, b, transposed) {
      ensure(0);
      packB(b, into.K, into.N, transposed, f32.subarray(into.ptr >>> 2, (into.ptr >>> 2) + packedLength(into.K, into.N)));
    },
    matmul(a, M, b, bias) {
      checkRows(a, M, b.K);
      // The kernel adds the bias to each finished sum: one f32 add, the rounding of the JS
      // engine's addBias, so every backend and thread count agrees on the bits.
      return run(a, M, b.ptr, b.K, b.N, top, bias);
    },
    matmulOnce(a, M, b, K, N) {
      checkRows(a, M, K);
      const bPtr = top;
      const length = packedLength(K, N);
      ensure(bPtr + length * 4);
      packB(b, K, N, false, f32.subarray(bPtr >>> 2, (bPtr >>> 2) + length));
      return run(a, M, bPtr, K, N, bPtr + length * 4);
    },
    dispose() {
      disposed = true;
    },
  };
}

function checkRows(a: Float32Array, M: number, K: number): void {
  if (a.length !== M * K) throw rangeError('gemm', `A of ${M}·${K} elements`, `${a.length}`);
}

/**
 * A GEMM engine on `backend`: its own instance of the backward kernel build of that ISA
 * (an instance on a WASM backend proves the runtime runs it), or JS.
 * @param backend the attention instance's backend
 * @returns the engine; `dispose()` drops it (its memory is freed with the instance)
 * @example
 * const g = createGemm('wasm-simd');
 * const w = g.pack(weight, inDim, outDim, true);
 * const y = g.matmul(x, rows, w, bias); // x·weightᵀ + bias
 */
export function createGemm(backend: BackendName): GemmEngine {
  return backend === 'js' ? createJsGemm() : createWasmGemm(backend);
}
